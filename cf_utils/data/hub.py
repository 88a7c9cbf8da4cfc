"""Real benchmarks and continual tasks from the Hugging Face hub (profiles ``gpu-mini`` and ``paper``).

The tables ``BENCHMARKS`` (the paper's evaluation elements, docs/protocol.md, "Evaluation") and ``TASKS``
(the five Continual-T0 tasks in stage order) gather the specs (cf_utils.data.specs) from the modules
that hold each converter beside its spec: one module per benchmark category
(``hub_domain_knowledge``, ``hub_reasoning``, ``hub_reading_comprehension``, ``hub_bias``) and
``hub_tasks``. Each spec pins a hub repository to a revision and names the files to read
(cf_utils.data.hub_io); this module reads them, calls the spec's hook, samples and validates.

The hooks are called as ``convert(rows, name=...)`` for a benchmark (plus ``fewshot``,
``num_fewshot`` and ``fmt`` where the spec has a ``fewshot_split``: MMLU 5-shot with the subject's
dev questions, everything else 0-shot, as lm-evaluation-harness ran in 2023) and ``convert(rows)``
-> examples for a task, whose templates are then filled (or ``render`` called) and wrapped in the
paper's prompt template (``templates.instruction``).

References: Luo et al. 2023, arXiv 2308.08747 (the paper) and docs/protocol.md; lm-evaluation-harness,
EleutherAI; Scialom, Chakrabarty, Muresan 2022 (Continual-T0).
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from cf_utils.data import (
    hub_bias,
    hub_domain_knowledge,
    hub_reading_comprehension,
    hub_reasoning,
    hub_tasks,
    leaks,
    task_records,
    templates,
)
from cf_utils.data.hub_domain_knowledge import MMLU_FORMATS
from cf_utils.data.hub_io import Rows, load_rows, resolve_revision
from cf_utils.data.hub_tasks import GENERAL
from cf_utils.data.specs import Benchmark, Split, Task

# One module per benchmark category, named hub_<category>, each holding its converters beside their specs.
BENCHMARK_MODULES = (hub_domain_knowledge, hub_reasoning, hub_reading_comprehension, hub_bias)
BENCHMARKS: dict[str, Benchmark] = {b.name: b for module in BENCHMARK_MODULES for b in module.BENCHMARKS}
TASKS: dict[str, Task] = {t.name: t for t in hub_tasks.TASKS}


def _roles(rows: Rows | Mapping[str, Rows]) -> dict[str, Rows]:
    return {"eval": list(rows)} if isinstance(rows, list) else dict(rows)


def _source(spec: Benchmark | Task, from_hub: bool) -> dict:
    """Where the rows came from; ``resolved_sha`` only when they were read from the hub."""
    src = spec.source
    return {
        "repo": src.repo,
        "revision": src.revision,
        "revision_verified": src.verified,
        "resolved_sha": resolve_revision(src.repo, src.revision) if from_hub else None,
        "config": src.config,
    }


def _load(spec: Benchmark | Task, split: Split) -> Rows:
    src = spec.source
    return load_rows(src.repo, revision=src.revision, config=src.config, split=split.name, data_files=split.files)


def build_benchmark(
    name: str,
    *,
    limit: int | None,
    seed: int,
    mmlu_format: str = "text",
    rows: Rows | Mapping[str, Rows] | None = None,
    train: set | None = None,
) -> tuple[list[dict], dict]:
    """(records, provenance) for one benchmark.

    ``rows``: pre-loaded source rows (a list, or for MMLU {"eval": test rows, "fewshot": dev rows});
    loaded from the hub when None. ``train``: the training data's shingles (cf_utils.data.leaks);
    the records that share one are dropped before sampling. ``limit`` records are kept (all when
    None), chosen by ``random.Random(f"{seed}:{name}")`` and kept in source order.
    """
    if name not in BENCHMARKS:
        raise KeyError(f"unknown hub benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    if mmlu_format not in MMLU_FORMATS:
        raise ValueError(f"mmlu_format must be one of {MMLU_FORMATS}, got {mmlu_format!r}")
    spec = BENCHMARKS[name]
    from_hub = rows is None
    if from_hub:
        rows = {"eval": _load(spec, spec.split)}
        if spec.fewshot_split:
            rows["fewshot"] = _load(spec, spec.fewshot_split)
    roles = _roles(rows)
    shots = (
        {"fewshot": roles["fewshot"], "num_fewshot": spec.num_fewshot, "fmt": mmlu_format} if spec.fewshot_split else {}
    )
    candidates = spec.convert(roles["eval"], name=name, **shots)
    clean, n_leaks = leaks.drop_leaks(candidates, train or set())
    recs = task_records.validated(spec.kind, task_records.sample(clean, limit, random.Random(f"{seed}:{name}")), name)
    provenance = {
        "name": name,
        "category": spec.category,
        "kind": spec.kind,
        **_source(spec, from_hub),
        "split": spec.split.name,
        "data_files": spec.split.files,
        "stands_for": spec.stands_for,
        "n_source_rows": len(roles["eval"]),
        "n_candidates": len(candidates),
        "n_leaks": n_leaks,
        "n_records": len(recs),
        "seed": seed,
        "limit": limit,
    }
    if spec.fewshot_split:
        provenance.update(fewshot_split=spec.fewshot_split.name, mmlu_format=mmlu_format, num_fewshot=spec.num_fewshot)
    return recs, provenance


def build_task(
    name: str,
    *,
    n_train: int | None,
    n_eval: int | None,
    seed: int,
    rows: Mapping[str, Rows] | None = None,
) -> tuple[list[dict], list[dict], dict]:
    """(train records, held-out records with "references", provenance) for one continual task.

    ``rows``: pre-loaded {"train": rows, "eval": rows} ("eval" absent for a single-split source);
    loaded from the hub when None. Train records come from the train split only, held-out records
    from the validation/test split (or the hash holdout), so the two never share a source row.
    Each side has its own generator (f"{seed}:{name}:train" / ":eval") so the held-out set does not
    move when ``n_train`` changes.
    """
    tasks = {**TASKS, GENERAL.name: GENERAL}
    if name not in tasks:
        raise KeyError(f"unknown hub task {name!r}; known: {sorted(tasks)}")
    spec = tasks[name]
    from_hub = rows is None
    if from_hub:
        rows = {"train": _load(spec, spec.train_split)}
        if spec.eval_split:
            rows["eval"] = _load(spec, spec.eval_split)
    built, counts = task_records.build(spec, rows, n_train=n_train, n_eval=n_eval, seed=seed)
    provenance = {"name": name, "stage": spec.stage, "kind": spec.kind, "stands_for": spec.stands_for, **counts}
    held_out = spec.eval_split or Split(f"holdout of {spec.train_split.name} by hash of {spec.holdout_key!r}")
    provenance.update(
        _source(spec, from_hub),
        train_split=spec.train_split.name,
        train_data_files=spec.train_split.files,
        eval_split=held_out.name,
        eval_data_files=held_out.files,
        templates=list(spec.templates),
        template_version=templates.TEMPLATE_VERSION,
        seed=seed,
    )
    return built["train"], built["eval"], provenance
