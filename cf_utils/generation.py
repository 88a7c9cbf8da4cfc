"""Greedy batched generation for the continual tasks' own metrics (the paper's Table 3).

Decoder-only models are fed left-padded prompts (so every row's continuation starts at the same
position); encoder-decoder models take right-padded encoder inputs. Batches are sorted by prompt
length to waste little padding, and the outputs are returned in the input order. Under several
processes each computes its share of the batches (cf_utils.distributed) and all get every output.
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
) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded, stripped), in input order."""
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
                gen = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            new = gen[:, enc["input_ids"].shape[1] :] if arch == "causal" else gen  # (B, T_new)
            for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                out[i] = text.strip()
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    out = distributed.gather_dict(out)
    return [out[i] for i in range(len(prompts))]
