"""Faults and bad input: each must stop with an error that names the problem and the fix, exit non-zero,
and leave no output behind; finished work must survive. Where each fault of the checklist is tested:

- kill at any point (data preparation, training mid-stage, evaluation mid-way, mitigations, figures),
  resume to byte-identical results, determinism of two runs, `make -q` afterwards: tests/soak.py, once
  at a seeded moment in `make test` (make test-kill), at every kind of point in `make test-all`
  (tests/test_soak.py); unit level: test_train (resume to the same adapter), test_evaluate
  (resume at the first missing cell), test_io and test_prepare (partial outputs never read)
- unknown / mistyped / out-of-range config keys and notebook parameters, a model not in the
  registry: here (the notebook runner, before any kernel starts); config files: test_config
- a hub source with no network: test_hub; a changed, missing or short offline source file (sha
  mismatch): test_offline; a malformed or empty JSONL file: test_records, test_scoring (cf-eval);
  a benchmark with zero items after filtering: test_prepare
- an adapter from a different base model, a full disk during a save, stale cells (a config change
  never mixes old and new rows), a run from uncommitted code marked in the report: here
- notebooks run out of order or with another seed than the data's (a reader in JupyterLab): here
"""

import errno
import json
import os
import shutil

import pytest
import torch

from cf_utils import evaluate, io, notebooks, paths, provenance, report
from cf_utils.config import load_config

# ---------------------------------------------------------------- bad parameters: exit 2 before a kernel starts


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("overrides", "{data.bench_item: 5}")], "unknown config key 'data.bench_item'"),
        ([("overrides", "{train.lr: fast}")], "'train.lr' = 'fast' has the wrong type"),
        ([("overrides", "{data.bench_items: 0}")], "bench_items = 0 is out of range: it must be >= 1"),
        ([("overrides", "{mitigation.wise_alphas: [2.0]}")], "alphas in [0, 1]"),
        ([("overrides", "{train.models: [gpt-5]}")], "unknown model 'gpt-5'; registered models:"),
        ([("seed", "abc")], "seed must be an integer"),
        ([("overrides", "[1, 2]")], "overrides must be a mapping"),
        ([("sede", "3")], "unknown parameter(s) ['sede']"),
        ([("overrides", "{a: [1")], "not valid YAML"),
    ],
)
def test_bad_parameters_exit_2_naming_the_problem_and_leave_nothing(params, expected, capsys):
    argv = ["01_prepare_data", "--profile", "smoke"] + [x for k, v in params for x in ("-p", k, v)]
    assert notebooks.main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert not paths.artifacts_dir("smoke").exists() and not paths.data_dir("smoke").exists()  # not even a log


def test_unknown_profile_exits_2_listing_the_profiles(capsys):
    assert notebooks.main(["01_prepare_data", "--profile", "smokey"]) == 2
    assert "unknown profile 'smokey'" in capsys.readouterr().err


# ---------------------------------------------------------------- a full disk


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_a_file_keeps_the_old_one_and_says_what_to_do(tmp_path, monkeypatch):
    target = tmp_path / "scores.csv"
    target.write_text("old\n")
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(io.DiskFullError, match="no space left on the device.*Free some space"):
        io.atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


def test_disk_full_while_saving_a_stage_leaves_no_stage_directory(tmp_path):
    final = tmp_path / "stage-3"
    with pytest.raises(io.DiskFullError, match="stage-3: no space left"), io.atomic_dir(final) as tmp:
        (tmp / "adapter_model.safetensors").write_bytes(b"half")
        _no_space()
    assert list(tmp_path.iterdir()) == []  # neither the stage nor a partial directory


def test_disk_full_while_saving_a_resume_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    state = tmp_path / "state.pt"
    torch.save({"step": 4}, state)
    monkeypatch.setattr(torch, "save", lambda obj, f: (open(f, "wb").write(b"half"), _no_space()))
    with pytest.raises(io.DiskFullError):
        with io.atomic_file(state) as tmp:
            torch.save({"step": 8}, tmp)
    assert torch.load(state)["step"] == 4 and [p.name for p in tmp_path.iterdir()] == ["state.pt"]


# ---------------------------------------------------------------- evaluation inputs


@pytest.fixture
def fake_chain(monkeypatch):
    """A 'trained' tiny-causal seq chain: zero-init LoRA adapters in every stage directory (no data needed)."""
    from peft import get_peft_model

    from cf_utils import models

    cfg = load_config("smoke", {"train.models": ["tiny-causal"], "train.variants": ["seq"]})

    def make(model_name: str, made_for: str):
        torch.manual_seed(0)
        peft = get_peft_model(models.load_model(model_name, method="lora"), models.lora_config(model_name))
        for k in range(6):
            d = paths.stage_dir("smoke", "tiny-causal", "seq", k)
            d.mkdir(parents=True, exist_ok=True)
            peft.save_pretrained(d)
            (d / "run_config.json").write_text(json.dumps({"model": made_for, "stage": k}))
            (d / "metrics.json").write_text("{}")
        return cfg

    return make


def test_an_adapter_from_another_base_model_is_refused_before_anything_is_scored(fake_chain):
    cfg = fake_chain("tiny-seq2seq", made_for="tiny-seq2seq")
    with pytest.raises(evaluate.AdapterMismatchError, match="trained on model 'tiny-seq2seq', not on 'tiny-causal'"):
        evaluate.ChainEval(cfg, "tiny-causal", "seq").run(progress=False)
    assert not paths.eval_dir("smoke", "tiny-causal", "seq").exists()


def test_adapter_weights_that_do_not_fit_are_named_even_with_a_wrong_record(fake_chain, monkeypatch):
    cfg = fake_chain("tiny-seq2seq", made_for="tiny-causal")  # the record lies; the shapes do not
    ev = evaluate.ChainEval(cfg, "tiny-causal", "seq")
    with pytest.raises(evaluate.AdapterMismatchError, match="does not fit tiny-causal.*train the chain again"):
        ev._load()
        ev._use(1)


def test_scores_never_mix_cells_of_another_config(tmp_path, monkeypatch):
    """A cell on disk computed under other settings is refused by gather, not silently mixed in."""
    cfg = load_config("smoke", {"train.models": ["tiny-causal"], "train.variants": ["seq"]})
    cell = evaluate.Cell(5, "task", "simp", tmp_path / "simp.eval.jsonl", "new_task")
    cell.path.write_text("{}\n")
    monkeypatch.setattr(evaluate, "cells", lambda cfg, stages=None: [cell])
    monkeypatch.setattr(evaluate.ChainEval, "checkpoint_key", lambda self, stage: "ckpt")
    path = paths.cell_file("smoke", "tiny-causal", "seq", cell.stage, cell.name)
    record = {"model": "tiny-causal", "variant": "seq", "stage": 5, "category": "new_task", "benchmark": "simp",
              "kind": "instruction", "summary": {"n": 1, "sari": 40.0}, "items": []}  # fmt: skip
    io.atomic_write_json(path, {"key": evaluate.ChainEval(cfg, "tiny-causal", "seq").cell_key(cell), **record})
    assert len(evaluate.gather(cfg)[0]) == 1  # fresh: gathered
    longer = load_config("smoke", {"train.models": ["tiny-causal"], "train.variants": ["seq"],
                                   "eval.max_new_tokens": 99})  # fmt: skip
    with pytest.raises(evaluate.StaleCellError, match="other weights, inputs or settings.*make evaluate"):
        evaluate.gather(longer)


# ---------------------------------------------------------------- provenance


def test_a_run_from_uncommitted_code_is_marked_at_the_top_of_the_report():
    frames = report.Frames("smoke", None, None, manifest={"git": {"sha": "a" * 40, "dirty": True}})
    assert "uncommitted changes" in report.provenance_warning(frames)[0]
    clean = report.Frames("smoke", None, None, manifest={"git": {"sha": "a" * 40, "dirty": False}})
    assert report.provenance_warning(clean) == []
    assert "unknown" in report.provenance_warning(report.Frames("smoke", None, None))[0]


def test_manifest_records_whether_the_tree_is_dirty(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(paths.ROOT / "configs", repo / "configs")
    import subprocess

    def git(*a):
        subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    assert provenance.git_state(repo)["dirty"] is False
    (repo / "configs" / "smoke.yaml").write_text((repo / "configs" / "smoke.yaml").read_text() + "\n# edited\n")
    assert provenance.git_state(repo)["dirty"] is True


def test_a_hub_source_without_network_fails_the_notebook_naming_the_offline_profile(monkeypatch, capsys):
    """Through the notebook runner (a real kernel): exit 1, the cause and the fix on stderr, no data folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the kernel inherits it: as if the hub were unreachable
    rc = notebooks.main(["01_prepare_data", "--profile", "smoke", "-p", "overrides", "{data.source: hub}"])
    err = capsys.readouterr().err
    assert rc == 1 and "HubUnavailableError" in err and "PROFILE=cpu" in err, err
    assert not paths.data_dir("smoke").exists()


# ---------------------------------------------------------------- a reader's notebooks out of order


def test_a_missing_input_names_the_notebook_and_target_that_write_it():
    with pytest.raises(
        FileNotFoundError, match=r"written by 03_evaluate; run that first \(make evaluate PROFILE=cpu\)"
    ):
        paths.require("cpu", "scores.csv")


def test_without_05s_tables_the_report_says_to_run_it_never_that_the_profile_has_no_study():
    from cf_utils import mitigation_tables

    assert "has not run yet: run 05_mitigations (make mitigations PROFILE=smoke)" in mitigation_tables.absent_reason(
        "smoke"
    )
    mitigation_tables.write_empty("smoke")  # what 05 writes without one
    assert mitigation_tables.absent_reason("smoke").startswith("this profile runs no mitigation study")


def test_data_sampled_with_another_seed_is_refused_with_both_ways_out():
    from cf_utils.data import manifest

    path = paths.data_manifest("smoke")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"config": {"seed": 7}, "files": []}))
    with pytest.raises(manifest.SeedMismatch, match="sampled with seed 7, but this step runs with seed 1234") as e:
        manifest.read(load_config("smoke"))
    assert "set seed = 7" in str(e.value) and "01_prepare_data with seed = 1234" in str(e.value)
    assert manifest.read(load_config("smoke", seed=7))["config"]["seed"] == 7
    with pytest.raises(manifest.SeedMismatch):
        provenance.build(load_config("smoke"))  # the run's manifest never records a seed the data did not use
