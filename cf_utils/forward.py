"""The forward passes behind cf_utils.scoring.loglik: the same log-likelihoods as the harness's one forward per
request (``loglik_naive``), with less work.

Speed: the same numbers with less work.
- causal, one forward per batch of items (``packed_batch``): row b holds once the tokens all
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
  context) is scored alone (``windowed_item``), because padding gaps and packing change the token
  distances such a window counts: its shared context runs once (after its k-shot header's cache,
  shared with the other items of its subject: ``windowed_groups``), then its requests' remainders
  on copies of that cache, padded only at their ends, so every token sits at its own position.
- a request the harness would truncate goes through ``loglik_naive``: one forward per request, fed
  exactly as the harness feeds it, the vocabulary projected only at the scored positions
  (``logits_to_keep``: at every position of a 5-shot MMLU context, Gemma-3's 262k-token projection
  costs 1.7 times the FLOPs of the rest of the model). tests/test_scoring.py checks every fast path
  against that loop and against the harness itself.
"""

from __future__ import annotations

import copy
import inspect

import torch

Request = tuple[list[int], list[int]]  # (context tokens, continuation tokens)
_PAD = 0  # padded positions are masked out or come after every scored one, so any id will do


# ----------------------------------------------------------------------------- kernels


def autocast(model, amp: torch.dtype | None):
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
        with autocast(model, amp):
            if arch == "seq2seq":
                enc = torch.tensor([ctx[-max_len:]], device=model.device)
                logits = model(input_ids=enc, labels=torch.tensor([cont], device=model.device)).logits  # (1, K, V)
                picks = [(0, 0, j, t) for j, t in enumerate(cont)]
            else:
                window = (ctx + cont)[-(max_len + 1) :]
                first = len(window) - len(cont)  # the first scored token; logits at t predict token t + 1
                ids = torch.tensor([window[:-1]], device=model.device)
                if first >= 1 and keeps_logits(model):  # the vocabulary projection only where a token is scored
                    logits = model(input_ids=ids, logits_to_keep=len(cont)).logits  # (1, len(cont), V)
                    picks = [(0, 0, i, window[first + i]) for i in range(len(cont))]
                else:
                    logits = model(input_ids=ids).logits  # (1, T, V)
                    picks = [(0, 0, j - 1, window[j]) for j in range(first, len(window))]
        out.append(float(_logprob_sums(logits, picks, 1)[0]))
    return out


def keeps_logits(model) -> bool:
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
    with autocast(model, amp):
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


def packable(model) -> bool:
    config = model.config
    return config.model_type in _PACKED_MODEL_TYPES and config._attn_implementation in ("sdpa", "eager")


def packed_batch(model, batch: list[list[Request]], amp: torch.dtype | None, prefix=None) -> list[list[float]]:
    """Scores of a batch of items in one forward: row b holds item b's shared prefix, then the remainder
    of each of its requests, each remainder seeing only the prefix and itself (a block mask).

    On a CPU a forward costs at least one read of every weight, so scoring the choices in the same
    forward as their context, rather than in a second pass on a copied cache, is what makes it fast.
    Positions restart after the prefix for every remainder, so each request sees exactly its own
    sequence, as the harness feeds it; padding only fills rows up to the longest.

    ``prefix``: the key/value cache (batch 1) of the first P tokens every item shares with the others of
    its prefix group (``run_prefix``); the rows then hold only what follows those P tokens, and every
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
    with autocast(model, amp):
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


def run_prefix(model, tokens: list[int], amp: torch.dtype | None):
    """The key/value cache (batch 1) of a prefix shared across items: run once for its whole group."""
    ids = torch.tensor([tokens], device=model.device)
    with autocast(model, amp):  # no logits needed: the prefix stops short of every scored token
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
    with autocast(model, amp):
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


def truncated(item: list[Request], max_len: int) -> bool:
    """Whether the harness truncates a request of this causal item (it goes through ``loglik_naive``)."""
    return any(len(c) + len(k) > max_len + 1 for c, k in item)


def reaches_window(item: list[Request], window: int | None) -> bool:
    """Whether a batch holding this causal item could reach a sliding-attention window (it is then scored
    alone, ``windowed_item``). The batched paths change the distances such a window counts (padding
    gaps, packed remainders, a custom mask, a cached prefix before the row); this bounds them all (a
    prefix group's cache and row together are no longer than the item's packed row)."""
    return window is not None and sort_key(item, "causal") + max(len(c) + len(k) for c, k in item) >= window - 1


def windowed_item(model, item: list[Request], max_len: int, amp: torch.dtype | None, prefix=None) -> list[float]:
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
    with autocast(model, amp):
        out = model(input_ids=torch.tensor([item[0][0][past:q]], device=model.device), use_cache=True,
                    past_key_values=copy.deepcopy(cache), logits_to_keep=1)  # fmt: skip
        picks = [(r, 0, 0, seq[q]) for r, (_, seq, n) in enumerate(reqs) if len(seq) - q <= n]
        sums = _logprob_sums(out.logits, picks, len(reqs))  # the tokens the last shared position predicts
        visible = torch.ones(1, q, dtype=torch.long, device=model.device)
        sums += _rest_pass(model, reqs, [q], out.past_key_values, visible)
    return sums.tolist()


def batch_scores(model, batch, arch: str, max_len: int, amp) -> list[list[float]]:
    if arch == "seq2seq":
        return _seq2seq_batch(model, batch, max_len, amp)
    if any(truncated(item, max_len) for item in batch):
        return [loglik_naive(model, item, arch, max_len, amp) for item in batch]
    window = sliding_window(model)
    if any(reaches_window(item, window) for item in batch):
        return [windowed_item(model, item, max_len, amp) for item in batch]
    return packed_batch(model, batch, amp) if packable(model) else _causal_batch(model, batch, amp)


def sort_key(item: list[Request], arch: str) -> int:
    """The item's length in a batch (its packed row, or encoder + decoder): neighbours pad little."""
    if arch == "seq2seq":
        return max(len(c) for c, _ in item) + max(len(k) for _, k in item)
    q = shared_len(item)
    return q + sum(len(c) + len(k) - q - 1 for c, k in item)
