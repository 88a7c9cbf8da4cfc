"""The continual tasks' own metrics (the paper's Table 3, claim 7) and transfer between them.

Each task's own metric (sari, bleu or rouge1; cf_utils.textmetrics) before and after its stage k and after
the last stage; the gain's paired bootstrap CI over the held-out items, with the corpus metric recomputed on
each resample, and its state: improved (CI above 0), worse (below), inconclusive. On the continual tasks, with
R_{l,k} the score on task k after stage l and T = N: backward transfer (Lopez-Paz & Ranzato 2017)
BWT = 1/(T-1) * sum_{k<T} (R_{T,k} - R_{k,k}), negative = earlier tasks were forgotten; forgetting (Chaudhry et
al. 2018) F = 1/(T-1) * sum_{k<T} (max_{l in k..T-1} R_{l,k} - R_{T,k}), the max over the measured cells.

No torch: the report reads these (cf_utils/report/frames.py).

References:
    Lopez-Paz, Ranzato (2017). Gradient Episodic Memory for Continual Learning. NeurIPS.
    Chaudhry, Dokania, Ajanthan, Torr (2018). Riemannian Walk for Incremental Learning:
        Understanding Forgetting and Intransigence. ECCV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cf_utils import metrics, stats, textmetrics
from cf_utils.study import LAST, NEW_TASK, TASK_STAGE, TASKS

NEW_TASK_COLUMNS = ["model", "variant", "stage", "task", "metric", "before", "after", "gain", "final", "retained",
                    "gain_low", "gain_high", "gain_state"]  # fmt: skip
TRANSFER_COLUMNS = ["model", "variant", "bwt", "forgetting", "n_tasks"]


def _task_grid(scores: pd.DataFrame) -> pd.DataFrame:
    """New-task primary scores, one row per (model, variant, benchmark = task, metric), one column per stage."""
    rows = metrics.primary_rows(scores[scores["category"] == NEW_TASK])
    unknown = sorted(set(rows["benchmark"]) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown new task(s) {unknown}, expected {list(TASKS)}")
    return metrics.stage_grid(rows, ["model", "variant", "benchmark", "metric"])


def new_task_table(
    scores: pd.DataFrame,
    generations: pd.DataFrame | None = None,
    *,
    n_boot: int | None = None,
    seed: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per (model, variant, task): score before/after its own stage k, the gain, the score at stage N and the
    change since stage k (``retained``; NaN where a cell is missing); with ``generations``, the gain's paired
    bootstrap CI over the held-out items (the corpus metric recomputed on each resample) and its state:
    improved (CI above 0), worse (below), inconclusive."""
    rows = []
    for (model, variant, task, metric), values in _task_grid(scores).iterrows():
        k = TASK_STAGE[task]
        before, after, final = values.loc[k - 1], values.loc[k], values.loc[LAST]
        low = high = np.nan
        if generations is not None:
            low, high = _gain_ci(generations, model, variant, task, k, n_boot, seed, level)
        rows.append((model, variant, k, task, metric, before, after, after - before, final, final - after, low, high,
                     _gain_state(low, high)))  # fmt: skip
    out = pd.DataFrame(rows, columns=NEW_TASK_COLUMNS)
    return out.sort_values(["model", "variant", "stage"], ignore_index=True)


IMPROVED, WORSE = "improved", "worse"


def _gain_state(low: float, high: float) -> str:
    if np.isnan(low):
        return metrics.NOT_MEASURED
    return IMPROVED if low > 0 else WORSE if high < 0 else metrics.INCONCLUSIVE


def _gain_ci(generations, model, variant, task, k, n_boot, seed, level) -> tuple[float, float]:
    """Paired bootstrap CI of task k's metric at stage k minus at stage k-1 (NaN without both cells)."""
    stats.check(n_boot, level)
    sub = generations[(generations["model"] == model) & (generations["variant"] == variant)
                      & (generations["benchmark"] == task)]  # fmt: skip
    names = list(textmetrics.statistic_names(task))
    cube = {}
    for stage in (k - 1, k):
        wide = sub[sub["stage"] == stage].pivot(index="item", columns="statistic", values="value")
        if wide.empty:
            return np.nan, np.nan
        cube[stage] = wide.reindex(columns=names).sort_index()
    if not cube[k - 1].index.equals(cube[k].index):
        raise ValueError(f"generations of ({model}, {variant}, {task}) at stages {k - 1} and {k} are not paired")
    rng = np.random.default_rng(seed + TASK_STAGE[task])
    picks = rng.integers(0, len(cube[k]), size=(n_boot, len(cube[k])))  # the same items for both stages
    gains = textmetrics.corpus_metric(task, cube[k].to_numpy()[picks]) - textmetrics.corpus_metric(
        task, cube[k - 1].to_numpy()[picks]
    )
    return stats.interval(gains, level)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def transfer(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant): BWT and forgetting over tasks 1..N-1 that have their stage-k and stage-N cells."""
    rows = []
    for (model, variant), grid in _task_grid(scores).groupby(level=["model", "variant"]):
        bwt, forgetting = [], []
        for (_, _, task, _), values in grid.iterrows():
            k = TASK_STAGE[task]
            if k == LAST or np.isnan(values.loc[k]) or np.isnan(values.loc[LAST]):
                continue
            bwt.append(values.loc[LAST] - values.loc[k])
            forgetting.append(np.nanmax(values.loc[k : LAST - 1]) - values.loc[LAST])
        rows.append((model, variant, _mean(bwt), _mean(forgetting), len(bwt)))
    return pd.DataFrame(rows, columns=TRANSFER_COLUMNS)
