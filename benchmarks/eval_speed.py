"""Scoring throughput: our kernel (cf_utils.scoring) against lm-evaluation-harness's HFLM.

Same model (the cpu profile's SmolLM2-135M-Instruct, fp32 weights), requests (the first N items of
every data/cpu/benchmarks/*.jsonl, built by ``scoring.text_requests``), precision and machine.
The harness runs ``HFLM.loglikelihood`` on those requests (its tokenisation, sorting, batching and
one-token-continuation cache) at several batch sizes; we report its best. Both sides are timed from
text to log-likelihoods; model loading is excluded. Checked: both choose the same answer on every
item, and the largest log-likelihood difference.

Model FLOPs utilisation: 2 FLOPs per weight per token each method needs to run through the model
(attention scores and padding not counted), with the vocabulary projection counted only at the
positions whose logits it computes (the harness: every position; ours: the last shared token and
the remainders), over this machine's measured matmul peak in the same precision.

    python benchmarks/eval_speed.py [--model smollm2-135m-instruct] [--items 16] [--precision fp32|bf16]
                                    [--threads N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import matmul_peak  # benchmarks/common.py (scripts run from this folder)

from cf_utils import forward, models, paths, scoring
from cf_utils.data.records import read_jsonl

HARNESS_BATCHES = (1, 4, 16)  # on a CPU its best is small: larger batches pad and normalise (B, T, V) logits
OUR_BATCHES = (1, 4, 16)


def load_subset(n_items: int) -> list[tuple[str, str, list[dict]]]:
    """(file stem, kind, first n records) for every cpu benchmark file, in name order."""
    files = sorted(paths.benchmarks_dir("cpu").glob("*.jsonl"))
    if not files:
        raise SystemExit("no data/cpu/benchmarks/*.jsonl: run `make data PROFILE=cpu` first")
    out = []
    for f in files:
        kind = scoring.infer_kind(f)
        out.append((f.stem, kind, read_jsonl(f, kind)[:n_items]))
    return out


def run_ours(model, tok, subset, batch_size: int, amp) -> tuple[float, list[list[float]]]:
    t = time.perf_counter()
    lls = []
    for _, kind, records in subset:
        _, per_item = scoring.score_records(model, tok, records, kind, arch="causal", batch_size=batch_size, amp=amp)
        lls += [r["loglikelihoods"] for r in per_item]
    return time.perf_counter() - t, lls


def run_harness(lm, subset) -> tuple[float, list[list[float]]]:
    from lm_eval.api.instance import Instance

    sizes, reqs = [], []
    for _, kind, records in subset:
        for rec in records:
            pairs = scoring.text_requests(rec, kind)
            sizes.append(len(pairs))
            reqs += [Instance("loglikelihood", rec, pair, len(reqs)) for pair in pairs]
    t = time.perf_counter()
    flat = [ll for ll, _ in lm.loglikelihood(reqs, disable_tqdm=True)]
    wall = time.perf_counter() - t
    lls, i = [], 0
    for n in sizes:
        lls.append(flat[i : i + n])
        i += n
    return wall, lls


def flops(items: list[list[forward.Request]], n_params: int, head: int, ours: bool) -> float:
    """Forward FLOPs (2 per weight per token; the vocabulary projection only where logits are made)."""
    body = n_params - head
    total = 0.0
    for item in items:
        if ours:
            q = forward.shared_len(item)
            rest = sum(len(c) + len(k) - q - 1 for c, k in item)
            total += 2 * body * (q + rest) + 2 * head * (rest + (q > 0))
        else:
            tokens = sum(len(c) + len(k) - 1 for c, k in item)
            total += 2 * (body + head) * tokens
    return total


def agreement(harness: list[list[float]], ours: list[list[float]]) -> tuple[float, float]:
    same = [h.index(max(h)) == o.index(max(o)) for h, o in zip(harness, ours, strict=True)]
    diff = max(abs(a - b) for h, o in zip(harness, ours, strict=True) for a, b in zip(h, o, strict=True))
    return sum(same) / len(same), diff


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="registry name of a cpu-profile model")
    ap.add_argument("--items", type=int, default=16, help="first N items of every benchmark file")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from lm_eval.models.huggingface import HFLM

    amp = models.autocast_dtype("cpu", args.precision)
    model = models.load_model(args.model, method="full", dtype=torch.float32, device="cpu")
    tok = models.load_tokenizer(args.model)
    subset = load_subset(args.items)
    items = [[scoring.encode_request(tok, c, k, "causal") for c, k in scoring.text_requests(r, kind)]
             for _, kind, records in subset for r in records]  # fmt: skip
    n_items, n_requests = len(items), sum(map(len, items))
    n_params = sum(p.numel() for p in model.parameters())
    head = model.get_output_embeddings().weight.numel()
    peak = matmul_peak(torch.bfloat16 if amp else torch.float32)
    work = {"harness": flops(items, n_params, head, ours=False), "ours": flops(items, n_params, head, ours=True)}

    run_ours(model, tok, [(s, k, r[:2]) for s, k, r in subset[:1]], 4, amp)  # warm-up
    results = {"harness": {}, "ours": {}}
    for bs in HARNESS_BATCHES:
        lm = HFLM(pretrained=model, tokenizer=tok, backend="causal", device="cpu", batch_size=bs,
                  mixed_precision_dtype=amp)  # fmt: skip
        wall, harness_lls = run_harness(lm, subset)
        results["harness"][bs] = wall
    for bs in OUR_BATCHES:
        wall, our_lls = run_ours(model, tok, subset, bs, amp)
        results["ours"][bs] = wall
    same, diff = agreement(harness_lls, our_lls)

    print(f"{args.model}, {n_items} items ({n_requests} requests) from {len(subset)} files, {args.precision}, "
          f"{torch.get_num_threads()} threads; matmul peak {peak / 1e9:.0f} GFLOP/s")  # fmt: skip
    print(f"{'method':<8} {'batch':>5} {'items/s':>8} {'MFU':>6}")
    best = {}
    for name, walls in results.items():
        for bs, wall in walls.items():
            print(f"{name:<8} {bs:>5} {n_items / wall:>8.1f} {work[name] / wall / peak:>6.1%}")
        bs = min(walls, key=walls.get)
        best[name] = {"batch_size": bs, "items_per_s": n_items / walls[bs], "mfu": work[name] / walls[bs] / peak}
    speedup = best["ours"]["items_per_s"] / best["harness"]["items_per_s"]
    print(f"best: ours {best['ours']['items_per_s']:.1f} items/s (batch {best['ours']['batch_size']}) vs harness "
          f"{best['harness']['items_per_s']:.1f} (batch {best['harness']['batch_size']}) = {speedup:.2f}x "
          f"(target >= 3x); same answer on {same:.1%} of items, max |d loglik| {diff:.1e}")  # fmt: skip
    summary = {"model": args.model, "precision": args.precision, "threads": torch.get_num_threads(), "items": n_items,
               "requests": n_requests, "matmul_peak_flops": peak, "model_flops": work, "wall_s": results,
               "best": best, "speedup": speedup, "same_answer": same, "max_abs_loglik_diff": diff}  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
