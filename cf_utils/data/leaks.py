"""Content leaks: benchmark items that share a run of words with the data a profile trains on.

``offline.check_disjoint`` compares source files; it cannot see that two datasets share text (MC-TACO,
the InqQG stand-in, was built from MultiRC paragraphs, a reading-comprehension benchmark). This check
compares the text itself: a benchmark item leaks when any text it has the model read shares ``N`` consecutive
normalised words with any training record (prompt or target) of the profile's continual tasks or of
its general-instruction (replay) set, the overlap test of GPT-3's contamination study with n = 10
(the paper's 13-gram, shortened: our stand-in items are short). cf_utils.data.prepare drops leaking
items before it samples a benchmark and records how many in the manifest.

References: Brown et al. 2020, "Language Models are Few-Shot Learners", appendix C (n-gram overlap
decontamination); Zhou et al. 2019 (MC-TACO, built from MultiRC paragraphs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

N = 10
RULE = {"n": N, "normalisation": "lowercase; every run of punctuation or underscores -> one space; whitespace-split"}

_NOT_WORD = re.compile(r"[\W_]+")


def words(text: str) -> list[str]:
    """Lowercased words with punctuation removed (a space, so "I'd" and tokenised "I 'd" agree)."""
    return _NOT_WORD.sub(" ", text.lower()).split()


def shingles(texts: Iterable[str], n: int = N) -> set[tuple[str, ...]]:
    """Every run of n consecutive words of every text."""
    out: set[tuple[str, ...]] = set()
    for text in texts:
        w = words(text)
        out.update(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    return out


def training_shingles(records: Iterable[dict], n: int = N) -> set[tuple[str, ...]]:
    """The shingles of instruction records: prompts and targets."""
    return shingles((text for rec in records for text in (rec["prompt"], rec["target"])), n)


def _texts(rec: dict) -> list[str]:
    """The texts a record has the model read: context + each choice (mc), each context + the
    continuation (partial), both sentences (pair); every text field, and runs across field borders."""
    if "choices" in rec:
        return [f"{rec['context']} {c}" for c in rec["choices"]]
    if "contexts" in rec:
        return [f"{c} {rec['continuation']}" for c in rec["contexts"]]
    return [rec["sent_more"], rec["sent_less"]]


def leaks(rec: dict, train: set[tuple[str, ...]], n: int = N) -> bool:
    """Does any text field of a benchmark record share n consecutive words with the training shingles?"""
    return any(s in train for s in shingles(_texts(rec), n))


def drop_leaks(recs: list[dict], train: set[tuple[str, ...]]) -> tuple[list[dict], int]:
    """The records that do not leak, and how many were dropped."""
    kept = [r for r in recs if not leaks(r, train)]
    return kept, len(recs) - len(kept)
