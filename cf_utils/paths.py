"""Every path of the project, rooted at the repository (never at the working directory).

Data flows data/ -> artifacts/ -> figures/, one sub-folder per profile:

    data/cache/                    downloads and conversions shared by all profiles (sha-keyed)
    data/<profile>/                prepared benchmarks/ and tasks/ JSONL + MANIFEST.json
    artifacts/<profile>/           adapters, scores, executed notebooks, manifest.json
    figures/<profile>/             figures and tables
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
NOTEBOOKS = ROOT / "notebooks"
REFERENCE = ROOT / "data" / "reference"  # small committed facts (the paper's numbers)


def data_root() -> Path:
    """``data/``; ``CF_DATA_ROOT`` moves it (tests use a temporary folder)."""
    return Path(os.environ.get("CF_DATA_ROOT", ROOT / "data"))


def cache_dir() -> Path:
    """Downloads and conversions shared by all profiles; ``CF_CACHE`` moves it."""
    return Path(os.environ.get("CF_CACHE", data_root() / "cache"))


def data_dir(profile: str) -> Path:
    return data_root() / profile


def benchmarks_dir(profile: str) -> Path:
    return data_dir(profile) / "benchmarks"


def tasks_dir(profile: str) -> Path:
    return data_dir(profile) / "tasks"


def data_manifest(profile: str) -> Path:
    return data_dir(profile) / "MANIFEST.json"


def artifacts_dir(profile: str) -> Path:
    return Path(os.environ.get("CF_ARTIFACTS_ROOT", ROOT / "artifacts")) / profile


def figures_dir(profile: str) -> Path:
    return Path(os.environ.get("CF_FIGURES_ROOT", ROOT / "figures")) / profile


def config_file(profile: str) -> Path:
    return CONFIGS / f"{profile}.yaml"
