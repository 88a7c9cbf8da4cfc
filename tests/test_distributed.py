"""Several processes on one chain (cf_utils.distributed, cf_utils.launch) against one process, on this CPU:
`accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2` starts two processes
through torchrun (gloo backend on a CPU).
(`accelerate launch --cpu --num_processes 2` starts one: accelerate 1.15 sends CPU multi-process runs
through mpirun, which this machine lacks.)

- scoring and generation: the same batches in some process -> scores.csv and items.csv byte-identical;
- training: each batch split over the processes, gradients summed -> the same loss curve to 1e-3 and the
  same evaluation outcomes (adapters differ by Adam's sign on near-zero gradients: stated tolerance).
"""

import json
import shutil
import socket
import subprocess
import sys

import pandas as pd
import pytest

from cf_utils import launch, paths
from cf_utils.config import load_config
from cf_utils.data.prepare import prepare

pytestmark = [pytest.mark.slow, pytest.mark.network]
OVERRIDES = "{train.models: [tiny-causal], train.variants: [seq], mitigation.methods: [], eval.precision: fp32}"


def _cfg():
    import yaml

    return load_config("smoke", yaml.safe_load(OVERRIDES))


def _port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _launch(step: str, env: dict, processes: int) -> None:
    cmd = [sys.executable, "-m", "cf_utils.launch", step, "--profile", "smoke", "--overrides", OVERRIDES]
    if processes > 1:
        acc = [str(paths.ROOT / ".venv" / "bin" / "accelerate"), "launch", "--config_file",
               str(paths.CONFIGS / "accelerate" / "ddp.yaml"), "--num_processes", str(processes),
               "--main_process_port", _port(), "-m", "cf_utils.launch"]  # the README's command  # fmt: skip
        cmd = acc + cmd[3:]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Smoke data; chain A trained by 1 process, chain B by 2; A scored by 1 process and by 2 (A2), B by 2."""
    import os

    root = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "CF_CACHE": str(paths.cache_dir()), "CF_DATA_ROOT": str(root / "data")}
    mp = pytest.MonkeyPatch()
    mp.setenv("CF_DATA_ROOT", str(root / "data"))
    mp.setenv("CF_CACHE", env["CF_CACHE"])
    prepare(_cfg(), root / "data" / "smoke")
    mp.undo()
    for name, processes in (("A", 1), ("B", 2)):
        _launch("train", {**env, "CF_ARTIFACTS_ROOT": str(root / name)}, processes)
    shutil.copytree(root / "A", root / "A2")  # the same trained chain, scored again by 2 processes
    _launch("evaluate", {**env, "CF_ARTIFACTS_ROOT": str(root / "A")}, 1)
    for name in ("A2", "B"):
        _launch("evaluate", {**env, "CF_ARTIFACTS_ROOT": str(root / name)}, 2)
    return root


def test_two_processes_score_exactly_as_one(runs):
    for f in ("scores.csv", "items.csv"):
        assert (runs / "A" / "smoke" / f).read_bytes() == (runs / "A2" / "smoke" / f).read_bytes(), f


def test_two_processes_train_to_the_same_loss_curve_and_scores(runs):
    for k in range(1, 6):
        one, two = (json.loads((runs / r / "smoke/tiny-causal/seq" / f"stage-{k}" / "metrics.json").read_text())
                    for r in ("A", "B"))  # fmt: skip
        assert one["steps"] == two["steps"] and one["tokens"] == two["tokens"]
        if k == 1:  # the very first step: the same batch on the same weights
            assert one["loss"][0] == pytest.approx(two["loss"][0], abs=1e-4)
        assert max(abs(a - b) for a, b in zip(one["loss"], two["loss"], strict=True)) < 1e-3
    a, b = (pd.read_csv(runs / r / "smoke" / "items.csv") for r in ("A", "B"))
    assert (a["value"] != b["value"]).mean() <= 0.01  # outcomes of 1% of items at most (0 measured)


def test_a_chain_outside_the_profile_is_refused(capsys):
    assert launch.main(["train", "--profile", "smoke", "--chain", "gpt-5/seq"]) == 2
    assert "not a chain of profile 'smoke'" in capsys.readouterr().err
