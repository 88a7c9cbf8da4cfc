"""Small helpers the hub converters share: hub rows -> canonical records (cf_utils.data.records).

Hub mirrors of one dataset store the same field differently (a ClassLabel int, a digit string, a
class name), and some source rows are malformed; these helpers absorb both, so each converter says
only how its prompt is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cf_utils.data.records import cluster

LETTERS = "ABCD"  # the answer letters of MMLU, MuTual and RACE


def mc(
    rid: str, context: str, choices: Sequence[str], label: int, group: str | None = None, passage: str | None = None
) -> dict | None:
    """A multiple-choice record, or None for a malformed source row (empty or missing options).
    Records built on one ``passage`` share a cluster (records.cluster)."""
    choices = [str(c) for c in choices]
    if len(choices) < 2 or not all(choices) or not 0 <= label < len(choices):
        return None
    rec = {"id": rid, "context": context, "choices": choices, "label": label}
    if group is not None:
        rec["group"] = group
    if passage is not None:
        rec["cluster"] = cluster(passage)
    return rec


def compact(records_: Iterable[dict | None]) -> list[dict]:
    """The records, without the malformed rows ``mc`` turned into None."""
    return [r for r in records_ if r is not None]


def index(value, names: Sequence[str]) -> int:
    """A class index from a ClassLabel int, a digit string, or a class name (hub mirrors differ)."""
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        return list(names).index(value.strip())
    return int(value)


def group_in_order(rows: Iterable[dict], key: str) -> dict[str, list[dict]]:
    """Rows grouped by ``row[key]``, groups and rows in first-seen order."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row[key]), []).append(row)
    return groups
