"""The paired percentile bootstrap every confidence interval of the study is built from.

Every scored item is an outcome of the same question at several checkpoints (the stages of a chain,
or the ends of several chains on one starting model). A paired bootstrap (Efron & Tibshirani 1993,
ch. 13) resamples items, not outcomes: one draw of item ids is used for every column, so each
checkpoint's outcomes stay paired with the others' and differences between columns have the right
(smaller) variance. A statistic is recomputed on each resample and the (1 - level)/2 and (1 + level)/2
percentiles are its interval. Callers pass ``n_boot`` and the seed from the config (``eval.n_boot``,
``Config.seeds()["bootstrap"]``); nothing here has a default for either.

Reference:
    Efron, Tibshirani (1993). An Introduction to the Bootstrap. Chapman & Hall.
"""

from __future__ import annotations

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
