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
- The continual tasks' own metrics, their gains and transfer between them: cf_utils/task_metrics.py.
- Confidence intervals: the paired percentile bootstrap of cf_utils/stats.py. The same items are
  scored at every stage, so each benchmark's items are resampled with the same draw at every stage.
  Resamples whose initial score is 0 are skipped.

References:
    Luo, Yang, Meng, Li, Zhou, Zhang (2023). An Empirical Study of Catastrophic Forgetting in Large
        Language Models During Continual Fine-tuning. arXiv:2308.08747.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cf_utils import paths, power, stats
from cf_utils.io import atomic_write_text
from cf_utils.study import CATEGORIES, LAST, NEW_TASK, SCORE_CATEGORIES, STAGES, TRAINED_STAGES
from cf_utils.study import GENERAL as GENERAL_CATEGORIES

SCORE_COLUMNS = ("model", "variant", "stage", "category", "benchmark", "metric", "value", "n")
# items.csv: every item's outcome per metric (0/1) and its log-likelihood margin (metric ll_margin, nats);
# ``cluster`` names items resampled together (a shared passage, twins), ``choices`` gives the chance level.
ITEM_COLUMNS = ("model", "variant", "stage", "category", "benchmark", "item", "group", "cluster", "choices", "metric",
                "value")  # fmt: skip
MARGIN = "ll_margin"
# generations.csv: each generated item's share of its task's corpus metric (textmetrics.item_statistics).
GENERATION_COLUMNS = ("model", "variant", "stage", "category", "benchmark", "item", "statistic", "value")
PRIMARY = ("acc", "pct_stereotype")  # in order of preference; else a new task's own metric
SECONDARY = frozenset({"acc_norm", "likelihood_diff", "rougeL", "ll_margin"})  # never primary

# Files written before the column was named for what it holds (seq, replay, ...) called it `method`,
# which the configs use for how weights are tuned (full, lora, qlora); such files are still read.
OLD_NAMES = {"method": "variant"}
ELEMENT = ["model", "variant", "category", "benchmark"]
ELEMENT_COLUMNS = [*ELEMENT, "metric", "initial", "final", "fg", "final_drop", "stages"]
CURVE_COLUMNS = [*ELEMENT, "stage", "value"]
FORGETTING_COLUMNS = ["model", "variant", "category", "initial", "final", "fg", "final_drop", "ci_low", "ci_high",
                      "se", "mde", "paper_smallest", "state", "elements_at_floor", "fg_all", "fg_above_chance",
                      "elements_above_chance", "margin_drop", "margin_low", "margin_high"]  # fmt: skip
# The floor rule (power.at_floor, fixed before any run): an element whose stage-0 score is within FLOOR_MARGIN points
# of its chance level, or below its majority-answer baseline, measures nothing for that model: it is shown, but left
# out of its category's FG, CI and verdict. A category with no element above its floor is "not measurable".
FLOOR_MARGIN, at_floor = power.FLOOR_MARGIN, power.at_floor


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


# Columns added later, and what a file written before them means: every item its own cluster, chance unknown.
ADDED_COLUMNS = {"cluster": lambda df: df["item"], "choices": lambda df: np.nan}


def _read(path: str | Path, columns: tuple[str, ...], key: list[str]) -> pd.DataFrame:
    """Read a CSV with exactly ``columns``; check stage, category, numbers and uniqueness of ``key``."""
    path = Path(path)
    header = [OLD_NAMES.get(c, c) for c in pd.read_csv(path, nrows=0).columns]
    missing = [c for c in columns if c not in header and c not in ADDED_COLUMNS]
    extra = [c for c in header if c not in columns]
    if missing or extra:
        raise ValueError(f"{path}: expected columns {','.join(columns)}; missing {missing}, extra {extra}")
    numeric = [c for c in ("value", "n", "choices") if c in columns]
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values={c: ["", "nan", "NaN"] for c in numeric})
    df = df.rename(columns=OLD_NAMES)
    for col in set(columns) - set(df.columns):
        df[col] = ADDED_COLUMNS[col](df)
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
    """``items.csv`` as a frame (stage int; value 0/1 per outcome metric, nats for ll_margin), validated."""
    df = _read(path, ITEM_COLUMNS, ["model", "variant", "stage", "benchmark", "item", "metric"])
    outcome = df["metric"] != MARGIN
    bad = df["value"][outcome & ~df["value"].isin([0, 1])]
    if len(bad):
        raise ValueError(f"{path}: item outcomes must be 0 or 1, found {sorted(set(bad))[:5]}")
    return df


def read_generations(path: str | Path) -> pd.DataFrame:
    """``generations.csv``: each generated item's statistics (textmetrics.item_statistics), validated."""
    return _read(path, GENERATION_COLUMNS, ["model", "variant", "stage", "benchmark", "item", "statistic"])


def primary_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of each (category, benchmark) on its primary metric."""
    primary = scores.groupby(["category", "benchmark"])["metric"].unique().map(primary_metric).reset_index()
    return scores.merge(primary, on=["category", "benchmark", "metric"])


def stage_grid(rows: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """Values with one column per stage 0..N (NaN where a cell is missing)."""
    if rows.empty:
        empty = pd.MultiIndex.from_arrays([[]] * len(index), names=index)
        return pd.DataFrame(columns=list(STAGES), index=empty, dtype=float)
    return rows.pivot(index=index, columns="stage", values="value").reindex(columns=list(STAGES))


def element_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, category, benchmark) of the benchmark categories: initial, final, FG, final drop."""
    grid = stage_grid(primary_rows(scores[scores["category"] != NEW_TASK]), [*ELEMENT, "metric"])
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
        final = later[-1]
        # a 0 start has nothing to lose and no relative drop (Eq. 1 divides by it): NaN, and at its floor
        element_fg = fg(initial, later) if initial != 0 else np.nan
        drop = final_drop(initial, final) if initial != 0 else np.nan
        rows.append((model, variant, category, benchmark, metric, initial, final, element_fg, drop, len(later)))
    return pd.DataFrame(rows, columns=ELEMENT_COLUMNS)


def curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Primary score per stage of each benchmark element, plus the category mean (benchmark "(mean)").

    The mean at a stage is over the category's elements that have that stage.
    """
    rows = primary_rows(scores[scores["category"] != NEW_TASK])[CURVE_COLUMNS]
    means = rows.groupby(["model", "variant", "category", "stage"], as_index=False)["value"].mean()
    means["benchmark"] = "(mean)"
    out = pd.concat([rows, means[CURVE_COLUMNS]], ignore_index=True)
    return out.sort_values(["model", "variant", "category", "benchmark", "stage"], ignore_index=True)


def item_frame(items: pd.DataFrame, model: str, variant: str, benchmark: str, metric: str | None = None):
    """Items x stages 0..N frame of one benchmark's per-item values on ``metric`` (default: the primary
    outcome), rows sorted by item id, and each row's cluster."""
    sub = items[(items["model"] == model) & (items["variant"] == variant) & (items["benchmark"] == benchmark)]
    if sub.empty:
        raise ValueError(f"items has no rows for ({model}, {variant}, {benchmark})")
    sub = sub[sub["metric"] == (metric or primary_metric(sub["metric"].unique()))]
    grid = sub.pivot(index="item", columns="stage", values="value").reindex(columns=list(STAGES)).sort_index()
    unpaired = [s for s in STAGES if grid[s].isna().any()]
    if unpaired:
        raise ValueError(f"items of ({model}, {variant}, {benchmark}) are not paired: stage(s) {unpaired} lack items")
    if "cluster" not in sub.columns:  # a frame built before clusters: every item its own
        return grid, grid.index.to_numpy()
    clusters = sub.drop_duplicates("item").set_index("item")["cluster"].reindex(grid.index)
    return grid, clusters.to_numpy()


def _item_matrix(items: pd.DataFrame, model: str, variant: str, benchmark: str) -> np.ndarray:
    """Items x stages 0..N matrix of a benchmark's primary per-item outcomes (0/1), rows sorted by item id."""
    return item_frame(items, model, variant, benchmark)[0].to_numpy(dtype=float)


def resample(matrix: np.ndarray, clusters: np.ndarray | None, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(n_boot, columns) percent means: whole clusters drawn where items share one, else single items."""
    if clusters is None or len(set(clusters)) == len(clusters):
        return stats.resample_means(matrix, rng, n_boot)
    return stats.resample_cluster_means(matrix, clusters, rng, n_boot)


def _stage_draws(items, model, variant, benchmark, rng, n_boot) -> np.ndarray:
    grid, clusters = item_frame(items, model, variant, benchmark)
    return resample(grid.to_numpy(dtype=float), clusters, rng, n_boot)


def stage_draws(items, model, variant, benchmarks, *, n_boot: int, seed: int, level: float = 0.95) -> list:
    """Per element, (n_boot, stages) resampled scores: its items (clusters) drawn, the same draw at every stage."""
    stats.check(n_boot, level)
    if len(benchmarks) == 0:
        raise ValueError("bootstrap_fg needs at least one benchmark")
    rng = np.random.default_rng(seed)
    return [_stage_draws(items, model, variant, benchmark, rng, n_boot) for benchmark in benchmarks]


def fg_draws(items, model, variant, benchmarks, *, n_boot: int, seed: int, level: float = 0.95) -> np.ndarray:
    """(n_boot,) resampled FG of a category (the mean of its elements' Eq. 1)."""
    draws = stage_draws(items, model, variant, benchmarks, n_boot=n_boot, seed=seed, level=level)
    return np.mean([relative_drop(d[:, 0], d[:, 1:]).mean(axis=1) for d in draws], axis=0)


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
    return stats.interval(fg_draws(items, model, variant, benchmarks, n_boot=n_boot, seed=seed, level=level), level)


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
    """Paired percentile bootstrap CIs of one element's FG, final drop and initial score (same resamples)."""
    stats.check(n_boot, level)
    stage_scores = _stage_draws(items, model, variant, benchmark, np.random.default_rng(seed), n_boot)
    drops = relative_drop(stage_scores[:, 0], stage_scores[:, 1:])
    return {
        "fg": stats.interval(drops.mean(axis=1), level),
        "final_drop": stats.interval(drops[:, -1], level),
        "initial": stats.interval(stage_scores[:, 0], level),
    }


def chance_level(items: pd.DataFrame, model: str, variant: str, benchmark: str) -> float:
    """Percent correct by guessing: the mean over items of one over their number of choices (NaN if unknown)."""
    if "choices" not in items.columns:  # a frame built before the column: chance unknown
        return float("nan")
    sub = items[(items["model"] == model) & (items["variant"] == variant) & (items["benchmark"] == benchmark)]
    choices = sub.drop_duplicates("item")["choices"].astype(float)
    return float((100 / choices).mean()) if choices.notna().all() and len(choices) else float("nan")


# ---------------------------------------------------------------- what a category's FG can support

DETECTED, EXCLUDED, INCONCLUSIVE, NOT_MEASURED = "detected", "paper-sized effect excluded", "inconclusive", "no CI"
NOT_MEASURABLE = "not measurable"  # every element of the unit is at its floor (FLOOR_MARGIN)


def baselines(profile: str, files: list[dict] | None = None) -> dict[str, dict[str, float]]:
    """Per benchmark, its chance level and majority-answer baseline (percent) from the data manifest
    (cf_utils.data.prepare writes both), or from ``files`` (a run manifest's data files, which carry them);
    empty where the manifest or its entries do not exist."""
    if files is None:
        manifest = paths.data_manifest(profile)
        if not manifest.is_file():
            return {}
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    return {f["name"]: {"chance": f["chance"], "majority": f.get("majority_baseline", float("nan"))}
            for f in files if f.get("role") == "benchmark" and "chance" in f}  # fmt: skip


PAPER_SCALE_B = (1.0, 2.0)  # the paper's ~1B models: mt0-1.2b, bloomz-1.1b, bloomz-1.7b


def state(low: float, high: float, bound: float) -> str:
    """The rule every unit's verdict follows, fixed before any data (the report states it):
    detected if the 95% CI lies above 0; paper-sized effect excluded if it lies below ``bound`` (the
    smallest FG the paper reports for the category among its ~1B models); otherwise inconclusive. An
    interval that spans 0 is never read as an absence of forgetting."""
    if np.isnan(low) or np.isnan(high):
        return NOT_MEASURED
    if low > 0:
        return DETECTED
    if not np.isnan(bound) and high < bound:
        return EXCLUDED
    return INCONCLUSIVE


def paper_bounds(paper: pd.DataFrame | None = None) -> dict[str, float]:
    """Per category, the smallest FG the paper reports among its ~1B models (data/reference/paper_numbers.csv)."""
    paper = pd.read_csv(paths.PAPER_NUMBERS) if paper is None else paper
    size = paper["model"].str.extract(r"-(\d+(?:\.\d+)?)b$", expand=False).astype(float)
    small = paper[size.between(*PAPER_SCALE_B)]
    return small.groupby("category")["fg"].min().to_dict()


def margin_drop_draws(items, model, variant, benchmarks, *, n_boot: int, seed: int) -> tuple[float, np.ndarray]:
    """The secondary measure: the gold answer's log-likelihood margin over the best wrong choice, its drop
    from stage 0 averaged over stages 1..N and items (nats; > 0 = the model moved away from the gold
    answers), averaged over the elements; point estimate and (n_boot,) paired resamples."""
    rng = np.random.default_rng(seed + 1)  # a stream of its own: FG's draws stay as they were
    points, draws = [], []
    for benchmark in benchmarks:
        grid, clusters = item_frame(items, model, variant, benchmark, MARGIN)
        drop = (grid[0].to_numpy()[:, None] - grid[list(TRAINED_STAGES)].to_numpy()).mean(axis=1)  # (items,)
        points.append(drop.mean())
        draws.append(_resample_values(drop, clusters, rng, n_boot))
    return float(np.mean(points)), np.mean(draws, axis=0)


def _resample_values(values: np.ndarray, clusters: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(n_boot,) means of a continuous per-item value over resampled items (or clusters)."""
    _, index = np.unique(clusters, return_inverse=True)
    sums, sizes = np.bincount(index, weights=values), np.bincount(index).astype(float)
    picks = rng.multinomial(len(sizes), np.full(len(sizes), 1 / len(sizes)), size=n_boot)
    return (picks @ sums) / (picks @ sizes)


def minimal_detectable_fg(n_items, initial, flip_rate) -> float:
    """The smallest category FG (Eq. 1, points) a two-sided 5% test detects with 80% power, per element its
    item count, initial score (percent) and observed flip rate (the share of items whose outcome differs
    between stage 0 and a later stage, averaged over the stages).

    An element's FG is 100 (p0 - pm) / p0 averaged over the stages; a paired difference of proportions
    on n items with discordant share f has standard error sqrt(f / n) (McNemar), and the stages' drops
    are treated as fully correlated (conservative), so SE(FG_e) = 100 sqrt(f / n) / p0 (cf_utils.power) and
    the category's SE is the root sum of squares over its E elements, over E. A true drop d (as a share) makes at least
    d of the items flip, so f is at least d under the alternative: the effect is found by iteration.
    """
    n, p0, f_obs = (np.asarray(x, dtype=float) for x in (n_items, initial, flip_rate))
    p0 = np.clip(p0 / 100, 1e-6, None)
    effect = 100.0  # from above: 0 is a fixed point too when nothing flipped
    for _ in range(50):
        drop = effect / 100 * p0  # (elements,) the element's drop as a share of items
        se = np.sqrt(np.sum(power.element_se(n, 100 * p0, np.maximum(f_obs, drop)) ** 2)) / len(n)
        effect, previous = stats.minimal_detectable(se), effect
        if abs(effect - previous) < 1e-6:
            break
    return float(min(effect, 100.0))  # a relative drop cannot exceed 100: an MDE above it means "none detectable"


def _flip_rate(grid: pd.DataFrame) -> float:
    start = grid[0].to_numpy()[:, None]
    return float((grid[list(TRAINED_STAGES)].to_numpy() != start).mean())


def element_baseline(run, model: str, variant: str, benchmark: str, known: Mapping) -> tuple[float, float]:
    """(chance, majority baseline) of an element: the data manifest's, else chance from the items (majority unknown)."""
    if benchmark in known:
        return float(known[benchmark]["chance"]), float(known[benchmark]["majority"])
    chance = chance_level(run, model, variant, benchmark) if run is not None else float("nan")
    return chance, float("nan")


def _category_row(group: pd.DataFrame, run, key: tuple, bound: float, n_boot, seed, level, known: Mapping) -> dict:
    model, variant, category = key
    row = {"model": model, "variant": variant, "category": category}
    floor = np.array([at_floor(r["initial"], *element_baseline(run, model, variant, r["benchmark"], known))
                      for _, r in group.iterrows()], dtype=bool)  # fmt: skip
    row["elements_at_floor"] = ", ".join(group["benchmark"][floor]) or "none"
    row["fg_all"] = float(group["fg"].mean())  # Eq. 1 over every element, floors included (the paper's)
    group = group[~floor]
    row.update(group[["initial", "final", "fg", "final_drop"]].mean().to_dict())
    row.update(ci_low=np.nan, ci_high=np.nan, se=np.nan, mde=np.nan, paper_smallest=bound)
    row.update(margin_drop=np.nan, margin_low=np.nan, margin_high=np.nan)
    row.update(fg_above_chance=np.nan, elements_above_chance="")
    benchmarks = list(group["benchmark"])
    if not benchmarks:
        row["state"] = NOT_MEASURABLE
        return row
    if run is not None and set(benchmarks) <= set(run["benchmark"].unique()):
        per_element = stage_draws(run, model, variant, benchmarks, n_boot=n_boot, seed=seed, level=level)
        draws = np.mean([relative_drop(d[:, 0], d[:, 1:]).mean(axis=1) for d in per_element], axis=0)
        row["ci_low"], row["ci_high"] = stats.interval(draws, level)
        chance = [chance_level(run, model, variant, b) for b in benchmarks]
        clear = [stats.interval(d[:, 0], level)[0] > c for d, c in zip(per_element, chance, strict=True)]
        row["elements_above_chance"] = "chance unknown" if np.isnan(chance).any() else f"{sum(clear)}/{len(clear)}"
        if any(clear):  # the sensitivity FG: an element whose start does not clear chance by its CI left out
            row["fg_above_chance"] = float(group["fg"][np.array(clear)].mean())
        row["se"] = float(np.nanstd(draws, ddof=1)) if n_boot > 1 else np.nan
        grids = [item_frame(run, model, variant, b)[0] for b in benchmarks]
        row["mde"] = minimal_detectable_fg(
            [len(g) for g in grids], list(group["initial"]), [_flip_rate(g) for g in grids]
        )
        if set(benchmarks) <= set(run.loc[run["metric"] == MARGIN, "benchmark"]):  # pairs (bias) have none
            point, m_draws = margin_drop_draws(run, model, variant, benchmarks, n_boot=n_boot, seed=seed)
            row["margin_drop"] = point
            row["margin_low"], row["margin_high"] = stats.interval(m_draws, level)
    row["state"] = state(row["ci_low"], row["ci_high"], bound)
    return row


def forgetting_table(
    scores: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    n_boot: int | None = None,
    seed: int | None = None,
    level: float = 0.95,
    baselines: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Per (model, variant, category), over the elements above their floor (``at_floor``; ``baselines``: per
    benchmark its chance and majority baseline, else chance from the items): mean initial/final scores, FG (Eq.
    1), final drop, FG's bootstrap CI
    and standard error, the minimal detectable FG (80% power, 5% level; ``minimal_detectable_fg``), the
    paper's smallest ~1B FG and the unit's ``state``, and the secondary log-likelihood margin drop with its CI.

    ``elements_at_floor`` names the elements left out, ``fg_all`` is Eq. 1 over every element (the paper's), and a
    unit with no element above its floor is ``NOT_MEASURABLE``. The CI and what depends on it are NaN when
    ``items`` is None or lacks some benchmark of the category.
    """
    if items is not None and (n_boot is None or seed is None):
        raise ValueError("forgetting_table with items needs n_boot and seed (the config's eval.n_boot and seed)")
    elements = element_table(scores)
    runs = {} if items is None else {key: run for key, run in items.groupby(["model", "variant"])}
    bounds = paper_bounds()
    rows = [
        _category_row(group, runs.get(key[:2]), key, bounds.get(key[2], np.nan), n_boot, seed, level, baselines or {})
        for key, group in elements.groupby(["model", "variant", "category"])
    ]
    out = pd.DataFrame(rows, columns=FORGETTING_COLUMNS)
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    return out.sort_values(
        ["model", "variant", "category"], key=lambda col: col.map(rank) if col.name == "category" else col
    ).reset_index(drop=True)


FLIP_COLUMNS = ["model", "variant", "category", "stage", "items", "forgotten", "learned", "net", "flip_rate"]


def flip_table(items: pd.DataFrame | None) -> pd.DataFrame:
    """Per (model, variant, category, trained stage), over the category's elements' items (primary outcome, pct):
    forgotten = right at stage 0 and wrong now, learned = wrong at stage 0 and right now, net = forgotten -
    learned (the drop in points FG turns relative), flip_rate = forgotten + learned (the discordant share the power
    calculation assumes). Beyond the paper; bias pairs are left out (a flip there is a changed preference)."""
    if items is None:
        return pd.DataFrame(columns=FLIP_COLUMNS)
    rows = []
    for (model, variant, category), run in items[items["category"].isin(GENERAL_CATEGORIES)].groupby(
        ["model", "variant", "category"], sort=False
    ):
        grids = [item_frame(run, model, variant, b)[0].to_numpy(dtype=float) for b in run["benchmark"].unique()]
        grid = np.concatenate(grids)  # (items, stages)
        for stage in TRAINED_STAGES:
            lost = 100 * float(((grid[:, 0] == 1) & (grid[:, stage] == 0)).mean())
            won = 100 * float(((grid[:, 0] == 0) & (grid[:, stage] == 1)).mean())
            rows.append((model, variant, category, stage, len(grid), lost, won, lost - won, (lost + won) / 100))
    return pd.DataFrame(rows, columns=FLIP_COLUMNS)


ELEMENT_FLIP_COLUMNS = ["model", "variant", "category", "benchmark", "items", "initial", "flip_rate"]


def element_flips(items: pd.DataFrame | None) -> pd.DataFrame:
    """Per (model, variant, general element): items, stage-0 score (pct) and the flip rate averaged over the
    trained stages: what the power calculation assumed per element (cf_utils.power.assumptions), as measured."""
    if items is None:
        return pd.DataFrame(columns=ELEMENT_FLIP_COLUMNS)
    rows = []
    general = items[items["category"].isin(GENERAL_CATEGORIES)]
    for (model, variant, category, benchmark), _ in general.groupby(["model", "variant", "category", "benchmark"]):
        grid = item_frame(general, model, variant, benchmark)[0]
        rows.append((model, variant, category, benchmark, len(grid), 100 * float(grid[0].mean()), _flip_rate(grid)))
    return pd.DataFrame(rows, columns=ELEMENT_FLIP_COLUMNS)


def write_forgetting(profile: str, *, n_boot: int, seed: int) -> Path:
    """Compute the forgetting table of a profile and write ``artifacts/<profile>/forgetting.csv`` atomically."""
    scores_path = paths.output(profile, "scores.csv")
    if not scores_path.exists():
        raise FileNotFoundError(f"{scores_path} not found: run the evaluation first (make evaluate PROFILE={profile})")
    items_path = paths.output(profile, "items.csv")
    items = read_items(items_path) if items_path.exists() else None
    table = forgetting_table(read_scores(scores_path), items, n_boot=n_boot, seed=seed, baselines=baselines(profile))
    out = paths.output(profile, "forgetting.csv")
    atomic_write_text(out, table.round(2).to_csv(index=False, lineterminator="\n"))
    return out
