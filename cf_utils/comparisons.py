"""Paired comparisons of two chains' forgetting on the same items, adjusted for multiplicity.

The paper's comparative claims (scale, architecture, base vs instruction-tuned twin, replay vs plain
sequential tuning) and every mitigation against ``seq`` compare two chains scored on the same items.
Such a comparison is a test of the *difference*, not two point estimates side by side: each
resample draws one set of items (whole clusters where items share a passage) and computes both
chains' FG on it, so the difference's interval has the paired variance. Several comparisons made
for one claim are a family: their p-values are Holm-adjusted (stats.holm) and a difference counts as
detected only when its adjusted p-value is below 5% (the report states the rule). Beside each difference, its
power: the smallest true difference the family's test detects with 80% power (``detectable``: the draws' standard
error times z(1 - 0.05 / 2m) + z(0.8), m the claim's comparisons: Bonferroni's level, the strictest step of Holm's).

References: Efron & Tibshirani 1993 (paired bootstrap); Holm 1979 (step-down adjustment).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cf_utils import metrics, stats
from cf_utils.study import STAGES

ALPHA = 0.05
COMPARISON_COLUMNS = ["claim", "a", "b", "category", "fg_a", "fg_b", "difference", "ci_low", "ci_high", "se",
                      "detectable", "p", "p_holm", "state"]  # fmt: skip
A_MORE, B_MORE = "a forgets more", "b forgets more"


def _paired_frames(items: pd.DataFrame, a: tuple[str, str], b: tuple[str, str], benchmark: str):
    """Both chains' items x stages outcomes on the items they share, and the clusters."""
    grid_a, clusters = metrics.item_frame(items, *a, benchmark)
    grid_b, _ = metrics.item_frame(items, *b, benchmark)
    common = grid_a.index.intersection(grid_b.index)
    if len(common) < len(grid_a) or len(common) < len(grid_b):
        raise ValueError(f"{benchmark}: {a} and {b} were not scored on the same items")
    return np.hstack([grid_a.to_numpy(dtype=float), grid_b.to_numpy(dtype=float)]), clusters


def fg_difference(
    items: pd.DataFrame, a: tuple[str, str], b: tuple[str, str], benchmarks: list[str], *, n_boot: int, seed: int
) -> dict:
    """FG(a) - FG(b) over a category's ``benchmarks`` (a, b: (model, variant)), its paired 95% CI and p-value."""
    rng = np.random.default_rng(seed)
    width = len(STAGES)
    point, draws = [], []
    for benchmark in benchmarks:
        matrix, clusters = _paired_frames(items, a, b, benchmark)
        means = matrix.mean(axis=0) * 100
        boot = metrics.resample(matrix, clusters, rng, n_boot)  # (n_boot, 2 x stages)
        point.append([metrics.relative_drop(means[s], means[s + 1 : s + width]).mean() for s in (0, width)])
        draws.append([metrics.relative_drop(boot[:, s], boot[:, s + 1 : s + width]).mean(axis=1) for s in (0, width)])
    fg_a, fg_b = np.mean(point, axis=0)
    diff = np.mean([d[0] - d[1] for d in draws], axis=0)
    low, high = stats.interval(diff, 0.95)
    return {"fg_a": fg_a, "fg_b": fg_b, "difference": fg_a - fg_b, "ci_low": low, "ci_high": high,
            "se": float(np.std(diff, ddof=1)), "p": stats.p_value(diff)}  # fmt: skip


def compare(
    items: pd.DataFrame, pairs: list[tuple[str, tuple, tuple, str, list[str]]], *, n_boot: int, seed: int
) -> pd.DataFrame:
    """One row per (claim, a, b, category) comparison; Holm-adjusted within each claim."""
    rows = [
        {
            "claim": claim,
            "a": "/".join(a),
            "b": "/".join(b),
            "category": category,
            **fg_difference(items, a, b, benchmarks, n_boot=n_boot, seed=seed),
        }  # fmt: skip
        for claim, a, b, category, benchmarks in pairs
    ]
    out = pd.DataFrame(rows, columns=[c for c in COMPARISON_COLUMNS if c not in ("detectable", "p_holm", "state")])
    family = out.groupby("claim")["p"].transform("size") if len(out) else []
    out["detectable"] = [stats.detectable_in_family(se, m, ALPHA) for se, m in zip(out["se"], family, strict=True)]
    out["p_holm"] = out.groupby("claim")["p"].transform(lambda p: stats.holm(list(p))) if len(out) else []
    out["state"] = [_state(r) for r in out.itertuples()]
    return out[COMPARISON_COLUMNS]


def _state(row) -> str:
    if np.isnan(row.p_holm) or row.p_holm >= ALPHA:
        return metrics.INCONCLUSIVE
    return A_MORE if row.difference > 0 else B_MORE
