"""The report's deviations from the paper, derived from the profile's config (cf_utils/report/deviations.py)."""

from __future__ import annotations

from cf_utils import report
from cf_utils.config import load_config


def topics(cfg) -> set[str]:
    """Each deviation's topic: the words before its first colon."""
    return {line.split(":", 1)[0] for line in report.deviations(cfg)}


def amount(cfg) -> str:
    return next(line for line in report.deviations(cfg) if line.startswith("Training amount"))


def test_two_profiles_deviate_differently():
    smoke, gpu = report.deviations(load_config("smoke")), report.deviations(load_config("gpu-mini"))
    assert smoke != gpu
    assert {"Benchmarks (data.source packaged)", "Tasks (data.source packaged)"} <= topics(
        load_config("smoke")
    ) - topics(load_config("gpu-mini"))
    assert any("QLoRA adapters" in line for line in gpu) and not any("QLoRA" in line for line in smoke)


def test_a_point_that_matches_the_paper_lists_no_deviation():
    paper = load_config("paper")  # the paper's models, data, examples, epochs and batch: QLoRA is its deviation
    assert topics(paper) == {"Training", "Trained weights", "Seeds"}
    full = load_config("paper", {"train.method": "full", "train.lr": 2e-5})
    assert topics(full) == {"Seeds"}
    assert topics(load_config("paper", {"train.method": "full", "train.lr": 5e-5})) == {"Learning rate", "Seeds"}


def test_each_point_follows_its_config_key():
    cpu, full = load_config("cpu"), load_config("cpu-full")
    assert {"Models", "Weights", "Data"} <= topics(cpu) and "General instruction tuning" not in topics(cpu)
    assert {"Models", "Weights", "General instruction tuning", "Data", "Beyond the paper"} <= topics(full)
    assert "up to 34 examples x 3 epoch(s)" in amount(cpu) and "effective batch 1" in amount(cpu)
    assert "Beyond the paper" not in topics(load_config("cpu-full", {"mitigation.methods": ["replay"]}))
    bench = next(line for line in report.deviations(cpu) if line.startswith("Benchmarks"))
    assert "data.source packaged" in bench and "MMLU (5-shot)" in bench and "none for MathQA and MuTual" in bench
    assert "power calculation" in next(line for line in report.deviations(cpu) if line.startswith("Data"))
    more = load_config("cpu", {"train.examples_per_task": None, "train.epochs": 3, "data.train_examples": 1000})
    assert "up to 1,000 examples x 3 epoch(s)" in amount(more)
    assert "seed 7" in report.deviations(load_config("cpu", seed=7))[-1]
    hub_letters = load_config("paper", {"data.mmlu_format": "letter", "data.bench_items": 100})
    assert {"MMLU", "Data"} <= topics(hub_letters)


def test_items_dropped_as_leaks_are_a_deviation_only_where_the_manifest_has_some():
    import json

    from cf_utils import paths

    cfg = load_config("smoke")
    assert "Leaks removed" not in topics(cfg)  # no data prepared here
    manifest = paths.data_manifest("smoke")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    files = [{"name": "multirc", "role": "benchmark", "leaks_removed": 124}, {"name": "physics", "role": "benchmark",
             "leaks_removed": 0}]  # fmt: skip
    manifest.write_text(json.dumps({"files": files}))
    line = next(x for x in report.deviations(cfg) if x.startswith("Leaks removed"))
    assert "multirc 124" in line and "physics" not in line
