"""What a forgetting number can support: unit states, power, clusters, the margin measure, task-gain CIs,
paired comparisons between chains (cf_utils/metrics.py, cf_utils/comparisons.py)."""

import numpy as np
import pandas as pd
import pytest
from test_metrics import make_items, scores_from_items

from cf_utils import comparisons, metrics, task_metrics, textmetrics


def test_state_rule():
    bound = 6.5
    assert metrics.state(0.2, 9.0, bound) == metrics.DETECTED
    assert metrics.state(-4.0, 5.9, bound) == metrics.EXCLUDED
    assert metrics.state(-4.0, 7.0, bound) == metrics.INCONCLUSIVE  # spans 0 and reaches the paper's size
    assert metrics.state(-4.0, 3.0, float("nan")) == metrics.INCONCLUSIVE  # no paper number: never "excluded"
    assert metrics.state(float("nan"), float("nan"), bound) == metrics.NOT_MEASURED


def test_paper_bounds_are_the_smallest_fg_of_the_papers_1b_models():
    paper = pd.DataFrame({"model": ["mt0-1.2b", "bloomz-1.1b", "bloomz-7.1b", "bloomz-1.7b"],
                          "category": ["reasoning"] * 4, "fg": [7.75, 6.73, 1.0, 6.48]})  # fmt: skip
    assert metrics.paper_bounds(paper) == {"reasoning": 6.48}  # 7.1b is not ~1B
    real = metrics.paper_bounds()
    assert real == {"domain_knowledge": 9.18, "reasoning": 6.48, "reading_comprehension": 17.45, "bias": 5.62}


def test_forgetting_rows_carry_state_se_and_a_minimal_detectable_effect():
    items = pd.concat([make_items([0.7, 0.6, 0.6, 0.5, 0.5, 0.5], 400, seed=1, benchmark=b) for b in ("A", "B")])
    row = metrics.forgetting_table(scores_from_items(items), items, n_boot=400, seed=0).iloc[0]
    assert row["state"] == metrics.DETECTED and row["ci_low"] > 0
    assert (row["ci_high"] - row["ci_low"]) / 3.92 == pytest.approx(row["se"], rel=0.2)
    assert row["mde"] == pytest.approx(2.8016 * row["se"], rel=0.3)  # analytic power vs the bootstrap's SE
    flat = pd.concat([make_items([0.7] * 6, 40, seed=2, benchmark=b) for b in ("A", "B")])
    flat_row = metrics.forgetting_table(scores_from_items(flat), flat, n_boot=400, seed=0).iloc[0]
    assert flat_row["se"] == 0  # no item flipped: the bootstrap sees no variance at all
    assert flat_row["mde"] > row["mde"]  # but 80 items can still not see a small effect


def test_minimal_detectable_fg_has_80_percent_power():
    """Simulate paired items with the computed effect: the bootstrap CI clears 0 about 80% of the time."""
    n, p0 = 300, 60.0
    mde = metrics.minimal_detectable_fg([n], [p0], [0.0])
    drop = mde / 100 * p0 / 100
    detected = 0
    for seed in range(60):
        items = make_items([p0 / 100] + [p0 / 100 - drop] * 5, n, seed=100 + seed)
        row = metrics.forgetting_table(scores_from_items(items), items, n_boot=300, seed=0).iloc[0]
        detected += row["ci_low"] > 0
    assert 0.6 <= detected / 60 <= 0.97  # 80% nominal; 60 runs: a binomial spread of about 5 points


def test_a_cluster_of_copies_widens_the_interval():
    items = make_items([0.7, 0.6, 0.6, 0.6, 0.6, 0.6], 60, seed=4)
    copies = pd.concat([items.assign(item=items["item"] + f"#{c}") for c in range(5)], ignore_index=True)
    naive = metrics.forgetting_table(scores_from_items(copies), copies.assign(cluster=copies["item"]),
                                     n_boot=1000, seed=0).iloc[0]  # fmt: skip
    clustered = copies.assign(cluster=copies["item"].str.split("#").str[0])
    right = metrics.forgetting_table(scores_from_items(copies), clustered, n_boot=1000, seed=0).iloc[0]
    assert right["fg"] == naive["fg"]
    assert right["se"] == pytest.approx(naive["se"] * np.sqrt(5), rel=0.2)


def _with_margins(items: pd.DataFrame, shift: float) -> pd.DataFrame:
    acc = items[items["metric"] == "acc"]
    margins = acc.assign(metric=metrics.MARGIN, value=np.where(acc["value"] == 1, 1.0, -1.0) - shift * acc["stage"])
    return pd.concat([items, margins], ignore_index=True)


def test_margin_drop_measures_the_move_away_from_the_gold_answers():
    items = _with_margins(make_items([0.7] * 6, 300, seed=5), shift=0.1)  # accuracy flat, margins shrink
    row = metrics.forgetting_table(scores_from_items(items[items.metric != metrics.MARGIN]), items,
                                   n_boot=300, seed=0).iloc[0]  # fmt: skip
    assert row["fg"] == 0.0  # no outcome changed: Eq. 1 sees nothing
    assert row["margin_drop"] == pytest.approx(0.3)  # the mean over stages 1..5 of 0.1 * stage
    assert row["margin_low"] == pytest.approx(0.3) == pytest.approx(row["margin_high"])


def test_chance_level_from_the_number_of_choices():
    items = make_items([0.7] * 6, 10, seed=0)
    items["choices"] = np.where(items["item"].str[2:].astype(int) % 2 == 0, 4, 2)  # half 4-way, half 2-way
    assert metrics.chance_level(items, "m", "seq", "A") == pytest.approx(37.5)
    assert np.isnan(metrics.chance_level(items.assign(choices=np.nan), "m", "seq", "A"))


def _generations(before: list[float], after: list[float], task="hgen") -> pd.DataFrame:
    rows = [{"model": "m", "variant": "seq", "stage": s, "category": "new_task", "benchmark": task,
             "item": f"i{i}", "statistic": "rouge1", "value": v}
            for s, values in ((4, before), (5, after)) for i, v in enumerate(values)]  # fmt: skip
    return pd.DataFrame(rows)


def _task_scores(gens: pd.DataFrame) -> pd.DataFrame:
    out = gens.groupby(["model", "variant", "stage", "category", "benchmark", "statistic"], as_index=False)["value"]
    out = out.mean().rename(columns={"statistic": "metric"}).assign(n=10)
    return out[list(metrics.SCORE_COLUMNS)]


def test_task_gain_ci_over_held_out_items():
    rng = np.random.default_rng(0)
    before = rng.uniform(10, 30, 60)
    gens = _generations(list(before), list(before + 8 + rng.normal(0, 2, 60)))
    row = task_metrics.new_task_table(_task_scores(gens), gens, n_boot=500, seed=0).iloc[0]
    assert (
        row["gain"] == pytest.approx(8, abs=1.0) and row["gain_low"] > 0 and row["gain_state"] == task_metrics.IMPROVED
    )
    noisy = _generations(list(before), list(before + 1.5 + np.where(np.arange(60) % 2, 10, -10)))
    row = task_metrics.new_task_table(_task_scores(noisy), noisy, n_boot=500, seed=0).iloc[0]
    assert row["gain"] > 0 and row["gain_low"] < 0 and row["gain_state"] == metrics.INCONCLUSIVE  # a positive point
    # gain alone is not an improvement


def test_bleu_statistics_rebuild_the_corpus_bleu():
    preds = ["the cat sat on the mat", "a dog", "hello there world", "it is raining today"]
    recs = [{"references": ["the cat is on the mat", "a cat sat on a mat"]}, {"references": ["a dog barks"]},
            {"references": ["hello world"]}, {"references": ["it rains today"]}]  # fmt: skip
    stats_ = np.array(textmetrics.item_statistics("emdg", preds, recs), dtype=float)
    assert textmetrics.corpus_metric("emdg", stats_) == pytest.approx(
        textmetrics.bleu(preds, [r["references"] for r in recs])
    )


def test_paired_difference_sees_what_two_separate_intervals_miss():
    """Two chains on the same items, b forgetting 3 points more on every resample: the paired interval of the
    difference excludes 0 while the two chains' own intervals overlap."""
    a = make_items([0.6, 0.57, 0.57, 0.55, 0.55, 0.55], 300, seed=7, method="a")
    b = a.copy()
    b["variant"] = "b"
    later = (b["stage"] > 0) & (b["metric"] == "acc")
    flip = later & (b["value"] == 1) & (b["item"].str[2:].astype(int) % 20 == 0)  # 5% of the correct items
    b.loc[flip, "value"] = 0
    items = pd.concat([a, b], ignore_index=True)
    out = comparisons.compare(items, [("c", ("m", "b"), ("m", "a"), "reasoning", ["A"])], n_boot=500, seed=0)
    row = out.iloc[0]
    assert row["difference"] > 0 and row["ci_low"] > 0 and row["state"] == comparisons.A_MORE
    own = metrics.forgetting_table(scores_from_items(items), items, n_boot=500, seed=0).set_index("variant")
    assert own.loc["b", "ci_low"] < own.loc["a", "ci_high"]  # the separate intervals overlap


def test_holm_adjusts_within_a_claim():
    items = make_items([0.6] * 6, 200, seed=8, method="a")
    twin = items.assign(variant="b")
    both = pd.concat([items, twin], ignore_index=True)
    pairs = [("c", ("m", "a"), ("m", "b"), "reasoning", ["A"])] * 3
    out = comparisons.compare(both, pairs, n_boot=200, seed=0)
    assert (out["difference"] == 0).all() and (out["state"] == metrics.INCONCLUSIVE).all()
    assert (out["p_holm"] >= out["p"]).all()


def test_an_element_at_its_floor_leaves_the_category_fg_and_a_unit_of_floors_is_not_measurable():
    """A 4-way element at 25% (chance) drifts under any change: by the floor rule (within 5 points of chance, or
    below the majority baseline) it is left out of the category's FG, CI and verdict, while ``fg_all`` (the paper's
    Eq. 1 over every element) keeps it; a unit whose every element is at floor is "not measurable"."""
    strong = make_items([0.8, 0.7, 0.7, 0.7, 0.7, 0.7], 300, seed=9, benchmark="A")
    floor = make_items([0.25, 0.3, 0.3, 0.3, 0.3, 0.3], 300, seed=10, benchmark="B")
    items = pd.concat([strong, floor], ignore_index=True).assign(choices=4)
    row = metrics.forgetting_table(scores_from_items(items), items, n_boot=300, seed=0).iloc[0]
    elements = metrics.element_table(scores_from_items(items)).set_index("benchmark")
    assert row["elements_at_floor"] == "B" and row["elements_above_chance"] == "1/1"
    assert row["fg"] == pytest.approx(elements.loc["A", "fg"]) and row["fg_all"] == pytest.approx(elements["fg"].mean())
    only = metrics.forgetting_table(scores_from_items(floor.assign(choices=4)), floor.assign(choices=4), n_boot=100,
                                    seed=0).iloc[0]  # fmt: skip
    assert only["state"] == metrics.NOT_MEASURABLE and np.isnan(only["fg"]) and np.isnan(only["ci_low"])
    # the majority baseline: A (80% at the start) is at floor where always answering one way scores 85%
    known = {"A": {"chance": 50.0, "majority": 85.0}, "B": {"chance": 25.0, "majority": 25.0}}
    row = metrics.forgetting_table(scores_from_items(items), items, n_boot=100, seed=0, baselines=known).iloc[0]
    assert row["elements_at_floor"] == "A, B" and row["state"] == metrics.NOT_MEASURABLE


def test_no_margin_measure_for_a_category_whose_elements_lack_margins():
    items = _with_margins(make_items([0.7, 0.6, 0.6, 0.6, 0.6, 0.6], 100, seed=11), shift=0.1)
    pairs = make_items([0.6] * 6, 50, seed=12, benchmark="crows", category="bias")
    pairs = pairs[pairs.metric == "acc"].assign(metric="pct_stereotype")
    both = pd.concat([items, pairs], ignore_index=True)
    scores = scores_from_items(both[both.metric != metrics.MARGIN])
    table = metrics.forgetting_table(scores, both, n_boot=100, seed=0).set_index("category")
    assert np.isnan(table.loc["bias", "margin_drop"]) and not np.isnan(table.loc["reasoning", "margin_drop"])


def test_the_flip_table_splits_a_drop_into_forgotten_and_learned_items():
    """With latent u_i < p_s: items in [0.5, 0.7) are right at stage 0 and wrong at 0.5 (forgotten, 20%), none is
    learned; net = the drop in points, flip rate = forgotten + learned."""
    items = make_items([0.7, 0.5, 0.5, 0.5, 0.5, 0.6], 2000, seed=3)
    flips = metrics.flip_table(items).set_index("stage")
    assert list(flips.index) == [1, 2, 3, 4, 5] and (flips["items"] == 2000).all()
    assert flips.loc[1, "forgotten"] == pytest.approx(20, abs=2.5) and flips.loc[1, "learned"] == 0
    assert flips.loc[5, "forgotten"] == pytest.approx(10, abs=2) and flips.loc[1, "flip_rate"] == pytest.approx(
        flips.loc[1, "forgotten"] / 100)  # fmt: skip
    assert metrics.flip_table(None).empty


def test_each_elements_measured_flip_rate_stands_beside_the_pilots_assumption():
    """Forgotten 20% at stages 1-4 and 10% at 5: the mean flip rate 0.18; the pilot's 0.05 x FLIP_GROWTH assumed."""
    from cf_utils import power
    from cf_utils.report import Frames
    from cf_utils.report.tables import assumptions_table

    items = make_items([0.7, 0.5, 0.5, 0.5, 0.5, 0.6], 2000, seed=3)
    flips = metrics.element_flips(items)
    assert len(flips) == 1 and flips["flip_rate"].item() == pytest.approx(0.18, abs=0.02)
    bench = flips["benchmark"].item()
    data = {"pilot_initial": {bench: 70.0}, "pilot_flip_rate": {bench: 0.05}, "pilot_source": "a test", "an_old_key": 1}
    frames = Frames("x", scores_from_items(items), None, items=items, manifest={"config": {"data": data}})
    row = assumptions_table(frames).iloc[0]
    assert row["basis"] == "pilot" and row["flip rate assumed"] == f"{0.05 * power.FLIP_GROWTH:.3f}"
    assert float(row["flip rate measured"]) == pytest.approx(0.18, abs=0.02)
    assert float(row["initial measured"]) == pytest.approx(70, abs=2.5)
    assert metrics.element_flips(None).empty


def test_the_flips_table_counts_the_elements_the_fg_counts():
    from cf_utils.report import Frames
    from cf_utils.report.frames import AT_FLOOR
    from cf_utils.report.tables import flips_table

    items = pd.concat([make_items([0.7] * 6, 40, seed=1, benchmark="a"), make_items([0.3] * 6, 60, seed=2,
                                                                                    benchmark="b")])  # fmt: skip
    key = items.drop_duplicates(["model", "variant", "benchmark"])[["model", "variant", "benchmark"]]
    elements = key.assign(floor=["", AT_FLOOR])
    frames = Frames("x", scores_from_items(items), None, items=items, elements=elements)
    assert set(flips_table(frames)["items"]) == {40}  # b is at its floor: out of the split as out of the FG
    assert set(flips_table(Frames("x", scores_from_items(items), None, items=items))["items"]) == {100}


def test_the_mde_is_capped_at_100_and_bias_reads_its_distance_from_50():
    from cf_utils.report.claims import distance_from_50

    assert metrics.minimal_detectable_fg([5], [30], [0.9]) == 100.0
    line = distance_from_50({"initial": 56.0, "final": 47.0})
    assert "6.00 -> 3.00" in line and "below 50: an anti-stereotype preference, not less bias" in line
    assert "below 50" not in distance_from_50({"initial": 56.0, "final": 52.0})
