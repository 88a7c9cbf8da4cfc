"""bf16 against fp32: do the study's answers change with the precision it scores and generates in?

Same model (a cpu-profile model, default SmolLM2-135M-Instruct, fp32 weights), items (the first N
of every data/cpu/benchmarks/*.jsonl), prompts (the first M held-out prompts of each continual
task), scorer and decoder (cf_utils.scoring, cf_utils.generation), machine. The fp32 run is plain;
the bf16 run is the study's ``eval.precision: bf16``: bf16 autocast over the fp32 weights. Reported
per benchmark: the share of items whose chosen answer is the same (for a stereotype pair: the same
preferred sentence), the accuracy (or % stereotype) in each precision, and the largest
log-likelihood difference; for generation, the share of identical texts. Also each precision's
seconds: on a CPU without native bf16 (AVX2 only) bf16 is emulated and slower (4.2x fp32 for this
benchmark on the 2-core EPYC of CI), so the study's ``precision: auto`` keeps fp32 there
(``models.fast_bf16``), and the defaults here are small.

    python benchmarks/precision_agreement.py [--model NAME] [--items 8] [--prompts 4] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from cf_utils import generation, models, paths, scoring
from cf_utils.config import load_config
from cf_utils.data.records import read_jsonl
from cf_utils.progress import tqdm

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def answer(item: dict) -> int | bool:
    return item["stereotype"] if "stereotype" in item else item["pred"]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="registry name of a cpu-profile model")
    ap.add_argument("--items", type=int, default=8, help="first N items of every benchmark file")
    ap.add_argument("--prompts", type=int, default=4, help="first M held-out prompts of each continual task")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    files = sorted(paths.benchmarks_dir("cpu").glob("*.jsonl"))
    tasks = sorted(paths.tasks_dir("cpu").glob("*.eval.jsonl"))
    if not files or not tasks:
        raise SystemExit("no data/cpu benchmarks or tasks: run `make data PROFILE=cpu` first")
    cfg = load_config("cpu")
    model = models.load_model(args.model, method="full", dtype=torch.float32, device="cpu")
    tok = models.load_tokenizer(args.model)
    prompts = [r["prompt"] for f in tasks for r in read_jsonl(f, "instruction")[: args.prompts]]

    scored: dict[str, dict[str, list[dict]]] = {p: {} for p in PRECISIONS}
    texts, seconds = {}, {}
    for name, amp in PRECISIONS.items():
        t = time.perf_counter()
        for f in tqdm(files, desc=f"score {name}", unit="file"):
            kind = scoring.infer_kind(f)
            records = read_jsonl(f, kind)[: args.items]
            scored[name][f.stem] = scoring.score_records(model, tok, records, kind, arch="causal", amp=amp)[1]
        texts[name] = generation.generate(model, tok, prompts, arch="causal", amp=amp,
                                          max_new_tokens=cfg.eval.max_new_tokens)  # fmt: skip
        seconds[name] = time.perf_counter() - t

    rows = {}
    for stem in scored["fp32"]:
        a, b = scored["fp32"][stem], scored["bf16"][stem]
        metric = "stereotype" if "stereotype" in a[0] else "correct"
        rows[stem] = {
            "n": len(a),
            "same_answer": sum(answer(x) == answer(y) for x, y in zip(a, b, strict=True)) / len(a),
            metric: {p: sum(x[metric] for x in scored[p][stem]) / len(a) for p in PRECISIONS},
            "max_abs_loglik_diff": max(abs(u - v) for x, y in zip(a, b, strict=True)
                                       for u, v in zip(x["loglikelihoods"], y["loglikelihoods"], strict=True)),
        }  # fmt: skip
    n_items = sum(r["n"] for r in rows.values())
    same = sum(r["same_answer"] * r["n"] for r in rows.values()) / n_items
    same_text = sum(x == y for x, y in zip(texts["fp32"], texts["bf16"], strict=True)) / len(prompts)

    print(f"{args.model}: bf16 autocast against fp32, {n_items} items from {len(files)} benchmarks, "
          f"{len(prompts)} prompts from {len(tasks)} tasks; {torch.get_num_threads()} threads")  # fmt: skip
    print(f"{'benchmark':<22} {'n':>4} {'same':>6} {'fp32':>6} {'bf16':>6} {'max |d ll|':>10}")
    for stem, r in rows.items():
        metric = "stereotype" if "stereotype" in r else "correct"
        print(f"{stem:<22} {r['n']:>4} {r['same_answer']:>6.0%} {r[metric]['fp32']:>6.2f} {r[metric]['bf16']:>6.2f} "
              f"{r['max_abs_loglik_diff']:>10.3f}")  # fmt: skip
    print(f"same answer on {same:.1%} of items; identical generations {same_text:.1%}; "
          f"seconds fp32 {seconds['fp32']:.0f}, bf16 {seconds['bf16']:.0f} (fast bf16 here: "
          f"{models.fast_bf16('cpu')})")  # fmt: skip
    summary = {"model": args.model, "items": n_items, "prompts": len(prompts), "threads": torch.get_num_threads(),
               "fast_bf16": models.fast_bf16("cpu"), "seconds": seconds, "benchmarks": rows,
               "same_answer": same, "identical_generations": same_text}  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
