"""The soak (tests/soak.py) as part of `make test`: the smoke study killed at every kind of point and at
random moments, each time resumed by the next `make reproduce`, ends with byte-identical results; and
`make -j 2 reproduce` (chains in parallel, killed once) ends with the serial run's results too."""

import subprocess
import sys

import pytest

from cf_utils import paths


@pytest.mark.slow
@pytest.mark.network  # the BIG-bench files (smoke data), shared with the other tests through the cache
def test_killed_runs_resume_to_the_uninterrupted_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(paths.ROOT / "tests" / "soak.py"), "--random-kills", "5", "--keep", str(tmp_path)],
        cwd=paths.ROOT, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.count("killed at") >= 5 + 3  # the five kill points, and (nearly) every random kill
    assert "parallel (make -j 2) kills:" in proc.stdout and "PASS" in proc.stdout
