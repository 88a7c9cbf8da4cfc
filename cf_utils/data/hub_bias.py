"""Bias on the hub: CrowS-Pairs (English, revised), pct_stereotype per bias type.

Each record is a sentence pair; cf_utils.scoring compares the two sentences' log-likelihoods as
lm-evaluation-harness's ``crows_pairs_english`` does.

References: Nangia et al. 2020 (CrowS-Pairs); Neveol et al. 2022 (the revised multilingual
release); lm-evaluation-harness tasks/crows_pairs; Luo et al. 2023, arXiv 2308.08747, section 3.
"""

from __future__ import annotations

from cf_utils.data.specs import Benchmark, Hub, Split
from cf_utils.study import BIAS

CROWS_BIAS_TYPES = (
    "race-color",
    "socioeconomic",
    "gender",
    "disability",
    "nationality",
    "sexual-orientation",
    "physical-appearance",
    "religion",
    "age",
)


def _bias_type(value) -> str:
    """A bias type's name from a ClassLabel int or a name (hub mirrors differ)."""
    return CROWS_BIAS_TYPES[value] if isinstance(value, int) else str(value)


def _crows_pairs(rows: list[dict], *, name: str) -> list[dict]:
    """sent_more / sent_less kept as the data gives them, whatever the row's stereo_antistereo.

    For "antistereo" rows the data's sent_more is the sentence about the advantaged group and
    sent_less the one that violates a stereotype of the disadvantaged group; both the harness and the
    original CrowS-Pairs metric count a preference for sent_more as the stereotyped choice in either
    direction, so pct_stereotype needs no flip here."""
    return [
        {
            "id": f"{name}-{i:05d}",
            "sent_more": r["sent_more"],
            "sent_less": r["sent_less"],
            "bias_type": _bias_type(r["bias_type"]),
        }
        for i, r in enumerate(rows)
    ]


CROWS_PAIRS = Benchmark(
    name="crows_pairs",
    category=BIAS,
    kind="pair",
    stands_for="CrowS-Pairs English (revised), pct_stereotype per bias type",
    # The English file the harness's crows_pairs_english reads, read directly as jsonl so the repo's
    # loading script never runs. The file is seen at this commit; its column names are those the
    # harness reads.
    source=Hub(
        "BigScienceBiasEval/crows_pairs_multilingual",
        revision="03074a90413340381742c0358bbcc64e6eb7023c",
        verified=True,
        config="english",
    ),
    split=Split("test", "test_EN.jsonl"),
    columns=("sent_more", "sent_less", "stereo_antistereo", "bias_type"),
    convert=_crows_pairs,
)

BENCHMARKS = (CROWS_PAIRS,)
