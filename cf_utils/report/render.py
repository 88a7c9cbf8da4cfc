"""The report as Markdown and HTML: ``artifacts/<profile>/report.md`` and ``report.html``.

The report is the index a reviewer reads (README): what was run (headline), a warning when the code
that made the numbers is in no commit, the verdict rule (:func:`.claims.rule_lines`, stated before the
data are read) and the seven claims' verdicts, every table with its footnote (the paired comparisons,
power and detection floors, the secondary measures among them), every
figure (or why it was not drawn), how the profile departs from the paper (:mod:`.deviations`) and how to
regenerate it. Figure links are relative to the report, so the folder can be moved or served as is;
the HTML is the same Markdown through mistune, with a small inline style.
"""

from __future__ import annotations

import os
from pathlib import Path

import mistune
import pandas as pd

from cf_utils import paths, pieces
from cf_utils.io import atomic_write_text
from cf_utils.registry import get_spec
from cf_utils.report.claims import EVIDENCE, rule_lines
from cf_utils.report.dose import dose_lines
from cf_utils.report.figures import Drawn
from cf_utils.report.frames import Frames
from cf_utils.report.mitigation import mitigation_lines
from cf_utils.report.table_files import Table
from cf_utils.study import CATEGORIES, CATEGORY_LABELS, TASK_LABELS, TASKS

TABLE_ORDER = ("comparisons", "table4_forgetting", "power", "flips", "assumptions", "training", "secondary",
               "table5_bias", "bias_types", "table6_general_instruction", "table3_new_task", "transfer",
               "paper_vs_ours", "elements", "mitigations", "dose")  # fmt: skip
HTML_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
    "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:3px 6px;vertical-align:top}img{max-width:100%}code{background:#f4f4f4}"
)


def model_line(name: str) -> str:
    spec = get_spec(name)
    kind = "instruction-tuned" if spec.instruction_tuned else "base"
    arch = "decoder-only" if spec.arch == "causal" else "encoder-decoder"
    return f"- Model `{name}`: {arch}, {spec.params_b:g}B parameters, {kind}, source {spec.source}"


def benchmark_lines(scores: pd.DataFrame) -> list[str]:
    """Per category, its benchmarks and their item counts."""
    lines = []
    for c in CATEGORIES:
        sub = scores[scores["category"] == c].groupby("benchmark")["n"].max()
        if len(sub):
            lines.append(f"- {CATEGORY_LABELS[c]}: " + ", ".join(f"`{b}` ({int(n)} items)" for b, n in sub.items()))
    return lines


def time_parts(t: dict[str, float]) -> str:
    """The manifest's ``time_s`` by kind, in minutes (its total left out)."""
    return ", ".join(f"{k.replace('_', ' ')} {v / 60:.1f} min" for k, v in t.items() if k != "total")


def run_lines(profile: str, man: dict) -> list[str]:
    """Time per kind of work, notebook durations and code version from ``manifest.json``."""
    if not man:
        return [f"- Time: unknown (no artifacts/{profile}/manifest.json)"]
    lines = []
    if man.get("time_s"):
        t = man["time_s"]
        lines.append(f"- Time recorded by the steps themselves: {t['total'] / 60:.1f} min ({time_parts(t)}; "
                     f"artifacts/{profile}/manifest.json), also for work an earlier run did and this one "
                     "reused")  # fmt: skip
    run = man.get("pieces") or []
    if run:
        wall = pieces.seconds(run) / 3600
        commits = sorted({(p["commit"] or "?")[:12] for p in run})
        loads = ", ".join(f"{p['load_average']:.2f}" for p in run)
        lines.append(f"- Made in {len(run)} piece(s) (`make reproduce`, resumed after each interruption; "
                     f"artifacts/{profile}/pieces.json): {wall * 60:.0f} min from each piece's start to its last "
                     f"finished step, load average at the starts {loads}; "
                     f"code {', '.join(commits)}{' (MIXED: not one run)' if pieces.mixed(run) else ''}")  # fmt: skip
    if man.get("plan") and man.get("time_s"):
        p, spent = man["plan"], man["time_s"]["total"] / 3600
        wall = f", the pieces' time {pieces.seconds(run) / 3600 / p['total_hours']:.2f} x" if run else ""
        lines.append(f"- Planned before the run (`make plan`, matmul peak {p['peak_flops'] / 1e9:.0f} GFLOP/s "
                     f"{p['peak']}, load average {p['load_average']:.2f}): {p['total_hours'] * 60:.0f} min; the "
                     f"steps' recorded time is {spent / p['total_hours']:.2f} x the plan{wall}")  # fmt: skip
    if man.get("notebooks_s"):
        parts = [f"{k} {v / 60:.1f} min" for k, v in man["notebooks_s"].items() if v is not None]
        lines.append("- Notebooks (papermill durations): " + ", ".join(parts))
    if man.get("git", {}).get("sha"):
        dirty = " with uncommitted changes" if man["git"]["dirty"] else ""
        lines.append(f"- Code: git {man['git']['sha'][:12]}{dirty}")
    return lines


def headline(frames: Frames) -> list[str]:
    """Markdown bullet lines: models, variants, stages, benchmarks and their items, wall time."""
    s = frames.scores
    return [
        *(model_line(m) for m in dict.fromkeys(s["model"])),
        f"- Variants: {', '.join(dict.fromkeys(s['variant']))} (seq = plain sequential; replay = general "
        "instructions mixed in, the paper's section 5.4)",
        "- Stages: 0 (initial) and 1-5 = " + " → ".join(TASK_LABELS[t] for t in TASKS),
        *benchmark_lines(s),
        *run_lines(frames.profile, frames.manifest),
    ]


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


def md_table(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False, disable_numparse=True) if not df.empty else "_(empty)_"


def rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def table_section(frames: Frames, t: Table) -> list[str]:
    """A table under its caption; the mitigation and dose tables are preceded by what the study found."""
    said = {"mitigations": mitigation_lines(frames), "dose": dose_lines(frames.dose)}.get(t.name, [])
    found = [f"{x}\n" for x in said]
    return [f"## {t.caption}", "", *found, md_table(t.frame), "", t.footnote, ""]


def figure_section(d: Drawn, report_dir: Path) -> list[str]:
    """A figure (PNG inline, PDF linked) under its title, or why it was not drawn."""
    if d.figure is None:
        return [f"### {d.title}", "", f"Not drawn: {d.reason}.", ""]
    png, pdf = (rel(f, report_dir) for f in d.files)
    return [f"### {d.title}", "", f"![{d.title}]({png}) ([PDF]({pdf}))", ""]


def sources_section(profile: str, drawn: list[Drawn], tabs: dict[str, Table], man: dict) -> list[str]:
    """Where each claim, table and figure comes from (its file and the make target that writes it), and
    the work behind the run by kind, on which device (manifest.json)."""

    def row(what: str, files: str, like: str = "report.md") -> str:  # written by the step that writes ``like``
        nb, target = paths.OUTPUTS[like]
        return f"| {what} | {files} | `make {target} PROFILE={profile}` ({nb}) |"

    figures = {d.name: d for d in drawn if d.figure is not None}
    rows = []
    for k, (table, figure) in EVIDENCE.items():
        files = [f"`figures/{profile}/tables/{table}.md`"] if table in tabs else []
        files += [f"`figures/{profile}/{figure}.png`"] if figure in figures else []
        rows.append(row(f"claim {k}", ", ".join(files) or "–"))
    rows += [row(t.caption, f"`figures/{profile}/tables/{t.name}.md`, `.csv`, `.tex`") for t in tabs.values()]
    rows += [row(d.title, f"`figures/{profile}/{d.name}.png`, `.pdf`") for d in figures.values()]
    rows += [row("FG per model, variant and category with CIs", f"`artifacts/{profile}/forgetting.csv`"),
             row("every score, item and generation", f"`artifacts/{profile}/scores.csv`, `items.csv`, "
                 "`generations.csv`", "scores.csv")]  # fmt: skip
    d = man.get("device") or {}
    where = f"{d.get('cpu', 'CPU unknown')}, {d.get('cpu_count', '?')} cores" if d else "unknown (no manifest.json)"
    if d.get("cuda"):
        where += ", " + ", ".join(d["cuda"])
    took = time_parts(man.get("time_s") or {})
    return [
        "| result | file | written by |",
        "|---|---|---|",
        *rows,
        "",
        "Each target first makes what it needs; `make reproduce` runs them all. The work behind this run, by "
        + (f"kind: {took}" if took else "kind: unknown")
        + f", on {where} (manifest.json).",
        "",
    ]


def render_markdown(frames: Frames, drawn: list[Drawn], tabs: dict[str, Table], verdicts: pd.DataFrame,
                    deviations: list[str], report_dir: Path) -> str:  # fmt: skip
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
        *rule_lines(frames.n_boot),
        "",
        md_table(verdicts),
        "",
        *(line for name in TABLE_ORDER if name in tabs for line in table_section(frames, tabs[name])),
        "## Figures",
        "",
        *(line for d in drawn for line in figure_section(d, report_dir)),
        "## Where each result comes from",
        "",
        *sources_section(p, drawn, tabs, frames.manifest or {}),
        "## Deviations from the paper",
        "",
        *(f"- {x}" for x in deviations),
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


def write_report(frames: Frames, drawn: list[Drawn], tabs: dict[str, Table], verdicts: pd.DataFrame,
                 deviations: list[str]) -> Path:  # fmt: skip
    """Write ``artifacts/<profile>/report.md`` and ``report.html`` atomically; return the Markdown path."""
    md_path, html_path = paths.output(frames.profile, "report.md"), paths.output(frames.profile, "report.html")
    md = render_markdown(frames, drawn, tabs, verdicts, deviations, md_path.parent)
    body = mistune.create_markdown(plugins=["table"])(md)
    html = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Report: {frames.profile}</title>"
        f"<style>{HTML_STYLE}</style></head><body>\n{body}</body></html>\n"
    )
    atomic_write_text(md_path, md)
    atomic_write_text(html_path, html)
    return md_path
