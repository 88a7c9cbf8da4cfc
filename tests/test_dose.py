"""The dose study (cf_utils/dose_study.py, cf_utils/dose_tables.py): its schedule, its fit, its resume, its config."""

import math

import numpy as np
import pandas as pd
import pytest

from cf_utils import dose_study, dose_tables, paths
from cf_utils.config import CPU_FULL, SMOKE, ConfigError, load_config
from cf_utils.data import prepare as prep
from cf_utils.report.paper import PAPER_BATCH, PAPER_EPOCHS, PAPER_EXAMPLES


def test_cpu_full_trains_four_times_the_default_and_scores_at_its_multiples():
    sched = dose_tables.schedule(load_config(CPU_FULL))
    assert sched.default_steps == 102  # 34 examples, batch 1, 3 epochs
    assert (sched.records, sched.total_steps) == (136, 408)  # data.train_examples: 136, all of them
    assert sched.checkpoints == {51: 0.5, 102: 1.0, 204: 2.0, 408: 4.0}
    assert all(s % sched.save_every == 0 for s in sched.checkpoints) and sched.save_every <= 25


def test_a_short_pool_names_data_train_examples():
    with pytest.raises(ConfigError, match=r"needs 136 training records.*data\.train_examples is 100"):
        dose_tables.schedule(load_config(CPU_FULL, {"data.train_examples": 100}))


def test_the_smoke_schedule_and_batches_round_up_to_whole_steps():
    cfg = load_config(SMOKE, {"dose.multiples": [0.25, 0.5]})  # 32 examples, batch 4: 8 steps per stage
    sched = dose_tables.schedule(cfg)
    assert (sched.default_steps, sched.records, sched.total_steps) == (8, 16, 4)
    assert sched.checkpoints == {2: 0.25, 4: 0.5}


def test_the_paper_dose_is_the_papers_setup():
    assert load_config(CPU_FULL).dose.paper_steps == math.ceil(PAPER_EXAMPLES / PAPER_BATCH) * PAPER_EPOCHS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dose.model": "tiny-causal", "dose.lrs": []}, r"dose\.lrs is empty"),
        ({"dose.multiples": [1, -2]}, r"multiples has -2"),
        ({"dose.lrs": [1e-4, 1e-4]}, r"lrs lists a value twice"),
        ({"dose.paper_steps": 0}, r"paper_steps = 0 is out of range"),
        ({"dose.multiples": [1, 1.001]}, r"no new checkpoint"),
    ],
)
def test_the_dose_config_is_checked(overrides, message):
    with pytest.raises(ConfigError, match=message):
        dose_tables.schedule(load_config(CPU_FULL, overrides))


def test_the_fit_recovers_an_exact_power_law_and_a_negative_one():
    x = np.array([0.5, 1, 2, 4])
    a, b = dose_tables.fit_power(x, np.vstack([3 * x**0.5, -2 * x**1.2]))
    assert np.allclose(a, [3, -2], atol=1e-2) and np.allclose(b, [0.5, 1.2], atol=1e-3)


def _synthetic_items(n: int, a: float, b: float, steps: list[int], default: int, lr: float, seed: int) -> pd.DataFrame:
    """Two elements whose items are forgotten as F(s) = a (s / default)^b: an item right at step 0 is wrong at
    step s when its uniform draw is below F(s) / 100 (nested: paired, as a real chain's items)."""
    rng = np.random.default_rng(seed)
    rows = []
    for bench, p0 in (("arc_easy", 0.6), ("sciq", 0.8)):
        base, u = rng.random(n) < p0, rng.random(n)
        rows += [(np.nan, 0, bench, f"{bench}-{i}", f"{bench}-{i}", int(base[i])) for i in range(n)]
        for s in steps:
            right = base & (u >= a * (s / default) ** b / 100)
            rows += [(lr, s, bench, f"{bench}-{i}", f"{bench}-{i}", int(right[i])) for i in range(n)]
    return pd.DataFrame(rows, columns=dose_tables.ITEM_COLUMNS)


def test_the_bootstrap_ci_of_the_fit_covers_the_true_law():
    cfg = load_config(SMOKE, {"dose.lrs": [1e-3], "dose.multiples": [0.5, 1, 2, 4], "eval.n_boot": 300})
    sched = dose_tables.Schedule(100, 0, 400, {50: 0.5, 100: 1.0, 200: 2.0, 400: 4.0}, 50)
    items = _synthetic_items(4000, 6.0, 0.5, list(sched.checkpoints), 100, 1e-3, seed=7)
    fit = dose_tables.tables(items, cfg, sched)["dose/fit.csv"].iloc[0]
    assert fit["a_low"] < 6.0 < fit["a_high"] and fit["b_low"] < 0.5 < fit["b_high"]
    assert fit["f_default_state"] == dose_tables.FORGOT and bool(fit["extrapolated"]) and bool(fit["width_rule"])
    paper = 6.0 * (cfg.dose.paper_steps / 100) ** 0.5
    assert fit["f_paper_low"] < paper < fit["f_paper_high"]


def test_no_forgetting_is_inconclusive_not_a_law():
    cfg = load_config(SMOKE, {"dose.lrs": [1e-3], "eval.n_boot": 200})
    sched = dose_tables.Schedule(8, 32, 8, {4: 0.5, 8: 1.0}, 4)
    items = _synthetic_items(300, 0.0, 1.0, [4, 8], 8, 1e-3, seed=3)
    fit = dose_tables.tables(items, cfg, sched)["dose/fit.csv"].iloc[0]
    assert fit["f_default_state"] == fit["f_paper_state"] == dose_tables.INCONCLUSIVE


class Stop(RuntimeError):
    """A simulated kill."""


def _fault(at: int):
    def f(step: int) -> None:
        if step == at:
            raise Stop(step)

    return f


def test_a_killed_dose_study_resumes_to_the_same_items(tmp_path, monkeypatch):
    """Killed while scoring a checkpoint (its state kept) and between checkpoints: the same items.csv as a clean run."""
    cfg = load_config(SMOKE, {"dose.multiples": [0.25, 0.5, 0.75], "dose.lrs": [1e-3], "train.save_every": 2,
                              "data.bench_items": 4, "eval.n_boot": 50})  # fmt: skip
    prep.prepare(cfg)
    dose_study.run(cfg)
    clean = paths.output(SMOKE, "dose/items.csv").read_bytes()
    monkeypatch.setenv("CF_ARTIFACTS_ROOT", str(tmp_path / "resumed"))
    for at in (4, 5):  # 4: a checkpoint (its state saved, unscored); 5: between checkpoints (resumes from 4)
        with pytest.raises(Stop):
            dose_study.run(cfg, faults=[_fault(at)])
    dose_study.run(cfg)
    assert paths.output(SMOKE, "dose/items.csv").read_bytes() == clean
    assert not any(paths.output(SMOKE, "dose/key.json").parent.glob(".lr-*"))  # resume states removed
