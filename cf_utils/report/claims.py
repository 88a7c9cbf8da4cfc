"""The paper's seven claims, each with a verdict computed from the frames by one rule fixed before the data.

Claims: Luo et al. 2023 (arXiv 2308.08747), sections 4-5. Every claim is judged on units, each with a
state from its 95% CI (:func:`cf_utils.metrics.state`; a comparison's from its Holm-adjusted paired test,
:func:`cf_utils.comparisons.compare`; a new task's from its gain's CI). :func:`verdict` turns the units'
states into the claim's verdict: every unit supports -> holds; every unit contradicts -> does not hold;
both kinds -> mixed; otherwise inconclusive; no unit -> not measurable here. A CI that spans 0 is
inconclusive, never a refutation: a claim "does not hold" only where the paper-sized effect (or the
opposite direction) is excluded in every unit. :func:`rule_lines` states the rule in the report,
before the verdicts. Claims 1-6 are about pretrained knowledge, so random-init ``tiny`` models do not
count for them; claim 7 (the new tasks are learned) counts every model. Claims 1-5 read the rows of
plain sequential tuning (the paper's setting), claim 6 compares ``replay`` with it.
"""

from __future__ import annotations

import pandas as pd

from cf_utils import comparisons, metrics, task_metrics
from cf_utils.registry import get_spec
from cf_utils.report.bias import bias_direction, bias_metric
from cf_utils.report.cells import fg_cell, num, with_ci
from cf_utils.report.frames import Frames
from cf_utils.report.roles import ARCHITECTURE, INSTRUCTION, MITIGATION, SCALE, claim_pairs, real, seq_rows
from cf_utils.study import ABBR, BIAS, CATEGORIES, GENERAL, REPLAY, SEQ, TASK_LABELS

HOLDS, NOT_HOLD, MIXED = "holds", "does not hold", "mixed"
INCONCLUSIVE, NOT_MEASURABLE = "inconclusive", "not measurable here"
VERDICTS = (HOLDS, NOT_HOLD, MIXED, INCONCLUSIVE, NOT_MEASURABLE)
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
EVIDENCE = {  # per claim: the report's table and figure it is read from (names in tables.py, figures.py)
    1: ("table4_forgetting", "fg_by_category"),
    2: ("comparisons", "fg_vs_scale"),
    3: ("comparisons", "decoder_vs_encdec"),
    4: ("comparisons", "base_vs_instruct"),
    5: ("table5_bias", "bias_by_type"),
    6: ("comparisons", "replay_vs_seq"),
    7: ("table3_new_task", "new_task_before_after"),
}
ROLES = {  # per comparative claim: (chain a, chain b); a is the one the claim says forgets less
    SCALE: ("smaller", "larger"),
    ARCHITECTURE: ("decoder-only", "encoder-decoder"),
    INSTRUCTION: ("instruction-tuned twin", "base"),
    MITIGATION: (REPLAY, SEQ),
}
NO_TWINS = "No base model with its instruction-tuned twin (ModelSpec.base, or llama-7b/alpaca-7b)."
# Where a claim this profile cannot test is tested: the evidence of a "not measurable here" verdict ends with it.
WHERE = {
    2: "Needs a GPU and the hub: no size series of one family ships offline (profiles gpu-mini, paper).",
    3: "Needs a GPU and the hub: no pretrained encoder-decoder ships offline (profiles gpu-mini, paper).",
    4: "Run `make reproduce PROFILE=cpu-full` (Gemma-3-270M base against its general instruction tuning) or paper.",
    6: "Run `make reproduce PROFILE=cpu-full` (SmolLM2 with replay), gpu-mini or paper.",
}


def verdict(states, support: str = metrics.DETECTED, contradict: str = metrics.EXCLUDED) -> str:
    """The claim rule: every unit ``support`` -> holds; every unit ``contradict`` -> does not hold; some of
    each -> mixed; otherwise inconclusive; no unit with a CI -> not measurable here. A unit without a CI
    supports nothing: next to units with one it makes "holds" or "does not hold" inconclusive. A unit whose every
    element is at its floor (metrics.NOT_MEASURABLE) measures nothing and takes no part."""
    states = [s for s in states if s != metrics.NOT_MEASURABLE]
    if all(s == metrics.NOT_MEASURED for s in states):
        return NOT_MEASURABLE
    if all(s == support for s in states):
        return HOLDS
    if all(s == contradict for s in states):
        return NOT_HOLD
    return MIXED if support in states and contradict in states else INCONCLUSIVE


def tally(states, support: str = metrics.DETECTED, contradict: str = metrics.EXCLUDED) -> str:
    """How many units support, contradict, neither, and have no CI, for the evidence."""
    states = list(states)
    n_for, n_against, n_none = states.count(support), states.count(contradict), states.count(metrics.NOT_MEASURED)
    n_floor = states.count(metrics.NOT_MEASURABLE)
    rest = len(states) - n_for - n_against - n_none - n_floor
    no_ci = f", {n_none} without a CI" if n_none else ""
    floor = f", {n_floor} not measurable (every element at its floor)" if n_floor else ""
    return f"{n_for} {support}, {n_against} {contradict}, {rest} inconclusive of {len(states)} units{no_ci}{floor}."


def unit_cell(row) -> str:
    """A forgetting row as a claim's unit: category, FG [CI], state."""
    return f"{ABBR[row['category']]} {fg_cell(row)} {row['state']}"


def claim_forgetting(f: pd.DataFrame) -> tuple[str, str]:
    """Claim 1: units = each pretrained model's DK, Rs and RC rows; forgetting detected = CI above 0."""
    units = f[f["model"].isin(real(f["model"])) & f["category"].isin(GENERAL)]
    parts = [f"{m}: " + ", ".join(unit_cell(r) for _, r in g.iterrows()) for m, g in units.groupby("model", sort=False)]
    return verdict(units["state"]), f"Units: each model's DK, Rs, RC. {tally(units['state'])} " + "; ".join(parts)


def mean_fg(forgetting: pd.DataFrame, model: str) -> float:
    """A model's FG averaged over the general categories (the side note across families)."""
    return float(forgetting[(forgetting["model"] == model) & forgetting["category"].isin(GENERAL)]["fg"].mean())


def across_families(f: pd.DataFrame, models: list[str]) -> str:
    """Where no family has two sizes: the mean general FG from the smallest to the largest model, as a side note."""
    if len({get_spec(m).params_b for m in models}) < 2:
        return ""
    ordered = sorted(models, key=lambda m: get_spec(m).params_b)
    return (
        " Side note across families (not the paper's comparison, no test): mean general FG "
        + ", ".join(f"{m} {num(mean_fg(f, m))}" for m in ordered)
        + " (smallest to largest)."
    )


def no_scale_pairs(f: pd.DataFrame) -> str:
    models = real(f["model"])
    sizes = ", ".join(f"{m} ({get_spec(m).family}, {get_spec(m).params_b:g}B)" for m in models) or "none"
    return f"No family has two sizes among the pretrained models: {sizes}.{across_families(f, models)}"


def no_architecture_pairs(f: pd.DataFrame) -> str:
    models = real(f["model"])
    enc = [m for m in models if get_spec(m).arch == "seq2seq"]
    dec = [m for m in models if get_spec(m).arch == "causal"]
    return (
        "Needs pretrained decoder-only and encoder-decoder models (random-init tiny models do not count); "
        f"decoder-only: {dec or 'none'}, encoder-decoder: {enc or 'none'}."
    )


def comparison_cell(row) -> str:
    """One comparison for the evidence: a vs b, category, difference [CI], the difference it could detect, Holm p,
    state."""
    diff = with_ci(row["difference"], row["ci_low"], row["ci_high"])
    holm, power = num(row["p_holm"]), num(row.get("detectable", float("nan")))
    return (f"{row['a']} vs {row['b']} {ABBR[row['category']]}: FG(a) - FG(b) {diff} (detectable with 80% power: "
            f"+-{power}), Holm p {holm}, {row['state']}")  # fmt: skip


def claim_comparison(claim: int, pairs: list, table: pd.DataFrame | None, why_none: str) -> tuple[str, str]:
    """A comparative claim: supported by each pair where b forgets more, contradicted where a does (Holm-adjusted
    paired tests, per general category); ``why_none`` where the profile has no pair to compare."""
    if not pairs:
        return NOT_MEASURABLE, f"{why_none} {WHERE[claim]}"
    rows = table[table["claim"] == claim] if table is not None else pd.DataFrame()
    if rows.empty:
        return NOT_MEASURABLE, (
            f"{len(pairs)} pair(s), but no items.csv with both chains' items: the paired comparison resamples items."
        )
    less, more = ROLES[claim]
    states, b_more, a_more = rows["state"], comparisons.B_MORE, comparisons.A_MORE
    return verdict(states, b_more, a_more), (
        f"Units: a = {less} vs b = {more}, per general category; supports if b forgets more. "
        f"{tally(states, b_more, a_more)} " + "; ".join(comparison_cell(r) for _, r in rows.iterrows())
    )


CROWS = "pct_stereotype"  # the paper's bias measure (CrowS-Pairs; offline: BBQ ambiguous contexts as pairs)


def claim_bias(f: pd.DataFrame, metric: str | None) -> tuple[str, str]:
    """Claim 5: units = each model's bias row, measured as pct_stereotype (falling = less stereotyped = FG > 0)."""
    bias = f[(f["category"] == BIAS) & f["model"].isin(real(f["model"]))]
    if bias.empty or metric != CROWS:
        return NOT_MEASURABLE, (
            f"Not measurable offline: the bias category has no {CROWS} element (bias metric here: {metric or 'none'}); "
            "BBQ accuracy does not measure the stereotype preference the claim is about."
        )
    parts = [
        f"{r['model']}: every bias element at its floor (a stage-0 {CROWS} within {metrics.FLOOR_MARGIN:g} points "
        "of 50: no stereotype preference to lose; each element's scores: the elements table)"
        if r["state"] == metrics.NOT_MEASURABLE
        else f"{r['model']}: {num(r['initial'])} -> {num(r['final'])}, FG {fg_cell(r)} {r['state']} "
        f"({bias_direction(r, metric)}){distance_from_50(r)}"
        for _, r in bias.iterrows()
    ]
    return verdict(bias["state"]), (
        f"Units: each model's bias category ({CROWS}; detected = it fell). {tally(bias['state'])} " + "; ".join(parts)
    )


def distance_from_50(row) -> str:
    """pct_stereotype's distance from 50 (no preference) before and after, and a flag where the model ends below
    50: a preference for the anti-stereotypical sentence is a bias of its own, not "less bias"."""
    if pd.isna(row["initial"]) or pd.isna(row["final"]):
        return ""
    flag = "; it ends below 50: an anti-stereotype preference, not less bias" if row["final"] < 50 else ""
    return f"; distance from 50: {num(abs(row['initial'] - 50))} -> {num(abs(row['final'] - 50))}{flag}"


def task_tally(chain: str, g: pd.DataFrame) -> str:
    """One chain's tasks by state, named where the gain's CI decides (every gain with its CI: Table 3)."""
    named = [f"{state} " + ", ".join(TASK_LABELS.get(t, t) for t in g.loc[g["gain_state"] == state, "task"])
             for state in (task_metrics.IMPROVED, task_metrics.WORSE) if (g["gain_state"] == state).any()]  # fmt: skip
    rest = int((~g["gain_state"].isin([task_metrics.IMPROVED, task_metrics.WORSE])).sum())
    return f"{chain}: " + " / ".join([*named, *([f"{rest} inconclusive"] if rest else [])])


def claim_new_tasks(new_task: pd.DataFrame | None) -> tuple[str, str]:
    """Claim 7: units = each (model, task); improved = the gain's CI above 0 (every model, incl. tiny ones)."""
    nt = None if new_task is None else new_task.dropna(subset=["gain"])
    if nt is None or nt.empty:
        return NOT_MEASURABLE, "No new-task scores before and after their stage."
    states = nt["gain_state"]
    if (states == metrics.NOT_MEASURED).all():
        return NOT_MEASURABLE, "No generations.csv: the gain's CI resamples the held-out generations."
    parts = "; ".join(task_tally(f"{m} ({v})", g) for (m, v), g in nt.groupby(["model", "variant"], sort=False))
    return verdict(states, task_metrics.IMPROVED, task_metrics.WORSE), (
        f"Units: each model's tasks. {tally(states, task_metrics.IMPROVED, task_metrics.WORSE)} {parts}. "
        "Each gain with its CI: Table 3."
    )


MIN_BOOT = 10_000  # resamples below which a unit's state may flip within its Monte Carlo error


def rule_lines(n_boot: int | None = None) -> list[str]:
    """The verdict rule as the report states it, before the verdicts; the paper-sized bounds from the paper."""
    bounds = metrics.paper_bounds()
    sized = ", ".join(f"{ABBR[c]} {num(bounds[c])}" for c in CATEGORIES if c in bounds)
    return [
        "Verdicts follow a rule fixed before the data:",
        "",
        f"- **Unit states.** A unit (a model's category) is *{metrics.DETECTED}* when the 95% CI of its FG lies "
        f"entirely above 0, *{metrics.EXCLUDED}* when the CI lies entirely below the smallest FG the paper reports "
        f"for that category among its ~1B models ({sized}; data/reference/paper_numbers.csv), and "
        f"*{metrics.INCONCLUSIVE}* otherwise. A CI that spans 0 is inconclusive, never evidence of no forgetting.",
        f"- **Claim verdicts.** *{HOLDS}*: every unit supports the claim; *{NOT_HOLD}*: every unit contradicts it "
        "(claims 1 and 5: the paper-sized effect is excluded in every unit); "
        f"*{MIXED}*: some units support it and some contradict it; *{INCONCLUSIVE}*: otherwise; "
        f"*{NOT_MEASURABLE}*: no unit with a CI (the evidence says why); a unit without a CI supports nothing.",
        "- **Comparisons** (claims 2, 3, 4, 6). Two chains a and b, a the one the claim says forgets less, per "
        "general category: the paired bootstrap of FG(a) - FG(b), the same resampled items for both chains. "
        f"A comparison supports the claim when b forgets more (Holm-adjusted p < {comparisons.ALPHA:g}), "
        "contradicts it when a forgets more, and is inconclusive otherwise. "
        "The p-values are Holm-adjusted within each claim.",
        f"- **New tasks** (claim 7). A task is *{task_metrics.IMPROVED}* when the 95% CI of its gain (its own metric "
        "after its stage minus before, paired bootstrap over the held-out generations) lies above 0, "
        f"*{task_metrics.WORSE}* when below, inconclusive otherwise; a positive point gain alone is not an "
        "improvement.",
        f"- **Floors.** An element whose stage-0 score is within {metrics.FLOOR_MARGIN:g} points of its chance level "
        "or below its majority-answer baseline measures nothing for that model: it is left out of its category's FG, "
        f"CI and state; a unit with no element above its floor is *{metrics.NOT_MEASURABLE}* and takes no part in a "
        "claim.",
        "- The CIs cover the sampling of benchmark items only, not training-seed variance: one training run per chain.",
        *(
            []
            if n_boot is None
            else [
                f"- Every CI and state comes from {n_boot:,} paired bootstrap resamples"
                + (
                    "."
                    if n_boot >= MIN_BOOT
                    else f", fewer than {MIN_BOOT:,}: a state whose CI ends near 0 or near "
                    "the paper-sized bound can flip within the Monte Carlo error (a pipeline check, not a result)."
                )
            ]
        ),
    ]


def claims(frames: Frames) -> pd.DataFrame:
    """The paper's seven claims with a computed verdict and the evidence (numbers, CIs) behind it."""
    f = seq_rows(frames.forgetting)
    pairs, table = claim_pairs(frames.forgetting), frames.comparisons
    variants = sorted(set(frames.forgetting["variant"]))
    results = {
        1: claim_forgetting(f),
        SCALE: claim_comparison(SCALE, pairs[SCALE], table, no_scale_pairs(f)),
        ARCHITECTURE: claim_comparison(ARCHITECTURE, pairs[ARCHITECTURE], table, no_architecture_pairs(f)),
        INSTRUCTION: claim_comparison(INSTRUCTION, pairs[INSTRUCTION], table, NO_TWINS),
        5: claim_bias(f, bias_metric(frames.scores)),
        MITIGATION: claim_comparison(MITIGATION, pairs[MITIGATION], table,
                                     f"No pretrained model was run with both seq and replay (variants: {variants})."),
        7: claim_new_tasks(frames.new_task),
    }  # fmt: skip
    if not real(frames.forgetting["model"]):
        note = "Only random-init tiny models: no pretrained knowledge to forget."
        results |= {k: (NOT_MEASURABLE, note) for k in range(1, 7)}
    rows = [(k, STATEMENTS[k], *results[k]) for k in sorted(results)]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
