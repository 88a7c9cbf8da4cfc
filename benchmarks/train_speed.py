"""Training throughput: our stage loop against a plain transformers.Trainer + peft LoRA loop.

Same model (the cpu profile's SmolLM2-135M-Instruct), LoRA (r=8 on q/k/v/o), examples (the first
N Simp training examples, the paper's prompt template), precision, batch size (4 examples per
optimizer step), learning rate and seed. Three configurations:
  trainer-fixed    Trainer, every example padded to the max length (what many scripts do)
  trainer-grouped  Trainer's best: dynamic padding + length-grouped sampling (train_sampling_strategy)
  ours             cf_utils.stage.train_stage: length-grouped batches, dynamic padding, and the
                   vocabulary projection computed only where the loss needs it (logits_to_keep)
Reported: non-padding tokens/s, the padding fraction, the mean loss of the last steps (the loss
curves must agree within noise: same data, same LR, different batch orders), and model FLOPs
utilisation against this machine's measured matmul peak in the same precision.

    python benchmarks/train_speed.py [--examples 48] [--precision bf16|fp32] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import matmul_peak  # benchmarks/common.py (scripts run from this folder)

from cf_utils import models, paths, stage
from cf_utils.config import TrainConfig
from cf_utils.data.records import read_jsonl

MODEL = "smollm2-135m-instruct"
BATCH = 4
MAX_LEN = 512
LR = 2e-4


def lora_model():
    from peft import get_peft_model

    torch.manual_seed(0)
    return get_peft_model(models.load_model(MODEL, method="lora"), models.lora_config(MODEL))


def run_trainer(data: list[dict], tok, precision: str, fixed: bool) -> dict:
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    model = lora_model()
    rows = data
    if fixed:
        pad = tok.pad_token_id
        rows = [{"input_ids": e["input_ids"] + [pad] * (MAX_LEN - len(e["input_ids"])),
                 "attention_mask": [1] * len(e["input_ids"]) + [0] * (MAX_LEN - len(e["input_ids"])),
                 "labels": e["labels"] + [stage.IGNORE] * (MAX_LEN - len(e["labels"]))} for e in data]  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=BATCH, learning_rate=LR, num_train_epochs=1,
            lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, optim="adamw_torch",
            logging_steps=1, save_strategy="no", report_to="none", seed=0, use_cpu=not torch.cuda.is_available(),
            bf16=precision == "bf16", train_sampling_strategy="random" if fixed else "group_by_length",
            remove_unused_columns=False,
            dataloader_num_workers=0, disable_tqdm=True,
        )  # fmt: skip
        collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=stage.IGNORE)
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
        t = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - t
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"wall_s": wall, "loss": losses}


def run_ours(records: list[dict], tok, precision: str) -> dict:
    model = lora_model()
    tcfg = TrainConfig(
        models=[MODEL], lr=LR, batch_size=BATCH, max_length=MAX_LEN, precision=precision, save_every=10**6
    )
    with tempfile.TemporaryDirectory() as tmp:
        m = stage.train_stage(model, tok, "causal", records, tcfg, seed=0, resume_dir=Path(tmp))
    return {"wall_s": m["wall_s"], "loss": m["loss"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=48)
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    tok = models.load_tokenizer(MODEL)
    records = read_jsonl(paths.tasks_dir("cpu") / "1_simp.train.jsonl", "instruction")[: args.examples]
    data = [stage.encode(r, tok, "causal", MAX_LEN) for r in records]
    real_tokens = sum(len(e["input_ids"]) for e in data)
    n_params = sum(p.numel() for p in models.load_model(MODEL).parameters())
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    peak = matmul_peak(dtype)

    results = {
        "trainer-fixed": run_trainer(data, tok, args.precision, fixed=True),
        "trainer-grouped": run_trainer(data, tok, args.precision, fixed=False),
        "ours": run_ours(records, tok, args.precision),
    }
    print(f"{MODEL}, LoRA r=8 q/k/v/o, {args.examples} examples ({real_tokens} real tokens), batch {BATCH}, "
          f"{args.precision}; matmul peak {peak / 1e9:.0f} GFLOP/s; padding to {MAX_LEN} wastes "
          f"{1 - real_tokens / (MAX_LEN * len(data)):.0%} of the tokens")  # fmt: skip
    print(f"{'configuration':<16} {'tokens/s':>9} {'MFU':>6} {'last-5 loss':>12}")
    for name, r in results.items():
        r["tokens_per_s"] = real_tokens / r["wall_s"]
        # LoRA model FLOPs per token: forward 2N + the backward's input gradients 2N (frozen weights
        # need no weight gradients); N counts every matmul weight, the LM head included.
        r["mfu"] = r["tokens_per_s"] * 4 * n_params / peak
        r["final_loss"] = statistics.mean(r["loss"][-5:])
        print(f"{name:<16} {r['tokens_per_s']:>9.0f} {r['mfu']:>6.1%} {r['final_loss']:>12.3f}")
    ours = results["ours"]["tokens_per_s"]
    ratios = {"vs_fixed": ours / results["trainer-fixed"]["tokens_per_s"],
              "vs_grouped": ours / results["trainer-grouped"]["tokens_per_s"]}  # fmt: skip
    print(
        f"ours / trainer-fixed = {ratios['vs_fixed']:.2f}x (target >= 3x); "
        f"ours / trainer-grouped = {ratios['vs_grouped']:.2f}x (target >= 1.2x)"
    )
    summary = {"model": MODEL, "precision": args.precision, "examples": args.examples, "real_tokens": real_tokens,
               "matmul_peak_flops": peak, "results": results, **ratios}  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
