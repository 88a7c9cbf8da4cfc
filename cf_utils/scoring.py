"""Log-likelihood scoring of canonical records, request for request as lm-evaluation-harness scores them.

The requests of one record (the harness's ``construct_requests``; target delimiter " ", and "" for pairs):

    mc       (context, " " + choice)        for each choice      -> acc, acc_norm, acc_bytes
    partial  (contexts[i], " " + continuation) for each context  -> acc, acc_norm, acc_bytes  (Winogrande)
    pair     ("", sent_more), ("", sent_less)                    -> pct_stereotype, likelihood_diff  (CrowS-Pairs)

How a request becomes tokens (lm_eval 0.4.13: ``LM.loglikelihood`` and ``_encode_pair`` in
api/model.py; ``HFLM.tok_encode`` and ``_loglikelihood_tokens`` in models/huggingface.py, with
``add_bos_token`` unset):

- encode(s) is ``tokenizer.encode(s)`` with the tokenizer's own special tokens (Gemma's BOS, T5's
  EOS, none for SmolLM2), unless s already starts with the text of the prefix token (BOS, else EOS).
- Trailing whitespace of the context moves to the front of the continuation.
- causal: ctx = encode(context); cont = encode(context + continuation)[len(ctx):]. A token merged
  across the boundary is thus cut where the context's own tokenisation ends, and the model reads
  ctx + cont, which need not equal encode(context + continuation).
- seq2seq: ctx = encode(context); cont = encode(continuation) without special tokens.
- empty context (pairs): cont = encode(continuation) without special tokens and ctx = [prefix token],
  unless cont already starts with that token, which then becomes the context.
- causal input: (ctx + cont)[-(max_length + 1):][:-1] (left truncation); the last len(cont) positions
  score cont. seq2seq: the encoder reads ctx[-max_length:]; the decoder reads cont shifted right
  (after the decoder start token) and scores cont.
- max_length: the config's n_positions / max_position_embeddings / n_ctx (text_config first), else
  the tokenizer's model_max_length unless unset, else 2048.

Metrics (``ConfigurableTask.process_results``): acc = argmax loglik; acc_norm = argmax of loglik /
characters of the option, acc_bytes of loglik / UTF-8 bytes; the option is the choice (mc) or, as
in the harness's Winogrande whose choices are its contexts, the context (partial). Ties go to the
first option (np.argmax). pair (the harness's crows_pairs): pct_stereotype = share of items with
ll(sent_more) > ll(sent_less); likelihood_diff = mean |ll(sent_more) - ll(sent_less)|.

Speed: the forward passes are cf_utils/forward.py's (its docstring says how each one saves work).

References: Gao et al., lm-evaluation-harness v0.4.13; Sakaguchi et al. 2020 (Winogrande) and Trinh
& Le 2018 (partial scoring); Nangia et al. 2020 (CrowS-Pairs); Luo et al. 2023 (the benchmarks).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import torch

from cf_utils import distributed
from cf_utils.data.records import RecordError, iter_jsonl, read_jsonl
from cf_utils.forward import (
    Request,
    batch_scores,
    packable,
    packed_batch,
    reaches_window,
    run_prefix,
    shared_len,
    sliding_window,
    sort_key,
    truncated,
    windowed_item,
)

SCORED_KINDS = ("mc", "partial", "pair")
_KIND_BY_FIELD = {"choices": "mc", "contexts": "partial", "sent_more": "pair"}
DEFAULT_MAX_LENGTH = 2048  # the harness's fallback
_TOKENIZER_INFINITY = int(1e30)  # transformers' model_max_length when a tokenizer sets none
_PAD = 0  # padded positions are masked out or come after every scored one, so any id will do
# Fewest tokens of a prefix shared across items worth running once for them (a 5-shot MMLU prompt has
# 400-700); a shorter common start ("Question:") saves less than the group's own forwards cost.
MIN_SHARED_PREFIX = 32
_MAX_GROUP_DEPTH = 100  # nesting of shared prefixes that prefix_groups explores (bounds its recursion)


# ----------------------------------------------------------------------------- records -> text requests


def infer_kind(path: str | Path) -> str:
    """The record kind of a file, from the fields of its first record (mc / partial / pair)."""
    for lineno, rec in iter_jsonl(path):
        kinds = [kind for field, kind in _KIND_BY_FIELD.items() if isinstance(rec, dict) and field in rec]
        if len(kinds) != 1:
            raise RecordError(
                f"{path}:{lineno}: cannot tell the record kind: a record needs exactly one of the fields "
                "'choices' (mc), 'contexts' (partial) or 'sent_more' (pair)"
            )
        return kinds[0]
    raise RecordError(f"{path}: the file holds no records")


def text_requests(rec: dict, kind: str) -> list[tuple[str, str]]:
    """The (context, continuation) strings the harness scores for one record."""
    if kind == "mc":
        return [(rec["context"], " " + choice) for choice in rec["choices"]]
    if kind == "partial":
        return [(context, " " + rec["continuation"]) for context in rec["contexts"]]
    if kind == "pair":
        return [("", rec["sent_more"]), ("", rec["sent_less"])]
    raise ValueError(f"cannot score {kind!r} records; scored kinds: {SCORED_KINDS}")


def options(rec: dict, kind: str) -> list[str]:
    """The texts acc_norm and acc_bytes divide by (the harness's ``doc_to_choice``)."""
    return rec["choices"] if kind == "mc" else rec["contexts"]


# ----------------------------------------------------------------------------- text -> tokens


def prefix_token_id(tokenizer) -> int:
    """The token that stands in for an empty context (BOS, else EOS)."""
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def _encode(tokenizer, text: str, special: bool | None = None) -> list[int]:
    """The harness's ``tok_encode``: special tokens as the tokenizer adds them, but no second BOS."""
    if special is None:
        special = not text.startswith(tokenizer.decode(prefix_token_id(tokenizer)))
    return tokenizer.encode(text, add_special_tokens=special)


def encode_request(tokenizer, context: str, continuation: str, arch: str) -> Request:
    """(context tokens, continuation tokens) of one request, split the harness's way."""
    if not context:
        cont = _encode(tokenizer, continuation, special=False)
        prefix = prefix_token_id(tokenizer)
        return ([prefix], cont) if cont[0] != prefix else (cont[:1], cont[1:])
    stripped = context.rstrip()
    context, continuation = stripped, context[len(stripped) :] + continuation
    ctx = _encode(tokenizer, context)
    if not ctx:
        raise ValueError(f"context {context!r} has no tokens once its trailing whitespace moves on; the harness "
                         "cannot score such a request either (use an empty context)")  # fmt: skip
    if arch == "seq2seq":
        return ctx, _encode(tokenizer, continuation, special=False)
    return ctx, _encode(tokenizer, context + continuation)[len(ctx) :]


def max_length(model, tokenizer) -> int:
    """The longest input the harness feeds this model (its ``resolve_max_length``)."""
    config = getattr(model.config, "text_config", None) or model.config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        if getattr(config, attr, None) is not None:
            return int(getattr(config, attr))
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if limit is not None and limit != _TOKENIZER_INFINITY else DEFAULT_MAX_LENGTH


# ----------------------------------------------------------------------------- prefixes shared across items


def prefix_groups(model, items: list[list[Request]], arch: str, max_len: int) -> list[tuple[int, list[int]]]:
    """Items whose first P token ids are the same, P >= ``MIN_SHARED_PREFIX``: (P, item indices) per group.

    Only where the packed path runs (causal, ``packable``), and only items it takes (neither
    ``truncated`` nor ``reaches_window``). Each item offers the tokens all its requests share but the
    last, so its packed row keeps at least one, whose logits predict its first continuation token. Token
    ids are compared, so a token merged across the end of a common text is simply not shared. The offers
    are sorted: the common prefix of a run of them is the least of its neighbours', and ``_best_split``
    cuts the runs.
    """
    if arch != "causal" or not packable(model):
        return []
    window = sliding_window(model)
    return _groups(items, [i for i, item in enumerate(items)
                           if not truncated(item, max_len) and not reaches_window(item, window)])  # fmt: skip


def windowed_groups(model, items: list[list[Request]], arch: str, max_len: int) -> list[tuple[int, list[int]]]:
    """``prefix_groups`` among the items scored alone because they reach a sliding window (``windowed_item``,
    any causal model: its prefix's cache is continued, never packed)."""
    window = sliding_window(model) if arch == "causal" else None
    if window is None:
        return []
    return _groups(items, [i for i, item in enumerate(items)
                           if not truncated(item, max_len) and reaches_window(item, window)])  # fmt: skip


def _groups(items: list[list[Request]], eligible: list[int]) -> list[tuple[int, list[int]]]:
    offers = {i: items[i][0][0][: max(shared_len(items[i]) - 1, 0)] for i in eligible}
    order = sorted((i for i, offer in offers.items() if len(offer) >= MIN_SHARED_PREFIX), key=offers.get)
    common = [_common_len(offers[a], offers[b]) for a, b in itertools.pairwise(order)]
    return [(p, order[lo:hi]) for p, lo, hi in _best_split(common, 0, len(order))[1]]


def _common_len(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _best_split(common: list[int], lo: int, hi: int, depth: int = 0) -> tuple[int, list[tuple[int, int, int]]]:
    """(prompt tokens saved, groups (P, lo, hi)) for the sorted offers lo..hi-1; common[i] is the common
    prefix of offers i and i + 1.

    One group over the run saves (n - 1) * P, P its least common prefix; or the run splits where the
    common prefix is least, into runs that each share more (a long system prompt before per-subject
    k-shot examples: one group per subject saves more). The better of the two, recursively."""
    if hi - lo < 2:
        return 0, []
    least = min(common[lo : hi - 1])
    whole = ((hi - lo - 1) * least, [(least, lo, hi)]) if least >= MIN_SHARED_PREFIX else (0, [])
    if depth >= _MAX_GROUP_DEPTH:
        return whole
    cuts = [lo] + [i + 1 for i in range(lo, hi - 1) if common[i] == least] + [hi]
    parts = [_best_split(common, a, b, depth + 1) for a, b in itertools.pairwise(cuts)]
    split = (sum(saved for saved, _ in parts), [g for _, groups in parts for g in groups])
    return split if split[0] > whole[0] else whole


def _batches(items: list[list[Request]], groups: list[tuple[int, list[int]]], arch: str, batch_size: int):
    """(prefix group or None, item indices) of every batch: the items in no group first, sorted by length
    and cut as without groups; then each group's items, sorted by length within their group."""
    grouped = {i for _, members in groups for i in members}
    runs = [(None, [i for i in range(len(items)) if i not in grouped])] + [(g, m) for g, (_, m) in enumerate(groups)]
    out: list[tuple[int | None, list[int]]] = []
    for g, members in runs:
        order = sorted(members, key=lambda i: sort_key(items[i], arch), reverse=True)
        out += [(g, order[s : s + batch_size]) for s in range(0, len(order), batch_size)]
    return out


def default_batch_size(device: torch.device) -> int:
    """Items per batch: 4 on a CPU, 16 elsewhere. On a CPU one item's row (100+ tokens) already keeps fp32
    matmuls busy and batching mostly adds padding; bf16 matmuls are fast enough for the per-forward cost to
    show (benchmarks/eval_speed.py, SmolLM2, 2-core EPYC under load: fp32 3.5 items/s at 1, 3.1 at 4;
    bf16 4.8 at 1, 8.3 at 4)."""
    return 4 if torch.device(device).type == "cpu" else 16


@torch.inference_mode()
def loglik(
    model, items: list[list[Request]], arch: str, *, max_len: int, batch_size: int | None = None,
    amp: torch.dtype | None = None, share_prefixes: bool = True,
) -> list[list[float]]:  # fmt: skip
    """Log-likelihood of every request of every item (items of several requests each), fast path.

    ``batch_size`` counts items (contexts); a batch runs all their requests together.
    ``share_prefixes``: run a prefix that items share (``prefix_groups``, ``windowed_groups``) once for them
    all; False runs it in every item (benchmarks/prefix_speed.py compares the two).
    """
    batch_size = batch_size or default_batch_size(model.device)
    packed = prefix_groups(model, items, arch, max_len) if share_prefixes else []
    groups = packed + (windowed_groups(model, items, arch, max_len) if share_prefixes else [])
    batches = _batches(items, groups, arch, batch_size)
    out: dict[int, list[float]] = {}
    cached: tuple[int | None, object] = (None, None)  # (group, its prefix's cache): its batches come in a row
    for j in distributed.mine(len(batches)):  # all batches in one process; a share of them under several
        g, idx = batches[j]
        batch = [items[i] for i in idx]
        if g is None:
            scores = batch_scores(model, batch, arch, max_len, amp)
        else:
            if cached[0] != g:
                cached = (g, run_prefix(model, batch[0][0][0][: groups[g][0]], amp))
            if g < len(packed):
                scores = packed_batch(model, batch, amp, prefix=cached[1])
            else:
                scores = [windowed_item(model, item, max_len, amp, prefix=(groups[g][0], cached[1])) for item in batch]
        out.update(zip(idx, scores, strict=True))
    out = distributed.gather_dict(out)  # the same batches as one process computes: the same numbers
    return [out[i] for i in range(len(items))]


# ----------------------------------------------------------------------------- metrics


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))  # first of equal maxima, as np.argmax


def item_result(rec: dict, kind: str, lls: list[float]) -> dict:
    """One item's outcome: enough to recompute every metric and its confidence interval later."""
    if kind == "pair":
        return {"id": rec["id"], "loglikelihoods": lls, "bias_type": rec["bias_type"],
                "stereotype": lls[0] > lls[1], "likelihood_diff": abs(lls[0] - lls[1])}  # fmt: skip
    texts = options(rec, kind)
    pred = _argmax(lls)
    pred_norm = _argmax([ll / len(t) for ll, t in zip(lls, texts, strict=True)])
    pred_bytes = _argmax([ll / len(t.encode("utf-8")) for ll, t in zip(lls, texts, strict=True)])
    label = rec["label"]
    res = {"id": rec["id"], "loglikelihoods": lls, "pred": pred, "pred_norm": pred_norm, "pred_bytes": pred_bytes,
           "label": label, "correct": pred == label, "correct_norm": pred_norm == label,
           "correct_bytes": pred_bytes == label}  # fmt: skip
    if "group" in rec:
        res["group"] = rec["group"]
    return res


def summarise(kind: str, per_item: list[dict]) -> dict:
    """File-level metrics (fractions, as the harness reports them)."""
    n = len(per_item)
    if kind == "pair":
        return {"kind": kind, "n": n, "pct_stereotype": sum(r["stereotype"] for r in per_item) / n,
                "likelihood_diff": sum(r["likelihood_diff"] for r in per_item) / n}  # fmt: skip
    return {"kind": kind, "n": n, "acc": sum(r["correct"] for r in per_item) / n,
            "acc_norm": sum(r["correct_norm"] for r in per_item) / n,
            "acc_bytes": sum(r["correct_bytes"] for r in per_item) / n}  # fmt: skip


# ----------------------------------------------------------------------------- entry points


def score_records(
    model, tokenizer, records: list[dict], kind: str, *, arch: str, batch_size: int | None = None,
    amp: torch.dtype | None = None,
) -> tuple[dict, list[dict]]:  # fmt: skip
    """(summary, per-item results) of validated records, with a model already loaded (adapters may be
    swapped between calls). The summary's ``items_per_s`` counts tokenisation and scoring."""
    t0 = time.perf_counter()
    items = [[encode_request(tokenizer, c, k, arch) for c, k in text_requests(r, kind)] for r in records]
    lls = loglik(model, items, arch, max_len=max_length(model, tokenizer), batch_size=batch_size, amp=amp)
    seconds = time.perf_counter() - t0
    per_item = [item_result(r, kind, ll) for r, ll in zip(records, lls, strict=True)]
    return {**summarise(kind, per_item), "seconds": seconds, "items_per_s": len(records) / seconds}, per_item


def score_file(
    model, tokenizer, path: str | Path, kind: str | None = None, *, arch: str, batch_size: int | None = None,
    amp: torch.dtype | None = None,
) -> tuple[dict, list[dict]]:  # fmt: skip
    """Score one record file (kind inferred from its fields when not given); see ``score_records``."""
    kind = kind or infer_kind(path)
    records = read_jsonl(path, kind)
    return score_records(model, tokenizer, records, kind, arch=arch, batch_size=batch_size, amp=amp)
