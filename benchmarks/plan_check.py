"""How close ``make plan``'s time model is to this machine: each kind of work measured beside its estimate.

    python plan_check.py [--models smollm2-135m-instruct gemma3-270m] [--json ../artifacts/bench/plan_check.json]

For each model, on the profile's prepared data (``make data PROFILE=cpu`` first): one training stage of
the profile's method on the first ``--examples`` examples of task 1 (one epoch), scoring of the
``--benchmarks`` files at stage 0, and greedy generation for ``--prompts`` held-out
prompts of task 1. Each is timed and set beside what cf_utils.plan predicts for the same work from the
same counts (tokens = characters / 4 for training and generation, the model's tokenizer for scoring: the
plan's rules), so a ratio measured / predicted near 1 means
the plan's estimate of a whole run is as good; the token rule's own error is printed apart (real tokens /
estimated). The machine's load is printed: run it alone.
"""

import argparse
import json
import os
import time

import torch

from cf_utils import generation, models, paths, plan, registry, scoring, stage
from cf_utils.config import load_config
from cf_utils.data.records import read_jsonl
from cf_utils.study import TASKS

MFU = plan.CPU_MFU[plan.cpu_class()]  # the utilisations the plan assumes on this CPU


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _train(cfg, name, examples: int, peak: float) -> dict:
    spec = registry.get_spec(name)
    recs = read_jsonl(paths.task_file(cfg.profile, 1, TASKS[0], "train"), "instruction")[:examples]
    tok = models.load_tokenizer(name)
    model = models.load_model(name, method=cfg.train.method, dtype=torch.float32, device="cpu")
    if cfg.train.method != "full":
        model = stage.with_lora(model, name, cfg.train, cfg.seed)
    tcfg = type(cfg.train)(**{**cfg.to_dict()["train"], "epochs": 1})
    resume = paths.cache_dir() / "plan_check.resume"
    metrics = {}
    seconds = _timed(lambda: metrics.update(stage.train_stage(model, tok, spec.arch, recs, tcfg, seed=0,
                                                              resume_dir=resume, desc=f"{name} train")))  # fmt: skip
    prompt = sum(len(r["prompt"]) for r in recs)
    response = sum(len(r["target"]) + 1 for r in recs)
    chars = (prompt + response) / 4
    flops = plan._train_flops(spec, cfg.train.method, chars, response / (prompt + response))
    return {"measured_s": seconds, "predicted_s": flops / (peak * MFU["train"]),
            "token_rule": metrics["tokens"] / chars}  # fmt: skip


def _score(cfg, name, benchmarks: list[str], peak: float) -> dict:
    spec = registry.get_spec(name)
    files = [paths.data_dir(cfg.profile) / "benchmarks" / f"{b}.jsonl" for b in benchmarks]
    tok = models.load_tokenizer(name)
    model = models.load_model(name, method="full", dtype=torch.float32, device="cpu")
    amp = models.autocast_dtype("cpu", cfg.eval.precision)
    seconds = sum(_timed(lambda f=f: scoring.score_file(model, tok, f, arch=spec.arch, amp=amp)) for f in files)

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"]) if text else 0

    run = scored = 0.0
    for f in files:  # as the plan counts them: the tokenizer's tokens, a group's shared prefix once
        r, s = plan._file_tokens(f, count)
        run, scored = run + r, scored + s
    flops = plan._forward_flops(spec, run, scored)
    return {"files": [f.stem for f in files], "measured_s": seconds,
            "predicted_s": flops / (peak * MFU["score"])}  # fmt: skip


def _generate(cfg, name, prompts: int, peak: float) -> dict:
    spec = registry.get_spec(name)
    recs = read_jsonl(paths.task_file(cfg.profile, 1, TASKS[0], "eval"), "instruction")[:prompts]
    tok = models.load_tokenizer(name)
    model = models.load_model(name, method="full", dtype=torch.float32, device="cpu")
    amp = models.autocast_dtype("cpu", cfg.eval.precision)
    e = cfg.eval
    seconds = _timed(lambda: generation.generate(model, tok, [r["prompt"] for r in recs], arch=spec.arch,
                                                 max_new_tokens=e.max_new_tokens, amp=amp))  # fmt: skip
    tokens = sum(len(r["prompt"]) for r in recs) / 4
    flops = plan._forward_flops(spec, tokens + len(recs) * e.max_new_tokens, len(recs) * (1 + e.max_new_tokens))
    return {"prompts": len(recs), "measured_s": seconds, "predicted_s": flops / (peak * MFU["generate"])}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--models", nargs="+", default=["smollm2-135m-instruct", "gemma3-270m"])
    ap.add_argument("--examples", type=int, default=24, help="training examples (one epoch)")
    ap.add_argument(
        "--benchmarks",
        nargs="+",
        default=["mmlu_stem", "winogrande", "sciq"],
        help="benchmark files scored (names in data/<profile>/benchmarks/)",
    )
    ap.add_argument("--prompts", type=int, default=16, help="held-out prompts generated")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    cfg = load_config(args.profile)
    if not paths.data_manifest(cfg.profile).is_file():
        raise SystemExit(f"no prepared data: run `make data PROFILE={cfg.profile}` first")
    peak = plan.cpu_peak(cfg.train.precision)
    out = {"profile": cfg.profile, "method": cfg.train.method, "peak_flops": peak, "cpu": plan.cpu_class(), "mfu": MFU,
           "load_before": os.getloadavg()[0], "models": {}}  # fmt: skip
    for name in args.models:
        out["models"][name] = {"train": _train(cfg, name, args.examples, peak),
                               "score": _score(cfg, name, args.benchmarks, peak),
                               "generate": _generate(cfg, name, args.prompts, peak)}  # fmt: skip
    out["load_after"] = os.getloadavg()[0]
    print(
        f"{cfg.profile}: matmul peak {peak / 1e9:.0f} GFLOP/s; load {out['load_before']:.2f} -> {out['load_after']:.2f}"
    )
    for name, kinds in out["models"].items():
        for kind, r in kinds.items():
            r["ratio"] = r["measured_s"] / r["predicted_s"]
            extra = f"  (real tokens / characters/4: {r['token_rule']:.2f})" if "token_rule" in r else ""
            print(f"  {name:<24} {kind:<9} measured {r['measured_s']:7.1f} s  plan {r['predicted_s']:7.1f} s  "
                  f"measured/plan {r['ratio']:.2f}{extra}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
