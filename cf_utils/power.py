"""How many items each benchmark needs: the power calculation that sizes a profile's benchmarks.

A category's FG (Luo et al. 2023, Eq. 1) is the mean over its E elements of each element's FG, a relative
paired drop averaged over the stages. With n_e items, initial score p_e (a share) and discordant share f
(the items whose outcome differs between stage 0 and a later stage):

    SE(FG_e) = 100 sqrt(f / n_e) / p_e          (McNemar's paired SE of a difference of proportions; the
                                                 stages' drops taken as fully correlated: conservative)
    SE(FG)   = sqrt(sum_e SE(FG_e)^2) / E,       half-width of the 95% CI = z_0.975 SE(FG)

Items go where they are cheap. With c_e the cost of one item of element e (the tokens the scorer runs
for it), the allocation that reaches a half-width H at the least total cost sum_e n_e c_e is (Lagrange)

    n_e = f * S / (K p_e sqrt(c_e)),   S = sum_j sqrt(c_j) / p_j,   K = (H E / (100 z))^2

so a cheap element gets more items than a costly one. An element whose source has fewer items than that
takes them all, and the others share what its shortfall leaves (repeated until no cap binds); where even
all the items cannot reach H, the achieved half-width is what ``half_width`` returns for the counts.

A scoring budget (``data.bench_tokens``: the tokens one checkpoint's scoring may run) scales every
element's count down by one factor where the target costs more: the same allocation is the cheapest for
any half-width, so the budget buys the smallest half-width it can, alike in every category, and the plan
and the report say which half-width that is.

With a flip rate f_e of its own per element, the same Lagrange argument gives

    n_e = sqrt(f_e / c_e) S / (K p_e),   S = sum_j sqrt(f_j c_j) / p_j

The calculation is fixed before any result is seen: p_e and f_e are the profile's stated assumptions
(``data.assumed_initial``, ``data.assumed_flip_rate``) or what a pilot measured on items set apart from the
evaluation items (``data.pilot_initial``, ``data.pilot_flip_rate``: cf_utils.pilot), never a run's FG. Where
the study runs several models on the same items, each further model's stage-0 pilot (``data.pilot_by_model``)
gives its own allocation with the first model's flip rates, and every element takes the most items any model's
allocation asks for: each model's half-width then reaches the target (before a budget scales them all). The
pilot measures flips after one stage; a unit's FG averages five, so the allocation takes FLIP_GROWTH times
the pilot's rate (a rule fixed before the run; the report prints the measured rates beside it). An element at
its floor for the model (``at_floor``: its pilot score within FLOOR_MARGIN points of chance or below its
majority baseline) measures nothing: it takes no budget beyond MIN_ITEMS, so it is still shown. The report
prints the achieved half-width and the minimal detectable FG from the observed initial scores and flip rates
(:func:`cf_utils.metrics.minimal_detectable_fg`, the same SE model).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np

from cf_utils.stats import Z_975

FLOOR_MARGIN = 5.0  # points above chance an element must start at to measure anything (the floor rule)
FLIP_GROWTH = 2.0  # the pilot's one-stage flip rate x this: the allocation's assumption for a five-stage average


def at_floor(initial: float, chance: float, majority: float = float("nan")) -> bool:
    """The floor rule, fixed before any run: a stage-0 score within FLOOR_MARGIN points of chance, or below the
    majority-answer baseline, measures nothing for that model. An unknown baseline (NaN) puts nothing at floor."""
    return bool(initial < chance + FLOOR_MARGIN or initial < majority)


def _rates(flip_rate, names) -> dict[str, float]:
    return {e: flip_rate[e] for e in names} if isinstance(flip_rate, Mapping) else dict.fromkeys(names, flip_rate)


def element_se(n, initial, flip_rate):
    """SE of an element's FG (points): 100 sqrt(f / n) / p, with ``initial`` in percent (floats or arrays)."""
    return 100 * np.sqrt(np.asarray(flip_rate, dtype=float) / n) / (np.asarray(initial, dtype=float) / 100)


def half_width(counts: Mapping[str, int], initial: Mapping[str, float], flip_rate) -> float:
    """The expected 95% CI half-width (FG points) of a category whose elements have ``counts`` items
    (``flip_rate``: one for every element, or a mapping per element)."""
    f = _rates(flip_rate, counts)
    ses = np.array([element_se(n, initial[e], f[e]) for e, n in counts.items()])
    return float(Z_975 * np.sqrt(np.sum(ses**2)) / len(ses))


def allocate(
    costs: Mapping[str, float],
    available: Mapping[str, int],
    *,
    target: float,
    initial: Mapping[str, float],
    flip_rate,
) -> dict[str, int]:
    """Items per element of one category so that its FG's 95% CI half-width is at most ``target`` points at
    the least scoring cost (see the module docstring). ``costs``: tokens per item; ``available``: items the
    source has (the cap); ``initial``: assumed initial score per element, percent; ``flip_rate``: one for every
    element, or a mapping per element."""
    f = _rates(flip_rate, costs)
    if target <= 0 or not all(0 < v <= 1 for v in f.values()):
        raise ValueError(f"target must be > 0 and flip rates in (0, 1]; got {target}, {f}")
    p = {e: initial[e] / 100 for e in costs}
    k = (target * len(costs) / (100 * Z_975)) ** 2  # the budget of sum_e f_e / (n_e p_e^2)
    capped: dict[str, int] = {}
    while True:
        free = [e for e in costs if e not in capped]
        left = k - sum(f[e] / (n * p[e] ** 2) for e, n in capped.items())
        if not free or left <= 0:  # every item cannot reach the target: take them all
            return {e: capped.get(e, available[e]) for e in costs}
        s = sum(math.sqrt(f[e] * costs[e]) / p[e] for e in free)
        want = {e: math.sqrt(f[e] / costs[e]) * s / (left * p[e]) for e in free}
        over = {e for e in free if want[e] >= available[e]}
        if not over:
            return {**capped, **{e: math.ceil(want[e]) for e in free}}
        capped |= {e: available[e] for e in over}


def item_chars(rec: dict) -> tuple[int, int]:
    """(characters the scorer runs, characters it scores) for one benchmark record: its context(s) once
    and every option (the scorer shares an item's context across its options on every path but the
    harness's truncation, cf_utils.scoring). Tokens are taken as characters / 4."""
    if "choices" in rec:
        opts = sum(len(c) + 1 for c in rec["choices"])
        return len(rec["context"]) + opts, opts
    if "contexts" in rec:
        k, rest = len(rec["contexts"]), len(rec["continuation"]) + 1
        return sum(len(c) for c in rec["contexts"]) + k * rest, k * rest
    both = len(rec["sent_more"]) + len(rec["sent_less"])  # a pair: both sentences scored whole
    return both, both


def shared_prefix(contexts: list[str]) -> str:
    """The prompt that a group's items share (MMLU: the subject's header and five solved questions), cut at its
    last blank line: the scorer runs it once per group (scoring.prefix_groups)."""
    if len(contexts) < 2:
        return ""
    common = os.path.commonprefix(contexts)
    return common[: common.rfind("\n\n") + 2] if "\n\n" in common else ""


def item_cost(records: list[dict]) -> float:
    """Mean tokens (characters / 4) the scorer runs per item of a benchmark, a group's shared prefix (MMLU's
    five shots) counted once per group of the records given."""
    groups: dict[str, list[str]] = {}
    for r in records:
        if r.get("group") and "context" in r:
            groups.setdefault(r["group"], []).append(r["context"])
    shared = sum((len(c) - 1) * len(shared_prefix(c)) for c in groups.values())
    return (sum(item_chars(r)[0] for r in records) - shared) / max(len(records), 1) / 4


def within_budget(
    counts: Mapping[str, int], costs: Mapping[str, float], budget: float | None, floor: int = 1
) -> dict[str, int]:
    """``counts`` scaled down by one factor so that sum_e n_e c_e <= ``budget`` tokens (None: unchanged),
    each kept at ``floor`` items at least (or all it has, if fewer)."""
    total = sum(n * costs[e] for e, n in counts.items())
    if budget is None or total <= budget:
        return dict(counts)
    return {e: max(min(floor, n), math.floor(n * budget / total)) for e, n in counts.items()}


MIN_ITEMS = 30  # under a budget, every element keeps at least this many items: its own FG stays estimable


def pilot_scores(data) -> list[Mapping[str, float]]:
    """Each model's stage-0 pilot scores the allocation reads: the first model's (``pilot_initial``), then every
    further model's (``pilot_by_model``: measured on the same pilot items; cf_utils.pilot --model)."""
    return [*([data.pilot_initial] if data.pilot_initial else []), *data.pilot_by_model.values()]


def assumptions(data, names, initial: Mapping[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """(initial score, flip rate) per element the allocation assumes: the pilot's where it measured the element
    (its flip rate x FLIP_GROWTH, at most 1), else the config's stated assumptions. ``initial``: another model's
    pilot scores in place of the first model's (its flip rates stay the first model's: a further model's pilot
    measures stage 0 only)."""
    pilot_p = data.pilot_initial if initial is None else initial
    pilot_p, pilot_f = pilot_p or {}, data.pilot_flip_rate or {}
    initial = {n: pilot_p.get(n, data.assumed_initial) for n in names}
    flip = {n: min(1.0, FLIP_GROWTH * pilot_f[n]) if n in pilot_f else data.assumed_flip_rate for n in names}
    return initial, {n: max(v, 1e-3) for n, v in flip.items()}


def floors(data, baselines: Mapping[str, tuple[float, float]], initial: Mapping[str, float] | None = None) -> set[str]:
    """The elements at their floor (``at_floor``) by the pilot scores ``initial`` of one model; by default those at
    their floor for every model the config has a pilot of (``pilot_scores``): the ones no model measures.
    ``baselines``: (chance, majority) per element."""
    if initial is not None:
        return {n for n, (chance, majority) in baselines.items() if n in initial and at_floor(initial[n], chance,
                                                                                           majority)}  # fmt: skip
    per_model = [floors(data, baselines, scores) for scores in pilot_scores(data)]
    return set.intersection(*per_model) if per_model else set()


def benchmark_sizes(
    data, pools: Mapping[str, tuple[str, list[dict]]], baselines: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, int | None]:
    """Items to sample per benchmark, from each benchmark's (category, candidate records) and the profile's
    ``data`` config: ``bench_items`` for every benchmark when ``fg_half_width`` is unset; else, per category,
    ``allocate`` at the target over the elements above their floor, for each model the config has a pilot of
    (``pilot_scores``: its own stage-0 scores and floors), each element taking the most items any model asks for
    (an element at floor for every model gets MIN_ITEMS), with the pilot's or the stated assumptions
    (``assumptions``), ``bench_items`` and the pool's size capping each benchmark; then one factor for every
    benchmark of every category (``within_budget`` at ``bench_tokens`` per checkpoint, at least MIN_ITEMS each),
    so that the categories' half-widths grow alike when the budget binds."""
    if data.fg_half_width is None:
        return dict.fromkeys(pools, data.bench_items)
    counts: dict[str, int] = {}
    costs = {n: max(item_cost(recs), 1.0) for n, (_, recs) in pools.items()}
    for scores in pilot_scores(data) or [None]:  # each model's allocation; an element takes the largest
        initial, flip = assumptions(data, pools, scores)
        low = floors(data, baselines or {}, scores) if scores is not None else set()
        for category in dict.fromkeys(c for c, _ in pools.values()):
            names = [n for n, (c, _) in pools.items() if c == category and n not in low]
            cap = {n: min(len(pools[n][1]), data.bench_items or len(pools[n][1])) for n in names}
            if names:
                wanted = allocate({n: costs[n] for n in names}, cap, target=data.fg_half_width, initial=initial,
                                  flip_rate=flip)  # fmt: skip
                counts |= {n: max(k, counts.get(n, 0)) for n, k in wanted.items()}
    counts |= {n: min(MIN_ITEMS, len(pools[n][1])) for n in floors(data, baselines or {})}
    return within_budget(counts, costs, data.bench_tokens, MIN_ITEMS)
