"""The mitigation study (05_mitigations): every method of ``mitigation.methods`` against plain ``seq`` on one model.

Trains the chains of seq and of every trained method on ``mitigation.model``, evaluates seq at the
start and the end and every other method at the end (``wise-<alpha>``: seq's adapter scaled by alpha,
trained nothing), then writes the study's tables: what they hold and how they are computed is
cf_utils/mitigation_tables.py, which the report reads without this module (and torch).
"""

from __future__ import annotations

import pandas as pd

from cf_utils import evaluate, mitigation_tables, mitigations, train
from cf_utils.chains import ChainSpec, mitigation_chains, mitigation_variants, trained
from cf_utils.config import Config


def chains(cfg: Config) -> list[ChainSpec]:
    """The study's chains (cf_utils.chains.mitigation_chains), its model checked against the training method."""
    mitigations.check_model(cfg)
    return mitigation_chains(cfg)


def train_all(cfg: Config) -> None:
    """Train the chains of seq and every trained method (finished stages are reused)."""
    for model, v, _ in trained(chains(cfg)):
        train.Chain(cfg, model, v).run()


def evaluate_all(cfg: Config) -> list[dict]:
    """Evaluate every chain at its stages (cells already computed, e.g. by the main study, are reused)."""
    return [evaluate.ChainEval(cfg, model, v, stages).run() for model, v, stages in chains(cfg)]


def write(cfg: Config) -> dict[str, pd.DataFrame]:
    """Gather the study's cells and write its scores, items, retention and task tables (mitigation_tables)."""
    scores, items, _ = evaluate.gather(cfg, chains(cfg), make_target="mitigations")
    model = mitigations.check_model(cfg)
    retention, tasks = mitigation_tables.tables(
        scores, items, model, mitigation_variants(cfg), n_boot=cfg.eval.n_boot, seed=cfg.seeds()["bootstrap"]
    )
    mitigation_tables.write(cfg.profile, scores, items, retention, tasks)
    return {"retention": retention, "tasks": tasks, "summary": mitigation_tables.summary(retention, tasks)}
