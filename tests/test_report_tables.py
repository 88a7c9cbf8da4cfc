"""The report's tables (cf_utils/report/tables.py, table_files.py, paper.py, cells.py) on hand-made frames."""

from __future__ import annotations

import pandas as pd
import pytest
from test_report_frames import CPU_MODELS, forgetting_rows, frames_of, synthetic

from cf_utils import metrics, paths, report, task_metrics
from cf_utils.report import cells, tables
from cf_utils.report.bias import bias_direction


def test_paper_vs_ours_pairs_by_role_and_subtracts():
    forgetting = forgetting_rows(
        {(m, "seq"): (5.0, 1.0, 9.0) for m in (*CPU_MODELS, "mt0-large")}, bias=(-2.0, -4.0, -1.0)
    )
    table = report.paper_vs_ours(frames_of(forgetting))
    paired = dict(zip(table["model"], table["paper_model"], strict=False))
    assert paired == {
        "smollm2-135m-instruct": "bloomz-1.1b",
        "gemma3-270m": "llama-7b",
        "gemma3-270m-alpaca": "alpaca-7b",
        "mt0-large": "mt0-1.2b",
    }
    assert set(table.loc[table["model"] == "gemma3-270m", "table"]) == {6}
    assert set(table.loc[table["model"] == "smollm2-135m-instruct", "table"]) == {4, 5}
    fg = table[(table["model"] == "smollm2-135m-instruct") & (table["category"] == "domain_knowledge")]
    fg = fg[fg["quantity"] == "fg"].iloc[0]
    assert fg["paper"] == 9.54 and fg["ours"] == 5.0 and fg["difference"] == pytest.approx(5.0 - 9.54)
    assert fg["source_quality"] == "corroborated" and "stand-in" in fg["note"]
    bias = table[(table["category"] == "bias")].iloc[0]
    assert "read oppositely" in bias["note"]
    assert (table.loc[table["model"] == "mt0-large", "match"] == "same model").all()


def test_paper_match_names_the_same_model_or_the_nearest_role():
    from cf_utils.report.paper import paper_match

    assert paper_match("bloomz-3b") == ("bloomz-3b", "same model")
    assert paper_match("tiny-seq2seq")[0] == "mt0-1.2b" and paper_match("tiny-causal")[0] == "bloomz-1.1b"


def test_cells_write_two_decimals_and_a_ci_only_where_known():
    assert cells.num(1.234) == "1.23" and cells.num(float("nan")) == "–" and cells.num(None) == "–"
    assert cells.with_ci(1.0, 0.5, 1.5) == "1.00 [0.50, 1.50]" and cells.with_ci(1.0, float("nan"), 2.0) == "1.00"
    out = cells.formatted(pd.DataFrame({"x": [1.005, 2.0], "n": [1, 2]}))
    assert list(out["x"]) == ["1.00", "2.00"] and list(out["n"]) == [1, 2]


def test_category_wide_keeps_the_variant_column_only_with_several_variants():
    one = tables.category_wide(forgetting_rows({("gemma3-270m", "seq"): (5.0, 1.0, 9.0)}))
    assert "variant" not in one and one.loc[0, "DK FG [95% CI]"] == "5.00 [1.00, 9.00]"
    two = tables.category_wide(forgetting_rows({("gemma3-270m", v): (5.0, 1.0, 9.0) for v in ("seq", "replay")}))
    assert list(two["variant"]) == ["seq", "replay"]


@pytest.mark.parametrize(
    ("metric", "fg", "expected"),
    [("acc", (3.0, 1.0, 5.0), "increased"), ("acc", (-3.0, -5.0, -1.0), "decreased"),
     ("pct_stereotype", (3.0, 1.0, 5.0), "decreased"), ("acc", (1.0, -1.0, 3.0), "no clear change (CI spans 0)"),
     ("acc", (1.0, float("nan"), float("nan")), "increased")],
)  # fmt: skip
def test_bias_direction_reads_the_metric(metric, fg, expected):
    assert bias_direction(dict(zip(("fg", "ci_low", "ci_high"), fg, strict=True)), metric) == expected


def test_tables_of_hand_made_frames_compute_elements_without_cis():
    scores, _ = synthetic(models=("gemma3-270m", "gemma3-270m-alpaca"))
    frames = report.Frames("x", scores, metrics.forgetting_table(scores))
    written = report.write_tables(frames)
    assert set(written) == {"table4_forgetting", "table5_bias", "table6_general_instruction", "table3_new_task",
                            "elements", "transfer", "paper_vs_ours", "comparisons", "power", "secondary",
                            "training", "bias_types", "flips", "assumptions"}  # fmt: skip
    assert written["training"].frame.empty  # hand-made frames: no trained stage
    assert written["comparisons"].frame.empty  # no items: nothing to pair
    assert (written["power"].frame["MDE (80% power)"] == "–").all() and "training-seed" in written["power"].footnote
    elements = written["elements"].frame
    assert not elements.empty and not elements["FG [95% CI]"].str.contains(r"\[").any()
    assert written["table3_new_task"].frame.empty and list(written["transfer"].frame.columns) == list(
        task_metrics.TRANSFER_COLUMNS
    )
    roles = list(written["table6_general_instruction"].frame["role"])
    assert roles == ["base", "instruction-tuned twin of gemma3-270m"]
    assert written["elements"].files[0] == paths.tables_dir("x") / "elements.md"


def test_write_table_carries_caption_and_footnote_into_every_file(tmp_path):
    table = report.Table("t", "Caption & 50%", pd.DataFrame({"a_b": ["1.00"]}), "Footnote #1")
    files = report.write_table(table, tmp_path).files
    md, csv, tex = (f.read_text() for f in files)
    assert md.startswith("**Caption & 50%**") and md.rstrip().endswith("Footnote #1")
    assert csv == "a_b\n1.00\n"
    assert "\\caption{Caption \\& 50\\%}" in tex and "\\footnotesize Footnote \\#1" in tex
