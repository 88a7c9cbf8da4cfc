"""The dose study's schedule and tables (beyond the paper): forgetting against training steps, and its power law.

    artifacts/<profile>/dose/items.csv        lr,step,benchmark,item,cluster,correct   (step 0: the base model,
                                              lr empty: shared by every learning rate)
    artifacts/<profile>/dose/scores.csv       lr,step,multiple,category,benchmark,value,n   (value: % correct)
    artifacts/<profile>/dose/forgetting.csv   lr,step,multiple,f,f_low,f_high   (F per checkpoint, 95% CI)
    artifacts/<profile>/dose/curve.csv        lr,step,f,f_low,f_high   (the fitted law on a log grid of steps)
    artifacts/<profile>/dose/fit.csv          per lr: a, b, F at the default's and at the paper's dose, 95% CIs

The schedule (:func:`schedule`). The default's dose is the steps of one stage of the study's chains,
ceil(ceil(n / batch) / accumulation) x epochs with n = the examples per task (cpu-full: 34 x 3 = 102). The
dose chain trains stage 1's task on as many of its records as give max(multiples) x the default's steps per
epoch over the same epochs (cpu-full: 136 records, 408 steps) and is scored after round(m x default steps)
steps for each multiple m, and at step 0 (the base model). The scored elements (:func:`scored_files`) are
the benchmarks the pilot found above their floor (cf_utils.power.floors, from the config's pilot numbers, so
fixed before any run); bias is left out (its direction is not "lower is worse"; as mitigation_tables).

The forgetting at s steps is the per-checkpoint term of the paper's Eq. 1 (cf_utils/metrics.py) averaged over
the scored elements, F(s) = mean_e 100 (R_0^e - R_s^e) / R_0^e. The power law F(s) = a x^b, with x = s / the
default's steps (so a is F at the default's dose), is fitted per learning rate over the checkpoints s > 0 by
least squares on F itself: for a given b the best a is linear (a = sum F x^b / sum x^2b), and b is the
minimiser of the residual over a grid on B_RANGE refined to 0.0005. A log-log fit would need every F > 0; at
this scale F is near zero and may be negative (scores may rise), and least squares on F keeps such points as
they are. Where F is flat, b is not determined by the data: its resamples spread over the grid, which its CI
shows, and ``b_at_bound`` gives the share of resamples at a bound of B_RANGE.

CIs: a paired percentile bootstrap over items (cf_utils.metrics.resample: each element's items, whole
clusters where items share a passage), one draw for the base model and every checkpoint of a learning rate,
the law refitted on every resample; ``n_boot`` and the seed come from the config (``eval.n_boot``,
``Config.seeds()["bootstrap"]``). A prediction at the paper's dose beyond the largest dose measured is an
extrapolation (``extrapolated``). The CIs cover item sampling only, not training-seed variance (one training
run per learning rate). Kalajdzievski (2024), Scaling Laws for Forgetting When Fine-Tuning Large Language
Models, arXiv 2401.05605, reports forgetting growing as a power law in the fine-tuning steps.

No torch: the report reads these tables (cf_utils/dose_study.py trains and scores).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cf_utils import metrics, paths, power, stats
from cf_utils.config import Config, ConfigError
from cf_utils.io import atomic_write_text
from cf_utils.study import BIAS, TASKS

ITEM_COLUMNS = ["lr", "step", "benchmark", "item", "cluster", "correct"]
SCORE_COLUMNS = ["lr", "step", "multiple", "category", "benchmark", "value", "n"]
POINT_COLUMNS = ["lr", "step", "multiple", "f", "f_low", "f_high"]
CURVE_COLUMNS = ["lr", "step", "f", "f_low", "f_high"]
FIT_COLUMNS = ["model", "lr", "width_rule", "default_steps", "paper_steps", "max_steps", "a", "a_low", "a_high",
               "b", "b_low", "b_high", "b_at_bound", "f_default_measured", "f_default_measured_low",
               "f_default_measured_high", "f_default", "f_default_low", "f_default_high", "f_default_state", "f_paper",
               "f_paper_low", "f_paper_high", "f_paper_state", "extrapolated", "n_boot"]  # fmt: skip
# The exponents the fit may choose (a bound reached says the data cannot fix b). Above 2: forgetting is a change of
# the loss, to second order in the weights' move away from the base, which grows at most linearly in the steps.
B_RANGE = (-1.0, 2.0)
COARSE, FINE = 0.01, 0.0005  # the grid's steps: the whole range, then +-COARSE around the best
LEVEL = 0.95
FORGOT, GAINED, INCONCLUSIVE = "forgetting detected", "scores rose", "inconclusive"


# ---------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class Schedule:
    """What the dose chain trains and where it is scored (:func:`schedule`)."""

    default_steps: int  # optimizer steps of one stage of the study's chains
    records: int  # training records of stage 1's task the dose chain trains on
    total_steps: int  # their steps over the epochs
    checkpoints: dict[int, float]  # step -> multiple of the default's steps, ascending
    save_every: int  # resume checkpoints: every checkpoint is a multiple of it


def schedule(cfg: Config) -> Schedule:
    """The dose chain's schedule (module docstring); a ConfigError when the task's pool is too short."""
    t, d = cfg.train, cfg.dose
    n = min(cfg.data.train_examples, t.examples_per_task or cfg.data.train_examples)
    per_epoch = math.ceil(math.ceil(n / t.batch_size) / t.grad_accum)  # as cf_utils.stage.train_stage counts
    default = per_epoch * t.epochs
    dose_per_epoch = math.ceil(max(d.multiples) * per_epoch)
    records = dose_per_epoch * t.batch_size * t.grad_accum
    if records > cfg.data.train_examples:
        raise ConfigError(
            f"dose: {max(d.multiples):g} x the default's {default} steps per stage needs {records} training records "
            f"of task {TASKS[0]} ({dose_per_epoch} steps per epoch x batch {t.batch_size} x accumulation "
            f"{t.grad_accum}), but data.train_examples is {cfg.data.train_examples}: raise data.train_examples to "
            f"{records} (then make data) or lower dose.multiples"
        )
    checkpoints = {}
    for m in sorted(d.multiples):
        step = round(m * default)
        if step < 1 or step in checkpoints:
            raise ConfigError(f"dose.multiples: {m:g} x {default} steps rounds to step {step}, which is no new "
                              f"checkpoint after {sorted(checkpoints)}: choose multiples further apart")  # fmt: skip
        checkpoints[step] = float(m)
    gcd = math.gcd(*checkpoints)
    save_every = max(k for k in range(1, gcd + 1) if gcd % k == 0 and k <= t.save_every)
    return Schedule(default, records, dose_per_epoch * t.epochs, checkpoints, save_every)


def scored_files(cfg: Config, files: list[dict]) -> list[dict]:
    """The data manifest's benchmark files the dose study scores: above their floor by the pilot's numbers
    (power.floors; every element where the config has no pilot), bias left out."""
    bench = [f for f in files if f["role"] == "benchmark"]
    floor = power.floors(cfg.data, {f["name"]: (f["chance"], f.get("majority_baseline", float("nan")))
                                    for f in bench if "chance" in f})  # fmt: skip
    return [f for f in bench if f["category"] != BIAS and f["name"] not in floor]


# ---------------------------------------------------------------- the power law


def fit_power(x: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares a, b of f = a x^b (module docstring) for each row of ``f`` (..., S) at doses ``x`` (S,)."""
    f = np.atleast_2d(np.asarray(f, dtype=float))  # (R, S)
    logx = np.log(np.asarray(x, dtype=float))

    def best(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # grid (R, G) -> a, b at the smallest residual
        xb = np.exp(grid[..., None] * logx)  # (R, G, S)
        num, den = np.einsum("rs,rgs->rg", f, xb), (xb**2).sum(-1)
        k = np.argmax(num**2 / den, axis=1)  # residual = sum f^2 - num^2 / den
        rows = np.arange(len(f))
        return num[rows, k] / den[rows, k], grid[rows, k]

    coarse = np.arange(B_RANGE[0], B_RANGE[1] + COARSE / 2, COARSE)
    _, b = best(np.broadcast_to(coarse, (len(f), len(coarse))))
    fine = np.clip(b[:, None] + np.arange(-COARSE, COARSE + FINE / 2, FINE), *B_RANGE)
    return best(fine)


def _state(low: float, high: float) -> str:
    """What an interval of F supports: forgetting (above 0), a rise (below 0), else inconclusive."""
    return FORGOT if low > 0 else GAINED if high < 0 else INCONCLUSIVE


def _grid(items: pd.DataFrame, lr: float, benchmark: str, steps: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Items x (step 0, ``steps``) outcomes of one element at one learning rate, paired by item id, and clusters."""
    sub = items[items["benchmark"] == benchmark]
    base = sub[sub["step"] == 0].set_index("item")
    cols = [base["correct"].rename(0)]
    for s in steps:
        cols.append(sub[(sub["lr"] == lr) & (sub["step"] == s)].set_index("item")["correct"].rename(s))
    grid = pd.concat(cols, axis=1).sort_index()
    if grid.isna().any().any():
        raise ValueError(f"dose items of {benchmark} at lr {lr:g} are not paired with the base model's")
    return grid.to_numpy(dtype=float), base["cluster"].reindex(grid.index).to_numpy()


def tables(items: pd.DataFrame, cfg: Config, sched: Schedule) -> dict[str, pd.DataFrame]:
    """The points (F per checkpoint), the fitted curve and the fit per learning rate, with their 95% CIs."""
    n_boot, seed, d = cfg.eval.n_boot, cfg.seeds()["bootstrap"], cfg.dose
    steps = list(sched.checkpoints)
    x = np.array(steps, dtype=float) / sched.default_steps
    top = max(sched.total_steps, d.paper_steps) * 1.25
    grid_steps = np.geomspace(min(steps) / 1.25, top, 60)
    benchmarks = sorted(items["benchmark"].unique())
    points, curve, fits = [], [], []
    for lr in d.lrs:
        rng = np.random.default_rng(seed)  # the same item draws at every learning rate
        point, draws = [], []
        for b in benchmarks:
            matrix, clusters = _grid(items, lr, b, steps)
            means = matrix.mean(axis=0) * 100
            point.append(metrics.relative_drop(means[0], means[1:]))
            d_ = metrics.resample(matrix, clusters, rng, n_boot)  # (n_boot, 1 + S)
            draws.append(metrics.relative_drop(d_[:, 0], d_[:, 1:]))
        f, f_draws = np.mean(point, axis=0), np.mean(draws, axis=0)  # (S,), (n_boot, S)
        for s, m, v, col in zip(steps, sched.checkpoints.values(), f, f_draws.T, strict=True):
            points.append((lr, s, m, v, *stats.interval(col, LEVEL)))
        a, b = (v[0] for v in fit_power(x, f))
        ok = ~np.isnan(f_draws).any(axis=1)
        a_d, b_d = fit_power(x, f_draws[ok])
        at = grid_steps / sched.default_steps
        band = a_d[:, None] * at ** b_d[:, None]
        curve += [(lr, s, a * xs**b, *stats.interval(col, LEVEL)) for s, xs, col in zip(grid_steps, at, band.T,
                                                                                         strict=True)]  # fmt: skip
        x_paper = d.paper_steps / sched.default_steps
        paper_d = a_d * x_paper**b_d
        measured = [i for i, s in enumerate(steps) if s == sched.default_steps]
        meas = (f[measured[0]], *stats.interval(f_draws[:, measured[0]], LEVEL)) if measured else (np.nan,) * 3
        lo_a, hi_a = stats.interval(a_d, LEVEL)
        lo_p, hi_p = stats.interval(paper_d, LEVEL)
        rule = bool(math.isclose(lr, cfg.train.lr))
        fits.append((d.model, lr, rule, sched.default_steps, d.paper_steps, max(steps), a, lo_a, hi_a, b,
                     *stats.interval(b_d, LEVEL), float(np.isin(b_d, B_RANGE).mean()), *meas, a, lo_a, hi_a,
                     _state(lo_a, hi_a), a * x_paper**b, lo_p, hi_p, _state(lo_p, hi_p),
                     d.paper_steps > max(steps), int(ok.sum())))  # fmt: skip
    return {
        "dose/forgetting.csv": pd.DataFrame(points, columns=POINT_COLUMNS),
        "dose/curve.csv": pd.DataFrame(curve, columns=CURVE_COLUMNS),
        "dose/fit.csv": pd.DataFrame(fits, columns=FIT_COLUMNS),
    }


# ---------------------------------------------------------------- files


def read_items(profile: str) -> pd.DataFrame:
    """dose/items.csv (empty, with its columns, where it does not exist yet)."""
    path = paths.output(profile, "dose/items.csv")
    if not path.is_file():
        return pd.DataFrame(columns=ITEM_COLUMNS)
    return pd.read_csv(path, dtype={"item": str, "cluster": str, "benchmark": str})


def score_table(items: pd.DataFrame, sched: Schedule, categories: dict[str, str]) -> pd.DataFrame:
    """Percent correct per (lr, step, benchmark) from the items (step 0: the base model, lr empty)."""
    if items.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    g = items.groupby(["lr", "step", "benchmark"], dropna=False, sort=False)["correct"]
    out = pd.DataFrame({"value": g.mean() * 100, "n": g.size()}).reset_index()
    out["multiple"] = out["step"].map({0: 0.0, **sched.checkpoints})
    out["category"] = out["benchmark"].map(categories)
    return out[SCORE_COLUMNS]


def write(profile: str, frames: dict[str, pd.DataFrame]) -> None:
    """Write each frame to its output (paths.OUTPUTS names), atomically; learning rates exactly (repr), so that a
    resumed run finds the (lr, step) it scored, the base model's lr empty."""
    for name, df in frames.items():
        df = df.assign(lr=df["lr"].map(lambda v: "" if pd.isna(v) else repr(float(v))))
        atomic_write_text(paths.output(profile, name), df.to_csv(index=False, lineterminator="\n",
                                                                 float_format="%.6g"))  # fmt: skip


def read(profile: str) -> dict[str, pd.DataFrame] | None:
    """The dose study's points, curve and fit (None where it has not run: ``absent_reason`` says why)."""
    names = ("dose/forgetting.csv", "dose/curve.csv", "dose/fit.csv")
    if not all(paths.output(profile, n).is_file() for n in names):
        return None
    return {n.split("/")[1].removesuffix(".csv"): pd.read_csv(paths.output(profile, n)) for n in names}


def absent_reason(profile: str) -> str:
    writer, target = paths.OUTPUTS["dose/fit.csv"]
    return (f"the dose study has not run (it runs where the profile sets dose.model: {writer}, make {target} "
            f"PROFILE={profile})")  # fmt: skip
