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

import hashlib
import random
from collections.abc import Mapping, Sequence

from cf_utils.data import (
    hub_bias,
    hub_domain_knowledge,
    hub_reading_comprehension,
    hub_reasoning,
    hub_tasks,
    leaks,
    records,
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


def _sample(items: Sequence, k: int | None, rng: random.Random) -> list:
    """k items chosen by ``rng``, kept in source order; all of them when k is None or too large."""
    if k is None or k >= len(items):
        return list(items)
    return [items[i] for i in sorted(rng.sample(range(len(items)), k))]


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


def _validated(kind: str, recs: list[dict], where: str) -> list[dict]:
    for i, rec in enumerate(recs):
        records.validate(kind, rec, f"{where} (record {i})")
    return recs


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
    recs = _validated(spec.kind, _sample(clean, limit, random.Random(f"{seed}:{name}")), name)
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


def _holdout(rows: Rows, key: str, every: int = 20) -> tuple[Rows, Rows]:
    """Split one source split into (train, held-out) by a hash of ``key``: about 1 in ``every`` rows
    held out, identical texts always on the same side, and independent of row order."""

    def held(row: dict) -> bool:
        return int(hashlib.sha256(row[key].strip().encode("utf-8")).hexdigest(), 16) % every == 0

    return [r for r in rows if not held(r)], [r for r in rows if held(r)]


def _render(spec: Task, examples: list[dict], role: str, rng: random.Random) -> list[dict]:
    """Instruction records; the templates are split evenly over the examples (shuffled by ``rng``)."""
    variants = [i % len(spec.templates) for i in range(len(examples))]
    rng.shuffle(variants)
    out = []
    for ex, variant in zip(examples, variants, strict=True):
        if spec.render is not None:
            src = spec.render(ex, variant, rng)
        else:
            src = spec.templates[variant].format(**ex["fields"])
        refs = ex["references"] if role == "eval" else None
        rec = templates.instruction(spec.name, f"{spec.name}-{role}-{ex['uid']}", src, ex["target"], refs)
        if role == "eval" and "source" in ex["fields"]:
            rec["source"] = ex["fields"]["source"]  # SARI scores against the source sentence too
        out.append(rec)
    return out


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
    roles = dict(rows)
    if spec.eval_split is None:
        roles["train"], roles["eval"] = _holdout(roles["train"], spec.holdout_key)
    built, provenance = {}, {"name": name, "stage": spec.stage, "kind": spec.kind, "stands_for": spec.stands_for}
    for role, k in (("train", n_train), ("eval", n_eval)):
        rng = random.Random(f"{seed}:{name}:{role}")
        candidates = list(spec.convert(roles[role]))
        built[role] = _validated(spec.kind, _render(spec, _sample(candidates, k, rng), role, rng), f"{name} {role}")
        provenance[role] = {
            "n_source_rows": len(roles[role]),
            "n_candidates": len(candidates),
            "n_records": len(built[role]),
        }
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
