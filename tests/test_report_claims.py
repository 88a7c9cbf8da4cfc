"""The seven claim verdicts (cf_utils/report/claims.py): the one rule, and each claim's units on hand-made frames
and on synthetic items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_metrics import make_items, scores_from_items
from test_report_frames import CPU_MODELS, forgetting_rows, frames_of, synthetic

from cf_utils import comparisons, metrics, report, task_metrics
from cf_utils.report import roles
from cf_utils.report.claims import CLAIM_COLUMNS, verdict
from cf_utils.study import GENERAL


def claim(frames: report.Frames, k: int) -> tuple[str, str]:
    table = report.claims(frames).set_index("claim")
    assert set(table["verdict"]) <= set(report.VERDICTS)
    return table.loc[k, "verdict"], table.loc[k, "evidence"]


D, X, U, N = metrics.DETECTED, metrics.EXCLUDED, metrics.INCONCLUSIVE, metrics.NOT_MEASURED


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([D, D, D], report.HOLDS),
        ([X, X], report.NOT_HOLD),
        ([D, X, U], report.MIXED),
        ([D, D, U], report.INCONCLUSIVE),  # one unit cannot tell: "every model" is not shown
        ([U, U], report.INCONCLUSIVE),
        ([X, U], report.INCONCLUSIVE),
        ([], report.NOT_MEASURABLE),
        ([N, N], report.NOT_MEASURABLE),  # no CI anywhere: no unit can be judged
        ([D, N], report.INCONCLUSIVE),  # a unit without a CI is not a supporting one
    ],
)
def test_the_claim_rule(states, expected):
    assert verdict(states) == expected


def test_the_rule_reads_any_pair_of_supporting_and_contradicting_states():
    b_more, a_more = comparisons.B_MORE, comparisons.A_MORE
    assert verdict([b_more, b_more], b_more, a_more) == report.HOLDS
    assert verdict([a_more], b_more, a_more) == report.NOT_HOLD
    assert verdict([b_more, metrics.INCONCLUSIVE], b_more, a_more) == report.INCONCLUSIVE


def test_claim1_units_are_each_models_general_categories():
    holds = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS[:2]})
    v, evidence = claim(frames_of(holds), 1)
    assert v == report.HOLDS and "6 detected, 0 paper-sized effect excluded, 0 inconclusive of 6 units" in evidence
    assert "gemma3-270m: DK 5.00 [1.00, 9.00] detected" in evidence
    excluded = forgetting_rows({(m, "seq"): (0.0, -2.0, 2.0) for m in CPU_MODELS[:2]})  # below every paper bound
    assert claim(frames_of(excluded), 1)[0] == report.NOT_HOLD
    mixed = forgetting_rows({("gemma3-270m", "seq"): (5.0, 1.0, 9.0), ("smollm2-135m-instruct", "seq"): (0, -2, 2)})
    assert claim(frames_of(mixed), 1)[0] == report.MIXED
    tiny = forgetting_rows({("tiny-causal", "seq"): (5.0, 1.0, 9.0)})
    assert (report.claims(frames_of(tiny))["verdict"][:6] == report.NOT_MEASURABLE).all()


def test_claim1_intervals_that_span_0_are_inconclusive_never_a_refutation():
    wide = forgetting_rows({(m, "seq"): (-1.0, -8.0, 30.0) for m in CPU_MODELS[:2]})  # reach the paper's size
    assert claim(frames_of(wide), 1)[0] == report.INCONCLUSIVE
    no_ci = forgetting_rows({(m, "seq"): (5.0, np.nan, np.nan) for m in CPU_MODELS[:2]})
    assert claim(frames_of(no_ci), 1)[0] == report.NOT_MEASURABLE  # a point estimate alone is no evidence


def chain(variant: str, p_by_stage: list[float]) -> pd.DataFrame:
    """One chain of gemma3-270m on the same 200 items per general category (item i right at stage s iff its
    latent u_i < p_s, the same u_i for every chain: the chains' outcomes are paired)."""
    return pd.concat(
        [make_items(p_by_stage, 200, seed=k, benchmark=f"b{k}", model="gemma3-270m", method=variant, category=c)
         for k, c in enumerate(GENERAL)], ignore_index=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def replay_frames():
    """seq and replay on the same items; replay loses fewer of the same right answers at every stage."""
    items = pd.concat(
        [chain("seq", [0.7, 0.6, 0.55, 0.5, 0.45, 0.4]), chain("replay", [0.7, 0.67, 0.65, 0.63, 0.6, 0.58])]
    )
    forgetting = metrics.forgetting_table(scores_from_items(items))
    return forgetting, roles.claim_comparisons(forgetting, items, n_boot=300, seed=0)


def test_claim6_from_paired_items_where_seq_forgets_more(replay_frames):
    forgetting, table = replay_frames
    assert list(table["a"].unique()) == ["gemma3-270m/replay"] and list(table["category"]) == list(GENERAL)
    assert (table["difference"] < 0).all() and (table["p_holm"] >= table["p"]).all()
    v, evidence = claim(frames_of(forgetting, comparisons=table), 6)
    assert v == report.HOLDS and "3 b forgets more, 0 a forgets more" in evidence
    assert claim(frames_of(forgetting, comparisons=table.assign(claim=2)), 6)[0] == report.NOT_MEASURABLE


def test_a_comparison_claim_reads_the_tests_states(replay_frames):
    forgetting, table = replay_frames
    flipped = table.assign(state=comparisons.A_MORE)
    assert claim(frames_of(forgetting, comparisons=flipped), 6)[0] == report.NOT_HOLD
    one_each = table.assign(state=[comparisons.A_MORE, comparisons.B_MORE, metrics.INCONCLUSIVE])
    assert claim(frames_of(forgetting, comparisons=one_each), 6)[0] == report.MIXED
    spans = table.assign(state=metrics.INCONCLUSIVE)
    assert claim(frames_of(forgetting, comparisons=spans), 6)[0] == report.INCONCLUSIVE


def test_comparison_claims_without_pairs_or_items_are_not_measurable():
    cpu = frames_of(forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS}))
    v, evidence = claim(cpu, 2)
    assert v == report.NOT_MEASURABLE and "Side note across families" in evidence
    assert "encoder-decoder: none" in claim(cpu, 3)[1]
    v, evidence = claim(cpu, 4)  # gemma3-270m and its twin, but no items to pair
    assert v == report.NOT_MEASURABLE and "no items.csv" in evidence
    assert "seq and replay" in claim(cpu, 6)[1]


@pytest.mark.parametrize(
    ("metric", "bias", "expected"),
    [
        ("pct_stereotype", (8.0, 6.0, 10.0), report.HOLDS),  # the stereotype preference fell
        ("pct_stereotype", (0.0, -2.0, 2.0), report.NOT_HOLD),  # a paper-sized fall (5.62) excluded
        ("pct_stereotype", (0.0, -5.0, 6.0), report.INCONCLUSIVE),
    ],
)
def test_claim5_bias_reads_pct_stereotype(metric, bias, expected):
    f = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS}, bias=bias)
    assert claim(frames_of(f, bias_metric=metric), 5)[0] == expected


def test_claim5_is_not_measurable_offline_without_pct_stereotype():
    f = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS}, bias=(-3.0, -5.0, -1.0))
    v, evidence = claim(frames_of(f, bias_metric="acc"), 5)
    assert v == report.NOT_MEASURABLE and evidence.startswith("Not measurable offline")
    no_bias = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS})
    assert claim(frames_of(no_bias, bias_metric="pct_stereotype"), 5)[0] == report.NOT_MEASURABLE


def test_claim7_needs_the_gains_ci_not_a_positive_point_gain():
    scores, _ = synthetic(models=("tiny-causal",))
    table = task_metrics.new_task_table(scores)
    f = forgetting_rows({("tiny-causal", "seq"): (5.0, 1.0, 9.0)})
    assert (table["gain"] > 0).all()
    v, evidence = claim(frames_of(f, new_task=table), 7)
    assert v == report.NOT_MEASURABLE and "No generations.csv" in evidence  # point gains only
    spans = table.assign(gain_low=-1.0, gain_high=30.0, gain_state=metrics.INCONCLUSIVE)
    assert claim(frames_of(f, new_task=spans), 7)[0] == report.INCONCLUSIVE
    improved = table.assign(gain_low=1.0, gain_high=30.0, gain_state=task_metrics.IMPROVED)
    assert claim(frames_of(f, new_task=improved), 7)[0] == report.HOLDS  # tiny models count for claim 7
    worse = improved.assign(gain_state=np.where(table["task"] == "emdg", task_metrics.WORSE, task_metrics.IMPROVED))
    v, evidence = claim(frames_of(f, new_task=worse), 7)
    assert v == report.MIXED and "tiny-causal (seq): improved Simp, InqQG, Exp, HGen / worse Emdg" in evidence
    assert "|" not in evidence  # a cell of a Markdown table
    assert claim(frames_of(f, new_task=improved.assign(gain_state=task_metrics.WORSE)), 7)[0] == report.NOT_HOLD
    assert claim(frames_of(f), 7)[0] == report.NOT_MEASURABLE


def test_each_claim_has_its_statement_and_evidence():
    table = report.claims(frames_of(forgetting_rows({("gemma3-270m", "seq"): (5.0, 1.0, 9.0)})))
    assert list(table["claim"]) == list(range(1, 8)) and list(table.columns) == CLAIM_COLUMNS
    assert table["evidence"].str.len().min() > 20
