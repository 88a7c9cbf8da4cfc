"""The report's inputs (cf_utils/report/frames.py) on synthetic scores, and the synthetic runs the other
tests/test_report_*.py files build on (no models, seconds)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from test_metrics import make_items, scores_from_items

from cf_utils import metrics, paths, report, study
from cf_utils.report import frames, roles, tables
from cf_utils.report.frames import CI_COLUMNS

BENCHMARKS = {
    "domain_knowledge": ["science_qa", "physics", "misconceptions"],
    "reasoning": ["strategyqa", "wikihow_step", "winogrande", "math_qa"],
    "reading_comprehension": ["cosmosqa", "multirc", "fables"],
    "bias": ["bbq_ambig", "bbq_disambig"],
}
GROUPS = ["Age", "Gender_identity", "Race_ethnicity"]
OWN_METRIC = {"simp": "sari", "emdg": "bleu", "inqqg": "bleu", "exp": "bleu", "hgen": "rouge1"}
CPU_MODELS = ("smollm2-135m-instruct", "gemma3-270m", "gemma3-270m-alpaca")
N_ITEMS = 30


def synthetic(models=CPU_MODELS, variants=("seq",), drop=0.03, seed=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scores + items of models x variants x stages 0..5: each stage flips about ``drop`` of the right answers."""
    rng = np.random.default_rng(seed)
    scores, items = [], []
    for (mi, model), variant in itertools.product(enumerate(models), variants):
        flip = drop * (mi + 1) / (2 if variant == "replay" else 1)
        for category, bench in ((c, b) for c, benches in BENCHMARKS.items() for b in benches):
            correct = rng.random(N_ITEMS) < 0.6
            for stage in study.STAGES:
                correct = correct & (rng.random(N_ITEMS) > flip) if stage else correct
                key = {"model": model, "variant": variant, "stage": stage, "category": category, "benchmark": bench}
                scores += [
                    {**key, "metric": m, "value": correct.mean() * 100, "n": N_ITEMS} for m in ("acc", "acc_norm")
                ]
                items += [
                    {**key, "item": f"{bench}-{i}", "group": GROUPS[i % 3] if category == "bias" else "",
                     "metric": "acc", "value": int(c)}
                    for i, c in enumerate(correct)
                ]  # fmt: skip
        for k, task in enumerate(study.TASKS, start=1):
            for stage in sorted({k - 1, k, 5}):
                value = 10.0 + 20 * (stage >= k) - (stage - k) * 0.5 * (stage > k)
                key = {"model": model, "variant": variant, "stage": stage, "category": "new_task", "benchmark": task}
                scores += [{**key, "metric": m, "value": value, "n": 40} for m in (OWN_METRIC[task], "rougeL")]
    # items.csv as every version has written it; columns added since are filled in by metrics.read_items
    items = pd.DataFrame(items)
    return pd.DataFrame(scores)[list(metrics.SCORE_COLUMNS)], items[[c for c in metrics.ITEM_COLUMNS if c in items]]


def write_run(profile: str, **kwargs) -> None:
    folder = paths.artifacts_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    scores, items = synthetic(**kwargs)
    scores.to_csv(folder / "scores.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)


def forgetting_rows(spec: dict[tuple[str, str], tuple[float, float, float]], bias=None) -> pd.DataFrame:
    """A forgetting table: {(model, variant): (fg, ci_low, ci_high)} for every general category; ``bias`` alike.
    Each row's state follows the rule (metrics.state, the paper's bound); the power columns are unknown."""
    bounds = metrics.paper_bounds()
    rows = []
    for (model, variant), (fg, lo, hi) in spec.items():
        cats = [(c, 50.0, (fg, lo, hi)) for c in study.GENERAL]
        if bias is not None:
            cats.append(("bias", 60.0, bias[(model, variant)] if isinstance(bias, dict) else bias))
        for c, initial, (f, low, high) in cats:
            rows.append({"model": model, "variant": variant, "category": c, "initial": initial,
                         "final": initial - f / 2, "fg": f, "final_drop": f, "ci_low": low, "ci_high": high,
                         "paper_smallest": bounds[c], "state": metrics.state(low, high, bounds[c]),
                         "elements_above_chance": ""})  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=metrics.FORGETTING_COLUMNS)


def frames_of(forgetting: pd.DataFrame, bias_metric="acc", new_task=None, comparisons=None) -> report.Frames:
    scores = pd.DataFrame([("m", "seq", 0, "bias", "b", bias_metric, 50.0, 10)], columns=metrics.SCORE_COLUMNS)
    return report.Frames("synthetic", scores, forgetting, new_task=new_task, comparisons=comparisons)


def test_load_frames_derives_every_frame_with_paired_cis():
    write_run("cpu", models=CPU_MODELS[:1])
    metrics.write_forgetting("cpu", n_boot=20, seed=0)
    loaded = report.load_frames("cpu", n_boot=20, seed=0)
    assert set(loaded.forgetting["model"]) == {CPU_MODELS[0]}
    el = loaded.elements
    assert el[list(CI_COLUMNS)].notna().all().all()
    assert ((el["fg_low"] <= el["fg"] + 1e-9) & (el["fg"] <= el["fg_high"] + 1e-9)).all()
    assert not loaded.curves.empty and not loaded.new_task.empty and not loaded.transfer.empty
    assert loaded.manifest == {} and loaded.mitigations is None and loaded.losses.empty


def test_without_items_the_element_cis_are_unknown():
    write_run("cpu", models=CPU_MODELS[:1])
    paths.output("cpu", "items.csv").unlink()
    metrics.write_forgetting("cpu", n_boot=20, seed=0)
    loaded = report.load_frames("cpu", n_boot=20, seed=0)
    assert loaded.items is None and loaded.elements[list(CI_COLUMNS)].isna().all().all()


def test_load_frames_names_the_missing_forgetting_table():
    write_run("cpu", models=CPU_MODELS[:1])
    with pytest.raises(FileNotFoundError, match="write_forgetting"):
        report.load_frames("cpu", n_boot=20, seed=0)


def write_losses(profile: str, model: str, variant: str, per_stage: int = 3) -> None:
    """A chain's stage metrics.json files, each with a falling loss curve of ``per_stage`` steps."""
    for k, task in enumerate(study.TASKS, start=1):
        folder = paths.stage_dir(profile, model, variant, k)
        folder.mkdir(parents=True)
        loss = [10.0 - k - i / per_stage for i in range(per_stage)]
        (folder / "metrics.json").write_text(json.dumps({"task": task, "loss": loss}))


def test_losses_run_on_across_the_stages_of_a_chain():
    write_losses("cpu", "gemma3-270m", "seq")
    losses = frames.losses("cpu", [("gemma3-270m", "seq"), ("gemma3-270m", "replay")])  # replay: not trained
    assert list(losses["step"]) == list(range(15))
    assert list(dict.fromkeys(losses["task"])) == list(study.TASKS)
    assert losses.loc[losses["stage"] == 2, "loss"].iloc[0] == 8.0


def test_model_roles():
    assert roles.real(["tiny-causal", "gemma3-270m", "gemma3-270m"]) == ["gemma3-270m"]
    derived = ["gemma3-270m-alpaca", "gemma3-270m", "llama-7b"]
    assert roles.twin_pairs(derived) == [("gemma3-270m", "gemma3-270m-alpaca")]
    assert roles.twin_pairs(["alpaca-7b", "llama-7b"]) == [("llama-7b", "alpaca-7b")]
    rows = pd.DataFrame({"variant": ["seq", "replay"]})
    assert list(roles.seq_rows(rows)["variant"]) == ["seq"]
    assert list(roles.seq_rows(rows[rows["variant"] == "replay"])["variant"]) == ["replay"]


def test_claim_pairs_put_the_chain_said_to_forget_less_first():
    models = ["bloomz-3b", "bloomz-1b1", "mt0-large", "gemma3-270m", "gemma3-270m-alpaca", "tiny-causal"]
    f = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in models} | {("gemma3-270m", "replay"): (1, 0, 2)})
    pairs = roles.claim_pairs(f)
    assert pairs[roles.SCALE] == [(("bloomz-1b1", "seq"), ("bloomz-3b", "seq"))]  # smaller first
    assert pairs[roles.ARCHITECTURE] == [(("bloomz-1b1", "seq"), ("mt0-large", "seq"))]  # nearest decoder-only
    assert pairs[roles.INSTRUCTION] == [(("gemma3-270m-alpaca", "seq"), ("gemma3-270m", "seq"))]
    assert pairs[roles.MITIGATION] == [(("gemma3-270m", "replay"), ("gemma3-270m", "seq"))]


def test_an_element_at_its_floor_is_flagged():
    strong = make_items([0.8, 0.7, 0.7, 0.7, 0.7, 0.7], 300, seed=1, benchmark="A")
    floor = make_items([0.25, 0.3, 0.3, 0.3, 0.3, 0.3], 300, seed=10, benchmark="B")
    items = pd.concat([strong, floor], ignore_index=True).assign(choices=4)
    scores = scores_from_items(items)
    el = frames.element_cis(metrics.element_table(scores), items, n_boot=200, seed=0).set_index("benchmark")
    assert el["chance"].tolist() == [25.0, 25.0]
    assert el.loc["A", "initial_low"] > 25 and el.loc["A", "floor"] == ""
    assert el.loc["B", "initial"] < 25 + metrics.FLOOR_MARGIN and el.loc["B", "floor"] == frames.AT_FLOOR
    shown = tables.elements_table(el.reset_index()).set_index("benchmark")
    assert shown.loc["B", "floor"] == frames.AT_FLOOR and shown.loc["A", "chance"] == "25.00"
    known = {"A": {"chance": 25.0, "majority": 90.0}}  # below the majority baseline: at floor too
    el = frames.element_cis(metrics.element_table(scores), items, n_boot=50, seed=0, known=known)
    assert el.set_index("benchmark").loc["A", "floor"] == frames.AT_FLOOR
