"""The power calculation that sizes the benchmarks (cf_utils/power.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cf_utils import metrics, power


def test_equal_costs_give_equal_counts_that_reach_the_target():
    costs = {"a": 100.0, "b": 100.0, "c": 100.0, "d": 100.0}
    initial = dict.fromkeys(costs, 50.0)
    n = power.allocate(costs, dict.fromkeys(costs, 10**6), target=5.0, initial=initial, flip_rate=0.2)
    # n >= f (z 100 / (H p))^2 / E = 0.2 * (1.96 * 100 / 2.5)^2 / 4 = 307.3
    assert set(n.values()) == {308}
    assert power.half_width(n, initial, 0.2) <= 5.0 < power.half_width(dict.fromkeys(costs, 300), initial, 0.2)


def test_cheap_elements_get_more_items_and_the_whole_costs_less():
    costs = {"cheap": 25.0, "dear": 400.0}
    initial = dict.fromkeys(costs, 60.0)
    n = power.allocate(costs, dict.fromkeys(costs, 10**6), target=5.0, initial=initial, flip_rate=0.2)
    assert n["cheap"] / n["dear"] == pytest.approx(4.0, rel=0.01)  # n proportional to 1 / sqrt(cost)
    assert power.half_width(n, initial, 0.2) <= 5.0
    equal = power.allocate(dict.fromkeys(costs, 1.0), dict.fromkeys(costs, 10**6), target=5.0, initial=initial,
                           flip_rate=0.2)  # fmt: skip
    assert sum(n[e] * costs[e] for e in costs) < sum(equal[e] * costs[e] for e in costs)


def test_a_capped_element_takes_all_its_items_and_the_others_make_up_for_it():
    costs = dict.fromkeys("abc", 100.0)
    initial = dict.fromkeys(costs, 50.0)
    free = power.allocate(costs, dict.fromkeys(costs, 10**6), target=5.0, initial=initial, flip_rate=0.2)
    n = power.allocate(costs, {"a": 200, "b": 10**6, "c": 10**6}, target=5.0, initial=initial, flip_rate=0.2)
    assert n["a"] == 200 < free["a"] and n["b"] == n["c"] > free["b"]
    assert power.half_width(n, initial, 0.2) <= 5.0


def test_when_every_item_cannot_reach_the_target_all_are_taken():
    costs = dict.fromkeys("ab", 100.0)
    n = power.allocate(costs, {"a": 50, "b": 60}, target=5.0, initial=dict.fromkeys(costs, 50.0), flip_rate=0.2)
    assert n == {"a": 50, "b": 60}
    assert power.half_width(n, dict.fromkeys(costs, 50.0), 0.2) > 5.0


def test_the_minimal_detectable_fg_uses_the_same_standard_error():
    # no chance flips and a large effect: the MDE's SE is element_se at the flip share the effect implies
    n, p0 = 400, 50.0
    mde = metrics.minimal_detectable_fg([n], [p0], [0.0])
    drop = mde / 100 * p0 / 100
    assert mde == pytest.approx((1.959964 + 0.841621) * float(power.element_se(n, p0, drop)), rel=1e-4)
    assert np.isfinite(mde)


def test_bad_targets_are_refused():
    with pytest.raises(ValueError, match="target"):
        power.allocate({"a": 1.0}, {"a": 10}, target=0, initial={"a": 50.0}, flip_rate=0.2)


def test_a_budget_scales_every_count_by_one_factor():
    counts, costs = {"a": 400, "b": 100}, {"a": 10.0, "b": 40.0}
    assert power.within_budget(counts, costs, None) == counts
    assert power.within_budget(counts, costs, 10**6) == counts
    assert power.within_budget(counts, costs, 4000) == {"a": 200, "b": 50}
    assert power.within_budget(counts, costs, 400, floor=30) == {"a": 30, "b": 30}


def test_item_cost_counts_a_context_once_and_every_option():
    mc = {"context": "x" * 30, "choices": ["ab", "cde"], "label": 0}
    partial = {"contexts": ["a" * 10, "b" * 14], "continuation": "cc", "label": 1}
    assert power.item_chars(mc) == (30 + 3 + 4, 7)
    assert power.item_chars(partial) == (24 + 2 * 3, 6)
    assert power.item_cost([mc, partial]) == pytest.approx((37 + 30) / 2 / 4)
    shots = "Subject.\n\n" + "Q: 1+1? A: 2\n\n" * 5
    mmlu = [{"context": shots + q, "choices": ["a", "b"], "label": 0, "group": "math"} for q in ("Q: x?", "Q: y?")]
    alone = power.item_cost(mmlu[:1])  # a group of one runs its prefix
    assert power.item_cost(mmlu) == pytest.approx(alone - len(shots) / 2 / 4)  # the prefix once per group


def test_benchmark_sizes_follow_the_config():
    from cf_utils.config import load_config

    short = [{"context": "q" * 40, "choices": ["a", "b"], "label": 0}] * 5000
    long = [{"context": "q" * 1600, "choices": ["a", "b"], "label": 0}] * 5000
    pools = {"short": ("reasoning", short), "long": ("reasoning", long), "pairs": ("bias", short[:300])}
    assert power.benchmark_sizes(load_config("smoke").data, pools) == dict.fromkeys(pools, 8)
    d = load_config("smoke", {"data.fg_half_width": 5.0, "data.bench_items": None}).data
    n = power.benchmark_sizes(d, pools)
    assert n["short"] > 4 * n["long"] and n["pairs"] == 300  # cheap items first; a small pool gives all it has
    half = power.half_width({"short": n["short"], "long": n["long"]}, {"short": 50.0, "long": 50.0}, 0.2)
    assert half <= 5.0
    budget = load_config("smoke", {"data.fg_half_width": 5.0, "data.bench_items": None, "data.bench_tokens": 30000})
    small = power.benchmark_sizes(budget.data, pools)
    cost = {"short": 11, "long": 401, "pairs": 11}
    assert sum(small[e] * cost[e] for e in pools) <= 30000 < sum(n[e] * cost[e] for e in pools)
    assert small["short"] / n["short"] == pytest.approx(small["pairs"] / n["pairs"], rel=0.05)  # one factor for all
    tight = load_config("smoke", {"data.fg_half_width": 5.0, "data.bench_items": None, "data.bench_tokens": 10})
    assert set(power.benchmark_sizes(tight.data, pools).values()) == {power.MIN_ITEMS}


def test_the_plan_counts_a_groups_shared_prompt_once_in_real_tokens(tmp_path):
    """MMLU-like items of one subject share their header and solved questions: the scorer runs them once per
    group (scoring.prefix_groups), so the plan counts them once too; tokens come from the counter given."""
    import json

    from cf_utils import plan

    shots = "The following are questions about x.\n\nQ1 A1\n\nQ2 A2\n\n"
    recs = [{"id": str(i), "context": shots + f"Question {i}?\nAnswer:", "choices": ["a", "b"], "label": 0,
             "group": "x"} for i in range(3)]  # fmt: skip
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    run, scored = plan._file_tokens(path, len)  # a character is a token here
    assert (
        scored == 3 * 2 * len(" a") and run == len(shots) + sum(len(r["context"]) - len(shots) for r in recs) + scored
    )
    assert power.shared_prefix([shots + "a", shots + "b"]) == shots and power.shared_prefix([shots]) == ""
