"""A profile's results: forgetting, figures, tables, the paper's claims and the report (notebook 04_figures).

    build(cfg) -> artifacts/<profile>/report.md (+ report.html)

runs every step: ``forgetting.csv`` (:func:`cf_utils.metrics.write_forgetting`), the frames
(:mod:`.frames`), the figures (:mod:`.figures`, drawn by :mod:`cf_utils.plots`) in ``figures/<profile>/``,
the tables (:mod:`.tables`) in ``figures/<profile>/tables/`` (Markdown, CSV, LaTeX), the claim verdicts
(:mod:`.claims`), the deviations from the paper (:mod:`.deviations`, from the config) and the report
(:mod:`.render`). 04_figures calls the same steps one by one to show each; it is the only writer of
these outputs (05_mitigations writes its data, the mitigation figure and table are drawn here).

The modules, one concern each: frames (inputs), roles (which models, rows and pairs of chains each
claim reads, and their paired comparisons), cells (number format), bias (the bias metric's direction),
paper (the paper's numbers and setup), tables + table_files, mitigation (the mitigation study's table and
findings), dose (the dose study's table and findings), figures, claims, deviations, render.
Reference: Luo et al. 2023, arXiv 2308.08747.
"""

from __future__ import annotations

from pathlib import Path

from cf_utils import metrics
from cf_utils.config import Config
from cf_utils.report.claims import HOLDS, INCONCLUSIVE, MIXED, NOT_HOLD, NOT_MEASURABLE, VERDICTS, claims, rule_lines
from cf_utils.report.deviations import deviations
from cf_utils.report.dose import dose_lines
from cf_utils.report.figures import Drawn, make_figures
from cf_utils.report.frames import Frames, load_frames
from cf_utils.report.mitigation import mitigation_lines
from cf_utils.report.paper import paper_vs_ours
from cf_utils.report.render import provenance_warning, write_report
from cf_utils.report.table_files import Table, write_table
from cf_utils.report.tables import write_tables

__all__ = ["HOLDS", "INCONCLUSIVE", "MIXED", "NOT_HOLD", "NOT_MEASURABLE", "VERDICTS", "Drawn", "Frames",
           "Table", "build", "claims", "deviations", "dose_lines", "load_frames", "make_figures", "mitigation_lines",
           "paper_vs_ours", "provenance_warning", "rule_lines", "write_report", "write_table",
           "write_tables"]  # fmt: skip


def build(cfg: Config) -> Path:
    """Everything: forgetting.csv, figures, tables, claims and the report; returns ``report.md``'s path."""
    n_boot, seed = cfg.eval.n_boot, cfg.seeds()["bootstrap"]
    metrics.write_forgetting(cfg.profile, n_boot=n_boot, seed=seed)
    frames = load_frames(cfg.profile, n_boot=n_boot, seed=seed)
    return write_report(frames, make_figures(frames), write_tables(frames), claims(frames), deviations(cfg))
