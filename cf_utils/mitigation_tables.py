"""The mitigation study's tables: computed from its cells' rows, written, and read back (05_mitigations, the report).

    artifacts/<profile>/mitigations/scores.csv, items.csv   the cells used (same schema as the main study)
    artifacts/<profile>/mitigations.csv        model,variant,category,initial,final,final_drop,ci_low,ci_high,
                                               vs_seq,vs_seq_low,vs_seq_high,detectable,p,p_holm
    artifacts/<profile>/mitigations_tasks.csv  model,variant,task,metric,initial,final,gain   (the new tasks)

What is compared: each method's model after the last stage against the same starting model (the
``seq`` chain's stage 0; every method starts from it: the adapter's B is zero). Trained chains are
evaluated at the last stage only (the main study's per-stage curves cost 6x), so retention is the
final drop (relative, %, as metrics.final_drop) per benchmark, averaged per category and over the
three general categories (domain knowledge, reasoning, reading comprehension); bias is left out, its
direction is not "lower is worse". ``vs_seq`` = seq's drop minus the method's (> 0: the method forgot
less). CIs: paired percentile bootstrap over each benchmark's items (whole clusters where items share a
passage, as the main table), the same draw for the starting
model and every method, so differences between methods are paired too; ``p`` is the difference's
bootstrap p-value and ``p_holm`` its Holm adjustment over the variants compared with seq in a
category; ``detectable`` the difference it could detect with 80% power in that family
(stats.detectable_in_family). New-task gain: each task's own metric after the last stage minus at stage 0, in points.

No torch: the report reads these tables (cf_utils/mitigation_study.py trains and evaluates the chains).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cf_utils import metrics, paths, stats
from cf_utils.io import atomic_write_text
from cf_utils.study import BIAS, CATEGORIES, GENERAL, GENERAL_POOLED, LAST, NEW_TASK, SEQ, TASKS

RETENTION_COLUMNS = ["model", "variant", "category", "initial", "final", "final_drop", "ci_low", "ci_high",
                     "vs_seq", "vs_seq_low", "vs_seq_high", "detectable", "p", "p_holm"]  # fmt: skip
TASK_COLUMNS = ["model", "variant", "task", "metric", "initial", "final", "gain"]
LEVEL, ALPHA = 0.95, 0.05


def _item_vectors(items: pd.DataFrame, model: str, benchmark: str, methods: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Items x (start, each method's end) primary outcomes of one benchmark, rows paired by item id, and each
    row's cluster (items on one passage are resampled together, as in the main table)."""
    sub = items[(items["model"] == model) & (items["benchmark"] == benchmark)]
    sub = sub[sub["metric"] == metrics.primary_metric(sub["metric"].unique())]
    start = sub[(sub["variant"] == SEQ) & (sub["stage"] == 0)].set_index("item")["value"].rename("start")
    ends = [sub[(sub["variant"] == m) & (sub["stage"] == LAST)].set_index("item")["value"].rename(m) for m in methods]
    grid = pd.concat([start, *ends], axis=1).sort_index()
    if grid.isna().any().any():
        missing = [c for c in grid.columns if grid[c].isna().any()]
        raise ValueError(f"{benchmark}: items are not paired between the start and {missing}")
    clusters = sub.drop_duplicates("item").set_index("item")["cluster"].reindex(grid.index)
    return grid.to_numpy(dtype=float), clusters.to_numpy()


def retention_table(
    items: pd.DataFrame, model: str, variants: list[str], categories: dict[str, list[str]], *, n_boot: int, seed: int
) -> pd.DataFrame:
    """Final drop per (variant, category and 'general') with paired bootstrap CIs, and the difference to seq."""
    rng = np.random.default_rng(seed)
    point, boot = {}, {}  # category -> (variants,) and (n_boot, variants) drops, averaged over the elements
    starts = {}
    for category, benchmarks in categories.items():
        p_el, b_el, s_el = [], [], []
        for benchmark in benchmarks:
            grid, clusters = _item_vectors(items, model, benchmark, variants)  # (n, 1 + variants), (n,)
            means = grid.mean(axis=0) * 100
            draws = metrics.resample(grid, clusters, rng, n_boot)  # (n_boot, 1 + variants), clusters drawn whole
            p_el.append(metrics.relative_drop(means[0], means[1:]))
            b_el.append(metrics.relative_drop(draws[:, 0], draws[:, 1:]))
            s_el.append((means[0], means[1:]))
        point[category] = np.mean(p_el, axis=0)
        boot[category] = np.mean(b_el, axis=0)
        starts[category] = (np.mean([s for s, _ in s_el]), np.mean([f for _, f in s_el], axis=0))
    general = [c for c in GENERAL if c in categories]
    point[GENERAL_POOLED] = np.mean([point[c] for c in general], axis=0)
    boot[GENERAL_POOLED] = np.mean([boot[c] for c in general], axis=0)
    starts[GENERAL_POOLED] = (
        np.mean([starts[c][0] for c in general]),
        np.mean([starts[c][1] for c in general], axis=0),
    )
    seq = variants.index(SEQ)
    rows = []
    for category in [*categories, GENERAL_POOLED]:
        b = boot[category]
        diff = b[:, [seq]] - b  # seq's drop minus the variant's: > 0 = forgot less than seq
        p = [stats.p_value(diff[:, i]) if i != seq else np.nan for i in range(len(variants))]
        others = [i for i in range(len(variants)) if i != seq]  # one family per category: every variant vs seq
        holm = dict(zip(others, stats.holm([p[i] for i in others]), strict=True)) if others else {}
        initial, finals = starts[category]
        for i, v in enumerate(variants):
            vs = point[category][seq] - point[category][i]
            se = float(np.std(diff[:, i], ddof=1))
            power = stats.detectable_in_family(se, len(others), ALPHA) if i != seq else np.nan
            rows.append((model, v, category, initial, finals[i], point[category][i], *stats.interval(b[:, i], LEVEL),
                         vs, *stats.interval(diff[:, i], LEVEL), power, p[i], holm.get(i, np.nan)))  # fmt: skip
    return pd.DataFrame(rows, columns=RETENTION_COLUMNS)


def task_table(scores: pd.DataFrame, model: str, methods: list[str]) -> pd.DataFrame:
    """Each new task's own metric at the start (seq stage 0) and after the last stage of every method."""
    rows = scores[(scores["model"] == model) & (scores["category"] == NEW_TASK)]
    out = []
    for task in TASKS:
        sub = rows[rows["benchmark"] == task]
        metric = metrics.primary_metric(sub["metric"].unique())
        sub = sub[sub["metric"] == metric]
        initial = sub[(sub["variant"] == SEQ) & (sub["stage"] == 0)]["value"].item()
        for m in methods:
            final = sub[(sub["variant"] == m) & (sub["stage"] == LAST)]["value"].item()
            out.append((model, m, task, metric, initial, final, final - initial))
    return pd.DataFrame(out, columns=TASK_COLUMNS)


def verdict(row) -> str:
    """Does the variant keep more general knowledge than seq? From the paired bootstrap of the difference,
    its p-value Holm-adjusted over all variants compared with seq (5% family-wise); an interval that
    spans 0 is inconclusive, not "no difference"."""
    if row["variant"] == SEQ:
        return "reference"
    if row["p_holm"] < ALPHA:
        return "forgets less than seq" if row["vs_seq"] > 0 else "forgets more than seq"
    return "inconclusive"


def summary(retention: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    """One row per method: general final drop [CI], difference to seq [CI], per-category drops, mean task gain."""

    def ci(x, lo, hi):
        return f"{x:.1f} [{lo:.1f}, {hi:.1f}]"

    rows = []
    gains = tasks.groupby("variant", sort=False)["gain"].mean()
    for m, g in retention.groupby("variant", sort=False):
        gen = g[g["category"] == GENERAL_POOLED].iloc[0]
        row = {
            "variant": m,
            "general final drop % [95% CI]": ci(gen["final_drop"], gen["ci_low"], gen["ci_high"]),
            "less forgetting than seq, points [95% CI]": ""
            if m == SEQ
            else ci(gen["vs_seq"], gen["vs_seq_low"], gen["vs_seq_high"]),  # fmt: skip
            "detectable with 80% power, points": "" if m == SEQ else f"{gen['detectable']:.1f}",
        }
        for _, r in g[g["category"] != GENERAL_POOLED].iterrows():
            row[f"{r['category']} drop %"] = f"{r['final_drop']:.1f}"
        row["mean new-task gain (points)"] = f"{gains[m]:.2f}"
        row["verdict"] = verdict(gen)
        rows.append(row)
    return pd.DataFrame(rows)


def tables(scores: pd.DataFrame, items: pd.DataFrame, model: str, variants: list[str], *, n_boot: int,
           seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """The retention table (the general categories the cells score) and the task table of ``variants``."""
    bench = scores[scores["category"].isin(CATEGORIES) & (scores["category"] != BIAS)]
    categories = {c: sorted(bench[bench["category"] == c]["benchmark"].unique()) for c in GENERAL}
    categories = {c: b for c, b in categories.items() if b}
    retention = retention_table(items, model, variants, categories, n_boot=n_boot, seed=seed)
    return retention, task_table(scores, model, variants)


def write(profile: str, scores: pd.DataFrame, items: pd.DataFrame, retention: pd.DataFrame,
          tasks: pd.DataFrame) -> None:  # fmt: skip
    """The study's scores, items, retention and task tables (atomically; the retention table last)."""
    atomic_write_text(paths.output(profile, "mitigations/scores.csv"), scores.to_csv(index=False, float_format="%.4f"))
    atomic_write_text(paths.output(profile, "mitigations/items.csv"), items.to_csv(index=False))
    atomic_write_text(paths.output(profile, "mitigations_tasks.csv"), tasks.round(4).to_csv(index=False))
    atomic_write_text(paths.output(profile, "mitigations.csv"), retention.round(3).to_csv(index=False))  # the target


def read(profile: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The study's retention and task tables, or None when the profile has not run one."""
    retention, tasks = (paths.output(profile, name) for name in ("mitigations.csv", "mitigations_tasks.csv"))
    if not retention.is_file() or not tasks.is_file():
        return None
    frame = pd.read_csv(retention)
    return None if frame.empty else (frame, pd.read_csv(tasks))


def absent_reason(profile: str) -> str:
    """Why a profile's report has no mitigation results: none run yet, or none in the profile (05 then
    writes header-only tables). Never the second when it is the first (notebooks run out of order)."""
    if not paths.output(profile, "mitigations.csv").is_file():
        writer, target = paths.OUTPUTS["mitigations.csv"]
        return f"the mitigation study has not run yet: run {writer} (make {target} PROFILE={profile}), then 04 again"
    return "this profile runs no mitigation study (mitigation.methods is empty)"


def write_empty(profile: str) -> None:
    """A profile without a mitigation study: header-only tables, so the make target is still a file."""
    atomic_write_text(paths.output(profile, "mitigations_tasks.csv"), ",".join(TASK_COLUMNS) + "\n")
    atomic_write_text(paths.output(profile, "mitigations.csv"), ",".join(RETENTION_COLUMNS) + "\n")
