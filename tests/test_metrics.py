import math

import numpy as np
import pandas as pd
import pytest

from cf_utils import metrics, paths, task_metrics


def score_rows(model, method, category, benchmark, metric, values, stages=None):
    """scores.csv rows of one (model, method, benchmark, metric): values at stages 0.. (or ``stages``)."""
    stages = range(len(values)) if stages is None else stages
    return [
        {"model": model, "variant": method, "stage": s, "category": category, "benchmark": benchmark,
         "metric": metric, "value": float(v), "n": 100}
        for s, v in zip(stages, values, strict=True)
    ]  # fmt: skip


def two_element_scores():
    rows = (
        score_rows("m", "seq", "reasoning", "A", "acc", [40, 38, 35, 30, 30, 30])
        + score_rows("m", "seq", "reasoning", "A", "acc_norm", [90, 10, 10, 10, 10, 10])
        + score_rows("m", "seq", "reasoning", "B", "acc", [50, 50, 50, 50, 50, 45])
        + score_rows("m", "seq", "reasoning", "B", "acc_norm", [50, 50, 50, 50, 50, 50])
        + score_rows("m", "seq", "bias", "crows", "pct_stereotype", [60, 60, 60, 60, 60, 54])
        + score_rows("m", "seq", "bias", "crows", "likelihood_diff", [3.0, 1, 1, 1, 1, 1])
    )
    return pd.DataFrame(rows)


def make_items(p_by_stage, n, seed, benchmark="A", model="m", method="seq", category="reasoning"):
    """Paired 0/1 outcomes: item i is correct at stage s iff its latent u_i < p_s (plus acc_norm noise rows)."""
    rng = np.random.default_rng(seed)
    u, noise = rng.random(n), rng.random((len(p_by_stage), n))
    rows = []
    for stage, p in enumerate(p_by_stage):
        for i in range(n):
            base = {"model": model, "variant": method, "stage": stage, "category": category,
                    "benchmark": benchmark, "item": f"{benchmark}-{i}", "group": ""}  # fmt: skip
            rows.append({**base, "metric": "acc", "value": int(u[i] < p)})
            rows.append({**base, "metric": "acc_norm", "value": int(noise[stage, i] < 0.5)})
    return pd.DataFrame(rows)


def scores_from_items(items):
    keys = ["model", "variant", "stage", "category", "benchmark", "metric"]
    out = items.groupby(keys, as_index=False)["value"].agg(value="mean", n="count")
    out["value"] *= 100
    return out[list(metrics.SCORE_COLUMNS)]


def test_fg_paper_worked_example():
    assert metrics.fg(40, [38, 35, 30]) == pytest.approx(14.1667, abs=1e-4)
    assert metrics.final_drop(40, 30) == pytest.approx(25.0)
    assert metrics.fg(40, [44]) == pytest.approx(-10.0)  # an improvement is negative forgetting


def test_fg_rejects_zero_initial_and_no_later_scores():
    with pytest.raises(ValueError, match="initial score is 0"):
        metrics.fg(0, [1, 2])
    with pytest.raises(ValueError, match="at least one later score"):
        metrics.fg(40, [])
    with pytest.raises(ValueError, match="initial score is 0"):
        metrics.final_drop(0, 3)


def test_primary_metric():
    assert metrics.primary_metric(["acc_norm", "acc"]) == "acc"
    assert metrics.primary_metric(["likelihood_diff", "pct_stereotype"]) == "pct_stereotype"
    assert metrics.primary_metric(["rougeL", "sari"]) == "sari"
    with pytest.raises(ValueError, match="no single primary metric"):
        metrics.primary_metric(["acc_norm"])


def test_element_table_uses_the_primary_metric_and_all_stages():
    table = metrics.element_table(two_element_scores()).set_index("benchmark")
    assert list(table.columns) == ["model", "variant", "category", "metric", "initial", "final", "fg", "final_drop",
                                   "stages"]  # fmt: skip
    assert table.loc["A", "metric"] == "acc" and table.loc["crows", "metric"] == "pct_stereotype"
    assert table.loc["A", "fg"] == pytest.approx((2 + 5 + 10 + 10 + 10) / 40 / 5 * 100)  # 18.5
    assert table.loc["A", "final_drop"] == pytest.approx(25.0)
    assert table.loc["crows", "fg"] == pytest.approx(2.0)
    assert (table["stages"] == 5).all()


def test_forgetting_table_averages_two_elements_of_a_category():
    table = metrics.forgetting_table(two_element_scores())
    assert list(table.columns)[:9] == [
        "model",
        "variant",
        "category",
        "initial",
        "final",
        "fg",
        "final_drop",
        "ci_low",
        "ci_high",
    ]  # fmt: skip  (the paper's columns first, unchanged)
    assert list(table["category"]) == ["reasoning", "bias"]  # the categories' canonical order
    reasoning = table.iloc[0]
    assert reasoning["fg"] == pytest.approx((18.5 + 2.0) / 2)  # B: 5/50 at the last of 5 stages = 2.0
    assert reasoning["final_drop"] == pytest.approx((25 + 10) / 2)
    assert (reasoning["initial"], reasoning["final"]) == (pytest.approx(45.0), pytest.approx(37.5))
    assert table[["ci_low", "ci_high"]].isna().all(axis=None)  # no items: no interval


def test_missing_stage_raises_naming_the_element():
    scores = two_element_scores()
    scores = scores[~((scores["benchmark"] == "B") & (scores["stage"] == 3))]
    with pytest.raises(ValueError, match=r"\(m, seq, B\) lacks stage\(s\) \[3\]"):
        metrics.element_table(scores)
    with pytest.raises(ValueError, match="stage 0"):
        metrics.forgetting_table(scores)


def test_an_element_starting_at_zero_has_no_fg_and_is_at_its_floor():
    scores = pd.DataFrame(score_rows("m", "seq", "reasoning", "Z", "acc", [0, 1, 2, 3, 4, 5]))
    row = metrics.element_table(scores).iloc[0]
    assert np.isnan(row["fg"]) and np.isnan(row["final_drop"]) and row["final"] == 5
    unit = metrics.forgetting_table(scores, baselines={"Z": {"chance": 25.0, "majority": 25.0}}).iloc[0]
    assert unit["elements_at_floor"] == "Z" and unit["state"] == metrics.NOT_MEASURABLE


def test_curves_has_elements_and_category_means():
    c = metrics.curves(two_element_scores())
    assert list(c.columns) == ["model", "variant", "category", "benchmark", "stage", "value"]
    mean = c[(c["category"] == "reasoning") & (c["benchmark"] == "(mean)")].set_index("stage")["value"]
    assert mean.tolist() == pytest.approx([45, 44, 42.5, 40, 40, 37.5])
    assert len(c) == 6 * (3 + 2)  # A, B, crows + two category means, six stages each; acc_norm left out


def test_bootstrap_ci_contains_estimate_is_deterministic_and_narrows_with_items():
    p = [0.8, 0.75, 0.7, 0.7, 0.65, 0.6]
    small, large = make_items(p, 100, seed=1), make_items(p, 2000, seed=1)
    for items in (small, large):
        point = metrics.forgetting_table(scores_from_items(items))["fg"].iloc[0]
        low, high = metrics.bootstrap_fg(items, "m", "seq", ["A"], n_boot=500, seed=0, level=0.95)
        assert low < point < high
    first = metrics.bootstrap_fg(small, "m", "seq", ["A"], n_boot=500, seed=7, level=0.95)
    assert metrics.bootstrap_fg(small, "m", "seq", ["A"], n_boot=500, seed=7, level=0.95) == first
    assert metrics.bootstrap_fg(small, "m", "seq", ["A"], n_boot=500, seed=8, level=0.95) != first
    width = {len(i) : np.subtract(*metrics.bootstrap_fg(i, "m", "seq", ["A"], n_boot=500, seed=0, level=0.95)[::-1])
             for i in (small, large)}  # fmt: skip
    assert width[len(large)] < width[len(small)] / 2  # ~ 1/sqrt(20) as wide


def test_bootstrap_matches_a_loop_over_resampled_item_ids():
    items = pd.concat([make_items([0.8, 0.7, 0.6, 0.6, 0.5, 0.5], 30, seed=s, benchmark=b) for s, b in enumerate("AB")])
    acc = items[items["metric"] == "acc"]
    grids = [acc[acc["benchmark"] == b].pivot(index="item", columns="stage", values="value").to_numpy() for b in "AB"]
    rng = np.random.default_rng(5)
    reference = []
    for _ in range(3000):  # per benchmark, draw the item ids once and use them at every stage
        stages = [grid[rng.integers(0, len(grid), len(grid))].mean(axis=0) * 100 for grid in grids]
        if all(s[0] > 0 for s in stages):
            reference.append(np.mean([metrics.fg(s[0], s[1:]) for s in stages]))
    low, high = metrics.bootstrap_fg(items, "m", "seq", ["A", "B"], n_boot=3000, seed=0, level=0.9)
    # the same sampling distribution: the 90% intervals agree to within Monte-Carlo error
    ref_low, ref_high = np.percentile(reference, [5, 95])
    assert low == pytest.approx(ref_low, abs=1) and high == pytest.approx(ref_high, abs=1)


def test_bootstrap_no_change_gives_zero_interval():
    items = make_items([0.7] * 6, 300, seed=3)
    table = metrics.forgetting_table(scores_from_items(items), items, n_boot=200, seed=0)
    row = table.iloc[0]
    assert (row["fg"], row["ci_low"], row["ci_high"]) == (0.0, 0.0, 0.0)
    element = metrics.bootstrap_element(items, "m", "seq", "A", n_boot=200, seed=0)
    assert element["fg"] == element["final_drop"] == (0.0, 0.0)
    assert element["initial"][0] < 70 < element["initial"][1]  # the initial score's own CI is not degenerate


def test_forgetting_table_ci_per_category_and_nan_when_items_lack_a_benchmark():
    p = [0.8, 0.75, 0.7, 0.7, 0.65, 0.6]
    items = pd.concat(
        [make_items(p, 300, seed=1, benchmark="A"), make_items(p[::-1], 300, seed=2, benchmark="B"),
         make_items(p, 300, seed=3, benchmark="C", category="domain_knowledge")],
        ignore_index=True,
    )  # fmt: skip
    scores = scores_from_items(items)
    full = metrics.forgetting_table(scores, items, n_boot=300, seed=0).set_index("category")
    for category in ("reasoning", "domain_knowledge"):
        assert full.loc[category, "ci_low"] < full.loc[category, "fg"] < full.loc[category, "ci_high"]
    without_b = items[items["benchmark"] != "B"]
    partial = metrics.forgetting_table(scores, without_b, n_boot=300, seed=0).set_index("category")
    assert math.isnan(partial.loc["reasoning", "ci_low"]) and math.isnan(partial.loc["reasoning", "ci_high"])
    assert partial.loc["domain_knowledge", "ci_low"] == full.loc["domain_knowledge", "ci_low"]


def test_bootstrap_rejects_unpaired_items():
    items = make_items([0.8] * 6, 50, seed=0)
    items = items[~((items["stage"] == 4) & (items["item"] == "A-7"))]
    with pytest.raises(ValueError, match=r"not paired: stage\(s\) \[4\]"):
        metrics.bootstrap_fg(items, "m", "seq", ["A"], n_boot=10, seed=0, level=0.95)


def new_task_scores():
    cells = {  # task: (own metric, {stage: value})
        "simp": ("sari", {0: 30, 1: 40, 3: 45, 5: 35}),
        "emdg": ("bleu", {1: 5, 2: 10, 5: 8}),
        "inqqg": ("bleu", {2: 20, 3: 25, 5: 25}),
        "exp": ("bleu", {3: 10, 4: 14}),  # stage 5 missing
        "hgen": ("rouge1", {4: 15, 5: 30}),
    }
    rows = []
    for task, (metric, values) in cells.items():
        rows += score_rows("m", "seq", "new_task", task, metric, values.values(), values.keys())
        rows += score_rows("m", "seq", "new_task", task, "rougeL", [99] * len(values), values.keys())
    return pd.DataFrame(rows + two_element_scores().to_dict("records"))


def test_new_task_table():
    table = task_metrics.new_task_table(new_task_scores())
    assert list(table.columns) == ["model", "variant", "stage", "task", "metric", "before", "after", "gain", "final",
                                   "retained", "gain_low", "gain_high", "gain_state"]  # fmt: skip
    assert table["gain_low"].isna().all() and (table["gain_state"] == metrics.NOT_MEASURED).all()  # no generations
    assert list(table["task"]) == ["simp", "emdg", "inqqg", "exp", "hgen"]
    assert list(table["stage"]) == [1, 2, 3, 4, 5]
    assert list(table["metric"]) == ["sari", "bleu", "bleu", "bleu", "rouge1"]
    expected = [[30, 40, 10, 35, -5], [5, 10, 5, 8, -2], [20, 25, 5, 25, 0], [10, 14, 4, np.nan, np.nan],
                [15, 30, 15, 30, 0]]  # fmt: skip
    got = table[["before", "after", "gain", "final", "retained"]].to_numpy()
    np.testing.assert_allclose(got, np.array(expected, dtype=float))


def test_transfer():
    t = task_metrics.transfer(new_task_scores())
    assert list(t.columns) == ["model", "variant", "bwt", "forgetting", "n_tasks"]
    row = t.iloc[0]
    assert row["n_tasks"] == 3  # exp has no stage-5 cell, hgen is the last task
    assert row["bwt"] == pytest.approx((-5 - 2 + 0) / 3)
    assert row["forgetting"] == pytest.approx((10 + 2 + 0) / 3)  # simp peaks at 45 (stage 3)


def test_unknown_new_task_raises():
    scores = pd.DataFrame(score_rows("m", "seq", "new_task", "poetry", "bleu", [1, 2]))
    with pytest.raises(ValueError, match="unknown new task.*poetry"):
        task_metrics.new_task_table(scores)


def test_read_scores_validates(tmp_path):
    good = tmp_path / "scores.csv"
    two_element_scores().to_csv(good, index=False)
    df = metrics.read_scores(good)
    assert df["stage"].dtype.kind == "i" and df["value"].dtype.kind == "f"
    pd.testing.assert_frame_equal(metrics.element_table(df), metrics.element_table(two_element_scores()))

    bad = tmp_path / "bad_scores.csv"
    two_element_scores().drop(columns="n").assign(extra=1).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad_scores\.csv.*missing \['n'\], extra \['extra'\]"):
        metrics.read_scores(bad)
    two_element_scores().assign(stage=lambda d: d["stage"] + 1).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad_scores\.csv: stage must be an integer 0\.\.5, found \['6'\]"):
        metrics.read_scores(bad)
    two_element_scores().replace({"bias": "ethics"}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="unknown category.*ethics"):
        metrics.read_scores(bad)
    pd.concat([two_element_scores()] * 2).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="duplicated"):
        metrics.read_scores(bad)


def test_read_items_keeps_ids_as_strings(tmp_path):
    items = make_items([0.5] * 6, 5, seed=0).assign(item=lambda d: d["item"].str.replace("A-", "00"))
    path = tmp_path / "items.csv"
    items.to_csv(path, index=False)
    df = metrics.read_items(path)
    assert df["item"].iloc[0] == "000" and (df["group"] == "").all()
    items.assign(value=2).to_csv(path, index=False)
    with pytest.raises(ValueError, match="0 or 1"):
        metrics.read_items(path)


def test_write_forgetting_round_trip():
    with pytest.raises(FileNotFoundError, match="make evaluate PROFILE=t"):
        metrics.write_forgetting("t", n_boot=10, seed=0)
    folder = paths.artifacts_dir("t")
    folder.mkdir(parents=True)
    items = pd.concat(
        [make_items([0.8, 0.7, 0.7, 0.6, 0.6, 0.5], 200, seed=1, benchmark=b) for b in ("A", "B")], ignore_index=True
    )
    scores_from_items(items).to_csv(folder / "scores.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)
    out = metrics.write_forgetting("t", n_boot=200, seed=0)
    assert out == folder / "forgetting.csv"
    written = pd.read_csv(out)
    expected = metrics.forgetting_table(scores_from_items(items), items, n_boot=200, seed=0)
    assert list(written.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(written, expected.round(2), check_dtype=False)
    assert written["ci_low"].iloc[0] < written["fg"].iloc[0] < written["ci_high"].iloc[0]
