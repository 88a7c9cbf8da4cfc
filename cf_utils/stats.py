"""The paired percentile bootstrap every confidence interval of the study is built from.

Every scored item is an outcome of the same question at several checkpoints (the stages of a chain,
or the ends of several chains on one starting model). A paired bootstrap (Efron & Tibshirani 1993,
ch. 13) resamples items, not outcomes: one draw of item ids is used for every column, so each
checkpoint's outcomes stay paired with the others' and differences between columns have the right
(smaller) variance. A statistic is recomputed on each resample and the (1 - level)/2 and (1 + level)/2
percentiles are its interval. Callers pass ``n_boot`` and the seed from the config (``eval.n_boot``,
``Config.seeds()["bootstrap"]``); nothing here has a default for either.

References:
    Efron, Tibshirani (1993). An Introduction to the Bootstrap. Chapman & Hall.
    Field, Welsh (2007). Bootstrapping clustered data. J. R. Statist. Soc. B 69(3).
    Holm (1979). A simple sequentially rejective multiple test procedure. Scand. J. Statist. 6(2).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def check(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def resample_means(matrix: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(n_boot, columns) mean outcomes (percent) over item rows drawn with replacement, one draw for all columns.

    Drawing n rows with replacement is drawing, for each distinct row of outcomes, how many times it is
    picked: a multinomial on the rows' shares. With 0/1 outcomes over c columns there are at most 2^c
    distinct rows, so this costs n_boot x (distinct rows), whatever the number of items.
    """
    rows, counts = np.unique(matrix, axis=0, return_counts=True)
    picks = rng.multinomial(len(matrix), counts / len(matrix), size=n_boot)  # (n_boot, distinct rows)
    return picks @ rows / len(matrix) * 100


def interval(stat: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the finite resampled statistics (NaN, NaN if none)."""
    stat = stat[~np.isnan(stat)]
    if stat.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(stat, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(low), float(high)


def resample_cluster_means(
    matrix: np.ndarray, clusters: np.ndarray, rng: np.random.Generator, n_boot: int
) -> np.ndarray:
    """As ``resample_means``, drawing whole clusters (items sharing a passage, twin items) with replacement.

    Items of one cluster are not independent draws from the population of questions: resampling
    them one by one understates the variance (Field & Welsh 2007). A resample draws as many clusters
    as there are, each with its items; a column's mean is the picked items' outcomes over their count.
    Clusters with the same (size, column sums) are merged first, as ``resample_means`` merges rows.
    """
    _, index = np.unique(clusters, return_inverse=True)
    sums = np.zeros((index.max() + 1, matrix.shape[1]))
    np.add.at(sums, index, matrix)
    sizes = np.bincount(index).astype(float)
    rows, counts = np.unique(np.column_stack([sizes, sums]), axis=0, return_counts=True)
    picks = rng.multinomial(len(sizes), counts / len(sizes), size=n_boot)  # (n_boot, distinct clusters)
    return (picks @ rows[:, 1:]) / (picks @ rows[:, :1]) * 100


def p_value(stat: np.ndarray) -> float:
    """Two-sided bootstrap p-value of ``stat`` = 0: twice the smaller tail share at 0 (at most 1)."""
    stat = stat[~np.isnan(stat)]
    if stat.size == 0:
        return float("nan")
    return float(min(1.0, 2 * min((stat <= 0).mean(), (stat >= 0).mean())))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979): family-wise error controlled at any level."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


Z_975, Z_80 = 1.959964, 0.841621  # standard normal quantiles: two-sided 5% level, 80% power


def minimal_detectable(se: float) -> float:
    """The smallest true effect a two-sided 5% test detects with 80% power, given its standard error."""
    return (Z_975 + Z_80) * se


def detectable_in_family(se: float, family: int, alpha: float = 0.05) -> float:
    """The smallest true difference one of ``family`` comparisons detects with 80% power, at the family's 5%
    (Bonferroni's level alpha / family: the strictest step of Holm's, so conservative for Holm)."""
    return (NormalDist().inv_cdf(1 - alpha / (2 * max(family, 1))) + Z_80) * se
