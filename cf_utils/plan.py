"""What a profile would run, before it runs: chains, stages, items, and estimated compute, time and memory.

    python -m cf_utils.plan --profile paper        (make plan PROFILE=paper)

Needs neither the data nor the hub nor a GPU: token counts come from the prepared data when it exists
and from typical sizes otherwise (the real benchmarks' published sizes, ~4 characters per token).
Estimates, not measurements:
- compute: training 6 FLOPs per parameter and token for full fine-tuning, 4 for (Q)LoRA (no weight
  gradients of the frozen base), scoring and generation 2 (Kaplan et al. 2020), with the vocabulary
  projection (``ModelSpec.vocab_params_b``) counted only where logits are computed: the response tokens
  in training (stage.response_logits), the choices in scoring, the generated tokens in generation;
- time: compute / (peak x utilisation). On a GPU an A100's 312 TFLOP/s bf16 at 35% (training) and 25%
  (scoring). On a CPU the peak is measured here and now (a square matmul in the precision the study
  computes in: bf16 where fast, else fp32) and the utilisations are fitted to measurements of this
  project's kernels on a 2-core EPYC (CPU_MFU, benchmarks/plan_check.py), plus a start-up per process
  (PROCESS_S);
- memory: full 16 bytes per parameter (bf16 weights and gradients, fp32 Adam moments and master copy,
  before ZeRO sharding), LoRA 2, QLoRA ~0.55 (NF4 + double quantisation), plus 20% and 2 GB for
  activations and the CUDA context.
- several GPUs (``--gpus``, default 1 and 8): (Q)LoRA under DDP keeps a whole copy per GPU; full
  fine-tuning under DeepSpeed ZeRO-3 / FSDP shards the 16 bytes per parameter over the GPUs. Wall time
  = GPU hours / GPUs, GPU hours = single-GPU hours / scaling efficiency (90%: gradient all-reduce and
  the gather of scores; an assumption, not a measurement).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from cf_utils import dose_tables, evaluate, metrics, mitigations, models, paths, power, registry
from cf_utils.chains import all_chains
from cf_utils.config import GPU_PROFILES, Config, ConfigError, load_config
from cf_utils.io import atomic_write_json
from cf_utils.study import CATEGORIES, FULL, LORA, LWF, QLORA, REPLAY, STAGES, TRAINED_STAGES, TRAINED_VARIANTS

# The paper's benchmarks (test or validation split as the harness uses them), items per element.
PAPER_ITEMS = {"mmlu_stem": 3018, "mmlu_humanities": 4705, "mmlu_social_sciences": 3077, "mmlu_other": 3242,
               "boolq": 3270, "piqa": 1838, "winogrande": 1267, "hellaswag": 10042, "mathqa": 2985, "mutual": 886,
               "race_high": 1045, "race_middle": 362, "crows_pairs": 1508}  # fmt: skip
TYPICAL_TOKENS = {"train_example": 160, "bench_item": 450, "task_prompt": 120}  # when no data is prepared
BYTES_PER_PARAM = {FULL: 16.0, LORA: 2.0, QLORA: 0.55}
TRAIN_FLOPS_PER_PARAM_TOKEN = {FULL: 6, LORA: 4, QLORA: 4}
GPU_PEAK, GPU_MFU_TRAIN, GPU_MFU_EVAL = 312e12, 0.35, 0.25
SCALING_EFFICIENCY = 0.9  # several GPUs: share of linear speed-up kept (assumption, see above)
GEN_CELLS = sum(len(evaluate.tasks_at(k)) for k in STAGES)  # per fully evaluated chain
# Training compute of a method relative to seq: LwF adds a teacher forward (2N on top of 4N per token).
METHOD_TRAIN_FACTOR = {LWF: 1.5}


# Model FLOPs utilisation of this project's kernels on a CPU, by the CPU's widest vector unit (cpu_class), each
# fitted to benchmarks/plan_check.py on a 2-core EPYC (artifacts/bench/plan_check.json):
# - avx2 (fp32, 2026-11-29, batch 4): the means over SmolLM2 and Gemma-3 of each kind's measured time against
#   the FLOPs (full fine-tuning 0.65 and 0.59, scoring 0.81 and 0.59, generation 0.44 and 0.32); each model is
#   then within 20% of its own measurement.
# - avx512 (AVX-512 with BF16 but computing in fp32 as the cpu profiles pin, 2026-12-07, SmolLM2, the cpu
#   profile's batch of 1): SmolLM2's measured time against the FLOPs on the plan's token counts, full
#   fine-tuning 0.46, scoring 0.60, generation 0.41 (the avx2 values were 1.36, 1.16 and 0.93 x too fast).
CPU_MFU = {
    "avx2": {"train": 0.62, "score": 0.7, "generate": 0.38},
    "avx512": {"train": 0.46, "score": 0.6, "generate": 0.41},
}
CPU_CLASSES = tuple(CPU_MFU)


@functools.cache
def cpu_class() -> str:
    """This CPU's class for CPU_MFU: avx512 where /proc/cpuinfo lists avx512f, else avx2."""
    return "avx512" if "avx512f" in models.cpu_flags() else "avx2"


PROCESS_S = 20.0  # per chain process and notebook: interpreter, imports, model load (seconds; an assumption)


def matmul_peak(dtype: torch.dtype, n: int = 1024, reps: int = 8, rounds: int = 5) -> float:
    """Measured FLOP/s of a square matmul in ``dtype``: this machine's practical peak, the best of ``rounds``
    timings of ``reps`` products (about two seconds): a moment's load on a shared machine lowers one round, not
    the best."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    best = 0.0
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best


@functools.cache
def cpu_peak(precision: str = "auto") -> float:
    """This CPU's matmul peak in the precision the study computes in (a profile's ``train.precision``: auto is
    bf16 where this CPU has it, cf_utils.models.autocast_dtype)."""
    return matmul_peak(models.autocast_dtype("cpu", precision) or torch.float32)


def _file_tokens(path, count) -> tuple[float, float]:
    """(tokens the scorer runs, tokens it scores) of one benchmark file, counted by ``count`` (the model's
    tokenizer): each item's context(s) once and every option, a group's shared prefix once per group."""
    recs = [json.loads(line) for line in path.open(encoding="utf-8")]
    run = scored = 0.0
    groups: dict[str, list[str]] = {}
    for r in recs:
        if "choices" in r:
            opts = sum(count(" " + c) for c in r["choices"])
            run, scored = run + count(r["context"]) + opts, scored + opts
            if r.get("group"):
                groups.setdefault(r["group"], []).append(r["context"])
        elif "contexts" in r:
            rest = len(r["contexts"]) * count(" " + r["continuation"])
            run, scored = run + sum(count(c) for c in r["contexts"]) + rest, scored + rest
        else:
            both = count(r["sent_more"]) + count(r["sent_less"])
            run, scored = run + both, scored + both
    for contexts in groups.values():
        run -= (len(contexts) - 1) * count(power.shared_prefix(contexts))
    return run, scored


def _token_counter(cfg: Config):
    """Token counts from the profile's first model's tokenizer (characters / 4 where it cannot be loaded)."""
    try:
        tok = models.load_tokenizer(cfg.train.models[0], profile=cfg.profile)
    except Exception:  # noqa: BLE001 - a plan without the model still prints, from the character rule
        return lambda text: len(text) / 4
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"]) if text else 0


def _bench_tokens(cfg: Config, dose: bool = False) -> tuple[float, float]:
    """(tokens run, tokens scored) of one checkpoint's scoring (typical sizes without data); ``dose``: of the dose
    study's elements only (dose_tables.scored_files)."""
    manifest = paths.data_manifest(cfg.profile)
    if not manifest.is_file():
        bench = {k: min(v, cfg.data.bench_items or v) for k, v in PAPER_ITEMS.items()}
        tokens = sum(bench.values()) * TYPICAL_TOKENS["bench_item"]
        return tokens, 0.1 * tokens
    root = paths.data_dir(cfg.profile)
    files = [f for f in json.loads(manifest.read_text())["files"] if f["role"] == "benchmark"]
    files = dose_tables.scored_files(cfg, files) if dose else files
    count = _token_counter(cfg)
    run = scored = 0.0
    for f in files:
        r, c = _file_tokens(root / f["path"], count)
        run, scored = run + r, scored + c
    return run, scored


def _task_chars(path) -> tuple[float, float, int]:
    """(prompt characters, response characters, records) of one task file."""
    prompt = response = n = 0
    for line in path.open(encoding="utf-8"):
        rec = json.loads(line)
        prompt, response, n = prompt + len(rec["prompt"]), response + len(rec["target"]) + 1, n + 1
    return prompt, response, n


def _data_sizes(cfg: Config) -> dict:
    """Token counts from the prepared data (characters / 4), or typical sizes."""
    t = cfg.train
    manifest = paths.data_manifest(cfg.profile)
    per_task = min(cfg.data.train_examples, t.examples_per_task or 10**12)
    general = min(cfg.data.general_examples, t.general_examples or 10**12)
    if not manifest.is_file():
        bench = {k: min(v, cfg.data.bench_items or v) for k, v in PAPER_ITEMS.items()}
        return {"bench_items": bench, "train_examples": per_task,
                "train_tokens": per_task * TYPICAL_TOKENS["train_example"], "response_share": 0.25,
                "general_examples": general,
                "general_tokens": general * TYPICAL_TOKENS["train_example"],
                "task_prompt_tokens": TYPICAL_TOKENS["task_prompt"],
                "source": "typical sizes (no data prepared)"}  # fmt: skip
    files = json.loads(manifest.read_text())["files"]
    root = paths.data_dir(cfg.profile)
    bench = {f["name"]: f["count"] for f in files if f["role"] == "benchmark"}
    tasks = [_task_chars(root / f["path"]) for f in files
             if f["role"] == "task" and f.get("split") == "train" and f["stage"] > 0]  # fmt: skip
    prompt, response, n = (sum(x) for x in zip(*tasks, strict=True))
    mean_example = (prompt + response) / n / 4
    gen = [_task_chars(root / f["path"]) for f in files if f["role"] == "task" and f["stage"] == 0]
    mean_general = (gen[0][0] + gen[0][1]) / gen[0][2] / 4 if gen else mean_example
    return {"bench_items": bench, "train_examples": per_task, "train_tokens": per_task * mean_example,
            "response_share": response / (prompt + response), "general_examples": general,
            "general_tokens": general * mean_general, "task_prompt_tokens": prompt / n / 4,
            "source": f"the prepared data ({manifest})"}  # fmt: skip


def _train_flops(spec, method: str, tokens: float, response_share: float) -> float:
    """Training FLOPs: k N per token, the vocabulary projection only at the response tokens (causal)."""
    k = TRAIN_FLOPS_PER_PARAM_TOKEN[method]
    vocab = (spec.vocab_params_b or 0) * 1e9 if spec.arch == "causal" else 0
    return k * ((spec.params_b * 1e9 - vocab) * tokens + vocab * tokens * response_share)


def _forward_flops(spec, tokens: float, logits_at: float) -> float:
    """Forward FLOPs: 2 N per token, the vocabulary projection only where logits are computed."""
    vocab = (spec.vocab_params_b or 0) * 1e9 if spec.arch == "causal" else 0
    return 2 * ((spec.params_b * 1e9 - vocab) * tokens + vocab * logits_at)


def estimate(cfg: Config, peak: float | None = None, cpu: str | None = None) -> dict:
    """``peak``: a CPU's matmul FLOP/s to assume (None: measure it here and now, ``cpu_peak``); ``cpu``: the
    CPU class whose utilisations to assume (None: this CPU's, ``cpu_class``)."""
    t, e = cfg.train, cfg.eval
    sizes = _data_sizes(cfg)
    gpu = models.default_device().type == "cuda" or cfg.profile in GPU_PROFILES
    assumed = peak is not None
    peak = GPU_PEAK if gpu else peak or cpu_peak(t.precision)
    cpu = cpu or cpu_class()
    mfu = {"train": GPU_MFU_TRAIN, "score": GPU_MFU_EVAL, "generate": GPU_MFU_EVAL} if gpu else CPU_MFU[cpu]
    overhead = 0.0 if gpu else PROCESS_S  # per chain process (a GPU run's hours dwarf it)
    if cfg.mitigation.methods:
        mitigations.check_model(cfg)
    runs = all_chains(cfg)  # the main study's, then those of 05_mitigations it has not already run
    share = sizes["response_share"]
    bench_tokens = _bench_tokens(cfg)
    chains = []
    for name, variant, stages in runs:
        spec = registry.get_spec(name)
        stage_tokens = sizes["train_tokens"] * t.epochs
        if variant == REPLAY:
            stage_tokens *= 1 + t.replay_examples / max(sizes["train_examples"], 1)
        if variant not in TRAINED_VARIANTS:
            stage_tokens = 0  # wise-<alpha>: evaluation only
        factor = METHOD_TRAIN_FACTOR.get(variant, 1.0)
        tuned = mitigations.tuning(cfg, variant)  # full, lora or qlora (the lora arm beside full fine-tuning)
        train_flops = factor * _train_flops(spec, tuned, stage_tokens * len(TRAINED_STAGES), share)
        n_gen = sum(len(evaluate.tasks_at(k)) for k in stages) * e.new_task_examples
        gen_flops = _forward_flops(spec, n_gen * (sizes["task_prompt_tokens"] + e.max_new_tokens),
                                   n_gen * (1 + e.max_new_tokens))  # fmt: skip
        score_flops = len(stages) * _forward_flops(spec, *bench_tokens)
        memory = spec.params_b * 1e9 * BYTES_PER_PARAM[tuned] * 1.2 / 2**30 + (2 if gpu else 0.5)
        study = variant in t.variants  # else the mitigation study's own chain
        chains.append({"model": name, "variant": variant, "study": study, "arch": spec.arch, "params_b": spec.params_b,
                       "train_tokens": round(stage_tokens * len(TRAINED_STAGES)),
                       "train_hours": (train_flops / (peak * mfu["train"]) + (overhead if stage_tokens else 0)) / 3600,
                       "eval_hours": (score_flops / (peak * mfu["score"]) + gen_flops / (peak * mfu["generate"])
                                      + overhead) / 3600, "memory_gb": memory})  # fmt: skip
    derived = []
    for name in dict.fromkeys(t.models):
        spec = registry.get_spec(name)
        if spec.source == "derived":  # the Alpaca analogue: general instruction tuning, once per profile
            tokens = sizes["general_tokens"] * t.epochs
            flops = _train_flops(registry.get_spec(spec.base), t.method, tokens, share)
            derived.append({"model": name, "tokens": round(tokens), "hours": (flops / (peak * mfu["train"])
                                                                              + overhead) / 3600})  # fmt: skip
    dose = _dose_estimate(cfg, sizes, peak, mfu, overhead)
    total = sum(c["train_hours"] + c["eval_hours"] for c in chains) + sum(d["hours"] for d in derived)
    total += dose["train_hours"] + dose["eval_hours"] if dose else 0.0
    mitigation = sum(c["train_hours"] + c["eval_hours"] for c in chains if not c["study"])
    return {"profile": cfg.profile, "device": "GPU (A100-class assumed)" if gpu else "CPU", "sizes": sizes,
            "peak_flops": peak, "peak_assumed": assumed, "cpu": None if gpu else cpu, "mfu": mfu, "chains": chains,
            "derived": derived,
            "dose": dose,
            "total_hours": total, "mitigation_hours": mitigation,
            "max_memory_gb": max([c["memory_gb"] for c in chains] + ([dose["memory_gb"]] if dose else []))}  # fmt: skip


def _dose_estimate(cfg: Config, sizes: dict, peak: float, mfu: dict, overhead: float) -> dict | None:
    """The dose study (cf_utils.dose_study): every learning rate's training to the largest multiple, and the base
    model and every (lr, checkpoint) scored on the elements above their floor, by the chains' cost model."""
    if cfg.dose.model is None:
        return None
    sched = dose_tables.schedule(cfg)
    spec = registry.get_spec(cfg.dose.model)
    per_example = sizes["train_tokens"] / max(sizes["train_examples"], 1)
    tokens = sched.records * per_example * cfg.train.epochs * len(cfg.dose.lrs)
    checkpoints = 1 + len(cfg.dose.lrs) * len(sched.checkpoints)
    score_flops = checkpoints * _forward_flops(spec, *_bench_tokens(cfg, dose=True))
    return {"model": cfg.dose.model, "train_tokens": round(tokens), "steps": sched.total_steps,
            "checkpoints": checkpoints, "memory_gb": spec.params_b * 1e9 * BYTES_PER_PARAM[FULL] * 1.2 / 2**30 + 0.5,
            "train_hours": (_train_flops(spec, FULL, tokens, sizes["response_share"]) / (peak * mfu["train"])
                            + overhead) / 3600,
            "eval_hours": score_flops / (peak * mfu["score"]) / 3600}  # fmt: skip


def scale_out(est: dict, method: str, gpus: int) -> dict:
    """Wall hours, GPU hours and memory per GPU on ``gpus`` GPUs (DDP for (q)lora, ZeRO-3/FSDP for full)."""
    eff = 1.0 if gpus == 1 else SCALING_EFFICIENCY
    gpu_hours = est["total_hours"] / eff
    wall = gpu_hours / gpus
    memory = []
    for c in est["chains"]:
        n = c["params_b"] * 1e9
        state = n * BYTES_PER_PARAM[method] / (gpus if method == FULL else 1)  # ZeRO-3 shards the full state
        memory.append(state * 1.2 / 2**30 + 2)
    return {"gpus": gpus, "wall_hours": wall, "gpu_hours": gpu_hours, "memory_per_gpu_gb": max(memory),
            "strategy": "single device" if gpus == 1 else ("ZeRO-3 / FSDP" if method == FULL else "DDP")}  # fmt: skip


def chains_in_parallel(est: dict, gpus: int) -> dict:
    """``make -j <gpus>``: whole chains side by side, one per GPU (no communication), the longest first."""
    load = [0.0] * gpus
    for hours in sorted((c["train_hours"] + c["eval_hours"] for c in est["chains"]), reverse=True):
        load[load.index(min(load))] += hours
    return {"gpus": gpus, "wall_hours": max(load), "gpu_hours": sum(load),
            "memory_per_gpu_gb": max(c["memory_gb"] for c in est["chains"]), "strategy": f"make -j {gpus}"}  # fmt: skip


def render(cfg: Config, gpus: tuple[int, ...] = (1, 8), peak: float | None = None, est: dict | None = None) -> str:
    """The plan as printed, of ``est`` (an :func:`estimate`), or of one made here with ``peak``."""
    est = est or estimate(cfg, peak)
    s, t = est["sizes"], cfg.train
    peak_said = "assumed" if est["peak_assumed"] else "measured here"
    lines = [
        f"plan for profile {cfg.profile!r} on {est['device']} (estimates; see cf_utils/plan.py for the assumptions)"
        + (
            ""
            if "GPU" in est["device"]
            else f"; {peak_said}: matmul peak {est['peak_flops'] / 1e9:.0f} GFLOP/s, "
            f"utilisation ({est['cpu']}) {', '.join(f'{k} {v:.0%}' for k, v in est['mfu'].items())}"
        ),
        f"  data: {s['source']}",
        f"  training: method {t.method}, 5 stages x {s['train_examples']} examples x {t.epochs} epoch(s), "
        f"batch {t.batch_size} x accumulation {t.grad_accum}, lr {t.lr:g}",
        f"  evaluation: 6 checkpoints x {len(s['bench_items'])} benchmarks ({sum(s['bench_items'].values())} items) "
        f"+ {GEN_CELLS} generation cells x {cfg.eval.new_task_examples} examples per chain"
        + (
            f"; mitigation study on {cfg.mitigation.model}: each method at the last checkpoint"
            if cfg.mitigation.methods
            else ""
        ),  # fmt: skip
    ]
    for c in est["chains"]:
        lines.append(f"  {c['model']:<24} {c['variant']:<9} {c['arch']:<8} {c['params_b']:>6.3f}B  "
                     f"train {c['train_tokens'] / 1e6:8.2f}M tokens ~{c['train_hours']:7.2f} h   "
                     f"eval ~{c['eval_hours']:6.2f} h   memory ~{c['memory_gb']:5.1f} GB")  # fmt: skip
    for d in est["derived"]:
        lines.append(f"  {d['model']:<24} made once: general instruction tuning, {d['tokens'] / 1e6:.2f}M tokens "
                     f"~{d['hours']:.2f} h")  # fmt: skip
    if est["dose"]:
        d = est["dose"]
        lines.append(f"  {d['model']:<24} dose     {len(cfg.dose.lrs)} lrs x {d['steps']} steps of stage 1, "
                     f"{d['checkpoints']} checkpoints scored: train {d['train_tokens'] / 1e6:8.2f}M tokens "
                     f"~{d['train_hours']:7.2f} h   eval ~{d['eval_hours']:6.2f} h   "
                     f"memory ~{d['memory_gb']:5.1f} GB")  # fmt: skip
    wall = "" if "GPU" in est["device"] else f" (~{est['total_hours'] * 60:.0f} min wall on this machine, one job)"
    if not cfg.mitigation.in_reproduce and est["mitigation_hours"]:
        main = est["total_hours"] - est["mitigation_hours"]
        lines.append(f"  make reproduce ~{main:.1f} h ({main * 60:.0f} min); make mitigations, run apart "
                     f"(mitigation.in_reproduce: false), ~{est['mitigation_hours']:.1f} h more")  # fmt: skip
    lines.append(f"  total ~{est['total_hours']:.1f} {'GPU' if 'GPU' in est['device'] else 'CPU'} hours{wall}; "
                 f"peak memory ~{est['max_memory_gb']:.1f} GB")  # fmt: skip
    lines += power_lines(cfg)
    if "GPU" in est["device"]:
        for g in gpus:
            s = scale_out(est, t.method, g)
            lines.append(f"  on {g} GPU(s) ({s['strategy']}): ~{s['wall_hours']:.1f} h wall, "
                         f"~{s['gpu_hours']:.0f} GPU hours, ~{s['memory_per_gpu_gb']:.1f} GB per GPU")  # fmt: skip
            if g > 1:
                p = chains_in_parallel(est, g)
                lines.append(f"  on {g} GPU(s) ({p['strategy']}, a chain per GPU): ~{p['wall_hours']:.1f} h wall, "
                             f"~{p['gpu_hours']:.0f} GPU hours, ~{p['memory_per_gpu_gb']:.1f} GB per GPU")  # fmt: skip
        if t.method != FULL:
            full = scale_out(estimate(replace(cfg, train=replace(t, method=FULL))), FULL, max(gpus))
            lines.append(f"  the paper's full fine-tuning on {max(gpus)} GPUs (FSDP = ZeRO-3, fsdp.yaml): "
                         f"~{full['wall_hours']:.1f} h wall, ~{full['memory_per_gpu_gb']:.1f} GB per GPU "
                         "(train.method: full)")  # fmt: skip
    return "\n".join(lines)


def power_lines(cfg: Config) -> list[str]:
    """Per model the config has a pilot of, per category: items, the expected 95% CI half-width of its FG over the
    elements above that model's floor, under the pilot's numbers (or the config's stated assumptions;
    cf_utils.power.assumptions; a further model: its own stage-0 scores with the first model's flip rates),
    beside the target and the minimal detectable FG (80% power, 5% level; metrics.minimal_detectable_fg). A
    category whose every element is at the model's floor is not measurable for it."""
    manifest = paths.data_manifest(cfg.profile)
    if not manifest.is_file():
        return ["  power: prepare the data first (make data) to see each category's half-width and detectable FG"]
    d = cfg.data
    bench = [f for f in json.loads(manifest.read_text())["files"] if f["role"] == "benchmark"]
    names = [f["name"] for f in bench]
    baselines = {f["name"]: (f["chance"], f.get("majority_baseline", float("nan"))) for f in bench if "chance" in f}
    said = (f"the pilot's stage-0 scores and flip rates x {power.FLIP_GROWTH:g} ({d.pilot_source})" if d.pilot_initial
            else f"assumed initial {d.assumed_initial:g}%, flip rate {d.assumed_flip_rate:g}")  # fmt: skip
    initial, flip = power.assumptions(d, names)
    low = power.floors(d, baselines, d.pilot_initial) if d.pilot_initial else set()
    lines = [
        f"  power ({cfg.train.models[0]}; {said}; cf_utils/power.py):",
        *_power_block(d, bench, initial, flip, low),
    ]
    for name, scores in d.pilot_by_model.items():
        own, _ = power.assumptions(d, names, scores)
        lines += [f"  power ({name}; its stage-0 pilot, {d.pilot_by_model_source}, with the flip rates above):",
                  *_power_block(d, bench, own, flip, power.floors(d, baselines, scores))]  # fmt: skip
    return lines


def _power_block(d, bench: list[dict], initial: dict, flip: dict, low: set[str]) -> list[str]:
    """One model's lines of ``power_lines``."""
    lines = []
    for category in CATEGORIES:
        files = [f for f in bench if f["category"] == category]
        if not files:
            continue
        counts = {f["name"]: f["count"] for f in files if f["name"] not in low}
        floor = f"; at floor (30 items, out of the FG): {', '.join(sorted(low & {f['name'] for f in files}))}" if (
            low & {f["name"] for f in files}) else ""  # fmt: skip
        if not counts:
            lines.append(f"    {category:<22} not measurable: every element at its floor{floor}")
            continue
        hw = power.half_width(counts, initial, flip)
        n = list(counts.values())
        mde = metrics.minimal_detectable_fg(n, [initial[e] for e in counts], [flip[e] for e in counts])
        target = f" (target +-{d.fg_half_width:g})" if d.fg_half_width is not None else ""
        lines.append(f"    {category:<22} {len(n)} elements, {sum(n):>6} items: 95% CI half-width ~+-{hw:.1f} FG "
                     f"points{target}; minimal detectable FG ~{mde:.1f}{floor}")  # fmt: skip
    return lines


def record(cfg: Config, text: str, est: dict) -> dict:
    """What ``--out`` keeps of a plan: its text, the total it predicts and the peak it assumed, so a finished run's
    report can set the measured time beside the estimate made before it started."""
    return {"profile": cfg.profile, "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "device": est["device"], "cpu": est["cpu"], "peak_flops": est["peak_flops"],
            "peak": "assumed" if est["peak_assumed"] else "measured",
            "load_average": os.getloadavg()[0], "total_hours": est["total_hours"], "text": text}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cf_utils.plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True)
    ap.add_argument("--gpus", type=int, nargs="+", default=[1, 8], help="GPU counts to show (GPU profiles)")
    ap.add_argument("--peak", type=float, metavar="GFLOPS",
                    help="CPU: assume this matmul peak, not a measured one (a busy machine reads low)")  # fmt: skip
    ap.add_argument("--cpu", choices=CPU_CLASSES,
                    help="CPU: assume this class's utilisations (default: this CPU's; --peak 66 --cpu avx2 plans "
                    "the 2-core AVX2 laptop the cpu profile is sized for)")  # fmt: skip
    ap.add_argument("--out", type=Path,
                    help="also write the plan as JSON (make reproduce: artifacts/<profile>/plan.json)")  # fmt: skip
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.profile)
        peak = args.peak * 1e9 if args.peak else None
        est = estimate(cfg, peak, args.cpu)
        text = render(cfg, tuple(args.gpus), est=est)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text)
    if args.out:
        atomic_write_json(args.out, record(cfg, text, est))
    return 0


if __name__ == "__main__":
    sys.exit(main())
