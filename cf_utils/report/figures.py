"""Which figures the report draws, from which frames, and why one is skipped.

    make_figures(frames) -> figures/<profile>/<name>.png|pdf, one Drawn per entry of FIGURE_TITLES

The drawing is :mod:`cf_utils.plots` (frames in, figure out); this module decides what each figure is
drawn from and, where the frames cannot support a comparison (no encoder-decoder model, no replay
chain, no mitigation study ...), says why in words the report prints instead of the figure. Every
figure of a profile is drawn here, by 04_figures only: a new figure is a plot function in plots.py and
one entry in FIGURE_TITLES and :func:`draw_all` (plus its test).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from cf_utils import dose_tables, mitigation_tables, paths, plots
from cf_utils.registry import get_spec
from cf_utils.report.frames import Frames
from cf_utils.report.roles import real, twin_pairs

FIGURE_TITLES = {
    "loss_curves": "Training loss, the five stages one after another",
    "stage_curves": "Scores after every stage (elements thin, category mean thick)",
    "fg_by_category": "Forgetting (FG) per category, with 95% bootstrap CIs",
    "fg_vs_scale": "Forgetting against model scale",
    "decoder_vs_encdec": "Decoder-only vs encoder-decoder",
    "base_vs_instruct": "Base model vs its instruction-tuned twin",
    "bias_by_type": "Bias per bias type across stages",
    "replay_vs_seq": "Replay of general instructions vs plain sequential tuning",
    "new_task_before_after": "New tasks: own metric before / after their stage",
    "mitigations": "Mitigations: general-knowledge retention vs new-task gain",
    "dose": "Forgetting against dose: training steps at several learning rates (beyond the paper)",
}


@dataclass(frozen=True)
class Drawn:
    """One figure of the report: drawn (``figure``, ``files``) or skipped with a ``reason``."""

    name: str
    title: str
    figure: Figure | None
    files: tuple[Path, ...] = ()
    reason: str = ""


def architectures(models) -> str:
    """The architectures among the pretrained ``models``, in words."""
    archs = sorted({"decoder-only" if get_spec(m).arch == "causal" else "encoder-decoder" for m in real(models)})
    return " and ".join(archs) or "none"


def draw_all(frames: Frames, out: Path) -> dict[str, tuple[Figure | None, str]]:
    """Each figure drawn into ``out`` (None where the frames cannot support it) with the reason it would be skipped."""
    f = frames.forgetting
    has_new_task = frames.new_task is not None and not frames.new_task.empty
    return {
        "loss_curves": (
            plots.loss_curves(frames.losses, out),
            "no scored chain has a finished stage with its metrics.json (02_finetune trains them)",
        ),
        "stage_curves": (plots.stage_curves(frames.curves, out), ""),
        "fg_by_category": (plots.fg_by_category(f, out), ""),
        "fg_vs_scale": (plots.fg_vs_scale(f, out), ""),
        "decoder_vs_encdec": (
            plots.decoder_vs_encdec(f, out),
            "needs a decoder-only and an encoder-decoder pretrained model (random-init tiny models "
            f"do not count); the pretrained models here are: {architectures(f['model'])}",
        ),
        "base_vs_instruct": (
            plots.base_vs_instruct(f, twin_pairs(f["model"]), out),
            "no base model with its instruction-tuned twin (ModelSpec.base, or llama-7b/alpaca-7b)",
        ),
        "bias_by_type": (
            plots.bias_by_type(frames.items, out),
            "items.csv is missing or its bias items carry no bias-type group",
        ),
        "replay_vs_seq": (
            plots.replay_vs_seq(f, out),
            f"no model was run with both variants seq and replay (variants: {sorted(set(f['variant']))})",
        ),
        "new_task_before_after": (
            plots.new_task_before_after(frames.new_task, out) if has_new_task else None,
            "scores.csv has no new_task rows",
        ),
        "mitigations": (
            plots.mitigation_tradeoff(*frames.mitigations, out) if frames.mitigations is not None else None,
            mitigation_tables.absent_reason(frames.profile) if frames.mitigations is None else "",
        ),
        "dose": (
            None if frames.dose is None else plots.dose_curve(frames.dose, frames.dose["fit"]["model"].iloc[0], out),
            dose_tables.absent_reason(frames.profile),
        ),
    }


def make_figures(frames: Frames) -> list[Drawn]:
    """Draw (and save as PNG + PDF into ``figures/<profile>/``) every figure; a skipped one carries its reason."""
    out = paths.figures_dir(frames.profile)
    return [
        Drawn(name, FIGURE_TITLES[name], fig, (out / f"{name}.png", out / f"{name}.pdf"))
        if fig is not None
        else Drawn(name, FIGURE_TITLES[name], None, reason=why)
        for name, (fig, why) in draw_all(frames, out).items()
    ]
