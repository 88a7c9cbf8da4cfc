"""The paper's seven claims, each with a verdict computed from the frames by a rule stated in its evidence.

Claims: Luo et al. 2023 (arXiv 2308.08747), sections 4-5. Units (models, pairs, tasks) that support a
claim are counted: all -> "holds", some -> "mixed", none -> "does not hold"; no unit -> "not measurable
at this scale". A verdict is never written by hand: the evidence lists the numbers and CIs it came
from. Claims 1-6 are about pretrained knowledge, so random-init ``tiny`` models do not count for them;
claim 7 (the new tasks are learned) counts every model. Claims 1-5 read the rows of plain sequential
tuning (the paper's setting), claim 6 compares ``replay`` with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cf_utils.models import get_spec
from cf_utils.report.bias import bias_direction, bias_metric
from cf_utils.report.cells import fg_cell, num
from cf_utils.report.frames import Frames, real, seq_rows, twin_pairs
from cf_utils.study import ABBR, GENERAL, SEQ, TASK_LABELS

REPLAY = "replay"  # the paper's mitigation (section 5.4): general instructions mixed into every stage
HOLDS, NOT_HOLD, MIXED, NOT_MEASURABLE = "holds", "does not hold", "mixed", "not measurable at this scale"
VERDICTS = (HOLDS, NOT_HOLD, MIXED, NOT_MEASURABLE)
CLAIM_COLUMNS = ["claim", "statement", "verdict", "evidence"]
STATEMENTS = {
    1: "General knowledge (domain knowledge, reasoning, reading comprehension) is forgotten, for every model.",
    2: "Forgetting grows with model scale within a family.",
    3: "Decoder-only models forget less than encoder-decoder models.",
    4: "General instruction tuning first (Alpaca vs LLaMA) reduces later forgetting.",
    5: "Bias decreases during continual instruction tuning.",
    6: "Mixing general instructions into continual training (replay) mitigates forgetting.",
    7: "Each new task's own metric improves after training on it.",
}


def describe(forgetting: pd.DataFrame, model: str, cats=GENERAL) -> str:
    """A model's FG [CI] per general category, for the evidence."""
    rows = forgetting[forgetting["model"] == model].set_index("category")
    return ", ".join(f"{ABBR[c]} {fg_cell(rows.loc[c])}" for c in cats if c in rows.index)


def mean_fg(forgetting: pd.DataFrame, model: str) -> float:
    """A model's FG averaged over the general categories (the pairwise claims compare these)."""
    return float(forgetting[(forgetting["model"] == model) & forgetting["category"].isin(GENERAL)]["fg"].mean())


def verdict(n_support: int, n_units: int) -> str:
    """All units support -> holds; some -> mixed; none -> does not hold; no unit -> not measurable."""
    if n_units == 0:
        return NOT_MEASURABLE
    return HOLDS if n_support == n_units else NOT_HOLD if n_support == 0 else MIXED


def above_zero(row) -> bool:
    return row["ci_low"] > 0 if pd.notna(row["ci_low"]) else row["fg"] > 0


def claim_forgetting(f: pd.DataFrame) -> tuple[str, str]:
    """Claim 1: a model forgets if FG's CI lies above 0 in at least 2 of the 3 general categories."""
    models = real(f["model"])
    parts, support = [], 0
    for m in models:
        rows = f[(f["model"] == m) & f["category"].isin(GENERAL)]
        k = sum(above_zero(r) for _, r in rows.iterrows())
        support += k >= 2
        parts.append(f"{m}: {describe(f, m)} ({k}/{len(rows)} above 0)")
    rule = (
        "Rule: a model forgets if the 95% CI of FG lies above 0 (the point estimate where no CI) in at least "
        "2 of the 3 general categories."
    )
    return verdict(support, len(models)), f"{rule} {support} of {len(models)} models forget. " + "; ".join(parts)


def size_groups(models: list[str]) -> dict[tuple, list[str]]:
    """Models by (family, instruction-tuned): the paper compares sizes within one such group."""
    groups: dict[tuple, list[str]] = {}
    for m in models:
        s = get_spec(m)
        groups.setdefault((s.family, s.instruction_tuned), []).append(m)
    return groups


def fg_by_size(f: pd.DataFrame, members: list[str], category: str) -> tuple[list[float], list[float]]:
    """The group's sizes (ascending) and the mean FG of its models of each size in ``category``."""
    sizes = sorted({get_spec(m).params_b for m in members})
    cat = f[f["category"] == category]
    of_size = {s: [m for m in members if get_spec(m).params_b == s] for s in sizes}
    return sizes, [cat[cat["model"].isin(of_size[s])]["fg"].mean() for s in sizes]


def across_families(f: pd.DataFrame, models: list[str]) -> str:
    """Where no family has two sizes: the mean general FG from the smallest to the largest model, as a side note."""
    if len({get_spec(m).params_b for m in models}) < 2:
        return ""
    ordered = sorted(models, key=lambda m: get_spec(m).params_b)
    return (
        " Side note across families (not the paper's comparison): mean general FG "
        + ", ".join(f"{m} {num(mean_fg(f, m))}" for m in ordered)
        + " (smallest to largest)."
    )


def claim_scale(f: pd.DataFrame) -> tuple[str, str]:
    """Claim 2: within each (family, tuned) with >= 2 sizes, FG rises at every size step, per general category."""
    models = real(f["model"])
    series = [
        (family, c, *fg_by_size(f, members, c))
        for (family, _), members in size_groups(models).items()
        if len({get_spec(m).params_b for m in members}) >= 2
        for c in GENERAL
    ]
    if not series:
        sizes = ", ".join(f"{m} ({get_spec(m).family}, {get_spec(m).params_b:g}B)" for m in models) or "none"
        side = across_families(f, models)
        return NOT_MEASURABLE, f"No family has two sizes among the pretrained models: {sizes}.{side}"
    support = sum(bool(np.all(np.diff(fgs) > 0)) for *_, fgs in series)
    parts = [
        f"{family} {ABBR[c]}: " + " -> ".join(f"{s:g}B {num(v)}" for s, v in zip(sizes, fgs, strict=True))
        for family, c, sizes, fgs in series
    ]
    return verdict(support, len(series)), (
        f"Rule: FG rises at every size step within a family (per general category): {support} of {len(series)} "
        "family-category series rise. " + "; ".join(parts)
    )


def pairs_claim(f: pd.DataFrame, pairs: list[tuple[str, str]], less: str, more: str, rule: str) -> tuple[str, str]:
    """Each pair (a, b): supports if a's mean general FG is below b's. ``less``/``more`` name the roles."""
    support, parts = 0, []
    for a, b in pairs:
        fa, fb = mean_fg(f, a), mean_fg(f, b)
        support += fa < fb
        parts.append(f"{a} ({less}) mean FG {num(fa)} ({describe(f, a)}) vs {b} ({more}) {num(fb)} ({describe(f, b)})")
    return verdict(support, len(pairs)), f"Rule: {rule} {support} of {len(pairs)} pairs. " + "; ".join(parts)


def claim_architecture(f: pd.DataFrame) -> tuple[str, str]:
    """Claim 3: each encoder-decoder model vs the decoder-only model nearest in size (log scale)."""
    models = real(f["model"])
    enc = [m for m in models if get_spec(m).arch == "seq2seq"]
    dec = [m for m in models if get_spec(m).arch == "causal"]
    if not enc or not dec:
        return NOT_MEASURABLE, (
            "Needs pretrained decoder-only and encoder-decoder models (random-init tiny models do not count); "
            f"decoder-only: {dec or 'none'}, encoder-decoder: {enc or 'none'}."
        )
    size = {m: np.log(get_spec(m).params_b) for m in models}
    pairs = [(min(dec, key=lambda d, e=e: abs(size[d] - size[e])), e) for e in enc]
    return pairs_claim(
        f,
        pairs,
        "decoder-only",
        "encoder-decoder",
        "the decoder-only model's mean FG over DK/Rs/RC is below that of the encoder-decoder model nearest in size:",
    )


def claim_instruction(f: pd.DataFrame) -> tuple[str, str]:
    """Claim 4: the instruction-tuned twin's mean general FG is below its base model's."""
    pairs = [(t, b) for b, t in twin_pairs(real(f["model"]))]
    if not pairs:
        return NOT_MEASURABLE, "No base model with its instruction-tuned twin (ModelSpec.base, or llama-7b/alpaca-7b)."
    return pairs_claim(
        f,
        pairs,
        "instruction-tuned",
        "base",
        "the instruction-tuned twin's mean FG over DK/Rs/RC is below its base model's:",
    )


def claim_bias(f: pd.DataFrame, metric: str | None) -> tuple[str, str]:
    """Claim 5: bias decreases (CrowS pct_stereotype falls; BBQ accuracy rises), the CI excluding no change."""
    bias = f[(f["category"] == "bias") & f["model"].isin(real(f["model"]))]
    if bias.empty or metric is None:
        return NOT_MEASURABLE, "No bias elements with a single direction (CrowS pct_stereotype or BBQ accuracy)."
    directions = [bias_direction(r, metric) for _, r in bias.iterrows()]
    support = directions.count("decreased")
    how = (
        "BBQ accuracy rises (FG < 0 with its CI below 0)"
        if metric == "acc"
        else "pct_stereotype falls (FG > 0 with its CI above 0)"
    )
    parts = [
        f"{r['model']}: {num(r['initial'])} -> {num(r['final'])}, FG {fg_cell(r)} ({d})"
        for (_, r), d in zip(bias.iterrows(), directions, strict=True)
    ]
    return verdict(support, len(bias)), (
        f"Rule: bias decreased for a model if {how}. {support} of {len(bias)} models. " + "; ".join(parts)
    )


def claim_replay(forgetting: pd.DataFrame) -> tuple[str, str]:
    """Claim 6: replay's mean general FG is below plain sequential tuning's, per model run with both."""
    f = forgetting[forgetting["model"].isin(real(forgetting["model"]))]
    models = [m for m, g in f.groupby("model", sort=False) if {SEQ, REPLAY} <= set(g["variant"])]
    if not models:
        return (
            NOT_MEASURABLE,
            f"No pretrained model was run with both seq and replay (variants: {sorted(set(f['variant']))}).",
        )
    support, parts = 0, []
    for m in models:
        seq, rep = (f[(f["model"] == m) & (f["variant"] == k)] for k in (SEQ, REPLAY))
        fs, fr = mean_fg(seq, m), mean_fg(rep, m)
        support += fr < fs
        parts.append(f"{m}: replay {num(fr)} ({describe(rep, m)}) vs seq {num(fs)} ({describe(seq, m)})")
    return verdict(support, len(models)), (
        f"Rule: replay's mean FG over DK/Rs/RC is below seq's. {support} of {len(models)} models. " + "; ".join(parts)
    )


def gains(chain: pd.DataFrame) -> str:
    """How many of a chain's tasks improved, and each task's metric before -> after its stage."""
    each = zip(chain["task"], chain["before"], chain["after"], strict=True)
    steps = ", ".join(f"{TASK_LABELS.get(t, t)} {num(b)}->{num(a)}" for t, b, a in each)
    return f"{int((chain['gain'] > 0).sum())}/{len(chain)} ({steps})"


def claim_new_tasks(new_task: pd.DataFrame | None) -> tuple[str, str]:
    """Claim 7: the task's own metric after its stage exceeds the one before (every model, incl. tiny ones)."""
    if new_task is None or new_task.dropna(subset=["gain"]).empty:
        return NOT_MEASURABLE, "No new-task scores before and after their stage."
    nt = new_task.dropna(subset=["gain"])
    parts = [f"{m} ({variant}): {gains(g)}" for (m, variant), g in nt.groupby(["model", "variant"], sort=False)]
    support = int((nt["gain"] > 0).sum())
    return verdict(support, len(nt)), (
        f"Rule: a task improves if its own metric after its stage exceeds the one before. {support} of {len(nt)} "
        "model-task stages improve. " + "; ".join(parts)
    )


def claims(frames: Frames) -> pd.DataFrame:
    """The paper's seven claims with a computed verdict and the evidence (numbers, CIs) behind it."""
    f = seq_rows(frames.forgetting)
    results = {
        1: claim_forgetting(f),
        2: claim_scale(f),
        3: claim_architecture(f),
        4: claim_instruction(f),
        5: claim_bias(f, bias_metric(frames.scores)),
        6: claim_replay(frames.forgetting),
        7: claim_new_tasks(frames.new_task),
    }
    if not real(frames.forgetting["model"]):
        note = "Only random-init tiny models: no pretrained knowledge to forget."
        results |= {k: (NOT_MEASURABLE, note) for k in range(1, 7)}
    rows = [(k, STATEMENTS[k], v, e) for k, (v, e) in results.items()]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
