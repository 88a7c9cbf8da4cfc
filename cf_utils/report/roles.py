"""Which models, rows and pairs of chains count for the paper's claims (Luo et al. 2023, arXiv 2308.08747).

Pretrained models only (:func:`real`: random-init ``tiny`` ones have no knowledge to forget), the rows
of plain sequential tuning (:func:`seq_rows`, the paper's setting), base models with their
instruction-tuned twins (:func:`twin_pairs`), and the pairs of chains each comparative claim compares
(:func:`claim_pairs`). A pair is ``(a, b)`` of chains ``(model, variant)`` where ``a`` is the chain the
claim says forgets LESS, so every comparative claim is supported by "b forgets more"
(:data:`cf_utils.comparisons.B_MORE`). :func:`claim_comparisons` runs the paired bootstrap of
:func:`cf_utils.comparisons.compare` on each pair's shared items, per general category, with the
p-values Holm-adjusted within each claim.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cf_utils import comparisons
from cf_utils.registry import get_spec
from cf_utils.study import GENERAL, REPLAY, SEQ

TWINS = (("llama-7b", "alpaca-7b"),)  # hub pairs (base, instruction-tuned) not linked by ModelSpec.base
SCALE, ARCHITECTURE, INSTRUCTION, MITIGATION = 2, 3, 4, 6  # the comparative claims' numbers


def seq_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of plain sequential tuning (the paper's setting); every row if no ``seq`` was run."""
    return df[df["variant"] == SEQ] if SEQ in set(df["variant"]) else df


def real(models) -> list[str]:
    """The pretrained models among ``models`` (random-init ``tiny`` ones have no knowledge to forget)."""
    return [m for m in dict.fromkeys(models) if get_spec(m).source != "tiny"]


def twin_pairs(models) -> list[tuple[str, str]]:
    """(base, instruction-tuned twin) pairs present in ``models``: derived models via ``spec.base``, and TWINS."""
    present = set(models)
    pairs = [(get_spec(m).base, m) for m in dict.fromkeys(models) if get_spec(m).base in present]
    return pairs + [p for p in TWINS if set(p) <= present and p not in pairs]


def size_groups(models: list[str]) -> dict[tuple, list[str]]:
    """Models by (family, instruction-tuned): the paper compares sizes within one such group."""
    groups: dict[tuple, list[str]] = {}
    for m in models:
        s = get_spec(m)
        groups.setdefault((s.family, s.instruction_tuned), []).append(m)
    return groups


def scale_pairs(models: list[str]) -> list[tuple[str, str]]:
    """Claim 2: (smaller, larger) at every size step within a (family, tuned) group."""
    pairs = []
    for members in size_groups(models).values():
        ordered = sorted(members, key=lambda m: get_spec(m).params_b)
        steps = zip(ordered[:-1], ordered[1:], strict=True)
        pairs += [(s, b) for s, b in steps if get_spec(s).params_b < get_spec(b).params_b]
    return pairs


def architecture_pairs(models: list[str]) -> list[tuple[str, str]]:
    """Claim 3: (decoder-only nearest in size on a log scale, encoder-decoder) for each encoder-decoder model."""
    enc = [m for m in models if get_spec(m).arch == "seq2seq"]
    dec = [m for m in models if get_spec(m).arch == "causal"]
    if not dec:
        return []
    size = {m: np.log(get_spec(m).params_b) for m in models}
    return [(min(dec, key=lambda d, e=e: abs(size[d] - size[e])), e) for e in enc]


def claim_pairs(forgetting: pd.DataFrame) -> dict[int, list[tuple[tuple[str, str], tuple[str, str]]]]:
    """Per comparative claim, its pairs of chains (a, b), ``a`` the chain the claim says forgets less."""
    f = forgetting[forgetting["model"].isin(real(forgetting["model"]))]
    seq = seq_rows(f)
    variant = dict(zip(seq["model"], seq["variant"], strict=True))  # each model's plain sequential chain
    models = list(variant)
    both = [m for m, g in f.groupby("model", sort=False) if {SEQ, REPLAY} <= set(g["variant"])]
    chains = {
        SCALE: scale_pairs(models),
        ARCHITECTURE: architecture_pairs(models),
        INSTRUCTION: [(t, b) for b, t in twin_pairs(models)],
    }
    out = {k: [((a, variant[a]), (b, variant[b])) for a, b in pairs] for k, pairs in chains.items()}
    out[MITIGATION] = [((m, REPLAY), (m, SEQ)) for m in both]
    return dict(sorted(out.items()))


def claim_comparisons(forgetting: pd.DataFrame, items: pd.DataFrame, *, n_boot: int, seed: int) -> pd.DataFrame:
    """Every comparative claim's pairs, per general category on the benchmarks both chains were scored on
    (:func:`cf_utils.comparisons.compare`: paired bootstrap of FG(a) - FG(b), Holm within each claim)."""
    scored = items.drop_duplicates(["model", "variant", "category", "benchmark"])
    benchmarks = scored.groupby(["model", "variant", "category"])["benchmark"].apply(set).to_dict()
    rows = []
    for claim, pairs in claim_pairs(forgetting).items():
        for a, b in pairs:
            for c in GENERAL:
                shared = sorted(benchmarks.get((*a, c), set()) & benchmarks.get((*b, c), set()))
                rows += [(claim, a, b, c, shared)] if shared else []
    return comparisons.compare(items, rows, n_boot=n_boot, seed=seed)
