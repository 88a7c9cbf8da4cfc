"""Continual-task records from source rows, for every source (hub and packaged): hold out, convert, sample, render.

A task spec (cf_utils.data.specs.Task) names a hook that turns rows into examples
``{"uid", "fields", "target", "references"}``; its instruction templates fill the fields (or its ``render``
writes the instruction), and the result is wrapped in the paper's prompt template (``templates.instruction``).
Train records come from the train rows only and held-out records from the eval rows (a split of their own, or
the hash holdout of a single split: ``holdout``), so the two never share a source row. Each side has its own
generator (f"{seed}:{name}:train" / ":eval"), so the held-out set does not move when ``n_train`` changes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence

from cf_utils.data import records, templates
from cf_utils.data.specs import Task

Rows = list[dict]


def sample(items: Sequence, k: int | None, rng: random.Random) -> list:
    """k items chosen by ``rng``, kept in source order; all of them when k is None or too large."""
    if k is None or k >= len(items):
        return list(items)
    return [items[i] for i in sorted(rng.sample(range(len(items)), k))]


def validated(kind: str, recs: list[dict], where: str) -> list[dict]:
    for i, rec in enumerate(recs):
        records.validate(kind, rec, f"{where} (record {i})")
    return recs


def holdout(rows: Rows, key: str, every: int = 20) -> tuple[Rows, Rows]:
    """Split one source split into (train, held-out) by a hash of ``key``: about 1 in ``every`` rows
    held out, identical texts always on the same side, and independent of row order."""

    def held(row: dict) -> bool:
        return int(hashlib.sha256(str(row[key]).strip().encode("utf-8")).hexdigest(), 16) % every == 0

    return [r for r in rows if not held(r)], [r for r in rows if held(r)]


def render(spec: Task, examples: list[dict], role: str, rng: random.Random) -> list[dict]:
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


def build(
    spec: Task, rows: Mapping[str, Rows], *, n_train: int | None, n_eval: int | None, seed: int
) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """({"train": records, "eval": records}, {role: counts}) from ``rows`` = {"train": rows[, "eval": rows]};
    without "eval" rows the spec's hash holdout carves them from the train rows (no held-out rows for a spec
    without a ``holdout_key``: the general set)."""
    roles = dict(rows)
    if "eval" not in roles:
        if spec.holdout_key is None:
            roles["eval"] = []
        else:
            roles["train"], roles["eval"] = holdout(roles["train"], spec.holdout_key, spec.holdout_every)
    built, counts = {}, {}
    for role, k in (("train", n_train), ("eval", n_eval)):
        rng = random.Random(f"{seed}:{spec.name}:{role}")
        candidates = list(spec.convert(roles[role]))
        built[role] = validated(spec.kind, render(spec, sample(candidates, k, rng), role, rng), f"{spec.name} {role}")
        counts[role] = {"n_source_rows": len(roles[role]), "n_candidates": len(candidates),
                        "n_records": len(built[role])}  # fmt: skip
    return built, counts
