"""Chains as make targets (cf_utils.launch, the Makefile) and a GPU per job (distributed.claim_gpu)."""

import os
import subprocess

import pytest

from cf_utils import distributed, launch, paths
from cf_utils.config import ConfigError, load_config


def test_every_chain_once_the_study_at_every_stage_the_methods_at_the_last():
    cfg = load_config("smoke")
    chains = launch.chains(cfg)
    names = [f"{m}/{v}" for m, v, _ in chains]
    assert len(names) == len(set(names))
    stages = {f"{m}/{v}": s for m, v, s in chains}
    for m in cfg.train.models:
        for v in cfg.train.variants:
            assert stages[f"{m}/{v}"] == (0, 1, 2, 3, 4, 5)  # the study's chains, replay included
    assert stages["tiny-causal/l2"] == stages["tiny-causal/wise-0.5"] == (5,)  # the mitigation study's own
    text = launch.makefile(cfg)
    assert "STUDY_CHAINS := tiny-causal/seq tiny-causal/replay tiny-seq2seq/seq tiny-seq2seq/replay\n" in text
    assert "tiny-causal/wise-0.5" in text.split("MITIGATION_CHAINS := ")[1].split("\n")[0]
    assert "wise" not in text.split("MITIGATION_TRAINED := ")[1]  # WiSE-FT trains nothing
    assert "MITIGATIONS_IN_REPRODUCE := yes\n" in text
    apart = launch.makefile(load_config("smoke", {"mitigation.in_reproduce": False}))
    assert "MITIGATIONS_IN_REPRODUCE := \n" in apart  # the report does not wait for `make mitigations`


def test_no_mitigation_methods_no_mitigation_chains():
    cfg = load_config("smoke", {"mitigation.methods": []})
    assert [v for _, v, _ in launch.chains(cfg)] == ["seq", "replay", "seq", "replay"]
    assert "MITIGATION_CHAINS := \n" in launch.makefile(cfg)


def test_an_unknown_chain_is_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"'tiny-causal/sgd' is not a chain .*tiny-causal/l2"):
        launch.select(load_config("smoke"), ["tiny-causal/sgd"])


def test_make_runs_every_chain_as_a_target_of_its_own(tmp_path):
    """`make -n reproduce` lists one launch per chain and step, before the notebooks that gather them."""
    roots = [f"DATA_ROOT={tmp_path}/d", f"ARTIFACTS_ROOT={tmp_path}/a", f"FIGURES_ROOT={tmp_path}/f"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CF_", "MAKE"))}
    out = subprocess.run(["make", "-n", "reproduce", "PROFILE=smoke", *roots], cwd=paths.ROOT, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    cfg = load_config("smoke")
    for m, v, _ in launch.chains(cfg):
        evaluate = f"cf_utils.launch evaluate --profile smoke --chain {m}/{v}"
        assert sum(evaluate in line for line in lines) == 1, evaluate
        train = f"cf_utils.launch train --profile smoke --chain {m}/{v}"
        assert sum(train in line for line in lines) == (0 if "wise" in v else 1), train
    first_notebook = next(i for i, line in enumerate(lines) if "02_finetune" in line)
    study_trained = [i for i, line in enumerate(lines) if "launch train" in line and "/l2" not in line]
    assert max(study_trained[:4]) < first_notebook
    bad = subprocess.run(["make", "-n", "chain", "CHAIN=tiny-causal/sgd", "PROFILE=smoke", *roots], cwd=paths.ROOT,
                         env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode != 0 and "not a chain of profile smoke" in bad.stderr


def test_jobs_without_a_launcher_take_different_gpus(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(distributed, "use_cpu", lambda: False)  # as on a machine with GPUs
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    held = len(distributed._HELD)
    try:
        first = distributed.claim_gpu(["0", "1"], lock_dir=tmp_path)
        assert first == "0" and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        assert distributed.claim_gpu(["0", "1"], lock_dir=tmp_path) == "1"  # "0" is held (another job)
        distributed._HELD.pop(held).close()  # the first job ends
        assert distributed.claim_gpu(["0", "1"], lock_dir=tmp_path) == "0"
    finally:
        while len(distributed._HELD) > held:
            distributed._HELD.pop().close()


def test_nothing_to_choose_with_one_gpu_or_under_a_launcher(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(distributed, "use_cpu", lambda: False)
    assert distributed.claim_gpu(["0"], lock_dir=tmp_path) is None
    assert distributed.claim_gpu([], lock_dir=tmp_path) is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.claim_gpu(["0", "1"], lock_dir=tmp_path) is None


def test_mpirun_s_names_become_torch_s(monkeypatch):
    """accelerate launch --cpu --num_processes N --mpirun_hostfile F starts processes through mpirun."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    monkeypatch.setattr(os, "environ", env)  # what _adopt_mpi sets goes with the test
    env.pop("MASTER_PORT", None)
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("MPI_LOCALRANKID", "1")
    distributed._adopt_mpi()
    assert (os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"]) == ("1", "2", "1")
    assert os.environ["MASTER_ADDR"] == "127.0.0.1" and os.environ["MASTER_PORT"] == "29500"
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "0")  # a launcher's own RANK wins over MPI's
    distributed._adopt_mpi()
    assert os.environ["RANK"] == "1"
