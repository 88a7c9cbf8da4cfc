"""The seven claim verdicts (cf_utils/report/claims.py): every branch of every rule, on hand-made forgetting tables."""

from __future__ import annotations

import numpy as np
import pytest
from test_report_frames import CPU_MODELS, forgetting_rows, frames_of, synthetic

from cf_utils import metrics, report
from cf_utils.report.claims import CLAIM_COLUMNS
from cf_utils.report.claims import verdict as count_verdict


def verdict(frames: report.Frames, claim: int) -> str:
    table = report.claims(frames).set_index("claim")
    assert set(table["verdict"]) <= set(report.VERDICTS)
    return table.loc[claim, "verdict"]


def test_claim1_forgetting_branches():
    holds = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS[:2]})
    assert verdict(frames_of(holds), 1) == report.HOLDS
    mixed = forgetting_rows({("gemma3-270m", "seq"): (5.0, 1.0, 9.0), ("smollm2-135m-instruct", "seq"): (1, -2, 4)})
    assert verdict(frames_of(mixed), 1) == report.MIXED
    none = forgetting_rows({(m, "seq"): (-1.0, -3.0, 1.0) for m in CPU_MODELS[:2]})
    assert verdict(frames_of(none), 1) == report.NOT_HOLD
    tiny = forgetting_rows({("tiny-causal", "seq"): (5.0, 1.0, 9.0)})
    assert (report.claims(frames_of(tiny))["verdict"][:6] == report.NOT_MEASURABLE).all()


def test_claim2_scale_branches():
    cpu = frames_of(forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS}))
    assert verdict(cpu, 2) == report.NOT_MEASURABLE
    assert "Side note across families" in report.claims(cpu).loc[1, "evidence"]
    rising = {
        ("bloomz-1b1", "seq"): (5.0, 1, 9),
        ("bloomz-3b", "seq"): (8.0, 6, 10),
        ("bloomz-7b1", "seq"): (12, 9, 15),
    }
    assert verdict(frames_of(forgetting_rows(rising)), 2) == report.HOLDS
    falling = {("bloomz-1b1", "seq"): (9.0, 1, 9), ("bloomz-3b", "seq"): (4.0, 1, 9)}
    assert verdict(frames_of(forgetting_rows(falling)), 2) == report.NOT_HOLD


def test_claim3_architecture_branches():
    assert (
        verdict(
            frames_of(
                forgetting_rows({("smollm2-135m-instruct", "seq"): (5, 1, 9), ("tiny-seq2seq", "seq"): (9, 1, 20)})
            ),
            3,
        )
        == report.NOT_MEASURABLE
    )
    less = {
        ("bloomz-1b1", "seq"): (5, 1, 9),
        ("mt0-large", "seq"): (9, 6, 12),
        ("bloomz-3b", "seq"): (8, 6, 10),
        ("mt0-xl", "seq"): (20, 16, 24),
    }
    f = frames_of(forgetting_rows(less))
    assert verdict(f, 3) == report.HOLDS
    assert "bloomz-3b (decoder-only)" in report.claims(f).loc[2, "evidence"]  # mt0-xl pairs with the nearest size
    more = less | {("mt0-xl", "seq"): (2, 1, 3)}
    assert verdict(frames_of(forgetting_rows(more)), 3) == report.MIXED


def test_claim4_instruction_tuning_branches():
    helps = {("gemma3-270m", "seq"): (9, 6, 12), ("gemma3-270m-alpaca", "seq"): (4, 2, 6)}
    assert verdict(frames_of(forgetting_rows(helps)), 4) == report.HOLDS
    hurts = {("llama-7b", "seq"): (4, 2, 6), ("alpaca-7b", "seq"): (9, 6, 12)}
    assert verdict(frames_of(forgetting_rows(hurts)), 4) == report.NOT_HOLD
    alone = {("gemma3-270m", "seq"): (9, 6, 12)}
    assert verdict(frames_of(forgetting_rows(alone)), 4) == report.NOT_MEASURABLE


@pytest.mark.parametrize(
    ("metric", "bias", "expected"),
    [
        ("acc", (-3.0, -5.0, -1.0), report.HOLDS),  # BBQ accuracy rose: less biased
        ("acc", (3.0, 1.0, 5.0), report.NOT_HOLD),
        ("pct_stereotype", (3.0, 1.0, 5.0), report.HOLDS),  # CrowS stereotype preference fell
        ("pct_stereotype", (-3.0, -5.0, -1.0), report.NOT_HOLD),
        ("acc", (-3.0, -5.0, 1.0), report.NOT_HOLD),  # the CI spans 0: no model shows a decrease
    ],
)
def test_claim5_bias_reads_the_metric_direction(metric, bias, expected):
    f = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS}, bias=bias)
    assert verdict(frames_of(f, bias_metric=metric), 5) == expected


def test_claim5_mixed_and_unmeasurable():
    models = {(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS[:2]}
    bias = {("smollm2-135m-instruct", "seq"): (-3.0, -5.0, -1.0), ("gemma3-270m", "seq"): (3.0, 1.0, 5.0)}
    assert verdict(frames_of(forgetting_rows(models, bias=bias)), 5) == report.MIXED
    assert verdict(frames_of(forgetting_rows(models)), 5) == report.NOT_MEASURABLE


def test_claim6_replay_branches():
    seq_only = {("gemma3-270m", "seq"): (9, 6, 12)}
    assert verdict(frames_of(forgetting_rows(seq_only)), 6) == report.NOT_MEASURABLE
    helps = seq_only | {("gemma3-270m", "replay"): (4, 2, 6)}
    assert verdict(frames_of(forgetting_rows(helps)), 6) == report.HOLDS
    hurts = seq_only | {("gemma3-270m", "replay"): (12, 10, 14)}
    assert verdict(frames_of(forgetting_rows(hurts)), 6) == report.NOT_HOLD


def test_claim7_new_task_branches():
    scores, _ = synthetic(models=("tiny-causal",))
    table = metrics.new_task_table(scores)
    f = forgetting_rows({("tiny-causal", "seq"): (5.0, 1.0, 9.0)})
    assert verdict(frames_of(f, new_task=table), 7) == report.HOLDS  # tiny models count for claim 7
    worse = table.assign(gain=np.where(table["task"] == "emdg", -1.0, table["gain"]))
    assert verdict(frames_of(f, new_task=worse), 7) == report.MIXED
    assert verdict(frames_of(f, new_task=table.assign(gain=-1.0)), 7) == report.NOT_HOLD
    assert verdict(frames_of(f), 7) == report.NOT_MEASURABLE


def test_verdict_counts_the_supporting_units():
    assert count_verdict(0, 0) == report.NOT_MEASURABLE
    assert [count_verdict(k, 3) for k in (3, 1, 0)] == [report.HOLDS, report.MIXED, report.NOT_HOLD]


def test_each_claim_has_its_statement_and_evidence():
    table = report.claims(frames_of(forgetting_rows({("gemma3-270m", "seq"): (5.0, 1.0, 9.0)})))
    assert list(table["claim"]) == list(range(1, 8)) and list(table.columns) == CLAIM_COLUMNS
    assert table["evidence"].str.len().min() > 20
