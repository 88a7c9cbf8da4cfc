"""What a profile's report is computed from: the frames read from ``artifacts/<profile>/`` and derived from them.

    load_frames(profile, n_boot=..., seed=...) -> Frames

reads ``scores.csv``, ``items.csv`` (optional), ``forgetting.csv`` (:func:`cf_utils.metrics.write_forgetting`),
``manifest.json`` (optional), the mitigation study's tables (optional) and the training loss of every
scored chain (each stage's ``metrics.json``), and derives the element, curve, new-task and transfer frames
(:mod:`cf_utils.metrics`). The elements' CIs are the paired bootstrap of :mod:`cf_utils.stats`; ``n_boot``
and the seed come from the config (``eval.n_boot``, ``Config.seeds()["bootstrap"]``).

Also here: which models and rows count for the paper's comparisons (Luo et al. 2023, arXiv 2308.08747):
pretrained models only (:func:`real`), base models with their instruction-tuned twins (:func:`twin_pairs`),
and the rows of plain sequential tuning (:func:`seq_rows`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cf_utils import metrics, mitigation_study, paths
from cf_utils.models import get_spec
from cf_utils.study import SEQ, TRAINED_STAGES

TWINS = (("llama-7b", "alpaca-7b"),)  # hub pairs (base, instruction-tuned) not linked by ModelSpec.base
CI_COLUMNS = ("fg_low", "fg_high", "final_drop_low", "final_drop_high")
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
    mitigations: tuple[pd.DataFrame, pd.DataFrame] | None = None  # mitigation_study.read: retention, tasks
    losses: pd.DataFrame | None = None  # LOSS_COLUMNS: training loss per step of each scored chain


def load_frames(profile: str, *, n_boot: int, seed: int) -> Frames:
    """Read a profile's outputs (see the module docstring) and derive the report's frames from them."""
    forgetting = paths.output(profile, "forgetting.csv")
    if not forgetting.exists():
        raise FileNotFoundError(f"{forgetting} not found: run metrics.write_forgetting({profile!r})")
    scores = metrics.read_scores(paths.output(profile, "scores.csv"))
    items = read_optional(paths.output(profile, "items.csv"), metrics.read_items)
    elements = metrics.element_table(scores)
    return Frames(
        profile=profile,
        scores=scores,
        forgetting=pd.read_csv(forgetting),
        items=items,
        elements=without_cis(elements) if items is None else element_cis(elements, items, n_boot=n_boot, seed=seed),
        curves=metrics.curves(scores),
        new_task=metrics.new_task_table(scores),
        transfer=metrics.transfer(scores),
        manifest=read_optional(paths.output(profile, "manifest.json"), lambda p: json.loads(p.read_text())) or {},
        mitigations=mitigation_study.read(profile),
        losses=losses(profile, dict.fromkeys(zip(scores["model"], scores["variant"], strict=True))),
    )


def read_optional(path, read):
    """``read(path)``, or None where the file was not written (a profile may run without it)."""
    return read(path) if path.exists() else None


def without_cis(elements: pd.DataFrame) -> pd.DataFrame:
    """``elements`` with unknown (NaN) CIs: there are no item outcomes to resample."""
    return elements.assign(**dict.fromkeys(CI_COLUMNS, np.nan))


def element_cis(elements: pd.DataFrame, items: pd.DataFrame, *, n_boot: int, seed: int) -> pd.DataFrame:
    """``elements`` plus the paired bootstrap CIs of each element's FG and final drop (NaN where no items)."""
    out = without_cis(elements)
    have = set(zip(items["model"], items["variant"], items["benchmark"], strict=True))
    for i, r in out.iterrows():
        if (r["model"], r["variant"], r["benchmark"]) in have:
            ci = metrics.bootstrap_element(items, r["model"], r["variant"], r["benchmark"], n_boot=n_boot, seed=seed)
            out.loc[i, ["fg_low", "fg_high"]] = ci["fg"]
            out.loc[i, ["final_drop_low", "final_drop_high"]] = ci["final_drop"]
    return out


def losses(profile: str, chains) -> pd.DataFrame:
    """Training loss per optimizer step of each finished stage of ``chains`` ((model, variant) pairs); the
    step counts on across a chain's stages, so the five stages read one after another."""
    rows = []
    for model, variant in chains:
        step = 0
        for k in TRAINED_STAGES:
            path = paths.stage_dir(profile, model, variant, k) / "metrics.json"
            if path.is_file():
                m = json.loads(path.read_text())
                rows += [(model, variant, k, m["task"], step + i, x) for i, x in enumerate(m["loss"])]
                step += len(m["loss"])
    return pd.DataFrame(rows, columns=LOSS_COLUMNS)


def seq_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of plain sequential tuning (the paper's setting); every row if no ``seq`` was run."""
    return df[df["variant"] == SEQ] if SEQ in set(df["variant"]) else df


def real(models) -> list[str]:
    """The pretrained models among ``models`` (random-init ``tiny`` ones have no knowledge to forget)."""
    return [m for m in dict.fromkeys(models) if get_spec(m).source != "tiny"]


def twin_pairs(models) -> list[tuple[str, str]]:
    """(base, instruction-tuned twin) pairs present in ``models``: derived models via ``spec.base``, and TWINS."""
    present = set(models)
    pairs = [(get_spec(m).base, m) for m in dict.fromkeys(models) if get_spec(m).base in present]
    return pairs + [p for p in TWINS if set(p) <= present and p not in pairs]
