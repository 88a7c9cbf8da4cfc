"""Forgetting metrics computed from the evaluation outputs (``scores.csv`` and ``items.csv``).

Stage 0 is the model before continual training and stage m the model after task m (N = 5 tasks,
trained in the order simp, emdg, inqqg, exp, hgen). R_m^e is the score of element e (a benchmark) after
stage m, in percent, on its primary metric: acc, else pct_stereotype (CrowS-Pairs); for a new task its
own metric (sari, bleu or rouge1), never rougeL.

- FG, general-knowledge forgetting (Luo et al. 2023, Eq. 1), for category i with elements E_i:

      FG_i = 1/|E_i| * sum_{e in E_i} 1/N * sum_{m=1..N} (R_o^e - R_m^e) / R_o^e * 100

  a relative drop averaged over all N checkpoints, then over the elements. Positive = the score went
  down. Example: 40 then 38, 35, 30 (N = 3) gives (2/40 + 5/40 + 10/40) / 3 = 14.17, while the
  final-only drop is 25.
- Final drop: (R_o^e - R_N^e) / R_o^e * 100, averaged over the elements in the same way.
- On the continual tasks, with R_{l,k} the score on task k after stage l and T = N:
  backward transfer (Lopez-Paz & Ranzato 2017) BWT = 1/(T-1) * sum_{k<T} (R_{T,k} - R_{k,k}),
  negative = earlier tasks were forgotten; forgetting (Chaudhry et al. 2018)
  F = 1/(T-1) * sum_{k<T} (max_{l in k..T-1} R_{l,k} - R_{T,k}), the max over the measured cells.
- Confidence intervals: the paired percentile bootstrap of cf_utils/stats.py. The same items are
  scored at every stage, so each benchmark's items are resampled with the same draw at every stage.
  Resamples whose initial score is 0 are skipped.

References:
    Luo, Yang, Meng, Li, Zhou, Zhang (2023). An Empirical Study of Catastrophic Forgetting in Large
        Language Models During Continual Fine-tuning. arXiv:2308.08747.
    Lopez-Paz, Ranzato (2017). Gradient Episodic Memory for Continual Learning. NeurIPS.
    Chaudhry, Dokania, Ajanthan, Torr (2018). Riemannian Walk for Incremental Learning:
        Understanding Forgetting and Intransigence. ECCV.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cf_utils import paths, stats
from cf_utils.io import atomic_write_text
from cf_utils.study import CATEGORIES, LAST, NEW_TASK, SCORE_CATEGORIES, STAGES, TASK_STAGE, TASKS

SCORE_COLUMNS = ("model", "variant", "stage", "category", "benchmark", "metric", "value", "n")
ITEM_COLUMNS = ("model", "variant", "stage", "category", "benchmark", "item", "group", "metric", "value")
PRIMARY = ("acc", "pct_stereotype")  # in order of preference; else a new task's own metric
SECONDARY = frozenset({"acc_norm", "likelihood_diff", "rougeL"})  # never primary

# Files written before the column was named for what it holds (seq, replay, ...) called it `method`,
# which the configs use for how weights are tuned (full, lora, qlora); such files are still read.
OLD_NAMES = {"method": "variant"}
ELEMENT = ["model", "variant", "category", "benchmark"]
ELEMENT_COLUMNS = [*ELEMENT, "metric", "initial", "final", "fg", "final_drop", "stages"]
CURVE_COLUMNS = [*ELEMENT, "stage", "value"]
FORGETTING_COLUMNS = ["model", "variant", "category", "initial", "final", "fg", "final_drop", "ci_low", "ci_high"]
NEW_TASK_COLUMNS = ["model", "variant", "stage", "task", "metric", "before", "after", "gain", "final", "retained"]
TRANSFER_COLUMNS = ["model", "variant", "bwt", "forgetting", "n_tasks"]


def relative_drop(initial, later) -> np.ndarray:
    """(initial - later) / initial * 100, broadcasting initial over the last axis; NaN where initial is 0."""
    initial = np.asarray(initial, dtype=float)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(initial != 0, (initial - np.asarray(later, dtype=float)) / initial * 100, np.nan)


def fg(initial: float, later: Sequence[float]) -> float:
    """Eq. 1 for one element: the mean relative drop (percent) from ``initial`` over the ``later`` scores."""
    if len(later) == 0:
        raise ValueError("fg needs at least one later score")
    if initial == 0:
        raise ValueError("initial score is 0: the relative drop of Eq. 1 is undefined")
    return float(relative_drop(initial, later).mean())


def final_drop(initial: float, final: float) -> float:
    """Relative drop (percent) from ``initial`` to ``final`` only."""
    if initial == 0:
        raise ValueError("initial score is 0: the relative drop is undefined")
    return float(relative_drop(initial, [final])[0])


def primary_metric(metrics: Iterable[str]) -> str:
    """acc if present, else pct_stereotype, else the one metric that is not secondary (a new task's own)."""
    found = set(metrics)
    for metric in PRIMARY:
        if metric in found:
            return metric
    rest = sorted(found - SECONDARY)
    if len(rest) != 1:
        raise ValueError(f"no single primary metric among {sorted(found)}")
    return rest[0]


def _read(path: str | Path, columns: tuple[str, ...], key: list[str]) -> pd.DataFrame:
    """Read a CSV with exactly ``columns``; check stage, category, numbers and uniqueness of ``key``."""
    path = Path(path)
    header = [OLD_NAMES.get(c, c) for c in pd.read_csv(path, nrows=0).columns]
    missing = [c for c in columns if c not in header]
    extra = [c for c in header if c not in columns]
    if missing or extra:
        raise ValueError(f"{path}: expected columns {','.join(columns)}; missing {missing}, extra {extra}")
    numeric = [c for c in ("value", "n") if c in columns]
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values={c: ["", "nan", "NaN"] for c in numeric})
    df = df.rename(columns=OLD_NAMES)
    df = df[list(columns)]
    stage = pd.to_numeric(df["stage"], errors="coerce")
    bad = df["stage"][~stage.isin(STAGES)]
    if len(bad):
        raise ValueError(f"{path}: stage must be an integer 0..{LAST}, found {sorted(set(bad))[:5]}")
    df["stage"] = stage.astype(int)
    bad = sorted(set(df["category"]) - set(SCORE_CATEGORIES))
    if bad:
        raise ValueError(f"{path}: unknown category {bad}, expected one of {list(SCORE_CATEGORIES)}")
    for col in numeric:
        number = pd.to_numeric(df[col], errors="coerce")
        bad = df[col][number.isna() & df[col].notna()]
        if len(bad):
            raise ValueError(f"{path}: column {col} is not numeric: {sorted(set(bad))[:5]}")
        df[col] = number
    dup = df[df.duplicated(key)]
    if len(dup):
        raise ValueError(f"{path}: {len(dup)} duplicated row(s) for {key}, e.g. {dup.iloc[0][key].tolist()}")
    return df


def read_scores(path: str | Path) -> pd.DataFrame:
    """``scores.csv`` as a frame (stage int, value and n float), validated."""
    return _read(path, SCORE_COLUMNS, ["model", "variant", "stage", "category", "benchmark", "metric"])


def read_items(path: str | Path) -> pd.DataFrame:
    """``items.csv`` as a frame (stage and value int, item and group str), validated."""
    df = _read(path, ITEM_COLUMNS, ["model", "variant", "stage", "benchmark", "item", "metric"])
    bad = df["value"][~df["value"].isin([0, 1])]
    if len(bad):
        raise ValueError(f"{path}: item values must be 0 or 1, found {sorted(set(bad))[:5]}")
    df["value"] = df["value"].astype(int)
    return df


def _primary_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of each (category, benchmark) on its primary metric."""
    primary = scores.groupby(["category", "benchmark"])["metric"].unique().map(primary_metric).reset_index()
    return scores.merge(primary, on=["category", "benchmark", "metric"])


def _stage_grid(rows: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """Values with one column per stage 0..N (NaN where a cell is missing)."""
    if rows.empty:
        empty = pd.MultiIndex.from_arrays([[]] * len(index), names=index)
        return pd.DataFrame(columns=list(STAGES), index=empty, dtype=float)
    return rows.pivot(index=index, columns="stage", values="value").reindex(columns=list(STAGES))


def element_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, category, benchmark) of the benchmark categories: initial, final, FG, final drop."""
    grid = _stage_grid(_primary_rows(scores[scores["category"] != NEW_TASK]), [*ELEMENT, "metric"])
    missing = grid.isna()
    problems = [
        f"({model}, {variant}, {benchmark}) lacks stage(s) {[s for s in STAGES if gaps[s]]}"
        for (model, variant, _, benchmark, _), gaps in missing[missing.any(axis=1)].iterrows()
    ]
    if problems:
        raise ValueError(f"forgetting needs stage 0 and stages 1..{LAST}: " + "; ".join(problems))
    rows = []
    for (model, variant, category, benchmark, metric), values in grid.iterrows():
        initial, later = values.loc[0], values.loc[1:].to_numpy()
        try:
            element_fg = fg(initial, later)
        except ValueError as e:
            raise ValueError(f"({model}, {variant}, {benchmark}): {e}") from None
        final = later[-1]
        drop = final_drop(initial, final)
        rows.append((model, variant, category, benchmark, metric, initial, final, element_fg, drop, len(later)))
    return pd.DataFrame(rows, columns=ELEMENT_COLUMNS)


def curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Primary score per stage of each benchmark element, plus the category mean (benchmark "(mean)").

    The mean at a stage is over the category's elements that have that stage.
    """
    rows = _primary_rows(scores[scores["category"] != NEW_TASK])[CURVE_COLUMNS]
    means = rows.groupby(["model", "variant", "category", "stage"], as_index=False)["value"].mean()
    means["benchmark"] = "(mean)"
    out = pd.concat([rows, means[CURVE_COLUMNS]], ignore_index=True)
    return out.sort_values(["model", "variant", "category", "benchmark", "stage"], ignore_index=True)


def _item_matrix(items: pd.DataFrame, model: str, variant: str, benchmark: str) -> np.ndarray:
    """Items x stages 0..N matrix of a benchmark's primary per-item outcomes (0/1), rows sorted by item id."""
    sub = items[(items["model"] == model) & (items["variant"] == variant) & (items["benchmark"] == benchmark)]
    if sub.empty:
        raise ValueError(f"items has no rows for ({model}, {variant}, {benchmark})")
    sub = sub[sub["metric"] == primary_metric(sub["metric"].unique())]
    grid = sub.pivot(index="item", columns="stage", values="value").reindex(columns=list(STAGES)).sort_index()
    unpaired = [s for s in STAGES if grid[s].isna().any()]
    if unpaired:
        raise ValueError(f"items of ({model}, {variant}, {benchmark}) are not paired: stage(s) {unpaired} lack items")
    return grid.to_numpy(dtype=float)


def bootstrap_fg(
    items: pd.DataFrame,
    model: str,
    variant: str,
    benchmarks: Sequence[str],
    *,
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> tuple[float, float]:
    """Paired percentile bootstrap CI of a category's FG (the mean of its elements' Eq. 1)."""
    stats.check(n_boot, level)
    if len(benchmarks) == 0:
        raise ValueError("bootstrap_fg needs at least one benchmark")
    rng = np.random.default_rng(seed)
    per_element = []
    for benchmark in benchmarks:
        stage_scores = stats.resample_means(_item_matrix(items, model, variant, benchmark), rng, n_boot)
        per_element.append(relative_drop(stage_scores[:, 0], stage_scores[:, 1:]).mean(axis=1))
    return stats.interval(np.mean(per_element, axis=0), level)


def bootstrap_element(
    items: pd.DataFrame,
    model: str,
    variant: str,
    benchmark: str,
    *,
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Paired percentile bootstrap CIs of one element's FG and final drop (same resamples for both)."""
    stats.check(n_boot, level)
    stage_scores = stats.resample_means(
        _item_matrix(items, model, variant, benchmark), np.random.default_rng(seed), n_boot
    )
    drops = relative_drop(stage_scores[:, 0], stage_scores[:, 1:])
    return {"fg": stats.interval(drops.mean(axis=1), level), "final_drop": stats.interval(drops[:, -1], level)}


def forgetting_table(
    scores: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    n_boot: int | None = None,
    seed: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per (model, variant, category): mean initial/final scores, FG (Eq. 1), final drop and FG's bootstrap CI.

    The CI is NaN when ``items`` is None or lacks some benchmark of the category for that model and variant.
    """
    if items is not None and (n_boot is None or seed is None):
        raise ValueError("forgetting_table with items needs n_boot and seed (the config's eval.n_boot and seed)")
    elements = element_table(scores)
    runs = {} if items is None else {key: run for key, run in items.groupby(["model", "variant"])}
    rows = []
    for (model, variant, category), group in elements.groupby(["model", "variant", "category"]):
        low = high = float("nan")
        run = runs.get((model, variant))
        if run is not None and set(group["benchmark"]) <= set(run["benchmark"].unique()):
            low, high = bootstrap_fg(
                run, model, variant, list(group["benchmark"]), n_boot=n_boot, seed=seed, level=level
            )
        means = group[["initial", "final", "fg", "final_drop"]].mean()
        rows.append((model, variant, category, *means, low, high))
    out = pd.DataFrame(rows, columns=FORGETTING_COLUMNS)
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    return out.sort_values(
        ["model", "variant", "category"], key=lambda col: col.map(rank) if col.name == "category" else col
    ).reset_index(drop=True)


def _task_grid(scores: pd.DataFrame) -> pd.DataFrame:
    """New-task primary scores, one row per (model, variant, benchmark = task, metric), one column per stage."""
    rows = _primary_rows(scores[scores["category"] == NEW_TASK])
    unknown = sorted(set(rows["benchmark"]) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown new task(s) {unknown}, expected {list(TASKS)}")
    return _stage_grid(rows, ["model", "variant", "benchmark", "metric"])


def new_task_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, task): score before/after its own stage k, the gain, the score at stage N and the
    change since stage k (``retained``; NaN where a cell is missing)."""
    rows = []
    for (model, variant, task, metric), values in _task_grid(scores).iterrows():
        k = TASK_STAGE[task]
        before, after, final = values.loc[k - 1], values.loc[k], values.loc[LAST]
        rows.append((model, variant, k, task, metric, before, after, after - before, final, final - after))
    out = pd.DataFrame(rows, columns=NEW_TASK_COLUMNS)
    return out.sort_values(["model", "variant", "stage"], ignore_index=True)


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


def write_forgetting(profile: str, *, n_boot: int, seed: int) -> Path:
    """Compute the forgetting table of a profile and write ``artifacts/<profile>/forgetting.csv`` atomically."""
    scores_path = paths.output(profile, "scores.csv")
    if not scores_path.exists():
        raise FileNotFoundError(f"{scores_path} not found: run the evaluation first (make evaluate PROFILE={profile})")
    items_path = paths.output(profile, "items.csv")
    items = read_items(items_path) if items_path.exists() else None
    table = forgetting_table(read_scores(scores_path), items, n_boot=n_boot, seed=seed)
    out = paths.output(profile, "forgetting.csv")
    atomic_write_text(out, table.round(2).to_csv(index=False, lineterminator="\n"))
    return out
