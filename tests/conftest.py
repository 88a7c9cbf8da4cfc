"""Shared fixtures. Tests never touch the user's data/, artifacts/ or figures/ folders: each test
gets temporary roots; only the download and conversion cache (data/cache/, sha-keyed) is shared.

A failing test is listed at the end of the run with the command that reruns it alone (a CI log says
what to paste). The tiers, `make test` and `make test-all`, are in the README (Tests)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from cf_utils import paths


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    cache = paths.cache_dir()  # resolve the shared cache before moving data/
    monkeypatch.setenv("CF_CACHE", str(cache))
    monkeypatch.setenv("CF_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("CF_ARTIFACTS_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CF_FIGURES_ROOT", str(tmp_path / "figures"))
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):  # a test's make runs as under a bare pytest,
        monkeypatch.delenv(var, raising=False)  # not as a sub-make of `make test` (its variables, its -j)


def rerun_commands(nodeids: list[str], python: str, rootdir: Path, cwd: Path) -> list[str]:
    """The command that reruns each test alone, from the directory pytest ran in."""
    cd = "" if cwd == rootdir else f"cd {shlex.quote(str(rootdir))} && "
    return [f"{cd}{python} -m pytest {shlex.quote(nodeid)}" for nodeid in nodeids]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    failed = [r.nodeid for key in ("failed", "error") for r in terminalreporter.stats.get(key, []) if r.nodeid]
    if not failed:
        return
    python = Path(sys.executable)
    if python.is_relative_to(config.rootpath):
        python = python.relative_to(config.rootpath)  # .venv/bin/python
    terminalreporter.section("rerun a failure alone")
    for line in rerun_commands(list(dict.fromkeys(failed)), str(python), config.rootpath, config.invocation_params.dir):
        terminalreporter.line(line)
