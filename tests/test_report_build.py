"""The whole report of a profile, built from synthetic scores (cf_utils/report/__init__.py: build; render.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from test_report_frames import CPU_MODELS, synthetic, write_losses, write_run

from cf_utils import report
from cf_utils.config import load_config
from cf_utils.report import render

OVERRIDES = {"eval.n_boot": 50, "seed": 0}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("built")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CF_ARTIFACTS_ROOT", str(root / "artifacts"))
        mp.setenv("CF_FIGURES_ROOT", str(root / "figures"))
        write_run("cpu", models=(*CPU_MODELS, "tiny-seq2seq"), variants=("seq", "replay"))
        write_losses("cpu", "gemma3-270m", "seq")
        path = report.build(load_config("cpu", OVERRIDES))
        yield root, path


def test_build_writes_every_file(built):
    root, path = built
    assert path == root / "artifacts/cpu/report.md"
    for name in ("forgetting.csv", "report.md", "report.html"):
        assert (root / "artifacts/cpu" / name).stat().st_size > 0
    figures = [
        "loss_curves",
        "stage_curves",
        "fg_by_category",
        "fg_vs_scale",
        "base_vs_instruct",
        "bias_by_type",
        "replay_vs_seq",
        "new_task_before_after",
    ]
    for name in figures:
        for ext in ("png", "pdf"):
            assert (root / "figures/cpu" / f"{name}.{ext}").stat().st_size > 1000
    assert not (root / "figures/cpu/decoder_vs_encdec.png").exists()  # tiny-seq2seq is no pretrained model
    tables = [
        "table4_forgetting",
        "table5_bias",
        "bias_types",
        "table6_general_instruction",
        "table3_new_task",
        "elements",
        "transfer",
        "paper_vs_ours",
    ]
    for name in tables:
        for ext in ("md", "csv", "tex"):
            assert (root / "figures/cpu/tables" / f"{name}.{ext}").stat().st_size > 0
    md = path.read_text()
    assert "../../figures/cpu/stage_curves.png" in md
    assert "Not drawn: needs a decoder-only and an encoder-decoder" in md
    assert "make reproduce PROFILE=cpu" in md
    assert '<img src="../../figures/cpu/fg_by_category.png"' in (root / "artifacts/cpu/report.html").read_text()


def test_tables_contain_the_numbers(built):
    root, _ = built
    forgetting = pd.read_csv(root / "artifacts/cpu/forgetting.csv")
    row = forgetting[(forgetting["model"] == "gemma3-270m") & (forgetting["variant"] == "seq")]
    row = row[row["category"] == "reasoning"].iloc[0]
    cell = f"{row['fg']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    for ext in ("md", "tex", "csv"):
        assert cell in (root / "figures/cpu/tables" / f"table4_forgetting.{ext}").read_text()
    tex = (root / "figures/cpu/tables/table5_bias.tex").read_text()
    assert "\\begin{tabular}" in tex and "BBQ accuracies" in tex and "gemma3-270m-alpaca" in tex


def test_report_lists_the_profiles_deviations_and_every_section(built):
    _, path = built
    md = path.read_text()
    for line in report.deviations(load_config("cpu", OVERRIDES)):
        assert f"- {line}" in md
    sections = ["## Headline", "## The paper's claims", "## Paired comparisons", "## Table 4", "## Power",
                "## Sensitivity", "## Figures", "### Training loss", "## Deviations from the paper",
                "## How to regenerate"]  # fmt: skip
    assert [md.index(s) for s in sections] == sorted(md.index(s) for s in sections)
    assert "- Variants: seq, replay" in md and "Time: unknown" in md


def test_headline_reads_the_manifest():
    scores, _ = synthetic(models=("gemma3-270m",))
    manifest = {"time_s": {"notebooks": 60, "training": 24, "evaluation": 6, "derived_models": 0, "total": 90},
                "notebooks_s": {"01": 60, "02": None}, "git": {"sha": "b" * 40, "dirty": False}}  # fmt: skip
    lines = render.headline(report.Frames("synthetic", scores, None, manifest=manifest))
    assert lines[0] == "- Model `gemma3-270m`: decoder-only, 0.268B parameters, base, source gguf"
    reasoning = ", ".join(f"`{b}` (30 items)" for b in ("math_qa", "strategyqa", "wikihow_step", "winogrande"))
    assert f"- Reasoning: {reasoning}" in lines
    assert lines[-3].startswith("- Time recorded by the steps themselves: 1.5 min (notebooks 1.0 min, training 0.4 min")
    assert "- Notebooks (papermill durations): 01 1.0 min" in lines
    assert f"- Code: git {'b' * 12}" in lines


def test_report_states_the_rule_before_the_verdicts_and_the_power_of_every_unit(built):
    root, path = built
    md = path.read_text()
    rule = md.index("Verdicts follow a rule fixed before the data")
    assert rule < md.index("| claim ")
    assert "DK 9.18, Rs 6.48, RC 17.45, Bias 5.62" in md  # the paper-sized bounds, from paper_numbers.csv
    assert "Holm-adjusted within each claim" in md and "not training-seed variance" in md
    forgetting = pd.read_csv(root / "artifacts/cpu/forgetting.csv")
    power = md[md.index("## Power") :]
    for _, r in forgetting.iterrows():  # every model and category, its MDE beside the achieved half-width
        half = f"{(r['ci_high'] - r['ci_low']) / 2:.2f}"
        assert f"| {r['category']} " in power and f"| {half} " in power and f"| {r['mde']:.2f} " in power
    replay = next(line for line in md.splitlines() if line.startswith("| 6 "))
    assert "Holm p" in replay and report.NOT_MEASURABLE not in replay  # seq and replay on the same items: compared
