"""Generation throughput: our greedy decoder against ``model.generate``, as the study runs them.

Same model (a cpu-profile model, default SmolLM2-135M-Instruct), prompts (the first N held-out
prompts of each of the five continual tasks, data/cpu/tasks/*.eval.jsonl), greedy settings, length
limit (the cpu profile's ``eval.max_new_tokens``), batches (``cf_utils.generation.generate``:
sorted by prompt length, 16 per batch), precision and machine. Both sides run through
``generation.generate``; only the decoding kernel differs (``kernel="hf"``: ``model.generate``;
``kernel="ours"``: ``generation.greedy_causal``, rows leave the batch at EOS). Checked: the texts
are identical. Generated tokens are counted by re-tokenising the texts (the same count for both).
Model FLOPs utilisation: 2 FLOPs per weight per prompt and generated token, over this machine's
measured matmul peak in the same precision.

    python benchmarks/gen_speed.py [--model NAME] [--prompts 16] [--precision auto|bf16|fp32] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import matmul_peak  # benchmarks/common.py (scripts run from this folder)

from cf_utils import generation, models, paths
from cf_utils.config import load_config
from cf_utils.data.records import read_jsonl

TARGET = 2.0  # ours / model.generate (issue: at least 2x with identical outputs)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="registry name of a cpu-profile model")
    ap.add_argument("--prompts", type=int, default=16, help="first N held-out prompts of each task")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    ap.add_argument("--batch-size", type=int, default=16, help="prompts per batch (the study's: 16)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    cfg = load_config("cpu")
    max_new = cfg.eval.max_new_tokens
    files = sorted(paths.tasks_dir("cpu").glob("*.eval.jsonl"))
    if not files:
        raise SystemExit("no data/cpu/tasks/*.eval.jsonl: run `make data PROFILE=cpu` first")
    prompts = [r["prompt"] for f in files for r in read_jsonl(f, "instruction")[: args.prompts]]
    amp = models.autocast_dtype("cpu", args.precision)
    model = models.load_model(args.model, method="full", dtype=torch.float32, device="cpu")
    tok = models.load_tokenizer(args.model)
    n_params = sum(p.numel() for p in model.parameters())
    peak = matmul_peak(torch.bfloat16 if amp else torch.float32)

    kw = {"arch": "causal", "max_new_tokens": max_new, "amp": amp, "batch_size": args.batch_size}
    generation.generate(model, tok, prompts[:2], **kw)  # warm-up
    results, texts = {}, {}
    for kernel in ("hf", "ours"):
        t = time.perf_counter()
        texts[kernel] = generation.generate(model, tok, prompts, kernel=kernel, **kw)
        results[kernel] = {"wall_s": time.perf_counter() - t}
    identical = sum(a == b for a, b in zip(texts["hf"], texts["ours"], strict=True)) / len(prompts)
    generated = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts["ours"])
    prompt_tokens = sum(len(tok(p)["input_ids"]) for p in prompts)
    precision = "bf16" if amp else "fp32"
    print(f"{args.model}, {len(prompts)} prompts from {len(files)} tasks, greedy, at most {max_new} new tokens, "
          f"batch {args.batch_size}, {precision}, {torch.get_num_threads()} threads; "
          f"matmul peak {peak / 1e9:.0f} GFLOP/s")  # fmt: skip
    print(f"{'kernel':<8} {'gen tokens/s':>12} {'MFU':>6}")
    for name, r in results.items():
        r["tokens_per_s"] = generated / r["wall_s"]
        r["mfu"] = 2 * n_params * (prompt_tokens + generated) / r["wall_s"] / peak
        print(f"{name:<8} {r['tokens_per_s']:>12.1f} {r['mfu']:>6.1%}")
    speedup = results["ours"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
    print(f"ours / model.generate = {speedup:.2f}x (target >= {TARGET}x); identical texts: {identical:.1%}; "
          f"{generated} generated tokens, {generated / len(prompts):.1f} per prompt of at most {max_new}")  # fmt: skip
    summary = {"model": args.model, "precision": precision, "prompts": len(prompts), "max_new_tokens": max_new,
               "batch_size": args.batch_size, "generated_tokens": generated, "prompt_tokens": prompt_tokens,
               "threads": torch.get_num_threads(),
               "matmul_peak_flops": peak, "results": results, "speedup": speedup, "identical_texts": identical,
               "target": TARGET, "meets_target": speedup >= TARGET and identical == 1.0}  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
