"""The report's tables, in the layouts of the paper's Tables 3-6 (Luo et al. 2023, arXiv 2308.08747).

    write_tables(frames) -> figures/<profile>/tables/<name>.md|csv|tex

Each table is formatted for reading (numbers to 2 decimals, CIs as ``fg [lo, hi]``) and carries its
caption and footnote into every file, so a table copied into a paper says what FG means. FG is Eq. 1
of the paper; the CIs are the paired bootstrap of :mod:`cf_utils.stats`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cf_utils import comparisons, metrics, paths, power, task_metrics
from cf_utils.config import DataConfig
from cf_utils.report.bias import bias_direction, bias_footnote, bias_metric, bias_type_table
from cf_utils.report.cells import fg_cell, formatted, num, with_ci
from cf_utils.report.dose import dose_table
from cf_utils.report.frames import AT_FLOOR, Frames, without_cis
from cf_utils.report.mitigation import mitigation_table
from cf_utils.report.paper import paper_vs_ours
from cf_utils.report.roles import seq_rows, twin_pairs
from cf_utils.report.table_files import Table, write_table
from cf_utils.study import ABBR, BIAS, GENERAL

CI_NOTE = (
    "FG = Eq. 1 of the paper (%, mean relative drop over the 5 stages; > 0 = forgotten); [95% paired bootstrap CI]."
)
BIAS_COLUMNS = ["model", "variant", "metric", "initial", "final", "FG [95% CI]", BIAS]
POWER_NOTE = (
    "MDE = the minimal detectable FG: the smallest true FG a two-sided 5% test finds with 80% power, from each "
    "element's item count, initial score and flip rate (cf_utils/metrics.py, minimal_detectable_fg); half-width = "
    "half the achieved 95% CI. A unit whose MDE exceeds the paper's FG cannot show the paper's effect. The CIs "
    "cover the sampling of benchmark items only, not training-seed variance: one training run per chain."
)
SECONDARY_NOTE = (
    "FG (Eq. 1) is the primary measure, over every element. Sensitivity: FG over the elements whose initial score's "
    "95% CI clears their chance level (an element at chance has nothing to forget). Margin drop: the gold answer's "
    "log-likelihood margin over the best wrong choice at stage 0 minus at stages 1-5, averaged (nats; > 0 = the "
    "model moved away from the gold answers even where its argmax answer did not change), with its 95% CI."
)
COMPARISON_NOTE = (
    "a = the chain the claim says forgets less, b = the other; difference = FG(a) - FG(b) with its 95% paired "
    "bootstrap CI (the same resampled items for both chains). p-values are Holm-adjusted within each claim; a "
    f"comparison's state is '{comparisons.B_MORE}' (supports the claim) or '{comparisons.A_MORE}' (contradicts it) "
    f"where the Holm-adjusted p is below {comparisons.ALPHA:g}, else inconclusive."
)


def category_wide(forgetting: pd.DataFrame, cats=GENERAL) -> pd.DataFrame:
    """One row per (model, variant); per category initial / final / FG [95% CI] (the paper's Table 4 layout)."""
    rows = []
    for (model, variant), g in forgetting.groupby(["model", "variant"], sort=False):
        g = g.set_index("category")
        row = {"model": model, "variant": variant}
        for c in (c for c in cats if c in g.index):
            row |= {
                f"{ABBR[c]} initial": num(g.loc[c, "initial"]),
                f"{ABBR[c]} final": num(g.loc[c, "final"]),
                f"{ABBR[c]} FG [95% CI]": fg_cell(g.loc[c]),
            }
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.drop(columns="variant") if out.empty or out["variant"].nunique() == 1 else out


def table5(frames: Frames) -> pd.DataFrame:
    """Bias category per model: initial, final, FG [CI] and the direction of the change."""
    metric = bias_metric(frames.scores)
    bias = frames.forgetting[frames.forgetting["category"] == BIAS]
    rows = [
        (r["model"], r["variant"], metric or "mixed", num(r["initial"]), num(r["final"]), fg_cell(r),
         bias_direction(r, metric))
        for _, r in bias.iterrows()
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=BIAS_COLUMNS)


def table6(frames: Frames) -> pd.DataFrame:
    """Base model vs its instruction-tuned twin: per category initial / final / FG [CI] (the paper's Table 6)."""
    f = seq_rows(frames.forgetting)
    parts = []
    for base, tuned in twin_pairs(f["model"]):
        wide = category_wide(f[f["model"].isin([base, tuned])]).drop(columns="variant", errors="ignore")
        wide.insert(1, "role", np.where(wide["model"] == base, "base", f"instruction-tuned twin of {base}"))
        parts.append(wide.sort_values("role"))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", "role"])


def elements_table(elements: pd.DataFrame) -> pd.DataFrame:
    """Per element: chance level, majority baseline, initial [CI], final, FG [CI], final drop [CI], the floor flag."""
    out = elements[["model", "variant", "category", "benchmark", "metric", "chance", "majority"]].copy()
    out["initial [95% CI]"] = [with_ci(*v) for v in elements[["initial", "initial_low", "initial_high"]].to_numpy()]
    out["final"] = elements["final"]
    out["FG [95% CI]"] = [with_ci(*v) for v in elements[["fg", "fg_low", "fg_high"]].to_numpy()]
    drops = elements[["final_drop", "final_drop_low", "final_drop_high"]].to_numpy()
    out["final drop [95% CI]"] = [with_ci(*v) for v in drops]
    out["floor"] = elements["floor"]
    return formatted(out)


def above_floor(frames: Frames) -> pd.DataFrame | None:
    """``frames.items`` without the elements at their floor (frames.AT_FLOOR): the items the categories' FG counts."""
    items, elements = frames.items, frames.elements
    if items is None or elements is None or "floor" not in elements:
        return items
    low = pd.MultiIndex.from_frame(elements.loc[elements["floor"] == AT_FLOOR, ["model", "variant", "benchmark"]])
    return items[~pd.MultiIndex.from_frame(items[["model", "variant", "benchmark"]]).isin(low)]


def flips_table(frames: Frames) -> pd.DataFrame:
    """metrics.flip_table for a reader: per model, variant, category and stage, the forgotten / learned split over
    the elements above their floor (those the category's FG counts)."""
    flips = metrics.flip_table(above_floor(frames))
    out = flips[["model", "variant", "category", "stage", "items"]].copy()
    for col, label in (("forgotten", "forgotten %"), ("learned", "learned %"), ("net", "net %")):
        out[label] = flips[col].map(num)
    out["flip rate"] = flips["flip_rate"].map(lambda v: f"{v:.3f}")
    return out


def flips_note(frames: Frames) -> str:
    """The flips table's footnote, with the flip rate the power calculation assumed beside the measured ones."""
    assumed = ((frames.manifest or {}).get("config") or {}).get("data", {}).get("assumed_flip_rate")
    said = f" The power calculation assumed a flip rate of {assumed:g} (data.assumed_flip_rate)." if assumed else ""
    return (
        "Beyond the paper, from items.csv, over the elements above their floor (those the FG counts): forgotten = "
        "the share of the category's items right at stage 0 and "
        "wrong after the stage, learned = wrong at stage 0 and right after; net = forgotten - learned (the "
        "points FG turns into a relative drop); flip rate = forgotten + learned." + said
    )


def assumptions_table(frames: Frames) -> pd.DataFrame:
    """Per general element: the stage-0 score and flip rate the item allocation assumed (the pilot's, its flip
    rate x power.FLIP_GROWTH; or the config's stated ones) beside those the run measured."""
    measured = metrics.element_flips(frames.items)
    data = ((frames.manifest or {}).get("config") or {}).get("data") or {}
    if measured.empty or not data:
        return pd.DataFrame(columns=["model", "variant", "element", "items"])
    names = list(dict.fromkeys(measured["benchmark"]))
    known = {k: v for k, v in data.items() if k in DataConfig.__dataclass_fields__}  # an older run: its own keys
    initial, flip = power.assumptions(DataConfig(**known), names)
    pilot = set(data.get("pilot_flip_rate") or {})
    return pd.DataFrame({
        "model": measured["model"], "variant": measured["variant"], "element": measured["benchmark"],
        "items": measured["items"],
        "basis": ["pilot" if b in pilot else "stated" for b in measured["benchmark"]],
        "initial assumed": [num(initial[b]) for b in measured["benchmark"]],
        "initial measured": measured["initial"].map(num),
        "flip rate assumed": [f"{flip[b]:.3f}" for b in measured["benchmark"]],
        "flip rate measured": measured["flip_rate"].map(lambda v: f"{v:.3f}"),
    })  # fmt: skip


ASSUMPTIONS_NOTE = (
    "The allocation of items (cf_utils/power.py) assumed each element's stage-0 score and flip rate before the run: "
    "a pilot's on items set apart from these (its one-stage flip rate x "
    f"{power.FLIP_GROWTH:g} for the average over five stages), or the config's stated values. Measured: the same "
    "quantities in this run (flip rate = the share of items whose outcome differs from stage 0, averaged over "
    "stages 1-5). A measured flip rate above the assumed one widens the CI beyond the plan's half-width."
)


def power_table(forgetting: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, category): FG [CI], the CI's half-width beside the minimal detectable FG, the state."""
    half = (forgetting["ci_high"] - forgetting["ci_low"]) / 2
    return pd.DataFrame({
        "model": forgetting["model"], "variant": forgetting["variant"], "category": forgetting["category"],
        "FG [95% CI]": [fg_cell(r) for _, r in forgetting.iterrows()], "CI half-width": half.map(num),
        "MDE (80% power)": forgetting["mde"].map(num), "paper's smallest ~1B FG": forgetting["paper_smallest"].map(num),
        "state": forgetting["state"],
    })  # fmt: skip


def secondary_table(forgetting: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, category): primary FG [CI], the sensitivity FG over elements above chance, and the
    log-likelihood margin drop [CI]."""
    margins = forgetting[["margin_drop", "margin_low", "margin_high"]].to_numpy()
    return pd.DataFrame({
        "model": forgetting["model"], "variant": forgetting["variant"], "category": forgetting["category"],
        "FG (Eq. 1) [95% CI]": [fg_cell(r) for _, r in forgetting.iterrows()],
        "FG, elements above chance": forgetting["fg_above_chance"].map(num),
        "elements above chance": forgetting["elements_above_chance"].fillna("").replace("", "–"),
        "margin drop, nats [95% CI]": [with_ci(*v) for v in margins],
    })  # fmt: skip


TRAINING_NOTE = (
    "Per trained stage, what the forgetting literature ties forgetting to (Kalajdzievski 2024: forgetting grows "
    "with tuned parameters x steps; Biderman et al. 2024: LoRA learns less and forgets less): optimizer steps, "
    "tokens, the task loss at the stage's start and end (means over its first and last tenth of steps) and the "
    "L2 distance the trainable weights moved from the previous stage's (the adapter's weights under (Q)LoRA; "
    "relative = over the previous weights' norm). From each stage's metrics.json."
)


def training_table(training: pd.DataFrame | None) -> pd.DataFrame:
    """One row per trained stage: method, steps, tokens, task loss start / end / drop, weight distance moved."""
    columns = ["model", "variant", "method", "stage", "task", "epochs", "steps", "tokens", "loss_start", "loss_end",
               "loss_drop", "weight_distance", "relative_distance"]  # fmt: skip
    t = or_empty(training, columns).reindex(columns=columns)  # no stage trained (hand-made frames): no rows
    return pd.DataFrame({
        "model": t["model"], "variant": t["variant"], "method": t["method"], "stage": t["stage"], "task": t["task"],
        "epochs": t["epochs"], "steps": t["steps"], "tokens": t["tokens"], "loss start": t["loss_start"].map(num),
        "loss end": t["loss_end"].map(num), "loss drop": t["loss_drop"].map(num),
        "distance moved": t["weight_distance"].map(num), "relative distance": t["relative_distance"].map(_sci),
    })  # fmt: skip


def _sci(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{x:.2e}"


def comparison_table(table: pd.DataFrame | None) -> pd.DataFrame:
    """The comparative claims' paired comparisons: FG of a and b, difference [CI], the difference detectable with
    80% power in the claim's family, p, Holm p, state."""
    t = or_empty(table, comparisons.COMPARISON_COLUMNS)
    return pd.DataFrame({
        "claim": t["claim"], "a": t["a"], "b": t["b"], "category": t["category"], "FG a": t["fg_a"].map(num),
        "FG b": t["fg_b"].map(num),
        "difference [95% CI]": [with_ci(*v) for v in t[["difference", "ci_low", "ci_high"]].to_numpy()],
        "detectable (80%)": t["detectable"].map(num), "p": t["p"].map(num),
        "Holm p": t["p_holm"].map(num), "state": t["state"],
    })  # fmt: skip


def or_empty(frame: pd.DataFrame | None, columns) -> pd.DataFrame:
    return frame if frame is not None else pd.DataFrame(columns=columns)


def tables(frames: Frames) -> dict[str, Table]:
    """Every table of the report, formatted (numbers to 2 decimals, CIs as ``fg [lo, hi]``)."""
    # Frames built by hand (tests, a notebook) may lack the derived frames: compute them, CIs unknown.
    elements = frames.elements if frames.elements is not None else without_cis(metrics.element_table(frames.scores))
    pairs = twin_pairs(frames.forgetting["model"])
    out = [
        Table("table4_forgetting", "Table 4: forgetting by category (initial, final %, FG %)",
              category_wide(frames.forgetting), CI_NOTE),
        Table("table5_bias", "Table 5: bias category (initial, final %, FG %)", table5(frames),
              f"{bias_footnote(bias_metric(frames.scores))} {CI_NOTE}"),
        Table("bias_types", "CrowS-Pairs pct_stereotype per bias type and pooled, at stage 0 and after the last "
              "stage", bias_type_table(frames.items),
              "pct_stereotype: the share of pairs whose more stereotypical sentence gets the higher log-likelihood "
              "(50 = no preference). Distance from 50 beside it: a model below 50 prefers the anti-stereotypical "
              "sentence, which is a bias of its own, not less bias."),
        Table("table6_general_instruction", "Table 6: base model vs its instruction-tuned twin (variant seq)",
              table6(frames), CI_NOTE if pairs else "No base model with its instruction-tuned twin in this profile."),
        Table("table3_new_task", "Table 3: each task's own metric before / after its stage and after stage 5",
              formatted(or_empty(frames.new_task, task_metrics.NEW_TASK_COLUMNS)),
              "gain = after - before; retained = final - after (metric points)."),
        Table("comparisons", "Paired comparisons of the comparative claims (2, 3, 4, 6)",
              comparison_table(frames.comparisons), COMPARISON_NOTE),
        Table("power", "Power: the minimal detectable FG beside the achieved CI, per model and category",
              power_table(frames.forgetting), POWER_NOTE),
        Table("flips", "Forgotten and learned items per category and stage (beyond the paper)", flips_table(frames),
              flips_note(frames)),
        Table("assumptions", "Power assumptions beside the run: each element's stage-0 score and flip rate",
              assumptions_table(frames), ASSUMPTIONS_NOTE),
        Table("training", "Training per stage: steps, tokens, task loss, distance moved",
              training_table(frames.training), TRAINING_NOTE),
        Table("secondary", "Sensitivity and secondary measure: FG over the elements above chance, "
              "log-likelihood margin drop", secondary_table(frames.forgetting), SECONDARY_NOTE),
        Table("elements", "Every element: chance level, majority baseline, initial, final, FG and final drop with "
              "95% CIs", elements_table(elements),
              f"{CI_NOTE} Chance = the mean over items of 1 / number of choices (50 for a sentence pair); majority = "
              f"the score of always giving the most frequent gold answer (data manifest). Floor: the initial score is "
              f"within {metrics.FLOOR_MARGIN:g} points of chance or below the majority baseline, so the element "
              "cannot show forgetting for this model: it is shown here but left out of its category's FG, CI and "
              "verdict (the forgetting table's fg_all keeps it, as the paper's Eq. 1 would)."),
        Table("transfer", "Backward transfer and forgetting on the continual tasks themselves",
              formatted(or_empty(frames.transfer, task_metrics.TRANSFER_COLUMNS)),
              "BWT (Lopez-Paz & Ranzato 2017; < 0 = earlier tasks forgotten) and forgetting (Chaudhry et al. 2018), "
              "in metric points over tasks 1-4."),
        Table("paper_vs_ours", "The paper's numbers beside ours (difference = ours - paper)",
              formatted(paper_vs_ours(frames)),
              f"Paper numbers: {paths.PAPER_NUMBERS.relative_to(paths.ROOT).as_posix()} (source_quality as "
              "transcribed)."),
        *([mitigation_table(*frames.mitigations)] if frames.mitigations is not None else []),
        *([dose_table(frames.dose)] if frames.dose is not None else []),
    ]  # fmt: skip
    return {t.name: t for t in out}


def write_tables(frames: Frames) -> dict[str, Table]:
    """:func:`tables`, each written as .md, .csv and .tex into ``figures/<profile>/tables/``."""
    return {name: write_table(t, paths.tables_dir(frames.profile)) for name, t in tables(frames).items()}
