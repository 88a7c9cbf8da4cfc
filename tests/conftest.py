"""Shared fixtures. Tests never touch the user's data/, artifacts/ or figures/ folders: each test
gets temporary roots; only the BIG-bench cache (sha-verified, read-only here) is shared."""

from __future__ import annotations

import pytest

from cf_utils import paths


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    cache = paths.cache_dir()  # resolve the shared cache before moving data/
    monkeypatch.setenv("CF_CACHE", str(cache))
    monkeypatch.setenv("CF_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("CF_ARTIFACTS_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CF_FIGURES_ROOT", str(tmp_path / "figures"))
