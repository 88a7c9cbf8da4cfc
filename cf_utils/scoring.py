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

Speed: the same numbers with less work.
- causal, one forward per batch of items (``_packed_batch``): row b holds once the tokens all
  requests of item b share (an mc item's context, a Winogrande item's sentence up to the blank),
  then the rest of every request. A block attention mask lets each rest see only the shared tokens
  and itself, and position ids restart after the shared tokens, so every request is computed on
  exactly its own sequence. The vocabulary projection starts at the first scored position.
- causal, architectures not checked with such masks (BLOOM, whose ALiBi is built from the 2D mask):
  the cache path (``_causal_batch``): the shared tokens run once, their key/value cache is copied
  to each request (``Cache.batch_select_indices``) and the rest runs in a second pass.
- causal, packed path, a prefix shared across items (a k-shot prompt: an MMLU subject's header and
  dev questions before every question): items whose shared tokens start with the same token ids,
  ``MIN_SHARED_PREFIX`` or more of them, form a group (``prefix_groups``). The group's prefix runs
  once (batch 1); its key/value cache is repeated to each of the group's batches, which run the rest
  of their items packed as above after it (position ids go on from the prefix; the block mask lets
  every token see it). The prefix is cut from the token ids of ctx, never tokenised on its own, and
  stops at least one token short of every member's shared tokens, so none of its logits are needed.
  An item the naive loop would take (below) joins no group. Items in no group are batched exactly as
  without groups: the same floats.
- seq2seq: each distinct encoder input of an item is encoded once; every choice reuses its states.
- items are sorted by length before batching (little padding), a prefix group's items within their
  group; optional bf16 autocast.
- an item whose batch could reach a sliding-attention window (Gemma-3's 512 tokens: a 5-shot MMLU
  context) is scored alone (``_windowed_item``), because padding gaps and packing change the token
  distances such a window counts: its shared context runs once (after its k-shot header's cache,
  shared with the other items of its subject: ``windowed_groups``), then its requests' remainders
  on copies of that cache, padded only at their ends, so every token sits at its own position.
- a request the harness would truncate goes through ``loglik_naive``: one forward per request, fed
  exactly as the harness feeds it, the vocabulary projected only at the scored positions
  (``logits_to_keep``: at every position of a 5-shot MMLU context, Gemma-3's 262k-token projection
  costs 1.7 times the FLOPs of the rest of the model). tests/test_scoring.py checks every fast path
  against that loop and against the harness itself.

References: Gao et al., lm-evaluation-harness v0.4.13; Sakaguchi et al. 2020 (Winogrande) and Trinh
& Le 2018 (partial scoring); Nangia et al. 2020 (CrowS-Pairs); Luo et al. 2023 (the benchmarks).
"""

from __future__ import annotations

import copy
import inspect
import itertools
import time
from pathlib import Path

import torch

from cf_utils import distributed
from cf_utils.data.records import RecordError, iter_jsonl, read_jsonl

Request = tuple[list[int], list[int]]  # (context tokens, continuation tokens)

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


# ----------------------------------------------------------------------------- kernels


def _autocast(model, amp: torch.dtype | None):
    return torch.autocast(device_type=model.device.type, dtype=amp, enabled=amp is not None)


def _pad(seqs: list[list[int]], fill: int = _PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and their attention mask, both (N, longest)."""
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), fill, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


Pick = tuple[int, int, int, int]  # (request, row of the logits, position in the row, token it predicts)


def _logprob_sums(logits: torch.Tensor, picks: list[Pick], n_requests: int) -> torch.Tensor:
    """(n_requests,) sums of log p(token) over the picked positions of ``logits`` (rows, T, V).

    Only the picked positions are normalised (in fp32), so memory stays at (picks, V)."""
    sums = torch.zeros(n_requests, dtype=torch.float64)
    if not picks:
        return sums
    req, row, pos, tok = (torch.tensor(col) for col in zip(*picks, strict=True))
    picked = logits[row.to(logits.device), pos.to(logits.device)].float()  # (P, V)
    logp = picked.log_softmax(-1).gather(1, tok.to(logits.device)[:, None])[:, 0]  # (P,)
    return sums.index_add_(0, req, logp.double().cpu())


@torch.inference_mode()
def loglik_naive(
    model, requests: list[Request], arch: str, max_len: int, amp: torch.dtype | None = None
) -> list[float]:
    """One forward per request, fed exactly as the harness feeds it: the reference for the fast path."""
    out = []
    for ctx, cont in requests:
        with _autocast(model, amp):
            if arch == "seq2seq":
                enc = torch.tensor([ctx[-max_len:]], device=model.device)
                logits = model(input_ids=enc, labels=torch.tensor([cont], device=model.device)).logits  # (1, K, V)
                picks = [(0, 0, j, t) for j, t in enumerate(cont)]
            else:
                window = (ctx + cont)[-(max_len + 1) :]
                first = len(window) - len(cont)  # the first scored token; logits at t predict token t + 1
                ids = torch.tensor([window[:-1]], device=model.device)
                if first >= 1 and _keeps_logits(model):  # the vocabulary projection only where a token is scored
                    logits = model(input_ids=ids, logits_to_keep=len(cont)).logits  # (1, len(cont), V)
                    picks = [(0, 0, i, window[first + i]) for i in range(len(cont))]
                else:
                    logits = model(input_ids=ids).logits  # (1, T, V)
                    picks = [(0, 0, j - 1, window[j]) for j in range(first, len(window))]
        out.append(float(_logprob_sums(logits, picks, 1)[0]))
    return out


def _keeps_logits(model) -> bool:
    """Whether the (base) model's forward takes ``logits_to_keep`` (transformers' causal LMs do)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def shared_len(item: list[Request]) -> int:
    """Tokens of a causal item run once for all its requests: the common prefix of its contexts."""
    ctxs = [ctx for ctx, _ in item]
    shortest = min(map(len, ctxs))
    return next((i for i in range(shortest) if len({ctx[i] for ctx in ctxs}) > 1), shortest)


def sliding_window(model) -> int | None:
    config = getattr(model.config, "text_config", None) or model.config
    return getattr(config, "sliding_window", None)


_Row = tuple[int, list[int], int]  # (item in the batch, ctx + cont, len(cont)) of one causal request


def _causal_batch(model, batch: list[list[Request]], amp: torch.dtype | None) -> list[list[float]]:
    """Scores of a batch of items: shared prefixes once, then each request's remainder from a copied cache.

    Request r reads seq = ctx + cont; its item shares seq[:q] with its other requests. Pass 1 runs
    the shared prefixes; the logits at position q - 1 predict seq[q] (for an mc item: the first
    continuation token of every choice). Pass 2 runs seq[q:-1] of every request that has more to
    score, on its item's cache; single-token choices need no pass 2.
    """
    shared = [shared_len(item) for item in batch]
    reqs = [(b, ctx + cont, len(cont)) for b, item in enumerate(batch) for ctx, cont in item]
    with _autocast(model, amp):
        cache, prefix_mask, sums = _shared_pass(model, batch, shared, reqs)
        sums += _rest_pass(model, reqs, shared, cache, prefix_mask)
    return _regroup(sums.tolist(), [len(item) for item in batch])


def _shared_pass(model, batch, shared: list[int], reqs: list[_Row]):
    """Pass 1: (cache or None, prefix mask (B, Q), per-request sums of the tokens scored here)."""
    device = model.device
    ids, mask = (t.to(device) for t in _pad([item[0][0][:q] for item, q in zip(batch, shared, strict=True)]))
    last = sorted({q - 1 for q in shared if q})  # the prefix positions whose logits are needed
    if not last:
        return None, mask, torch.zeros(len(reqs), dtype=torch.float64)
    # A row with nothing shared would attend to nothing (NaN states): it sees one pad token here, which
    # pass 2 masks out again.
    visible = mask.clone()
    visible[:, 0] = 1
    out = model(input_ids=ids, attention_mask=visible, use_cache=True, logits_to_keep=torch.tensor(last, device=device))
    picks = [(r, b, last.index(shared[b] - 1), seq[shared[b]])
             for r, (b, seq, n) in enumerate(reqs) if len(seq) - shared[b] <= n]  # fmt: skip
    return out.past_key_values, mask, _logprob_sums(out.logits, picks, len(reqs))  # logits (B, len(last), V)


def _rest_pass(model, reqs: list[_Row], shared: list[int], cache, prefix_mask: torch.Tensor) -> torch.Tensor:
    """Pass 2: per-request sums of the tokens after seq[q], each request run on a copy of its item's cache."""
    device = model.device
    rest = [r for r, (b, seq, _) in enumerate(reqs) if len(seq) - shared[b] > 1]
    if not rest:
        return torch.zeros(len(reqs), dtype=torch.float64)
    owner = torch.tensor([reqs[r][0] for r in rest], device=device)  # (R,) item of each row
    if cache is not None:
        cache.batch_select_indices(owner)  # (B, ...) -> (R, ...)
    start = [shared[reqs[r][0]] for r in rest]
    ids, mask = (t.to(device) for t in _pad([reqs[r][1][q:-1] for r, q in zip(rest, start, strict=True)]))  # (R, S)
    logits = model(
        input_ids=ids,
        attention_mask=torch.cat([prefix_mask[owner], mask], dim=1),  # (R, Q + S)
        position_ids=torch.tensor(start, device=device)[:, None] + torch.arange(ids.shape[1], device=device),
        past_key_values=cache,
    ).logits  # (R, S, V); position ids skip the padding between prefix and remainder
    picks = []
    for i, (r, q) in enumerate(zip(rest, start, strict=True)):
        _, seq, n = reqs[r]
        picks += [(r, i, j - q - 1, seq[j]) for j in range(max(len(seq) - n, q + 1), len(seq))]
    return _logprob_sums(logits, picks, len(reqs))


# Architectures checked to take a custom 4D attention mask with per-token position ids (tests/test_scoring.py:
# llama on tiny-causal, gemma3_text on gemma3-270m). Others take the cache path: BLOOM's ALiBi, for one, is
# built from the 2D mask.
_PACKED_MODEL_TYPES = ("llama", "gemma3_text")


def _packable(model) -> bool:
    config = model.config
    return config.model_type in _PACKED_MODEL_TYPES and config._attn_implementation in ("sdpa", "eager")


def _packed_batch(model, batch: list[list[Request]], amp: torch.dtype | None, prefix=None) -> list[list[float]]:
    """Scores of a batch of items in one forward: row b holds item b's shared prefix, then the remainder
    of each of its requests, each remainder seeing only the prefix and itself (a block mask).

    On a CPU a forward costs at least one read of every weight, so scoring the choices in the same
    forward as their context, rather than in a second pass on a copied cache, is what makes it fast.
    Positions restart after the prefix for every remainder, so each request sees exactly its own
    sequence, as the harness feeds it; padding only fills rows up to the longest.

    ``prefix``: the key/value cache (batch 1) of the first P tokens every item shares with the others of
    its prefix group (``_run_prefix``); the rows then hold only what follows those P tokens, and every
    token of a row also sees the P cached ones. None: no cache, the rows start at token 0.
    """
    past = prefix.get_seq_length() if prefix is not None else 0
    packed = [_pack(item, b, sum(map(len, batch[:b])), past) for b, item in enumerate(batch)]
    ids, _ = _pad([p[0] for p in packed])  # (B, W)
    seg = _pad([p[1] for p in packed], fill=-2)[0]  # (B, W): -1 prefix, i remainder i, -2 padding
    pos = _pad([p[2] for p in packed])[0]  # (B, W)
    picks = [pick for p in packed for pick in p[3]]
    first = min(pick[2] for pick in picks)  # the vocabulary projection starts at the first scored position
    mask = _block_mask(seg, additive=model.config._attn_implementation == "eager", past=past)  # (B, 1, W, P + W)
    cache = _repeat_cache(prefix, len(batch)) if prefix is not None else None
    device = model.device
    with _autocast(model, amp):
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                       past_key_values=cache, use_cache=cache is not None,
                       logits_to_keep=ids.shape[1] - first).logits  # (B, W - first, V)  # fmt: skip
    picks = [(r, b, p - first, t) for r, b, p, t in picks]
    sizes = [len(item) for item in batch]
    return _regroup(_logprob_sums(logits, picks, sum(sizes)).tolist(), sizes)


def _pack(item: list[Request], b: int, r0: int, past: int = 0) -> tuple[list[int], list[int], list[int], list[Pick]]:
    """Row b of a packed batch: (token ids, segment of each token, position ids, picks of requests r0, ...).

    The row starts at token ``past`` of the item's shared tokens (those before it are in a cache), which
    must leave at least one of them in the row."""
    q = shared_len(item)
    assert past < q or past == 0, (past, q)
    ids, seg, pos, picks = list(item[0][0][past:q]), [-1] * (q - past), list(range(past, q)), []
    for i, (ctx, cont) in enumerate(item):
        seq, start = ctx + cont, len(ids)  # seq[q + j] sits at row position start + j
        ids += seq[q:-1]
        seg += [i] * (len(seq) - q - 1)
        pos += range(q, len(seq) - 1)
        # seq[j] is predicted at the position of seq[j - 1]: the prefix's last token, or in this remainder
        picks += [(r0 + i, b, j - 1 - past if j <= q else start + j - 1 - q, seq[j])
                  for j in range(len(seq) - len(cont), len(seq))]  # fmt: skip
    return ids, seg, pos, picks


def _block_mask(seg: torch.Tensor, additive: bool, past: int = 0) -> torch.Tensor:
    """(B, 1, W, past + W) attention mask: causal, within a segment or onto the prefix; every token also
    sees the ``past`` cached tokens before the row. Padding (segment -2) sees itself, so no row of the
    attention is empty (empty rows would give NaN states)."""
    causal = torch.ones(seg.shape[1], seg.shape[1], dtype=torch.bool).tril()  # (W, W)
    allowed = causal & ((seg[:, :, None] == seg[:, None, :]) | (seg == -1)[:, None, :])  # (B, W, W)
    if past:
        allowed = torch.cat([torch.ones(*seg.shape, past, dtype=torch.bool), allowed], dim=2)  # (B, W, P + W)
    if additive:  # eager attention adds the mask to the scores
        return torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)[:, None]
    return allowed[:, None]


def _run_prefix(model, tokens: list[int], amp: torch.dtype | None):
    """The key/value cache (batch 1) of a prefix shared across items: run once for its whole group."""
    ids = torch.tensor([tokens], device=model.device)
    with _autocast(model, amp):  # no logits needed: the prefix stops short of every scored token
        return model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values


def _repeat_cache(cache, n: int):
    """A copy of a batch-1 cache for n rows (the forward appends to it; the group's other batches reuse it)."""
    out = copy.deepcopy(cache)
    out.batch_repeat_interleave(n)
    return out


def _seq2seq_batch(model, batch: list[list[Request]], max_len: int, amp: torch.dtype | None) -> list[list[float]]:
    """Scores of a batch of items: each distinct encoder input encoded once, every choice decoded from it."""
    from transformers.modeling_outputs import BaseModelOutput

    device = model.device
    encoder_rows: dict[tuple[int, ...], int] = {}
    owner = [encoder_rows.setdefault(tuple(ctx[-max_len:]), len(encoder_rows)) for item in batch for ctx, _ in item]
    owner = torch.tensor(owner, device=device)  # (R,) encoder row of each request
    enc_ids, enc_mask = (t.to(device) for t in _pad([list(k) for k in encoder_rows]))  # (U, L)
    conts = [cont for item in batch for _, cont in item]
    labels = _pad(conts)[0].to(device)  # (R, K)
    with _autocast(model, amp):
        states = model.get_encoder()(input_ids=enc_ids, attention_mask=enc_mask).last_hidden_state  # (U, L, D)
        logits = model(
            encoder_outputs=BaseModelOutput(last_hidden_state=states[owner]),  # (R, L, D)
            attention_mask=enc_mask[owner],
            decoder_input_ids=model.prepare_decoder_input_ids_from_labels(labels=labels),
        ).logits  # (R, K, V)
    picks = [(r, r, j, t) for r, cont in enumerate(conts) for j, t in enumerate(cont)]
    return _regroup(_logprob_sums(logits, picks, len(conts)).tolist(), [len(item) for item in batch])


def _regroup(flat: list[float], sizes: list[int]) -> list[list[float]]:
    out, i = [], 0
    for n in sizes:
        out.append(flat[i : i + n])
        i += n
    return out


def _truncated(item: list[Request], max_len: int) -> bool:
    """Whether the harness truncates a request of this causal item (it goes through ``loglik_naive``)."""
    return any(len(c) + len(k) > max_len + 1 for c, k in item)


def _reaches_window(item: list[Request], window: int | None) -> bool:
    """Whether a batch holding this causal item could reach a sliding-attention window (it is then scored
    alone, ``_windowed_item``). The batched paths change the distances such a window counts (padding
    gaps, packed remainders, a custom mask, a cached prefix before the row); this bounds them all (a
    prefix group's cache and row together are no longer than the item's packed row)."""
    return window is not None and _sort_key(item, "causal") + max(len(c) + len(k) for c, k in item) >= window - 1


def _windowed_item(model, item: list[Request], max_len: int, amp: torch.dtype | None, prefix=None) -> list[float]:
    """Scores of one causal item that reaches a sliding-attention window, its shared context run once.

    The cache path on this one item: pass 1 runs its shared tokens (no padding), after ``prefix`` if
    given ((P, the key/value cache of the first P of them, shared with other items: ``windowed_groups``),
    pass 2 each request's remainder right after them on a copy of their cache, padded only at its end.
    Every real token thus sits at the cache index of its position, the distance a sliding window counts,
    so the window sees what it sees in the harness's one forward per request; an MMLU item's four
    choices cost one run of what its 5-shot header leaves of its context instead of four of all of it.
    Requests that share no token go through ``loglik_naive``."""
    past, cache = prefix if prefix is not None else (0, None)
    q = shared_len(item)
    if q == 0:
        return loglik_naive(model, item, "causal", max_len, amp)
    reqs = [(0, ctx + cont, len(cont)) for ctx, cont in item]
    with _autocast(model, amp):
        out = model(input_ids=torch.tensor([item[0][0][past:q]], device=model.device), use_cache=True,
                    past_key_values=copy.deepcopy(cache), logits_to_keep=1)  # fmt: skip
        picks = [(r, 0, 0, seq[q]) for r, (_, seq, n) in enumerate(reqs) if len(seq) - q <= n]
        sums = _logprob_sums(out.logits, picks, len(reqs))  # the tokens the last shared position predicts
        visible = torch.ones(1, q, dtype=torch.long, device=model.device)
        sums += _rest_pass(model, reqs, [q], out.past_key_values, visible)
    return sums.tolist()


def _batch_scores(model, batch, arch: str, max_len: int, amp) -> list[list[float]]:
    if arch == "seq2seq":
        return _seq2seq_batch(model, batch, max_len, amp)
    if any(_truncated(item, max_len) for item in batch):
        return [loglik_naive(model, item, arch, max_len, amp) for item in batch]
    window = sliding_window(model)
    if any(_reaches_window(item, window) for item in batch):
        return [_windowed_item(model, item, max_len, amp) for item in batch]
    return _packed_batch(model, batch, amp) if _packable(model) else _causal_batch(model, batch, amp)


# ----------------------------------------------------------------------------- prefixes shared across items


def prefix_groups(model, items: list[list[Request]], arch: str, max_len: int) -> list[tuple[int, list[int]]]:
    """Items whose first P token ids are the same, P >= ``MIN_SHARED_PREFIX``: (P, item indices) per group.

    Only where the packed path runs (causal, ``_packable``), and only items it takes (neither
    ``_truncated`` nor ``_reaches_window``). Each item offers the tokens all its requests share but the
    last, so its packed row keeps at least one, whose logits predict its first continuation token. Token
    ids are compared, so a token merged across the end of a common text is simply not shared. The offers
    are sorted: the common prefix of a run of them is the least of its neighbours', and ``_best_split``
    cuts the runs.
    """
    if arch != "causal" or not _packable(model):
        return []
    window = sliding_window(model)
    return _groups(items, [i for i, item in enumerate(items)
                           if not _truncated(item, max_len) and not _reaches_window(item, window)])  # fmt: skip


def windowed_groups(model, items: list[list[Request]], arch: str, max_len: int) -> list[tuple[int, list[int]]]:
    """``prefix_groups`` among the items scored alone because they reach a sliding window (``_windowed_item``,
    any causal model: its prefix's cache is continued, never packed)."""
    window = sliding_window(model) if arch == "causal" else None
    if window is None:
        return []
    return _groups(items, [i for i, item in enumerate(items)
                           if not _truncated(item, max_len) and _reaches_window(item, window)])  # fmt: skip


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
        order = sorted(members, key=lambda i: _sort_key(items[i], arch), reverse=True)
        out += [(g, order[s : s + batch_size]) for s in range(0, len(order), batch_size)]
    return out


def default_batch_size(device: torch.device) -> int:
    """Items per batch: 4 on a CPU, 16 elsewhere. On a CPU one item's row (100+ tokens) already keeps fp32
    matmuls busy and batching mostly adds padding; bf16 matmuls are fast enough for the per-forward cost to
    show (benchmarks/eval_speed.py, SmolLM2, 2-core EPYC under load: fp32 3.5 items/s at 1, 3.1 at 4;
    bf16 4.8 at 1, 8.3 at 4)."""
    return 4 if torch.device(device).type == "cpu" else 16


def _sort_key(item: list[Request], arch: str) -> int:
    """The item's length in a batch (its packed row, or encoder + decoder): neighbours pad little."""
    if arch == "seq2seq":
        return max(len(c) for c, _ in item) + max(len(k) for _, k in item)
    q = shared_len(item)
    return q + sum(len(c) + len(k) - q - 1 for c, k in item)


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
            scores = _batch_scores(model, batch, arch, max_len, amp)
        else:
            if cached[0] != g:
                cached = (g, _run_prefix(model, batch[0][0][0][: groups[g][0]], amp))
            if g < len(packed):
                scores = _packed_batch(model, batch, amp, prefix=cached[1])
            else:
                scores = [_windowed_item(model, item, max_len, amp, prefix=(groups[g][0], cached[1])) for item in batch]
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
