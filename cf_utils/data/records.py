"""Canonical records: one schema per record kind, for every source (the wheels' files and the hub).

On disk a record file is JSONL (one JSON object per line, UTF-8); in memory a list of dicts.
The kinds (see the README, "Record schemas"):

- ``mc``          multiple choice  ``{"id", "context", "choices": [str], "label": int}``
                  scored as loglik(" " + choice | context), as lm-evaluation-harness builds it.
- ``partial``     partial scoring (Winogrande) ``{"id", "contexts": [str], "continuation", "label"}``
                  scored as loglik(" " + continuation | contexts[i]).
- ``pair``        sentence pair (CrowS-Pairs) ``{"id", "sent_more", "sent_less", "bias_type"}``.
- ``instruction`` ``{"id", "task", "prompt", "target"}`` (+ ``"references": [str]`` for
                  generation eval, and ``"source"``, the raw input, where a metric needs it:
                  SARI); the prompt is already wrapped in the template.

``mc`` and ``partial`` records may carry an optional ``"group"`` (str): the sub-population an item
belongs to (MMLU subject), so per-group results can be computed later. ``mc``, ``partial`` and
``pair`` records may carry an optional ``"cluster"`` (str): items with equal clusters are not
independent (questions on one passage, Winogrande twin sentences, BBQ questions on one context), so
a bootstrap resamples them together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cf_utils.io import atomic_write_text

KINDS = ("mc", "partial", "pair", "instruction")

# kind -> (required fields with their types, optional fields with their types)
_SCHEMA: dict[str, tuple[dict[str, type], dict[str, type]]] = {
    "mc": ({"id": str, "context": str, "choices": list, "label": int}, {"group": str, "cluster": str}),
    "partial": ({"id": str, "contexts": list, "continuation": str, "label": int}, {"group": str, "cluster": str}),
    "pair": ({"id": str, "sent_more": str, "sent_less": str, "bias_type": str}, {"cluster": str}),
    "instruction": ({"id": str, "task": str, "prompt": str, "target": str}, {"references": list, "source": str}),
}


class RecordError(ValueError):
    """A record that does not follow its schema; the message names the file and line."""


def cluster(text: str) -> str:
    """A ``cluster`` value: equal for items built on the same text (a passage, a twin pair's source)."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:12]


def n_options(rec: dict) -> int:
    """How many answers an item offers: its choices (mc), its contexts (partial), 2 for a sentence pair; its
    chance level is one over that."""
    return len(rec["choices"]) if "choices" in rec else len(rec["contexts"]) if "contexts" in rec else 2


def validate(kind: str, rec: Any, where: str = "record") -> dict:
    """Check one record against the schema of ``kind``; return it, or raise RecordError."""
    if kind not in _SCHEMA:
        raise RecordError(f"{where}: unknown record kind {kind!r}; expected one of {KINDS}")
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: a {kind} record must be a JSON object, got {type(rec).__name__}")
    required, optional = _SCHEMA[kind]
    missing = [k for k in required if k not in rec]
    if missing:
        raise RecordError(f"{where}: {kind} record lacks field(s) {missing}; required: {list(required)}")
    unknown = [k for k in rec if k not in required and k not in optional]
    if unknown:
        raise RecordError(
            f"{where}: {kind} record has unknown field(s) {unknown}; allowed: {list(required) + list(optional)}"
        )
    for key, typ in {**required, **optional}.items():
        if key in rec and (not isinstance(rec[key], typ) or (typ is int and isinstance(rec[key], bool))):
            raise RecordError(f"{where}: field {key!r} must be {typ.__name__}, got {type(rec[key]).__name__}")
    options = rec.get("choices", rec.get("contexts"))
    if options is not None:
        name = "choices" if "choices" in rec else "contexts"
        if len(options) < 2 or not all(isinstance(c, str) and c for c in options):
            raise RecordError(f"{where}: {name!r} must hold at least 2 non-empty strings")
        if not 0 <= rec["label"] < len(options):
            raise RecordError(f"{where}: label {rec['label']} is out of range for {len(options)} {name}")
    if "references" in rec and not all(isinstance(r, str) for r in rec["references"]):
        raise RecordError(f"{where}: 'references' must be a list of strings")
    return rec


def dumps(records: Iterable[dict]) -> str:
    """Serialise records to JSONL text, byte-stable (fixed key order as given, UTF-8, '\\n')."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_jsonl(path: Path, records: list[dict], kind: str) -> None:
    """Validate every record, then write the file atomically."""
    for i, rec in enumerate(records, 1):
        validate(kind, rec, f"{path} (record {i})")
    atomic_write_text(path, dumps(records))


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for every non-blank line; a line that is not JSON is an error
    naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"record file {path} does not exist; run `make data` to prepare it")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise RecordError(f"{path}:{lineno}: not valid JSON ({e.msg}); each line must be one record") from None


def read_jsonl(path: str | Path, kind: str) -> list[dict]:
    """Read and validate a JSONL record file; errors name the file and the line."""
    records = [validate(kind, rec, f"{path}:{lineno}") for lineno, rec in iter_jsonl(path)]
    if not records:
        raise RecordError(f"{path}: the file holds no records")
    return records
