"""Greedy batched generation for the continual tasks' own metrics (the paper's Table 3).

Decoder-only models are fed left-padded prompts (so every row's continuation starts at the same
position) and decoded by ``greedy_causal``: one prefill that projects only the last position onto
the vocabulary, then one token per step with the key/value cache, where a row that has produced
EOS leaves the batch (its cache rows are dropped), so finished rows cost nothing. Its outputs are
``model.generate``'s greedy outputs (tested on the tiny models, measured on the real ones by
``make bench``). Encoder-decoder models take right-padded encoder inputs and ``model.generate``.
Batches are sorted by prompt length to waste little padding, and the outputs are returned in the
input order. Under several processes each computes its share of the batches
(cf_utils.distributed) and all get every output.
"""

from __future__ import annotations

import torch

from cf_utils import distributed
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
    batch_size: int = 16,
    desc: str = "generate",
    kernel: str = "ours",
) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded, stripped), in input order.

    ``kernel="hf"`` decodes a decoder-only model with ``model.generate`` instead (the baseline of
    ``make bench`` and of the tests)."""
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left" if arch == "causal" else "right"
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, str] = {}
    device = next(model.parameters()).device
    starts = list(range(0, len(order), batch_size))
    try:
        for j in tqdm(distributed.mine(len(starts)), desc=desc, unit="batch", leave=False):
            idx = order[starts[j] : starts[j] + batch_size]
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


@torch.no_grad()
def greedy_causal(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, eos_id: int, pad_id: int
) -> torch.Tensor:
    """(B, T_new) greedy continuation ids of left-padded prompts: each row ends with EOS, then ``pad_id``.

    A row leaves the batch when it emits EOS: its key/value cache rows are dropped
    (``Cache.batch_select_indices``), so the remaining steps run on the rows still generating.
    Positions follow the attention mask (a left-padded row starts at 0), as ``model.generate`` does.
    """
    rows = input_ids.shape[0]
    out = torch.full((rows, max_new_tokens), pad_id, dtype=torch.long, device=input_ids.device)
    alive = torch.arange(rows, device=input_ids.device)  # batch row -> input row
    position = attention_mask.long().cumsum(-1) - 1  # (B, T)
    step_out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position.clamp(min=0),
                     use_cache=True, logits_to_keep=1)  # fmt: skip
    cache, mask, position = step_out.past_key_values, attention_mask, position[:, -1:]
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
