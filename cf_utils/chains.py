"""A profile's chains, listed once: which (model, variant) chains it trains and evaluates, at which stages.

    study_chains(cfg)        train.models x their variants (train.variants_of), evaluated at every stage
    mitigation_chains(cfg)   seq and every method of mitigation.methods on mitigation.model (05_mitigations):
                             seq at the start and the end, the others at the end; wise-<alpha> trains nothing
    all_chains(cfg)          the study's, then the mitigation study's not among them (the launcher, make, plans)
    trained(chains)          those that train (a wise-<alpha> chain evaluates the seq chain's adapter)
    profile_models(cfg)      the models these chains use, each once

Below train and evaluate, which take their chains from here (tests/test_chains.py checks that no
other module rebuilds the list). Loads nothing: the report and the manifest read the chains too.
"""

from __future__ import annotations

from cf_utils.config import Config
from cf_utils.study import LAST, SEQ, STAGES, TRAINED_VARIANTS, WISE, wise_alpha, wise_name

ChainSpec = tuple[str, str, tuple[int, ...]]  # model, variant, stages evaluated


def study_chains(cfg: Config) -> list[ChainSpec]:
    """Every (model, variant) of the main study, model by model, evaluated at every stage."""
    return [(m, v, STAGES) for m in cfg.train.models for v in cfg.train.variants_of(m)]


def mitigation_variants(cfg: Config) -> list[str]:
    """seq, then the trained methods, then one ``wise-<alpha>`` per alpha."""
    out = [SEQ] + [m for m in cfg.mitigation.methods if m in TRAINED_VARIANTS and m != SEQ]
    if WISE in cfg.mitigation.methods:
        out += [wise_name(a) for a in cfg.mitigation.wise_alphas]
    return out


def mitigation_chains(cfg: Config) -> list[ChainSpec]:
    """The mitigation study's chains (none when the profile runs none): seq at the start and the end, every
    other method at the end."""
    if not cfg.mitigation.methods:
        return []
    return [(cfg.mitigation.model, v, (0, LAST) if v == SEQ else (LAST,)) for v in mitigation_variants(cfg)]


def all_chains(cfg: Config) -> list[ChainSpec]:
    """Every chain of the profile: the study's, then the mitigation study's not among them."""
    out = study_chains(cfg)
    known = {(m, v) for m, v, _ in out}
    return out + [c for c in mitigation_chains(cfg) if c[:2] not in known]


def trained(chains: list[ChainSpec]) -> list[ChainSpec]:
    """The chains that train: all but ``wise-<alpha>``, which scales the seq chain's adapter."""
    return [c for c in chains if wise_alpha(c[1]) is None]


def profile_models(cfg: Config) -> list[str]:
    """The models of the profile's chains, each once: train.models, then mitigation.model when it has a study."""
    return list(dict.fromkeys([*cfg.train.models, *([cfg.mitigation.model] if cfg.mitigation.methods else [])]))
