"""What a profile's report is computed from: the frames read from ``artifacts/<profile>/`` and derived from them.

    load_frames(profile, n_boot=..., seed=...) -> Frames

reads ``scores.csv``, ``items.csv`` (optional), ``generations.csv`` (optional), ``forgetting.csv``
(:func:`cf_utils.metrics.write_forgetting`), ``manifest.json`` (optional), the mitigation and dose studies' tables
(optional) and the training loss and per-stage log of every scored chain (each stage's ``metrics.json``,
:func:`cf_utils.runlog.chain_summary`), and derives the
element, curve, new-task, transfer and comparison frames (:mod:`cf_utils.metrics`, :mod:`.roles`). The
CIs are the paired bootstrap of :mod:`cf_utils.stats`: per element its FG, final drop and initial score
beside the element's chance level; per new task its gain over the held-out generations; per comparative
claim the difference of two chains' FG on the same items. ``n_boot`` and the seed come from the config
(``eval.n_boot``, ``Config.seeds()["bootstrap"]``). Luo et al. 2023, arXiv 2308.08747.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cf_utils import dose_tables, metrics, mitigation_tables, paths, runlog, task_metrics
from cf_utils.report.roles import claim_comparisons
from cf_utils.study import TRAINED_STAGES

CI_COLUMNS = ("fg_low", "fg_high", "final_drop_low", "final_drop_high", "initial_low", "initial_high")
AT_FLOOR = "at floor: out of its category's FG"  # metrics.at_floor: within 5 points of chance or below majority
LOSS_COLUMNS = ["model", "variant", "stage", "task", "step", "loss"]


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
    mitigations: tuple[pd.DataFrame, pd.DataFrame] | None = None  # mitigation_tables.read: retention, tasks
    losses: pd.DataFrame | None = None  # LOSS_COLUMNS: training loss per step of each scored chain
    comparisons: pd.DataFrame | None = None  # comparisons.COMPARISON_COLUMNS: the comparative claims' pairs
    training: pd.DataFrame | None = None  # runlog.chain_summary of each scored chain: one row per trained stage
    n_boot: int | None = None  # the bootstrap resamples behind every CI and state (config eval.n_boot)
    dose: dict[str, pd.DataFrame] | None = None  # dose_tables.read: forgetting, curve, fit (the dose study)


def load_frames(profile: str, *, n_boot: int, seed: int) -> Frames:
    """Read a profile's outputs (see the module docstring) and derive the report's frames from them."""
    table = paths.output(profile, "forgetting.csv")
    if not table.exists():
        raise FileNotFoundError(f"{table} not found: run metrics.write_forgetting({profile!r})")
    scores = metrics.read_scores(paths.require(profile, "scores.csv"))
    items = read_optional(paths.output(profile, "items.csv"), metrics.read_items)
    generations = read_optional(paths.output(profile, "generations.csv"), metrics.read_generations)
    elements = metrics.element_table(scores)
    known = metrics.baselines(profile)
    forgetting = pd.read_csv(table)
    chains = dict.fromkeys(zip(scores["model"], scores["variant"], strict=True))  # the scored chains, in order
    return Frames(
        profile=profile,
        scores=scores,
        forgetting=forgetting,
        items=items,
        elements=without_cis(elements, known)
        if items is None
        else element_cis(elements, items, n_boot=n_boot, seed=seed, known=known),  # fmt: skip
        curves=metrics.curves(scores),
        new_task=task_metrics.new_task_table(scores, generations, n_boot=n_boot, seed=seed),
        transfer=task_metrics.transfer(scores),
        manifest=read_optional(paths.output(profile, "manifest.json"), lambda p: json.loads(p.read_text())) or {},
        mitigations=mitigation_tables.read(profile),
        losses=losses(profile, chains),
        training=pd.DataFrame([row for chain in chains for row in runlog.chain_summary(profile, *chain)]),
        comparisons=None if items is None else claim_comparisons(forgetting, items, n_boot=n_boot, seed=seed),
        n_boot=n_boot,
        dose=dose_tables.read(profile),
    )


def read_optional(path, read):
    """``read(path)``, or None where the file was not written (a profile may run without it)."""
    return read(path) if path.exists() else None


def without_cis(elements: pd.DataFrame, known: dict | None = None) -> pd.DataFrame:
    """``elements`` with unknown (NaN) CIs: there are no item outcomes to resample. Chance level, majority baseline
    and the floor flag come from ``known`` (metrics.baselines), where it names the element."""
    out = elements.assign(**dict.fromkeys((*CI_COLUMNS, "chance", "majority"), np.nan), floor="")
    return _floors(out, None, known or {})


def element_cis(elements: pd.DataFrame, items: pd.DataFrame, *, n_boot: int, seed: int,
                known: dict | None = None) -> pd.DataFrame:  # fmt: skip
    """``elements`` plus the paired bootstrap CIs of each element's FG, final drop and initial score, its chance
    level and majority baseline, and the floor flag (metrics.at_floor; NaN where no items)."""
    out = without_cis(elements)
    have = set(zip(items["model"], items["variant"], items["benchmark"], strict=True))
    for i, r in out.iterrows():
        key = (r["model"], r["variant"], r["benchmark"])
        if key in have:
            ci = metrics.bootstrap_element(items, *key, n_boot=n_boot, seed=seed)
            out.loc[i, ["fg_low", "fg_high"]] = ci["fg"]
            out.loc[i, ["final_drop_low", "final_drop_high"]] = ci["final_drop"]
            out.loc[i, ["initial_low", "initial_high"]] = ci["initial"]
    return _floors(out, items, known or {})


def _floors(out: pd.DataFrame, items: pd.DataFrame | None, known: dict) -> pd.DataFrame:
    """Each element's chance level and majority baseline, and the floor flag by metrics.at_floor."""
    for i, r in out.iterrows():
        chance, majority = metrics.element_baseline(items, r["model"], r["variant"], r["benchmark"], known)
        out.loc[i, ["chance", "majority"]] = chance, majority
        out.loc[i, "floor"] = AT_FLOOR if metrics.at_floor(r["initial"], chance, majority) else ""
    return out


def losses(profile: str, chains) -> pd.DataFrame:
    """Training loss per optimizer step of each finished stage of ``chains`` ((model, variant) pairs); the
    step counts on across a chain's stages, so the five stages read one after another."""
    rows = []
    for model, variant in chains:
        step = 0
        for k in TRAINED_STAGES:
            m = runlog.stage_record(profile, model, variant, k)
            if m is not None:
                rows += [(model, variant, k, m["task"], step + i, x) for i, x in enumerate(m["loss"])]
                step += len(m["loss"])
    return pd.DataFrame(rows, columns=LOSS_COLUMNS)
