"""The fault checks of the two tiers and what a failure prints.

- make test-all: the soak (tests/soak.py), the smoke study killed at every kind of point and at random moments,
  each time resumed by the next `make reproduce`, ends with byte-identical results; and `make -j 2 reproduce`
  (chains in parallel, killed once) ends with the serial run's results too.
- make test: `tests/soak.py --kill-once` (make test-kill) kills a copy of the smoke run once; here, the
  pieces it stands on (what it removes, how long it waits) on hand-made runs.
- every tier: a failing test is listed with the command that reruns it alone (tests/conftest.py)."""

import json
import subprocess
import sys

import pytest
import soak

from cf_utils import paths


@pytest.mark.slow
def test_killed_runs_resume_to_the_uninterrupted_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(paths.ROOT / "tests" / "soak.py"), "--random-kills", "5", "--keep", str(tmp_path)],
        cwd=paths.ROOT, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.count("killed at") >= 5 + 3  # the five kill points, and (nearly) every random kill
    assert "parallel (make -j 2) kills:" in proc.stdout and "PASS" in proc.stdout


def _finished_chain(out, model, variant):
    for k in range(6):
        stage = out / model / variant / f"stage-{k}"
        stage.mkdir(parents=True)
        (stage / "metrics.json").write_text("{}")
        cells = out / "eval" / model / variant / f"stage-{k}"
        cells.mkdir(parents=True)
        (cells / "physics.json").write_text("{}")
    (out / model / variant / "trained.json").write_text("{}")
    (out / "eval" / model / variant / "evaluated.json").write_text("{}")


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_kill_check_unfinishes_one_chain_from_a_stage_as_a_killed_run_leaves_it(tmp_path):
    roots = soak.Roots(tmp_path, "smoke")
    _finished_chain(roots.out, "tiny-causal", "seq")
    _finished_chain(roots.out, "tiny-causal", "replay")
    before = _files(roots.out)
    soak.unfinish(roots, "tiny-causal/seq", 3)
    gone = set(before) - set(_files(roots.out))
    seq = [f"tiny-causal/seq/stage-{k}/metrics.json" for k in (3, 4, 5)]
    cells = [f"eval/tiny-causal/seq/stage-{k}/physics.json" for k in (3, 4, 5)]
    stamps = ["tiny-causal/seq/trained.json", "eval/tiny-causal/seq/evaluated.json"]
    assert gone == {*seq, *cells, *stamps}  # stages 0-2, their cells and the other chain are kept
    soak.unfinish(roots, "tiny-causal/replay", 0)
    assert not any(f.startswith(("tiny-causal/replay/", "eval/tiny-causal/replay/")) for f in _files(roots.out))


def test_the_kill_lands_within_the_work_the_clean_run_recorded_for_what_is_redone(tmp_path):
    stages = [{"model": m, "variant": "seq", "stage": k, "train_wall_s": None if k == 0 else 10.0, "scoring_s": 2.0,
               "generation_s": None} for m in ("tiny-causal", "tiny-seq2seq") for k in range(6)]  # fmt: skip
    notebooks = {"01_prepare_data": 16.0, "02_finetune": 4.0, "03_evaluate": 8.0, "04_figures": None}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"stages": stages, "notebooks_s": notebooks}))
    assert soak.work_left(manifest, "tiny-causal/seq", 4) == 2 * (10 + 2) + 4 + 8  # 01 is not redone
    assert soak.work_left(manifest, "tiny-causal/seq", 0) == 5 * 10 + 6 * 2 + 4 + 8
    assert soak.work_left(tmp_path / "none.json", "tiny-causal/seq", 0) == 60.0  # no timings: a guess


def test_a_failing_test_is_listed_with_the_command_that_reruns_it_alone(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    (tmp_path / "tests" / "conftest.py").write_text((paths.ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "tests" / "test_some.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('x', ['a b', 'c'])\ndef test_one(x):\n    assert x == 'c'\n\n"
        "def test_two():\n    pass\n"
    )
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1, proc.stdout
    section = proc.stdout.split("rerun a failure alone")[1].splitlines()[1:]
    commands = section[: next(i for i, line in enumerate(section + ["="]) if line.startswith("="))]
    assert commands[0] == f"{sys.executable} -m pytest 'tests/test_some.py::test_one[a b]'"
    assert not any("test_one[c]" in c or "test_two" in c for c in commands)
