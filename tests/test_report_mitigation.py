"""The mitigation study's table and findings in the report (cf_utils/report/mitigation.py), on hand-made tables."""

from __future__ import annotations

import pandas as pd
from test_report_frames import synthetic

from cf_utils import metrics, mitigation_tables, paths, report
from cf_utils.report.mitigation import MITIGATION_NOTE, mitigation_table


def study(vs_seq: dict[str, tuple[float, float, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Retention and task tables: seq forgets 10% [6, 14]; each method ``vs_seq`` = (difference, low, high)
    and a p-value that agrees with the CI."""
    rows, tasks = [], []
    for v, (d, lo, hi) in {"seq": (0.0, 0.0, 0.0), **vs_seq}.items():
        for c in ("domain_knowledge", "general"):
            p = 0.01 if lo > 0 or hi < 0 else 0.5  # a CI that excludes 0: a small (Holm-adjusted) p-value
            rows.append(("m", v, c, 50.0, 45.0 + d / 2, 10.0 - d, 6.0 - d, 14.0 - d, d, lo, hi, 5.0, p, p))
        tasks += [("m", v, t, "bleu", 10.0, 20.0, 10.0) for t in ("simp", "emdg")]
    return (pd.DataFrame(rows, columns=mitigation_tables.RETENTION_COLUMNS),
            pd.DataFrame(tasks, columns=mitigation_tables.TASK_COLUMNS))  # fmt: skip


def frames(vs_seq) -> report.Frames:
    return report.Frames("x", pd.DataFrame(columns=metrics.SCORE_COLUMNS), pd.DataFrame(), mitigations=study(vs_seq))


def test_lines_name_the_methods_that_forget_less_or_more():
    lines = report.mitigation_lines(frames({"l2": (4.0, 1.0, 7.0), "ewc": (-3.0, -5.0, -1.0), "lwf": (1, -1, 3)}))
    assert lines[0] == (
        "seq loses 10.00% [6.00, 14.00] of its general-knowledge score by the last stage and gains 10.00 points on "
        "the new tasks."
    )
    assert lines[1].startswith("Forget measurably less than seq") and "l2 (4.00 points less" in lines[1]
    assert lines[2] == "Forget measurably more than seq: ewc."


def test_lines_say_so_when_no_method_helps_and_are_empty_without_a_study():
    lines = report.mitigation_lines(frames({"lwf": (1.0, -1.0, 3.0)}))
    assert len(lines) == 2 and lines[1].startswith("No method keeps measurably more")
    assert report.mitigation_lines(report.Frames("x", None, None)) == []


def test_the_table_and_figure_are_made_by_the_report_only_from_the_study():
    table = mitigation_table(*study({"l2": (4.0, 1.0, 7.0)}))
    assert table.name == "mitigations" and table.footnote == MITIGATION_NOTE and "on m:" in table.caption
    assert list(table.frame["verdict"]) == ["reference", "forgets less than seq"]
    scores, _ = synthetic(models=("tiny-causal",))
    f = report.Frames(
        "x",
        scores,
        metrics.forgetting_table(scores),
        curves=metrics.curves(scores),
        mitigations=study({"l2": (4.0, 1.0, 7.0)}),
    )
    assert "mitigations" in report.write_tables(f)
    drawn = {d.name: d for d in report.make_figures(f)}
    assert drawn["mitigations"].figure is not None
    assert (paths.figures_dir("x") / "mitigations.png").is_file()
    assert (paths.tables_dir("x") / "mitigations.tex").is_file()
