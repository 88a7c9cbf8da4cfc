"""Reading ``data/<profile>/MANIFEST.json`` (written last by 01_prepare_data) for a run's config.

Every step after 01 reads the prepared data through :func:`read`, which refuses data sampled under
another seed: a reader who set ``seed = 7`` in 01 and left 02-05 at the profile's seed would
otherwise train and score on seed-7 data while the run's manifest records the other seed.
"""

from __future__ import annotations

import json

from cf_utils import paths
from cf_utils.config import Config


class SeedMismatch(ValueError):
    """The prepared data were sampled under another seed than the run's."""


def read(cfg: Config) -> dict:
    """The profile's data manifest; its data must exist and be sampled with ``cfg.seed``."""
    path = paths.data_manifest(cfg.profile)
    if not path.is_file():
        raise FileNotFoundError(f"no prepared data for {cfg.profile!r} ({path}): run 01_prepare_data first "
                                f"(make data PROFILE={cfg.profile})")  # fmt: skip
    manifest = json.loads(path.read_text())
    seed = manifest["config"]["seed"]
    if seed != cfg.seed:
        raise SeedMismatch(
            f"{path}: the data were sampled with seed {seed}, but this step runs with seed {cfg.seed}. "
            f"Either set seed = {seed} in this notebook's parameters (the data's), or run 01_prepare_data with "
            f"seed = {cfg.seed} first"
        )
    return manifest
