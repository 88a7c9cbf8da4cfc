"""Generation throughput: our greedy decoder against ``model.generate``, as the study runs them.

Same model (a cpu-profile model, default SmolLM2-135M-Instruct), prompts (the first N held-out
prompts of each of the five continual tasks, data/cpu/tasks/*.eval.jsonl; N defaults to the cpu
profile's ``eval.new_task_examples``, so the set is what the study generates at its first and last
checkpoint), greedy settings, length limit (``eval.max_new_tokens``), precision and machine.
Configurations:
  hf           ``generation.generate(kernel="hf")``: every prompt of the checkpoint in one call (sorted by
               length into near-equal batches of at most ``--batch-size``, default the study's:
               ``generation.default_batch_size``), each batch decoded by ``model.generate``
  hf-per-task  ``model.generate`` one task at a time in batches of at most 16: how the study generated
               before, and how a user loops
  ours         ``generation.generate``: the batches of ``hf``, each decoded by ``generation.greedy_causal``
               (a batch's shared prompt header runs once; rows leave the batch at EOS)
``ours / hf`` is the decoding kernel's ratio at the same batches; ``ours / hf-per-task`` is the
study's generation before and after. Checked: the texts are identical. The prompts alone (``hf`` and
``ours`` with one new token: the prompt pass and one step) are timed too: what decoding costs is the
rest, and ``hf``'s time over ``ours``' prompt pass is the most ``ours / hf`` could reach were
decoding free (a prompt pass is compute-bound: the same FLOPs for every kernel at equal precision).
Generated tokens are counted by re-tokenising the texts (the same count for every configuration whose
texts are identical).
Model FLOPs utilisation: 2 FLOPs per weight per prompt and generated token, over this machine's
measured matmul peak in the same precision.

    python benchmarks/gen_speed.py [--model NAME] [--prompts N] [--precision auto|bf16|fp32] [--json OUT]
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
    ap.add_argument("--prompts", type=int, help="first N held-out prompts of each task (default: the cpu profile's)")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    ap.add_argument("--batch-size", type=int, help="most prompts per batch (default: the study's on a CPU)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    cfg = load_config("cpu")
    max_new = cfg.eval.max_new_tokens
    files = sorted(paths.tasks_dir("cpu").glob("*.eval.jsonl"))
    if not files:
        raise SystemExit("no data/cpu/tasks/*.eval.jsonl: run `make data PROFILE=cpu` first")
    per_task = [[r["prompt"] for r in read_jsonl(f, "instruction")[: args.prompts or cfg.eval.new_task_examples]]
                for f in files]  # fmt: skip
    prompts = [p for task in per_task for p in task]
    amp = models.autocast_dtype("cpu", args.precision)
    model = models.load_model(args.model, method="full", dtype=torch.float32, device="cpu")
    tok = models.load_tokenizer(args.model)
    n_params = sum(p.numel() for p in model.parameters())
    peak = matmul_peak(torch.bfloat16 if amp else torch.float32)

    batch = args.batch_size or generation.default_batch_size(torch.device("cpu"))
    kw = {"arch": "causal", "max_new_tokens": max_new, "amp": amp, "batch_size": batch}
    generation.generate(model, tok, prompts[:2], **kw)  # warm-up
    hf = {**kw, "kernel": "hf"}
    before = {**hf, "batch_size": 16}  # the study's generation before: task by task, batches of 16
    runs = {"hf": lambda: generation.generate(model, tok, prompts, **hf),
            "hf-per-task": lambda: [t for q in per_task for t in generation.generate(model, tok, q, **before)],
            "ours": lambda: generation.generate(model, tok, prompts, **kw)}  # fmt: skip
    results, texts = {}, {}
    for name, run in runs.items():
        t = time.perf_counter()
        texts[name] = run()
        results[name] = {"wall_s": time.perf_counter() - t}
    for name, k in (("hf", hf), ("ours", kw)):  # the prompt pass alone: one new token
        t = time.perf_counter()
        generation.generate(model, tok, prompts, **{**k, "max_new_tokens": 1})
        results[name]["prompt_pass_s"] = time.perf_counter() - t
    identical = {name: sum(a == b for a, b in zip(texts[name], texts["ours"], strict=True)) / len(prompts)
                 for name in ("hf", "hf-per-task")}  # fmt: skip
    generated = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts["ours"])
    prompt_tokens = sum(len(tok(p)["input_ids"]) for p in prompts)
    precision = "bf16" if amp else "fp32"
    print(f"{args.model}, {len(prompts)} prompts from {len(files)} tasks, greedy, at most {max_new} new tokens, "
          f"batch {batch}, {precision}, {torch.get_num_threads()} threads; "
          f"matmul peak {peak / 1e9:.0f} GFLOP/s")  # fmt: skip
    print(f"{'kernel':<12} {'gen tokens/s':>12} {'MFU':>6}")
    for name, r in results.items():
        r["tokens_per_s"] = generated / r["wall_s"]
        r["mfu"] = 2 * n_params * (prompt_tokens + generated) / r["wall_s"] / peak
        print(f"{name:<12} {r['tokens_per_s']:>12.1f} {r['mfu']:>6.1%}")
    speedup = results["ours"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
    study = results["ours"]["tokens_per_s"] / results["hf-per-task"]["tokens_per_s"]
    h, o = results["hf"], results["ours"]
    decoding = (h["wall_s"] - h["prompt_pass_s"]) / (o["wall_s"] - o["prompt_pass_s"])
    ceiling = h["wall_s"] / o["prompt_pass_s"]
    print(f"prompt pass: hf {h['prompt_pass_s']:.1f} s of {h['wall_s']:.1f} s, ours {o['prompt_pass_s']:.1f} s of "
          f"{o['wall_s']:.1f} s; decoding alone ours / hf = {decoding:.2f}x; with free decoding ours / hf could "
          f"reach at most {ceiling:.2f}x")  # fmt: skip
    print(f"ours / model.generate at the same batches = {speedup:.2f}x (target >= {TARGET}x), identical texts "
          f"{identical['hf']:.1%}; ours / model.generate task by task = {study:.2f}x, identical texts "
          f"{identical['hf-per-task']:.1%}; {generated} generated tokens, {generated / len(prompts):.1f} per prompt "
          f"of at most {max_new}")  # fmt: skip
    summary = {"model": args.model, "precision": precision, "prompts": len(prompts), "tasks": len(files),
               "max_new_tokens": max_new, "batch_size": batch, "generated_tokens": generated,
               "prompt_tokens": prompt_tokens, "threads": torch.get_num_threads(), "matmul_peak_flops": peak,
               "results": results, "speedup": speedup, "speedup_vs_per_task": study, "identical_texts": identical,
               "decoding_speedup": decoding, "speedup_ceiling": ceiling,
               "target": TARGET, "meets_target": speedup >= TARGET and identical["hf"] == 1.0}  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
