"""Which figures the report draws and why one is skipped (cf_utils/report/figures.py), and the loss curves."""

from __future__ import annotations

from test_report_frames import synthetic, write_losses

from cf_utils import metrics, paths, plots, report, task_metrics
from cf_utils.report.figures import FIGURE_TITLES
from cf_utils.report.frames import losses


def test_figures_skip_with_reasons():
    scores, items = synthetic(models=("smollm2-135m-instruct",), variants=("seq",))
    forgetting = metrics.forgetting_table(scores)
    frames = report.Frames(
        "x", scores, forgetting, items=None, curves=metrics.curves(scores), new_task=task_metrics.new_task_table(scores)
    )
    drawn = {d.name: d for d in report.make_figures(frames)}
    for name in ("decoder_vs_encdec", "base_vs_instruct", "bias_by_type", "replay_vs_seq"):
        assert drawn[name].figure is None and drawn[name].reason
    assert drawn["stage_curves"].figure is not None
    assert (paths.figures_dir("x") / "stage_curves.png").exists()
    assert drawn["loss_curves"].figure is None and "metrics.json" in drawn["loss_curves"].reason
    assert list(drawn) == list(FIGURE_TITLES)  # every figure is listed in the report, in this order


def test_loss_curves_are_drawn_from_the_stages_metrics():
    write_losses("x", "tiny-causal", "seq")
    write_losses("x", "tiny-causal", "replay")
    fig = plots.loss_curves(losses("x", [("tiny-causal", "seq"), ("tiny-causal", "replay")]), paths.figures_dir("x"))
    assert len(fig.axes[0].lines) == 10  # 5 tasks x 2 variants
    assert fig.axes[0].get_ylabel() == "training loss"
    for ext in ("png", "pdf"):
        assert (paths.figures_dir("x") / f"loss_curves.{ext}").stat().st_size > 1000
    assert plots.loss_curves(losses("x", [("tiny-seq2seq", "seq")])) is None
