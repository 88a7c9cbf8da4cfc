"""The study's figures (Luo et al. 2023, arXiv 2308.08747: Fig. 2-style stage curves, Tables 4-6 as plots).

Every function takes the long frames of :mod:`cf_utils.metrics` (or :mod:`cf_utils.report.frames`), draws a
``matplotlib.figure.Figure`` on an Agg canvas (no pyplot state: safe in scripts, and a notebook
shows it inline with ``display(fig)``), saves it as PNG and PDF when ``out_dir`` is given, and
returns it. A comparison that the frames cannot support returns ``None``; the caller says why.

Colours: seaborn's colour-blind palette. Scores and FG are in percent (FG: Eq. 1 of the paper, the
relative drop averaged over the five stages; positive = forgotten).
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from cf_utils.io import atomic_write_bytes
from cf_utils.registry import get_spec
from cf_utils.study import (
    BIAS,
    CATEGORIES,
    CATEGORY_LABELS,
    GENERAL_POOLED,
    REPLAY,
    SEQ,
    TASK_LABELS,
    TASKS,
    wise_alpha,
)

STAGE_TICKS = ["0\ninitial", *(f"{k}\n{TASK_LABELS[t]}" for k, t in enumerate(TASKS, start=1))]
VARIANT_STYLES = {SEQ: "-", REPLAY: "--"}
DPI = 130
FG_LABEL = "FG (%, Eq. 1; > 0 = forgotten)"


def palette(n: int) -> list:
    """``n`` colours of seaborn's colour-blind palette (cycled beyond its ten)."""
    base = sns.color_palette("colorblind")
    return [base[i % len(base)] for i in range(n)]


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas, with constrained layout (labels and legends never overlap)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out_dir: str | Path | None, name: str) -> list[Path]:
    """Write ``name.png`` (dpi 130) and ``name.pdf`` into ``out_dir``; nothing when it is None."""
    if out_dir is None:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for path in written:
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix[1:], dpi=DPI, bbox_inches="tight")
        atomic_write_bytes(path, buf.getvalue())  # a kill never leaves half a figure
    return written


def _several_variants(df: pd.DataFrame) -> bool:
    return df["variant"].nunique() > 1


def _present(categories: pd.Series) -> list[str]:
    return [c for c in CATEGORIES if c in set(categories)]


def grouped_bars(ax, df: pd.DataFrame, group: str, colours: dict, *, value: str = "fg") -> None:
    """Bars of ``value`` per category (x) and ``group`` (hue), with [ci_low, ci_high] error bars where known."""
    cats = _present(df["category"])
    groups = list(dict.fromkeys(df[group]))
    width = 0.8 / max(len(groups), 1)
    x = np.arange(len(cats))
    for i, g in enumerate(groups):
        sub = df[df[group] == g].set_index("category").reindex(cats)
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, sub[value], width, color=colours[g], label=str(g), edgecolor="black", linewidth=0.4)
        if {"ci_low", "ci_high"} <= set(sub.columns):
            lo = (sub[value] - sub["ci_low"]).clip(lower=0)
            hi = (sub["ci_high"] - sub[value]).clip(lower=0)
            ok = sub["ci_low"].notna() & sub["ci_high"].notna()
            if ok.any():
                ax.errorbar(
                    pos[ok.to_numpy()],
                    sub[value][ok],
                    yerr=[lo[ok], hi[ok]],
                    fmt="none",
                    ecolor="black",
                    capsize=3,
                    linewidth=0.9,
                )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(x, [CATEGORY_LABELS[c].replace(" ", "\n", 1) for c in cats])


def loss_curves(losses: pd.DataFrame | None, out_dir: str | Path | None = None) -> Figure | None:
    """Training loss per optimizer step, a chain's five stages one after another: one panel per model, a colour
    per task, a line style per variant. ``losses``: cf_utils.report.frames.losses; None without a stage."""
    if losses is None or losses.empty:
        return None
    models = list(dict.fromkeys(losses["model"]))
    colours = dict(zip(TASKS, palette(len(TASKS)), strict=True))
    fig = new_figure(4.6 * len(models) + 1.8, 3.4)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models, strict=True):
        for (variant, task), line in losses[losses["model"] == model].groupby(["variant", "task"], sort=False):
            style = VARIANT_STYLES.get(variant, ":")
            # dots: a stage of a single step is a point, not a line
            ax.plot(line["step"], line["loss"], style, color=colours[task], linewidth=1.0, marker="o", markersize=2,
                    label=f"{TASK_LABELS[task]} ({variant})")  # fmt: skip
        ax.set(title=model, xlabel="optimizer step (stages one after another)", ylabel="training loss")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title="task (variant)")
    fig.suptitle("Training loss during continual instruction tuning")
    save(fig, out_dir, "loss_curves")
    return fig


def stage_curves(curves: pd.DataFrame, out_dir: str | Path | None = None) -> Figure:
    """Score per stage of every element (thin) and its category mean (thick), one panel per model x category.

    ``curves``: :func:`cf_utils.metrics.curves` (benchmark ``"(mean)"`` = the category mean).
    """
    df = curves[curves["category"].isin(CATEGORIES)]
    models = list(dict.fromkeys(df["model"]))
    cats = _present(df["category"])
    fig = new_figure(3.4 * len(cats), 2.5 * len(models) + 1.6)
    axes = fig.subplots(len(models), len(cats), squeeze=False, sharex=True)
    several = _several_variants(df)
    for j, cat in enumerate(cats):
        elements = sorted(set(df.loc[df["category"] == cat, "benchmark"]) - {"(mean)"})
        colours = dict(zip(elements, palette(len(elements)), strict=True)) | {"(mean)": "black"}
        for i, model in enumerate(models):
            ax = axes[i, j]
            sub = df[(df["model"] == model) & (df["category"] == cat)]
            for (bench, variant), line in sub.groupby(["benchmark", "variant"], sort=False):
                line = line.sort_values("stage")
                mean = bench == "(mean)"
                label = f"{'category mean' if mean else bench}" + (f" ({variant})" if several else "")
                ax.plot(
                    line["stage"],
                    line["value"],
                    VARIANT_STYLES.get(variant, ":"),
                    color=colours[bench],
                    linewidth=2.6 if mean else 1.0,
                    alpha=1.0 if mean else 0.8,
                    marker="o" if mean else None,
                    markersize=3,
                    label=label,
                )
            ax.set_title(f"{model} · {CATEGORY_LABELS[cat]}", fontsize=9)
            ax.set_xticks(range(6), STAGE_TICKS, fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel("score (%)", fontsize=8)
            if i == len(models) - 1:
                ax.set_xlabel("after stage (task trained)", fontsize=8)
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), fontsize=7, ncol=2, frameon=False)
    fig.suptitle("Scores during continual instruction tuning (thin: elements; thick: category mean)")
    save(fig, out_dir, "stage_curves")
    return fig


def fg_by_category(forgetting: pd.DataFrame, out_dir: str | Path | None = None) -> Figure:
    """FG per category (x) and model (bars), with the bootstrap CI; ``forgetting``: metrics.forgetting_table."""
    df = forgetting[forgetting["category"].isin(CATEGORIES)].copy()
    df["group"] = df["model"] + " (" + df["variant"] + ")" if _several_variants(df) else df["model"]
    groups = list(dict.fromkeys(df["group"]))
    fig = new_figure(2.0 + 1.6 * len(_present(df["category"])) + 0.25 * len(groups), 3.6)
    ax = fig.subplots()
    grouped_bars(ax, df, "group", dict(zip(groups, palette(len(groups)), strict=True)))
    ax.set(ylabel=FG_LABEL, title="Forgetting by category (bars: 95% bootstrap CI over items)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="model")
    save(fig, out_dir, "fg_by_category")
    return fig


def fg_vs_scale(forgetting: pd.DataFrame, out_dir: str | Path | None = None) -> Figure:
    """FG per category against parameters (log x), one line per family (the paper's claim 2); variant ``seq``."""
    df = forgetting[forgetting["category"].isin(CATEGORIES)]
    if SEQ in set(df["variant"]):
        df = df[df["variant"] == SEQ]
    df = df.assign(
        params_b=[get_spec(m).params_b for m in df["model"]],
        family=[get_spec(m).family for m in df["model"]],
        tuned=[get_spec(m).instruction_tuned for m in df["model"]],
    )
    cats = _present(df["category"])
    families = list(dict.fromkeys(df["family"]))
    colours = dict(zip(families, palette(len(families)), strict=True))
    fig = new_figure(3.2 * len(cats) + 1.6, 3.4)
    axes = fig.subplots(1, len(cats), squeeze=False)[0]
    for ax, cat in zip(axes, cats, strict=True):
        for fam in families:
            sub = df[(df["category"] == cat) & (df["family"] == fam)].sort_values("params_b")
            for tuned, part in sub.groupby("tuned"):
                yerr = [(part["fg"] - part["ci_low"]).clip(lower=0), (part["ci_high"] - part["fg"]).clip(lower=0)]
                ax.errorbar(
                    part["params_b"],
                    part["fg"],
                    yerr=yerr,
                    color=colours[fam],
                    marker="o",
                    markerfacecolor=colours[fam] if tuned else "white",
                    capsize=3,
                    linewidth=1.2,
                    label=f"{fam} ({'instruction-tuned' if tuned else 'base'})",
                )
                for _, r in part.iterrows():
                    ax.annotate(
                        r["model"], (r["params_b"], r["fg"]), textcoords="offset points", xytext=(4, 4), fontsize=6
                    )
        ax.set_xscale("log")
        sizes = sorted(set(df["params_b"]))
        ax.set_xlim(sizes[0] / 1.8, sizes[-1] * 1.8)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set(title=CATEGORY_LABELS[cat], xlabel="parameters (billions, log scale)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(FG_LABEL)
    handles, labels = axes[0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    fig.legend(uniq.values(), uniq.keys(), loc="outside right upper", fontsize=8, title="family")
    fig.suptitle("Forgetting against model scale (filled: instruction-tuned; hollow: base)")
    save(fig, out_dir, "fg_vs_scale")
    return fig


def _pair_panels(panels: list[tuple[str, pd.DataFrame]], group: str, title: str) -> Figure:
    """One grouped-bar panel per comparison; ``group`` is the hue column of each panel's frame."""
    fig = new_figure(2.0 + 3.8 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (name, sub) in zip(axes, panels, strict=True):
        groups = list(dict.fromkeys(sub[group]))
        grouped_bars(ax, sub, group, dict(zip(groups, palette(len(groups)), strict=True)))
        ax.set_title(name, fontsize=9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=7, ncol=2, frameon=False)
    axes[0].set_ylabel(FG_LABEL)
    fig.suptitle(title)
    return fig


def decoder_vs_encdec(forgetting: pd.DataFrame, out_dir: str | Path | None = None) -> Figure | None:
    """FG of decoder-only vs encoder-decoder models (real pretrained ones; variant ``seq``); None with one arch."""
    df = forgetting[forgetting["category"].isin(CATEGORIES) & (forgetting["variant"] == SEQ)]
    df = df[[get_spec(m).source != "tiny" for m in df["model"]]]
    if df.empty:
        return None
    arch = {"causal": "decoder-only", "seq2seq": "encoder-decoder"}
    df = df.assign(group=[f"{m} ({arch[get_spec(m).arch]})" for m in df["model"]])
    if {get_spec(m).arch for m in df["model"]} != set(arch):
        return None
    df = df.sort_values("group", key=lambda s: s.str.contains("encoder"), kind="stable")
    fig = _pair_panels(
        [("decoder-only vs encoder-decoder", df)], "group", "Forgetting by architecture (95% bootstrap CI)"
    )
    save(fig, out_dir, "decoder_vs_encdec")
    return fig


def base_vs_instruct(
    forgetting: pd.DataFrame, pairs: list[tuple[str, str]], out_dir: str | Path | None = None
) -> Figure | None:
    """FG of each base model vs its instruction-tuned twin (``pairs``: (base, tuned)); None without a pair."""
    df = forgetting[forgetting["category"].isin(CATEGORIES) & (forgetting["variant"] == SEQ)]
    panels = []
    for base, tuned in pairs:
        sub = df[df["model"].isin([base, tuned])]
        if set(sub["model"]) == {base, tuned}:
            sub = sub.assign(group=np.where(sub["model"] == base, base + " (base)", tuned + " (instruction-tuned)"))
            panels.append((f"{base} vs {tuned}", sub.sort_values("model", key=lambda s: s != base, kind="stable")))
    if not panels:
        return None
    fig = _pair_panels(panels, "group", "General instruction tuning first: base vs instruction-tuned twin")
    save(fig, out_dir, "base_vs_instruct")
    return fig


def replay_vs_seq(forgetting: pd.DataFrame, out_dir: str | Path | None = None) -> Figure | None:
    """FG of plain sequential tuning vs general-instruction replay (the paper's section 5.4), per model."""
    df = forgetting[forgetting["category"].isin(CATEGORIES) & forgetting["variant"].isin([SEQ, REPLAY])]
    models = [m for m, g in df.groupby("model", sort=False) if set(g["variant"]) == {SEQ, REPLAY}]
    if not models:
        return None
    panels = [(m, df[df["model"] == m].sort_values("variant", ascending=False)) for m in models]
    fig = _pair_panels(panels, "variant", "Replay of general instructions vs plain sequential tuning")
    save(fig, out_dir, "replay_vs_seq")
    return fig


def bias_by_type(items: pd.DataFrame | None, out_dir: str | Path | None = None) -> Figure | None:
    """Each bias benchmark's score per bias type (items.csv ``group``) across stages; None without groups."""
    if items is None:
        return None
    df = items[(items["category"] == BIAS) & items["group"].notna() & (items["group"].astype(str) != "")]
    if SEQ in set(df["variant"]):
        df = df[df["variant"] == SEQ]
    if df.empty:
        return None
    means = df.groupby(["model", "benchmark", "metric", "group", "stage"], as_index=False)["value"].mean()
    means["value"] *= 100
    models = list(dict.fromkeys(means["model"]))
    benches = sorted(set(means["benchmark"]))
    groups = sorted(set(means["group"]))
    colours = dict(zip(groups, palette(len(groups)), strict=True))
    fig = new_figure(3.6 * len(benches) + 2.2, 2.6 * len(models) + 0.8)
    axes = fig.subplots(len(models), len(benches), squeeze=False, sharex=True)
    for i, model in enumerate(models):
        for j, bench in enumerate(benches):
            ax = axes[i, j]
            sub = means[(means["model"] == model) & (means["benchmark"] == bench)]
            for g, line in sub.groupby("group"):
                ax.plot(line["stage"], line["value"], marker="o", markersize=3, color=colours[g], label=g)
            metric = ", ".join(sorted(set(sub["metric"])))
            ax.set_title(f"{model} · {bench}", fontsize=9)
            ax.set_ylabel(f"{metric} (%)", fontsize=8)
            ax.set_xticks(range(6), STAGE_TICKS, fontsize=7)
            ax.grid(alpha=0.3)
    handles = [axes[0, 0].plot([], [], color=colours[g], marker="o", label=g)[0] for g in groups]
    fig.legend(handles, groups, loc="outside right upper", fontsize=7, title="bias type")
    fig.suptitle(
        "Bias per type across stages\n(pct_stereotype: share of pairs where the stereotyping sentence is the likelier;"
        " 50% = no preference, lower = less biased)"
    )
    save(fig, out_dir, "bias_by_type")
    return fig


def new_task_before_after(new_task: pd.DataFrame, out_dir: str | Path | None = None) -> Figure:
    """Each task's own metric before and after its stage and at the end (the paper's Table 3), per model."""
    df = new_task.assign(
        label=[f"{TASK_LABELS.get(t, t)}\n{m}" for t, m in zip(new_task["task"], new_task["metric"], strict=True)]
    )
    models, variants = list(dict.fromkeys(df["model"])), list(dict.fromkeys(df["variant"]))
    fig = new_figure(2.2 + 4.4 * len(variants), 2.6 * len(models) + 0.8)
    axes = fig.subplots(len(models), len(variants), squeeze=False, sharey=True)
    whens = [("before", "before its stage"), ("after", "after its stage"), ("final", "after stage 5")]
    colours = palette(len(whens))
    for (i, model), (j, variant) in itertools.product(enumerate(models), enumerate(variants)):
        ax = axes[i, j]
        sub = df[(df["model"] == model) & (df["variant"] == variant)].sort_values("stage")
        x = np.arange(len(sub))
        for w, (col, label) in enumerate(whens):
            ax.bar(
                x - 0.4 + 0.8 / 3 * (w + 0.5),
                sub[col],
                0.8 / 3,
                color=colours[w],
                label=label,
                edgecolor="black",
                linewidth=0.4,
            )
        ax.set_xticks(x, sub["label"], fontsize=7)
        ax.set_title(f"{model} ({variant})", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        if j == 0:
            ax.set_ylabel("own metric (0-100)", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(whens), fontsize=8)
    fig.suptitle("New tasks: own metric before / after its stage\nand after stage 5 (SARI / BLEU / ROUGE-1)")
    save(fig, out_dir, "new_task_before_after")
    return fig


def mitigation_tradeoff(
    retention: pd.DataFrame, tasks: pd.DataFrame, out_dir: str | Path | None = None
) -> Figure | None:
    """Left: general-knowledge final drop (with its 95% CI) against mean new-task gain, one point per method,
    the WiSE-FT sweep joined to seq (alpha = 1) and the start (alpha = 0: no gain, no drop, by definition).
    Right: the final drop per category and method. ``retention``/``tasks``: cf_utils.mitigation_tables."""
    if retention is None or retention.empty:
        return None
    variants = list(dict.fromkeys(retention["variant"]))
    colours = dict(zip(variants, palette(len(variants)), strict=True))
    gains = tasks.groupby("variant", sort=False)["gain"].mean()
    gen = retention[retention["category"] == GENERAL_POOLED].set_index("variant").loc[variants]
    fig = new_figure(12.5, 4.6)
    left, right = fig.subplots(1, 2, width_ratios=[1.0, 1.25])
    wise = sorted((m for m in variants if wise_alpha(m) is not None), key=wise_alpha)
    if wise:
        line = [SEQ, *reversed(wise)]
        left.plot([0, *gains[line[::-1]]], [0, *gen.loc[line[::-1], "final_drop"]], ":", color="grey", linewidth=1)
        left.plot([0], [0], marker="*", color="black", markersize=10, linestyle="none", label="start (alpha = 0)")
    for m in variants:
        x, r = gains[m], gen.loc[m]
        yerr = [[max(r["final_drop"] - r["ci_low"], 0)], [max(r["ci_high"] - r["final_drop"], 0)]]
        left.errorbar([x], [r["final_drop"]], yerr=yerr, fmt="o", color=colours[m], ecolor=colours[m],
                      capsize=3, markersize=7, markeredgecolor="black", label=m)  # fmt: skip
        left.annotate(m, (x, r["final_drop"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    left.axhline(0, color="grey", linewidth=0.8)
    left.set(xlabel="mean new-task gain after the last stage (points of each task's own metric)",
             ylabel="general-knowledge final drop (%; > 0 = forgotten)",
             title="Retention vs new-task gain (bars: 95% paired bootstrap CI)")  # fmt: skip
    left.grid(alpha=0.3)
    left.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16), fontsize=7, ncol=4, frameon=False)
    per_cat = retention[retention["category"] != GENERAL_POOLED]
    grouped_bars(right, per_cat, "variant", colours, value="final_drop")
    right.set(ylabel="final drop (%; > 0 = forgotten)", title="Final drop per category and method")
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="variant")
    model = retention["model"].iloc[0]
    fig.suptitle(f"Mitigations of forgetting on {model}: each method after the last stage vs the starting model")
    save(fig, out_dir, "mitigations")
    return fig


def dose_curve(dose: dict[str, pd.DataFrame], model: str = "", out_dir: str | Path | None = None) -> Figure | None:
    """Forgetting against training steps (log x): per learning rate the measured F with its 95% item-bootstrap CI,
    the fitted power law a (s / default)^b and its 95% band; vertical lines at the default's and the paper's steps
    per stage. ``dose``: cf_utils.dose_tables.read (forgetting, curve, fit)."""
    if dose is None or dose["fit"].empty:
        return None
    points, curve, fit = dose["forgetting"], dose["curve"], dose["fit"]
    fig = new_figure(8.5, 5.6)
    ax = fig.subplots()
    for colour, (_, r) in zip(palette(len(fit)), fit.iterrows(), strict=True):
        lr = r["lr"]
        label = f"lr {lr:g}" + (" (the width rule's, train.lr)" if r["width_rule"] else "")
        c, p = curve[curve["lr"] == lr], points[points["lr"] == lr]
        ax.fill_between(c["step"], c["f_low"], c["f_high"], color=colour, alpha=0.15, linewidth=0)
        ax.plot(c["step"], c["f"], "-", color=colour, linewidth=1.2,
                label=f"{label}: fit a = {r['a']:.2f}, b = {r['b']:.2f}")  # fmt: skip
        yerr = [np.maximum(p["f"] - p["f_low"], 0), np.maximum(p["f_high"] - p["f"], 0)]
        ax.errorbar(p["step"], p["f"], yerr=yerr, fmt="o", color=colour, capsize=3, markeredgecolor="black")
    first = fit.iloc[0]
    # The y range of the measured points and the fitted lines: a band that widens far beyond them (an
    # extrapolation the data cannot fix) is cut off here; the dose table gives its numbers.
    lo = min(points["f_low"].min(), curve["f"].min(), 0.0)
    hi = max(points["f_high"].max(), curve["f"].max(), 0.0)
    pad = 0.15 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvspan(first["max_steps"], curve["step"].max(), color="grey", alpha=0.07)
    for x, style, text in (
        (first["default_steps"], "--", f"default: {first['default_steps']:.0f} steps per stage"),
        (first["paper_steps"], ":", f"paper: ~{first['paper_steps']:,.0f} steps (extrapolated)"),
    ):
        ax.axvline(x, color="black", linestyle=style, linewidth=1)
        ax.annotate(text, (x, 0), xycoords=("data", "axes fraction"), xytext=(-3, 4), textcoords="offset points",
                    rotation=90, ha="right", va="bottom", fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    ax.set(xlabel="optimizer steps on stage 1's task (log scale; shaded: beyond the largest dose measured)",
           ylabel="forgetting F (%; mean relative drop, > 0 = forgotten)",
           title="Forgetting against dose (points: 95% item-bootstrap CI; bands: the fit's 95% CI)")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.14), frameon=False)
    fig.suptitle(f"Dose study on {model}" if model else "Dose study")
    save(fig, out_dir, "dose")
    return fig
