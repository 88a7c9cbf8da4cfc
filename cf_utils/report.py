"""Tables, the paper-vs-ours comparison, claim verdicts and the report of a profile.

    build(profile) -> artifacts/<profile>/report.md (+ report.html)

runs every step: ``forgetting.csv`` (:func:`cf_utils.metrics.write_forgetting`), the figures
(:mod:`cf_utils.plots`) in ``figures/<profile>/``, the tables in ``figures/<profile>/tables/``
(Markdown, CSV, LaTeX), and the report. Each step is a function the notebook ``04_figures`` calls.

Claims are the seven of Luo et al. 2023 (arXiv 2308.08747); each verdict is computed from the
frames by a rule stated in its evidence, never written by hand. Units (models, pairs, tasks) that
support the claim are counted: all -> "holds", some -> "mixed", none -> "does not hold"; no unit
-> "not measurable at this scale". Claims 1-6 are about pretrained knowledge: random-init ``tiny``
models do not count for them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import mistune
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cf_utils import metrics, mitigation_study, paths, plots
from cf_utils.io import atomic_write_text
from cf_utils.models import get_spec
from cf_utils.study import ABBR, CATEGORY_LABELS, GENERAL, TASK_LABELS, TASKS

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
TWINS = (("llama-7b", "alpaca-7b"),)  # hub pairs (base, instruction-tuned) not linked by ModelSpec.base
PAPER_NAME = {  # our registry name -> the paper's table name (hub profiles: the same model)
    "bloomz-1b1": "bloomz-1.1b",
    "bloomz-1b7": "bloomz-1.7b",
    "bloomz-3b": "bloomz-3b",
    "bloomz-7b1": "bloomz-7.1b",
    "mt0-large": "mt0-1.2b",
    "mt0-xl": "mt0-3.7b",
    "llama-7b": "llama-7b",
    "alpaca-7b": "alpaca-7b",
    "bloom-7b1": "bloom-7.1b",
}
PAPER_VS_OURS_COLUMNS = [
    "table",
    "category",
    "quantity",
    "model",
    "paper_model",
    "match",
    "paper",
    "ours",
    "difference",
    "source_quality",
    "note",
]
DEVIATIONS = [
    "Training: LoRA / QLoRA adapters instead of the paper's full fine-tuning (LoRA is known to forget less; "
    "Biderman et al., TMLR 2024), and far fewer training examples per stage than the paper's 100k.",
    "Benchmarks (offline profiles): BIG-bench stand-ins instead of MMLU, BoolQ, PIQA, Winogrande, HellaSwag, "
    "MathQA, MuTual and RACE; absolute score levels are not comparable with the paper's.",
    "Bias (offline profiles): BBQ accuracy instead of CrowS-Pairs pct_stereotype; higher BBQ accuracy means less "
    "biased, so its FG sign reads the other way round.",
    "Scale (cpu profile): 0.1-0.3B models instead of 1-7B; one model per family, so claim 2 (scale) cannot be "
    "tested, and no pretrained encoder-decoder ships offline (claim 3).",
    "General instruction tuning: our Alpaca analogue (Gemma-3-270M + Natural-Instructions subtasks) stands in for "
    "Alpaca-7B (LLaMA-7B + Alpaca 52k).",
]


@dataclass
class Frames:
    """Everything a profile's report is computed from (see :func:`load_frames`)."""

    profile: str
    scores: pd.DataFrame
    forgetting: pd.DataFrame
    items: pd.DataFrame | None = None
    elements: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    new_task: pd.DataFrame | None = None
    transfer: pd.DataFrame | None = None
    manifest: dict = field(default_factory=dict)
    mitigations: tuple[pd.DataFrame, pd.DataFrame] | None = None  # mitigation_study.read: retention, tasks


@dataclass(frozen=True)
class Drawn:
    """One figure of the report: drawn (``figure``, ``files``) or skipped with a ``reason``."""

    name: str
    title: str
    figure: Figure | None
    files: tuple[Path, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Table:
    """A displayed table (strings, 2 decimals) with its footnote and written files."""

    name: str
    caption: str
    frame: pd.DataFrame
    footnote: str = ""
    files: tuple[Path, ...] = ()


# ----------------------------------------------------------------------------- inputs


def load_frames(profile: str, *, n_boot: int, seed: int) -> Frames:
    """Read ``scores.csv``, ``items.csv`` (optional), ``forgetting.csv`` and ``manifest.json`` (optional)
    of ``artifacts/<profile>/`` and derive the element, curve, new-task and transfer frames."""
    folder = paths.artifacts_dir(profile)
    scores = metrics.read_scores(folder / "scores.csv")
    items = metrics.read_items(folder / "items.csv") if (folder / "items.csv").exists() else None
    if not (folder / "forgetting.csv").exists():
        raise FileNotFoundError(f"{folder / 'forgetting.csv'} not found: run metrics.write_forgetting({profile!r})")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return Frames(
        profile=profile,
        scores=scores,
        forgetting=pd.read_csv(folder / "forgetting.csv"),
        items=items,
        elements=element_cis(metrics.element_table(scores), items, n_boot=n_boot, seed=seed),
        curves=metrics.curves(scores),
        new_task=metrics.new_task_table(scores),
        transfer=metrics.transfer(scores),
        manifest=manifest,
        mitigations=mitigation_study.read(profile),
    )


def element_cis(elements: pd.DataFrame, items: pd.DataFrame | None, *, n_boot: int, seed: int) -> pd.DataFrame:
    """``elements`` plus the paired bootstrap CIs of each element's FG and final drop (NaN without items)."""
    out = elements.copy()
    for col in ("fg_low", "fg_high", "final_drop_low", "final_drop_high"):
        out[col] = np.nan
    if items is None:
        return out
    have = set(zip(items["model"], items["variant"], items["benchmark"], strict=True))
    for i, r in out.iterrows():
        if (r["model"], r["variant"], r["benchmark"]) in have:
            ci = metrics.bootstrap_element(items, r["model"], r["variant"], r["benchmark"], n_boot=n_boot, seed=seed)
            out.loc[i, ["fg_low", "fg_high"]] = ci["fg"]
            out.loc[i, ["final_drop_low", "final_drop_high"]] = ci["final_drop"]
    return out


def bias_metric(scores: pd.DataFrame) -> str | None:
    """The bias elements' primary metric (``acc``: BBQ, higher = less biased; ``pct_stereotype``: CrowS-Pairs,
    lower = less stereotyped); None without bias rows or with both kinds."""
    bias = scores[scores["category"] == "bias"]
    found = {metrics.primary_metric(g) for _, g in bias.groupby("benchmark")["metric"]}
    return found.pop() if len(found) == 1 else None


def real(models) -> list[str]:
    """The pretrained models among ``models`` (random-init ``tiny`` ones have no knowledge to forget)."""
    return [m for m in dict.fromkeys(models) if get_spec(m).source != "tiny"]


def twin_pairs(models) -> list[tuple[str, str]]:
    """(base, instruction-tuned twin) pairs present in ``models``: derived models via ``spec.base``, and TWINS."""
    present = set(models)
    pairs = [(get_spec(m).base, m) for m in dict.fromkeys(models) if get_spec(m).base in present]
    return pairs + [p for p in TWINS if set(p) <= present and p not in pairs]


# ----------------------------------------------------------------------------- formatting


def num(x: float) -> str:
    """Two decimals; an en dash for a missing number."""
    return "–" if x is None or pd.isna(x) else f"{x:.2f}"


def with_ci(x: float, low: float, high: float) -> str:
    """``"fg [lo, hi]"`` (the point estimate alone where the CI is unknown)."""
    return num(x) if pd.isna(low) or pd.isna(high) else f"{num(x)} [{num(low)}, {num(high)}]"


def _main(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of plain sequential tuning (the paper's setting); every row if no ``seq`` was run."""
    return df[df["variant"] == "seq"] if "seq" in set(df["variant"]) else df


def _fg_cell(row) -> str:
    return with_ci(row["fg"], row["ci_low"], row["ci_high"])


def _describe(forgetting: pd.DataFrame, model: str, cats=GENERAL) -> str:
    rows = forgetting[forgetting["model"] == model].set_index("category")
    return ", ".join(f"{ABBR[c]} {_fg_cell(rows.loc[c])}" for c in cats if c in rows.index)


def _mean_fg(forgetting: pd.DataFrame, model: str) -> float:
    return float(forgetting[(forgetting["model"] == model) & forgetting["category"].isin(GENERAL)]["fg"].mean())


# ----------------------------------------------------------------------------- tables


def category_wide(forgetting: pd.DataFrame, cats=GENERAL) -> pd.DataFrame:
    """One row per (model, method); per category initial / final / FG [95% CI] (the paper's Table 4 layout)."""
    rows = []
    for (model, method), g in forgetting.groupby(["model", "variant"], sort=False):
        g = g.set_index("category")
        row = {"model": model, "variant": method}
        for c in cats:
            if c in g.index:
                row |= {
                    f"{ABBR[c]} initial": num(g.loc[c, "initial"]),
                    f"{ABBR[c]} final": num(g.loc[c, "final"]),
                    f"{ABBR[c]} FG [95% CI]": _fg_cell(g.loc[c]),
                }
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.drop(columns="variant") if out.empty or out["variant"].nunique() == 1 else out


def bias_direction(row, metric: str | None) -> str:
    """Whether the bias went down (CI, else point estimate), reading FG in the metric's direction."""
    decreased = -1 if metric == "acc" else 1  # BBQ acc falling (FG > 0) = more biased; CrowS falling = less
    lo, hi = row["ci_low"] * decreased, row["ci_high"] * decreased
    if pd.isna(lo) or pd.isna(hi):
        return "decreased" if row["fg"] * decreased > 0 else "increased"
    return "decreased" if min(lo, hi) > 0 else "increased" if max(lo, hi) < 0 else "no clear change (CI spans 0)"


def bias_footnote(metric: str | None) -> str:
    if metric == "acc":
        return (
            "Bias elements are BBQ accuracies (ambiguous and disambiguated contexts): higher accuracy = less "
            "biased, so a positive FG (accuracy fell) means MORE biased. The paper's CrowS-Pairs "
            "pct_stereotype runs the other way (lower = less stereotyped; positive FG = bias decreased)."
        )
    return (
        "Bias elements are CrowS-Pairs pct_stereotype (50% = unbiased, lower = less stereotyped): a positive FG "
        "means the stereotype preference went down, as in the paper's Table 5."
    )


def table5(frames: Frames) -> pd.DataFrame:
    """Bias category per model: initial, final, FG [CI] and the direction of the change."""
    metric = bias_metric(frames.scores)
    rows = [
        {
            "model": r["model"],
            "variant": r["variant"],
            "metric": metric or "mixed",
            "initial": num(r["initial"]),
            "final": num(r["final"]),
            "FG [95% CI]": _fg_cell(r),
            "bias": bias_direction(r, metric),
        }
        for _, r in frames.forgetting[frames.forgetting["category"] == "bias"].iterrows()
    ]
    return pd.DataFrame(rows, columns=["model", "variant", "metric", "initial", "final", "FG [95% CI]", "bias"])


def table6(frames: Frames) -> pd.DataFrame:
    """Base model vs its instruction-tuned twin: per category initial / final / FG [CI] (the paper's Table 6)."""
    f = _main(frames.forgetting)
    parts = []
    for base, tuned in twin_pairs(f["model"]):
        wide = category_wide(f[f["model"].isin([base, tuned])]).drop(columns="variant", errors="ignore")
        wide.insert(1, "role", np.where(wide["model"] == base, "base", f"instruction-tuned twin of {base}"))
        parts.append(wide.sort_values("role"))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", "role"])


def _formatted(df: pd.DataFrame, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """Float columns as 2-decimal strings (except ``keep``)."""
    out = df.copy()
    for c in out.columns:
        if c not in keep and pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(num)
    return out


def elements_table(elements: pd.DataFrame) -> pd.DataFrame:
    """Per element: initial, final, FG [CI], final drop [CI]."""
    out = elements[["model", "variant", "category", "benchmark", "metric", "initial", "final"]].copy()
    out["FG [95% CI]"] = [with_ci(*v) for v in elements[["fg", "fg_low", "fg_high"]].to_numpy()]
    out["final drop [95% CI]"] = [
        with_ci(*v) for v in elements[["final_drop", "final_drop_low", "final_drop_high"]].to_numpy()
    ]
    return _formatted(out)


def paper_numbers() -> pd.DataFrame:
    """The paper's Table 4/5/6 numbers (committed facts, ``data/reference/paper_numbers.csv``)."""
    return pd.read_csv(paths.REFERENCE / "paper_numbers.csv")


def paper_match(model: str) -> tuple[str, str]:
    """The paper model compared with ``model`` and how it was chosen (same model, or nearest in role)."""
    spec = get_spec(model)
    if model in PAPER_NAME:
        return PAPER_NAME[model], "same model"
    if spec.source == "derived":
        return "alpaca-7b", "role: instruction-tuned twin of a base model (Alpaca-7B)"
    if spec.arch == "seq2seq":
        return "mt0-1.2b", "role: encoder-decoder, smallest paper model"
    if not spec.instruction_tuned and spec.source != "tiny":
        return "llama-7b", "role: pretrained base model (LLaMA-7B)"
    return "bloomz-1.1b", "role: decoder-only, smallest instruction-tuned paper model"


def paper_vs_ours(frames: Frames, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every cell of the paper's Tables 4-6 we can pair with ours (method ``seq``): difference = ours - paper."""
    paper = paper_numbers() if paper is None else paper
    f = _main(frames.forgetting).set_index(["model", "category"])
    metric = bias_metric(frames.scores)
    rows = []
    for model in dict.fromkeys(f.index.get_level_values("model")):
        name, match = paper_match(model)
        hub = get_spec(model).source == "hub"
        for _, p in paper[paper["model"] == name].iterrows():
            if (model, p["category"]) not in f.index:
                continue
            ours = f.loc[(model, p["category"])]
            note = (
                "same benchmarks; our training differs (LoRA, fewer examples)"
                if hub
                else "stand-in benchmarks (offline profile) and a far smaller model: absolute levels differ"
            )
            if p["category"] == "bias" and metric == "acc":
                note += "; BBQ accuracy (higher = less biased) vs CrowS pct_stereotype: FG signs read oppositely"
            for q in ("initial", "final", "fg"):
                rows.append(
                    {
                        "table": int(p["table"]),
                        "category": p["category"],
                        "quantity": q,
                        "model": model,
                        "paper_model": name,
                        "match": match,
                        "paper": p[q],
                        "ours": round(ours[q], 2),
                        "difference": round(ours[q] - p[q], 2),
                        "source_quality": p["source_quality"],
                        "note": note,
                    }
                )
    return pd.DataFrame(rows, columns=PAPER_VS_OURS_COLUMNS)


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def write_table(table: Table, out_dir: str | Path) -> Table:
    """Write ``<name>.md``, ``.csv`` and ``.tex`` (caption and footnote included) atomically; return it with files."""
    out_dir = Path(out_dir)
    df = table.frame
    md = f"**{table.caption}**\n\n{df.to_markdown(index=False, disable_numparse=True)}\n"
    tex = df.to_latex(index=False, escape=True, caption=_latex_escape(table.caption), label=f"tab:{table.name}")
    if table.footnote:
        md += f"\n{table.footnote}\n"
        tex = tex.replace("\\end{table}", f"\\par\\footnotesize {_latex_escape(table.footnote)}\n\\end{{table}}")
    files = (out_dir / f"{table.name}.md", out_dir / f"{table.name}.csv", out_dir / f"{table.name}.tex")
    for path, text in zip(files, (md, df.to_csv(index=False, lineterminator="\n"), tex), strict=True):
        atomic_write_text(path, text)
    return Table(table.name, table.caption, df, table.footnote, files)


def tables(frames: Frames) -> dict[str, Table]:
    """Every table of the report, formatted (numbers to 2 decimals, CIs as ``fg [lo, hi]``)."""
    metric = bias_metric(frames.scores)
    pairs = twin_pairs(frames.forgetting["model"])
    new_task = frames.new_task if frames.new_task is not None else pd.DataFrame(columns=metrics.NEW_TASK_COLUMNS)
    transfer = frames.transfer if frames.transfer is not None else pd.DataFrame(columns=metrics.TRANSFER_COLUMNS)
    elements = (
        frames.elements
        if frames.elements is not None
        else element_cis(metrics.element_table(frames.scores), None, n_boot=1, seed=0)
    )
    ci = (
        "FG = Eq. 1 of the paper (%, mean relative drop over the 5 stages; > 0 = forgotten); [95% paired bootstrap CI]."
    )
    out = [
        Table(
            "table4_forgetting",
            "Table 4: forgetting by category (initial, final %, FG %)",
            category_wide(frames.forgetting),
            ci,
        ),
        Table(
            "table5_bias",
            "Table 5: bias category (initial, final %, FG %)",
            table5(frames),
            f"{bias_footnote(metric)} {ci}",
        ),
        Table(
            "table6_general_instruction",
            "Table 6: base model vs its instruction-tuned twin (method seq)",
            table6(frames),
            ci if pairs else "No base model with its instruction-tuned twin in this profile.",
        ),
        Table(
            "table3_new_task",
            "Table 3: each task's own metric before / after its stage and after stage 5",
            _formatted(new_task),
            "gain = after - before; retained = final - after (metric points).",
        ),
        Table(
            "elements", "Every element: initial, final, FG and final drop with 95% CIs", elements_table(elements), ci
        ),
        Table(
            "transfer",
            "Backward transfer and forgetting on the continual tasks themselves",
            _formatted(transfer),
            "BWT (Lopez-Paz & Ranzato 2017; < 0 = earlier tasks forgotten) and forgetting (Chaudhry et al. 2018), "
            "in metric points over tasks 1-4.",
        ),
        Table(
            "paper_vs_ours",
            "The paper's numbers beside ours (difference = ours - paper)",
            _formatted(paper_vs_ours(frames)),
            "Paper numbers: data/reference/paper_numbers.csv (source_quality as transcribed).",
        ),
    ]
    if frames.mitigations is not None:
        retention, tasks = frames.mitigations
        out.append(
            Table(
                "mitigations",
                f"Mitigations (beyond the paper) on {retention['model'].iloc[0]}: each method after the last stage",
                mitigation_study.summary(retention, tasks),
                MITIGATION_NOTE,
            )
        )
    return {t.name: t for t in out}


MITIGATION_NOTE = (
    "Final drop = (start - end) / start x 100 per benchmark, averaged per category; general = the mean of "
    "domain knowledge, reasoning and reading comprehension (bias left out). Start = the seq chain's stage 0, "
    "shared by every method. 'Less forgetting than seq' = seq's drop minus the method's; the verdict is from "
    "its 95% paired bootstrap CI (same items resampled for every method). New-task gain = each task's own "
    "metric after the last stage minus at the start, averaged over the 5 tasks. wise-a: the seq adapter "
    "scaled by a (evaluation only). Strengths: mitigation section of the profile's config (manifest.json)."
)


def mitigation_lines(frames: Frames) -> list[str]:
    """What the mitigation study found, in words computed from its table (empty without a study)."""
    if frames.mitigations is None:
        return []
    retention, tasks = frames.mitigations
    gen = retention[retention["category"] == "general"].set_index("variant", drop=False)
    gains = tasks.groupby("variant")["gain"].mean()
    seq = gen.loc["seq"]
    verdicts = {m: mitigation_study.verdict(r) for m, r in gen.iterrows()}
    better = [m for m, v in verdicts.items() if v == "forgets less than seq"]
    worse = [m for m, v in verdicts.items() if v == "forgets more than seq"]
    lines = [
        f"seq loses {num(seq['final_drop'])}% [{num(seq['ci_low'])}, {num(seq['ci_high'])}] of its general-knowledge "
        f"score by the last stage and gains {num(gains['seq'])} points on the new tasks."
    ]
    if better:
        lines.append(
            "Forget measurably less than seq (95% paired CI of the difference above 0): "
            + "; ".join(f"{m} ({num(gen.loc[m, 'vs_seq'])} points less, new-task gain {num(gains[m])})" for m in better)
            + "."
        )
    else:
        lines.append(
            "No method keeps measurably more general knowledge than seq at this scale: every CI of the "
            "difference to seq contains 0 (or lies below it)."
        )
    if worse:
        lines.append("Forget measurably more than seq: " + ", ".join(worse) + ".")
    return lines


def write_tables(frames: Frames, out_dir: str | Path | None = None) -> dict[str, Table]:
    """:func:`tables`, each written as .md, .csv and .tex into ``figures/<profile>/tables/``."""
    out_dir = Path(out_dir) if out_dir is not None else paths.figures_dir(frames.profile) / "tables"
    return {name: write_table(t, out_dir) for name, t in tables(frames).items()}


# ----------------------------------------------------------------------------- figures

FIGURE_TITLES = {
    "stage_curves": "Scores after every stage (elements thin, category mean thick)",
    "fg_by_category": "Forgetting (FG) per category, with 95% bootstrap CIs",
    "fg_vs_scale": "Forgetting against model scale",
    "decoder_vs_encdec": "Decoder-only vs encoder-decoder",
    "base_vs_instruct": "Base model vs its instruction-tuned twin",
    "bias_by_type": "Bias per bias type across stages",
    "replay_vs_seq": "Replay of general instructions vs plain sequential tuning",
    "new_task_before_after": "New tasks: own metric before / after their stage",
    "mitigations": "Mitigations: general-knowledge retention vs new-task gain",
}


def make_figures(frames: Frames, out_dir: str | Path | None = None) -> list[Drawn]:
    """Draw (and save as PNG + PDF into ``figures/<profile>/``) every figure; a skipped one carries its reason."""
    out = Path(out_dir) if out_dir is not None else paths.figures_dir(frames.profile)
    f = frames.forgetting
    pretrained = real(f["model"])
    archs = sorted({"decoder-only" if get_spec(m).arch == "causal" else "encoder-decoder" for m in pretrained})
    drawn = {
        "stage_curves": (plots.stage_curves(frames.curves, out), ""),
        "fg_by_category": (plots.fg_by_category(f, out), ""),
        "fg_vs_scale": (plots.fg_vs_scale(f, out), ""),
        "decoder_vs_encdec": (
            plots.decoder_vs_encdec(f, out),
            "needs a decoder-only and an encoder-decoder pretrained model (random-init tiny models "
            f"do not count); the pretrained models here are: {' and '.join(archs) or 'none'}",
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
            f"no model was run with both methods seq and replay (methods: {sorted(set(f['variant']))})",
        ),
    }
    if frames.new_task is not None and not frames.new_task.empty:
        drawn["new_task_before_after"] = (plots.new_task_before_after(frames.new_task, out), "")
    else:
        drawn["new_task_before_after"] = (None, "scores.csv has no new_task rows")
    if frames.mitigations is not None:
        drawn["mitigations"] = (plots.mitigation_tradeoff(*frames.mitigations, out), "")
    else:
        drawn["mitigations"] = (None, "this profile runs no mitigation study (mitigation.methods is empty)")
    return [
        Drawn(
            name,
            FIGURE_TITLES[name],
            fig,
            (out / f"{name}.png", out / f"{name}.pdf") if fig is not None else (),
            "" if fig is not None else why,
        )
        for name, (fig, why) in drawn.items()
    ]


# ----------------------------------------------------------------------------- claims


def verdict(n_support: int, n_units: int) -> str:
    """All units support -> holds; some -> mixed; none -> does not hold; no unit -> not measurable."""
    if n_units == 0:
        return NOT_MEASURABLE
    return HOLDS if n_support == n_units else NOT_HOLD if n_support == 0 else MIXED


def _above_zero(row) -> bool:
    return row["ci_low"] > 0 if pd.notna(row["ci_low"]) else row["fg"] > 0


def claim_forgetting(f: pd.DataFrame) -> tuple[str, str]:
    """Claim 1: a model forgets if FG's CI lies above 0 in at least 2 of the 3 general categories."""
    models = real(f["model"])
    parts, support = [], 0
    for m in models:
        rows = f[(f["model"] == m) & f["category"].isin(GENERAL)]
        k = sum(_above_zero(r) for _, r in rows.iterrows())
        support += k >= 2
        parts.append(f"{m}: {_describe(f, m)} ({k}/{len(rows)} above 0)")
    rule = (
        "Rule: a model forgets if the 95% CI of FG lies above 0 (the point estimate where no CI) in at least "
        "2 of the 3 general categories."
    )
    return verdict(support, len(models)), f"{rule} {support} of {len(models)} models forget. " + "; ".join(parts)


def claim_scale(f: pd.DataFrame) -> tuple[str, str]:
    """Claim 2: within each (family, tuned) with >= 2 sizes, FG rises at every size step, per general category."""
    models = real(f["model"])
    groups: dict[tuple, list[str]] = {}
    for m in models:
        s = get_spec(m)
        groups.setdefault((s.family, s.instruction_tuned), []).append(m)
    units = support = 0
    parts = []
    for (family, _), members in groups.items():
        sizes = sorted({get_spec(m).params_b for m in members})
        if len(sizes) < 2:
            continue
        for c in GENERAL:
            by_size = [
                f[f["model"].isin([m for m in members if get_spec(m).params_b == s]) & (f["category"] == c)][
                    "fg"
                ].mean()
                for s in sizes
            ]
            rising = bool(np.all(np.diff(by_size) > 0))
            units, support = units + 1, support + rising
            parts.append(
                f"{family} {ABBR[c]}: " + " -> ".join(f"{s:g}B {num(v)}" for s, v in zip(sizes, by_size, strict=True))
            )
    if units:
        return verdict(support, units), (
            f"Rule: FG rises at every size step within a family (per general category): {support} of {units} "
            "family-category series rise. " + "; ".join(parts)
        )
    sizes = ", ".join(f"{m} ({get_spec(m).family}, {get_spec(m).params_b:g}B)" for m in models) or "none"
    side = ""
    if len({get_spec(m).params_b for m in models}) >= 2:
        ordered = sorted(models, key=lambda m: get_spec(m).params_b)
        side = (
            " Side note across families (not the paper's comparison): mean general FG "
            + ", ".join(f"{m} {num(_mean_fg(f, m))}" for m in ordered)
            + " (smallest to largest)."
        )
    return NOT_MEASURABLE, f"No family has two sizes among the pretrained models: {sizes}.{side}"


def _pairs_claim(f: pd.DataFrame, pairs: list[tuple[str, str]], less: str, more: str, rule: str) -> tuple[str, str]:
    """Each pair (a, b): supports if a's mean general FG is below b's. ``less``/``more`` name the roles."""
    support, parts = 0, []
    for a, b in pairs:
        fa, fb = _mean_fg(f, a), _mean_fg(f, b)
        support += fa < fb
        parts.append(
            f"{a} ({less}) mean FG {num(fa)} ({_describe(f, a)}) vs {b} ({more}) {num(fb)} ({_describe(f, b)})"
        )
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
    return _pairs_claim(
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
    return _pairs_claim(
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
        f"{r['model']}: {num(r['initial'])} -> {num(r['final'])}, FG {_fg_cell(r)} ({d})"
        for (_, r), d in zip(bias.iterrows(), directions, strict=True)
    ]
    return verdict(support, len(bias)), (
        f"Rule: bias decreased for a model if {how}. {support} of {len(bias)} models. " + "; ".join(parts)
    )


def claim_replay(forgetting: pd.DataFrame) -> tuple[str, str]:
    """Claim 6: replay's mean general FG is below plain sequential tuning's, per model run with both."""
    f = forgetting[forgetting["model"].isin(real(forgetting["model"]))]
    models = [m for m, g in f.groupby("model", sort=False) if {"seq", "replay"} <= set(g["variant"])]
    if not models:
        return (
            NOT_MEASURABLE,
            f"No pretrained model was run with both seq and replay (methods: {sorted(set(f['variant']))}).",
        )
    support, parts = 0, []
    for m in models:
        seq, rep = (f[(f["model"] == m) & (f["variant"] == k)] for k in ("seq", "replay"))
        fs, fr = _mean_fg(seq, m), _mean_fg(rep, m)
        support += fr < fs
        parts.append(f"{m}: replay {num(fr)} ({_describe(rep, m)}) vs seq {num(fs)} ({_describe(seq, m)})")
    return verdict(support, len(models)), (
        f"Rule: replay's mean FG over DK/Rs/RC is below seq's. {support} of {len(models)} models. " + "; ".join(parts)
    )


def claim_new_tasks(new_task: pd.DataFrame | None) -> tuple[str, str]:
    """Claim 7: the task's own metric after its stage exceeds the one before (every model, incl. tiny ones)."""
    if new_task is None or new_task.dropna(subset=["gain"]).empty:
        return NOT_MEASURABLE, "No new-task scores before and after their stage."
    nt = new_task.dropna(subset=["gain"])
    parts = [
        f"{m} ({meth}): {int((g['gain'] > 0).sum())}/{len(g)} ("
        + ", ".join(
            f"{TASK_LABELS.get(t, t)} {num(b)}->{num(a)}"
            for t, b, a in zip(g["task"], g["before"], g["after"], strict=True)
        )
        + ")"
        for (m, meth), g in nt.groupby(["model", "variant"], sort=False)
    ]
    support = int((nt["gain"] > 0).sum())
    return verdict(support, len(nt)), (
        f"Rule: a task improves if its own metric after its stage exceeds the one before. {support} of {len(nt)} "
        "model-task stages improve. " + "; ".join(parts)
    )


def claims(frames: Frames) -> pd.DataFrame:
    """The paper's seven claims with a computed verdict and the evidence (numbers, CIs) behind it."""
    f = _main(frames.forgetting)
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


# ----------------------------------------------------------------------------- report


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def headline(frames: Frames) -> list[str]:
    """Markdown bullet lines: models, methods, stages, benchmarks and their items, wall time."""
    s = frames.scores
    lines = []
    for m in dict.fromkeys(s["model"]):
        spec = get_spec(m)
        kind = "instruction-tuned" if spec.instruction_tuned else "base"
        arch = "decoder-only" if spec.arch == "causal" else "encoder-decoder"
        lines.append(f"- Model `{m}`: {arch}, {spec.params_b:g}B parameters, {kind}, source {spec.source}")
    lines.append(
        f"- Methods: {', '.join(dict.fromkeys(s['variant']))} (seq = plain sequential; replay = general "
        "instructions mixed in, the paper's section 5.4)"
    )
    lines.append("- Stages: 0 (initial) and 1-5 = " + " → ".join(TASK_LABELS[t] for t in TASKS))
    bench = s[s["category"].isin(plots.CATEGORIES)]
    for c in plots.CATEGORIES:
        sub = bench[bench["category"] == c].groupby("benchmark")["n"].max()
        if len(sub):
            lines.append(f"- {CATEGORY_LABELS[c]}: " + ", ".join(f"`{b}` ({int(n)} items)" for b, n in sub.items()))
    man = frames.manifest
    if "wall_time_s" in man:
        lines.append(f"- Wall time: {man['wall_time_s'] / 60:.1f} min (artifacts/{frames.profile}/manifest.json)")
    if man.get("notebooks_s"):
        parts = [f"{k} {v / 60:.1f} min" for k, v in man["notebooks_s"].items() if v is not None]
        lines.append("- Notebooks (papermill durations): " + ", ".join(parts))
    if man.get("git", {}).get("sha"):
        dirty = " with uncommitted changes" if man["git"]["dirty"] else ""
        lines.append(f"- Code: git {man['git']['sha'][:12]}{dirty}")
    if not man:
        lines.append(f"- Wall time: unknown (no artifacts/{frames.profile}/manifest.json)")
    return lines


def provenance_warning(frames: Frames) -> list[str]:
    """A visible warning when the numbers were made by code that is in no commit (or of unknown origin)."""
    git = frames.manifest.get("git", {})
    if git.get("dirty"):
        return [
            f"> **Warning: made from a working tree with uncommitted changes** (on top of git {git['sha'][:12]}). "
            "The code that produced these numbers is in no commit; commit and re-run for a citable result.",
            "",
        ]
    if not git.get("sha"):
        return ["> **Warning: the code version is unknown** (no git repository or no manifest.json).", ""]
    return []


def _md_table(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False, disable_numparse=True) if not df.empty else "_(empty)_"


def render_markdown(
    frames: Frames, drawn: list[Drawn], tabs: dict[str, Table], verdicts: pd.DataFrame, report_dir: Path
) -> str:
    """The report as Markdown; figure links relative to ``report_dir``."""
    p = frames.profile
    out = [
        f"# Catastrophic forgetting during continual instruction tuning: profile `{p}`",
        "",
        "Replication of Luo et al., *An Empirical Study of Catastrophic Forgetting in Large Language Models "
        "During Continual Fine-tuning* (arXiv 2308.08747). Generated by `cf_utils.report.build`.",
        "",
        *provenance_warning(frames),
        "## Headline",
        "",
        *headline(frames),
        "",
        "## The paper's claims",
        "",
        "Verdicts are computed from the numbers below by the rule stated in each row.",
        "",
        _md_table(verdicts),
        "",
    ]
    for name in (
        "table4_forgetting",
        "table5_bias",
        "table6_general_instruction",
        "table3_new_task",
        "transfer",
        "paper_vs_ours",
        "elements",
        "mitigations",
    ):
        if name not in tabs:
            continue
        t = tabs[name]
        out += [f"## {t.caption}", "", *(f"{x}\n" for x in mitigation_lines(frames) if name == "mitigations")]
        out += [_md_table(t.frame), "", t.footnote, ""]
    out += ["## Figures", ""]
    for d in drawn:
        out += [f"### {d.title}", ""]
        if d.figure is not None:
            out += [f"![{d.title}]({_rel(d.files[0], report_dir)}) ([PDF]({_rel(d.files[1], report_dir)}))", ""]
        else:
            out += [f"Not drawn: {d.reason}.", ""]
    out += [
        "## Deviations from the paper",
        "",
        *(f"- {x}" for x in DEVIATIONS),
        "",
        "## How to regenerate",
        "",
        "```bash",
        f"make reproduce PROFILE={p}",
        "```",
        "",
        f"Inputs: `artifacts/{p}/scores.csv`, `items.csv`; outputs: `artifacts/{p}/forgetting.csv`, this report, "
        f"`figures/{p}/*.png|pdf`, `figures/{p}/tables/*.md|csv|tex`.",
        "",
    ]
    return "\n".join(out)


HTML_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
    "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:3px 6px;vertical-align:top}img{max-width:100%}code{background:#f4f4f4}"
)


def write_report(frames: Frames, drawn: list[Drawn], tabs: dict[str, Table], verdicts: pd.DataFrame) -> Path:
    """Write ``artifacts/<profile>/report.md`` and ``report.html`` atomically; return the Markdown path."""
    folder = paths.artifacts_dir(frames.profile)
    md = render_markdown(frames, drawn, tabs, verdicts, folder)
    body = mistune.create_markdown(plugins=["table"])(md)
    html = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Report: {frames.profile}</title>"
        f"<style>{HTML_STYLE}</style></head><body>\n{body}</body></html>\n"
    )
    atomic_write_text(folder / "report.md", md)
    atomic_write_text(folder / "report.html", html)
    return folder / "report.md"


def build(profile: str, *, n_boot: int, seed: int) -> Path:
    """Everything: forgetting.csv, figures, tables, claims and the report; returns ``report.md``'s path."""
    metrics.write_forgetting(profile, n_boot=n_boot, seed=seed)
    frames = load_frames(profile, n_boot=n_boot, seed=seed)
    drawn = make_figures(frames)
    tabs = write_tables(frames)
    return write_report(frames, drawn, tabs, claims(frames))
