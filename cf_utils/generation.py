"""Greedy batched generation for the continual tasks' own metrics (the paper's Table 3).

Decoder-only models are fed left-padded prompts (so every row's continuation starts at the same
position) and decoded by ``greedy_causal``: one prefill that projects only the last position onto
the vocabulary, then one token per step with the key/value cache, where a row that has produced
EOS leaves the batch (its cache rows are dropped), so finished rows cost nothing. Its outputs are
``model.generate``'s greedy outputs (tested on the tiny models, measured on the real ones by
``make bench``). Encoder-decoder models take right-padded encoder inputs and ``model.generate``.
Prompts are sorted by length into as few batches as ``batch_size`` allows, of near-equal sizes (no
small last batch), to waste little padding; the prompt tokens a batch's rows share (the instruction
header) run once per batch. The outputs are returned in the input order. Under several
processes each computes its share of the batches (cf_utils.distributed) and all get every output.
"""

from __future__ import annotations

import torch

from cf_utils import distributed, forward
from cf_utils.progress import tqdm


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[str],
    *,
    arch: str,
    max_new_tokens: int = 48,
    amp: torch.dtype | None = None,
    batch_size: int | None = None,
    desc: str = "generate",
    kernel: str = "ours",
) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded, stripped), in input order.

    ``kernel="hf"`` decodes a decoder-only model with ``model.generate`` instead (the baseline of
    ``make bench`` and of the tests). ``batch_size`` defaults to ``default_batch_size``."""
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left" if arch == "causal" else "right"
    out: dict[int, str] = {}
    device = next(model.parameters()).device
    batches = _batches(prompts, batch_size or default_batch_size(device))
    try:
        for j in tqdm(distributed.mine(len(batches)), desc=desc, unit="batch", leave=False):
            idx = batches[j]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True).to(device)
            with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                if arch == "causal" and kernel == "ours":
                    new = greedy_causal(model, enc["input_ids"], enc["attention_mask"], max_new_tokens,
                                        tokenizer.eos_token_id, tokenizer.pad_token_id)  # fmt: skip
                else:
                    gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                         pad_token_id=tokenizer.pad_token_id,
                                         eos_token_id=tokenizer.eos_token_id)  # fmt: skip
                    new = gen[:, enc["input_ids"].shape[1] :] if arch == "causal" else gen  # (B, T_new)
            for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                out[i] = text.strip()
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    out = distributed.gather_dict(out)
    return [out[i] for i in range(len(prompts))]


MIN_SHARED_PROMPT = 16  # shared prompt tokens worth a separate prefix pass (a task's header is 30-50)


def default_batch_size(device: torch.device) -> int:
    """Prompts per batch: 50 on a CPU, where a decoding step costs little more for 50 rows than for 16
    (a matmul with few rows is slow per row; measured: 100 prompts in 94 s at 50, 113 s at 16 on 2
    cores), so a checkpoint's prompts go in one or two batches; 16 on a GPU, whose key/value cache for
    a large model must fit beside its weights."""
    return 50 if device.type == "cpu" else 16


def _batches(prompts: list[str], batch_size: int) -> list[list[int]]:
    """Prompt indices per batch: sorted by length (little padding) and cut into as few batches as
    ``batch_size`` allows, of near-equal sizes (no small last batch). Tasks are not kept apart: fuller
    batches of mixed tasks are faster than each task's own (``make bench``), and the header every
    task's prompt shares still runs once per batch."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    n = -(-len(order) // batch_size)
    return [order[len(order) * j // n : len(order) * (j + 1) // n] for j in range(n)]


@torch.no_grad()
def greedy_causal(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, eos_id: int, pad_id: int
) -> torch.Tensor:
    """(B, T_new) greedy continuation ids of left-padded prompts: each row ends with EOS, then ``pad_id``.

    The prompt tokens every row shares (a task's instruction header) are run once, and their
    key/value cache serves every row (``_prefill``). A row leaves the batch when it emits EOS: its
    key/value cache rows are dropped (``Cache.batch_select_indices``), so the remaining steps run on
    the rows still generating. Positions follow the attention mask (a left-padded row starts at 0),
    as ``model.generate`` does.
    """
    rows = input_ids.shape[0]
    out = torch.full((rows, max_new_tokens), pad_id, dtype=torch.long, device=input_ids.device)
    alive = torch.arange(rows, device=input_ids.device)  # batch row -> input row
    step_out, cache, mask, position = _prefill(model, input_ids, attention_mask, max_new_tokens)
    for t in range(max_new_tokens):
        token = step_out.logits[:, -1].argmax(dim=-1)  # (b,)
        out[alive, t] = token
        going = token != eos_id
        if t == max_new_tokens - 1 or not going.any():
            break
        if not going.all():  # finished rows leave the batch, and their cache with them
            keep = going.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            alive, token, mask, position = alive[keep], token[keep], mask[keep], position[keep]
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        position = position + 1
        step_out = model(input_ids=token[:, None], attention_mask=mask, position_ids=position,
                         past_key_values=cache, use_cache=True)  # fmt: skip
    return out


def shared_prompt_len(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> int:
    """Tokens at the start of every row's (left-padded) prompt that all rows share, leaving each row at
    least its last prompt token (whose logits give the first new token)."""
    lengths = attention_mask.sum(dim=1).tolist()
    first = input_ids[0, input_ids.shape[1] - lengths[0] :]
    shared = min(lengths) - 1
    for row, n in zip(input_ids[1:], lengths[1:], strict=True):
        real = row[row.shape[0] - n :]
        differ = (real[:shared] != first[:shared]).nonzero()
        shared = int(differ[0]) if len(differ) else shared
    return max(shared, 0)


def _prefill(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int):
    """(model output at each row's last prompt token, cache, attention mask, last positions).

    Without a shared prompt (or for one row) this is one forward of the left-padded prompts. With
    one, the shared tokens run once (batch 1), their cache is copied to every row, and the rows'
    remainders run, left-padded, after it: the layout is [shared][padding][remainder], the padding
    masked and the positions counted over real tokens, so every row sees what ``model.generate``
    sees. A model with a sliding attention window takes the plain path when the padded sequence
    could outgrow the window (the window counts cache slots, padding included)."""
    rows = input_ids.shape[0]
    shared = shared_prompt_len(input_ids, attention_mask) if rows > 1 else 0
    window = forward.sliding_window(model)
    if window and input_ids.shape[1] + max_new_tokens > window:
        shared = 0
    if shared < MIN_SHARED_PROMPT:
        position = attention_mask.long().cumsum(-1) - 1  # (B, T)
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position.clamp(min=0),
                    use_cache=True, logits_to_keep=1)  # fmt: skip
        return out, out.past_key_values, attention_mask, position[:, -1:]
    lengths = attention_mask.sum(dim=1)
    start = input_ids.shape[1] - int(lengths[0])
    head = input_ids[:1, start : start + shared]
    cache = model(input_ids=head, use_cache=True, logits_to_keep=1).past_key_values
    cache.batch_repeat_interleave(rows)
    # The remainders, left-padded: drop each row's padding and shared tokens, re-pad on the left.
    rest_len = int(lengths.max()) - shared
    rest = input_ids[:, -rest_len:]
    real = torch.arange(rest_len, device=rest.device)[None, :] >= rest_len - (lengths[:, None] - shared)
    mask = torch.cat([attention_mask.new_ones(rows, shared), real.to(attention_mask.dtype)], dim=1)
    position = mask.long().cumsum(-1)[:, shared:] - 1
    out = model(input_ids=rest, attention_mask=mask, position_ids=position, past_key_values=cache, use_cache=True,
                logits_to_keep=1)  # fmt: skip
    return out, cache, mask, position[:, -1:]
