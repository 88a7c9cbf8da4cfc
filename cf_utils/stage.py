"""One stage of instruction tuning: records -> tensors -> a trained model (the single-stage kernel).

The chain of stages (cf_utils/train.py), the derived models and the mitigations (cf_utils/mitigations.py)
all train through ``train_stage``; the mitigations add loss terms through ``Hooks``.

Design:
- Loss on response tokens only: the prompt (already wrapped in the paper's template) is masked
  with -100; the response is " " + target + EOS.
- Length-grouped batches with dynamic padding: examples are shuffled (seeded per epoch), sorted
  by length inside mega-batches, cut into batches, and the batches shuffled again. Little padding,
  and still a random order.
- Resume: every ``save_every`` optimizer steps the trainable weights, the optimizer and the step
  go to ``<resume_dir>/state.pt`` (atomically). The batch order depends only on the seed and the
  epoch, so a resumed stage skips what it already did and ends with the same weights as an
  uninterrupted one.
- Several processes (cf_utils.distributed): each takes its share of every batch; gradients are
  summed (DDP) or reduced by FSDP, so the step equals one process's.

References: Luo et al. 2023 (Continual-Tune's training script: prompt masking, max length 512,
constant LR); Hu et al. 2021 (LoRA); Dettmers et al. 2023 (QLoRA).
"""

from __future__ import annotations

import math
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cf_utils import distributed, models, paths
from cf_utils.config import Config, TrainConfig
from cf_utils.data.records import read_jsonl
from cf_utils.io import atomic_file
from cf_utils.progress import tqdm
from cf_utils.study import GENERAL_TASK, TASKS

IGNORE = -100


# ---------------------------------------------------------------- what a stage trains on


def task_records(cfg: Config, k: int) -> list[dict]:
    """Task k's training records (the first ``train.examples_per_task``)."""
    path = paths.task_file(cfg.profile, k, TASKS[k - 1], "train")
    return read_jsonl(path, "instruction")[: cfg.train.examples_per_task]


def general_records(cfg: Config) -> list[dict]:
    """The general-instruction set (Alpaca analogue, replay, EWC's stage-0 Fisher)."""
    return read_jsonl(paths.task_file(cfg.profile, 0, GENERAL_TASK, "train"), "instruction")


# ---------------------------------------------------------------- examples -> tensors


def encode(rec: dict, tokenizer, arch: str, max_length: int) -> dict | None:
    """Token ids and labels for one instruction record; None if truncation leaves no response token."""
    prompt = tokenizer(rec["prompt"], add_special_tokens=True)["input_ids"]
    response = tokenizer(" " + rec["target"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if arch == "seq2seq":
        ids, labels = prompt[:max_length], response[:max_length]
    else:
        ids = (prompt + response)[:max_length]
        labels = ([IGNORE] * len(prompt) + response)[:max_length]
    if all(t == IGNORE for t in labels):
        return None
    return {"input_ids": ids, "labels": labels}


def n_tokens(ex: dict, arch: str) -> int:
    """Non-padding tokens the model processes for one example (encoder + decoder for seq2seq)."""
    return len(ex["input_ids"]) + (len(ex["labels"]) if arch == "seq2seq" else 0)


def batch_order(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Length-grouped batches of indices, a deterministic function of (seed, epoch)."""
    rng = random.Random(f"{seed}:order:{epoch}")
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    mega = batch_size * 16
    batches = []
    for start in range(0, len(idx), mega):
        chunk = sorted(idx[start : start + mega], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: list[dict], pad_id: int, arch: str) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding is masked out of attention and loss."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    lab_width = max(len(e["labels"]) for e in examples) if arch == "seq2seq" else width
    labels = torch.full((len(examples), lab_width), IGNORE, dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
        mask[row, : len(e["input_ids"])] = 1
        labels[row, : len(e["labels"])] = torch.tensor(e["labels"])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def response_logits(model, batch: dict, arch: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, targets), aligned: the float32 logits row ``logits[..., i, :]`` predicts ``targets[..., i]``.

    Decoder-only, one process's whole model: the vocabulary projection is computed only at the
    positions whose next token is a response token, (N, V) logits for (N,) targets, never over the
    prompts and padding that the loss masks out. With SmolLM2's 49k and Gemma-3's 262k-token
    vocabularies the LM head and its softmax are a large share of a full fine-tuning step (measured
    by ``make bench``). Sharded (FSDP) models go through their root module, which gathers the
    weights: there the projection starts at the batch's earliest response position
    (``logits_to_keep``), (B, T', V) logits for (B, T') targets. Encoder-decoder models compute
    logits at the decoder positions, which are the labels. A target equal to IGNORE carries no loss.
    """
    labels = batch["labels"]  # (B, T)
    if arch != "causal":
        return model(**batch).logits.float(), labels  # decoder positions line up with the labels
    if distributed.is_sharded(model):
        first = int((labels != IGNORE).int().argmax(dim=1).min())  # earliest response token in the batch
        keep = max(first - 1, 0)  # logits at t predict token t + 1
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    logits_to_keep=labels.shape[1] - keep)  # fmt: skip
        return out.logits[:, :-1].float(), labels[:, keep + 1 :]  # positions keep .. T-2 predict keep+1 .. T-1
    hidden = model.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    wanted = labels[:, 1:] != IGNORE  # (B, T-1): position t predicts token t + 1
    logits = model.get_output_embeddings()(hidden.last_hidden_state[:, :-1][wanted]).float()  # (N, V)
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma-2 style; the model's own forward does it
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits, labels[:, 1:][wanted]


def forward_loss(model, batch: dict, arch: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, targets, mean cross-entropy over the response tokens): the loss equals ``model(**batch).loss``."""
    logits, target = response_logits(model, batch, arch)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE
    )
    return logits, target, loss


# ---------------------------------------------------------------- one stage


@dataclass
class Hooks:
    """Extension points for mitigations: extra loss terms and a per-step callback."""

    extra_loss: list[Callable] = field(default_factory=list)  # f(model, batch, logits, targets) -> scalar
    on_step: list[Callable] = field(default_factory=list)  # f(step) after each optimizer step (tests: faults)


def trainable(model) -> dict[str, torch.nn.Parameter]:
    """The weights training changes (the adapter under (Q)LoRA), by name."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def trainable_state(model) -> dict[str, torch.Tensor]:
    """A copy of the trainable weights (resume checkpoints, mitigations' anchors)."""
    return {n: p.detach().clone() for n, p in trainable(model).items()}


def snapshot(model) -> dict[str, torch.Tensor]:
    """A CPU copy of the trainable weights this process holds (its shard, when sharded): the point a
    stage starts from, kept off the accelerator so a full fine-tuning's copy costs no device memory."""
    return {n: _local(p).detach().to("cpu", torch.float32, copy=True) for n, p in trainable(model).items()}


def weight_change(model, before: dict[str, torch.Tensor]) -> dict:
    """How far training moved the trainable weights from ``before`` (``snapshot``): the L2 distance
    ||theta - theta_before|| and its ratio to ||theta_before||, over every trainable weight. The
    literature ties forgetting to it (Kalajdzievski 2024: forgetting grows with parameters x steps)."""
    moved = total = 0.0
    for n, p in trainable(model).items():
        old = before[n]
        moved += float((_local(p).detach().to("cpu", torch.float32) - old).pow(2).sum())
        total += float(old.pow(2).sum())
    if distributed.is_sharded(model):  # each process holds a shard: the squares add up
        moved, total = distributed.all_reduce_sum(moved), distributed.all_reduce_sum(total)
    return {"weight_distance": math.sqrt(moved), "relative_distance": math.sqrt(moved / total) if total else None}


def loss_drop(losses: list[float]) -> dict:
    """The task loss at the start and end of a stage (means over its first and last tenth of steps,
    at least one step each) and their difference: how much the stage fitted its task."""
    w = max(1, math.ceil(len(losses) / 10))
    start, end = sum(losses[:w]) / w, sum(losses[-w:]) / w
    return {"loss_start": round(start, 5), "loss_end": round(end, 5), "loss_drop": round(start - end, 5)}


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak RSS (Linux: KiB)


def train_stage(
    model,
    tokenizer,
    arch: str,
    records: list[dict],
    tcfg: TrainConfig,
    *,
    seed: int,
    resume_dir: Path,
    hooks: Hooks | None = None,
    desc: str = "train",
) -> dict:
    """Train ``model`` in place on ``records``; return metrics (loss curve, tokens, tokens/s, time, memory)."""
    hooks = hooks or Hooks()
    device = next(model.parameters()).device
    data = [e for e in (encode(r, tokenizer, arch, tcfg.max_length) for r in records) if e is not None]
    if not data:
        raise ValueError(f"{desc}: no training example has a response token left after truncation")
    lengths = [len(e["input_ids"]) for e in data]
    per_epoch = math.ceil(math.ceil(len(data) / tcfg.batch_size) / tcfg.grad_accum)
    total_steps = per_epoch * tcfg.epochs
    amp = models.autocast_dtype(device, tcfg.precision)  # None: plain fp32
    params = list(trainable(model).values())
    sharded = distributed.is_sharded(model)  # FSDP reduces the gradients itself, as a mean over the processes
    fsdp_mean = distributed.world() if sharded else 1  # losses are scaled up by it, so the mean is a sum
    # Constant LR, as the paper for BLOOMZ/mT0. The fused kernel updates every tensor in one pass
    # (measured: 4x faster than the per-tensor loop for SmolLM2's 135M weights on a CPU); FSDP's
    # sharded DTensors take the default loop.
    fused = not sharded and device.type in ("cpu", "cuda")
    opt = torch.optim.AdamW(params, lr=tcfg.lr, weight_decay=0.0, fused=fused or None)

    state_file = resume_dir / "state.pt"
    step, losses, tokens, elapsed = 0, [], 0, 0.0
    # Dropout draws depend on the stage's seed only, never on what ran before in this process: a stage
    # restarted in a new process (after a kill before its first checkpoint) draws the same masks.
    torch.manual_seed(seed)
    state = torch.load(state_file, map_location="cpu", weights_only=False) if state_file.is_file() else None
    if state is not None and state.get("sharded", False) != sharded:
        print(f"{state_file}: written {'with' if state.get('sharded') else 'without'} sharded weights; "
              "this run is not the same: the stage starts again", flush=True)  # fmt: skip
        state = None
    if state is not None:  # the trainable weights only (strict=False): sharded or not
        distributed.load_full_state(model, state["weights"], opt, state["optimizer"], strict=False)
        torch.set_rng_state(state["rng"])  # dropout draws continue where they stopped
        step, losses, tokens, elapsed = state["step"], state["losses"], state["tokens"], state["elapsed"]

    model.train()
    bar = tqdm(total=total_steps, initial=step, desc=desc, unit="step")
    start = time.perf_counter()
    for epoch in range(tcfg.epochs):
        batches = batch_order(lengths, tcfg.batch_size, seed, epoch)
        groups = [batches[i : i + tcfg.grad_accum] for i in range(0, len(batches), tcfg.grad_accum)]
        for g, group in enumerate(groups):
            if epoch * per_epoch + g < step:
                continue  # done before the interruption
            opt.zero_grad(set_to_none=True)
            step_loss = 0.0
            for b in group:
                tokens += sum(n_tokens(data[i], arch) for i in b)
                mine, share = _shard(b, data)  # several processes: this one's examples, its share of the tokens
                if not mine:
                    continue
                batch = {
                    k: v.to(device) for k, v in collate([data[i] for i in mine], tokenizer.pad_token_id, arch).items()
                }
                with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                    logits, target, task_loss = forward_loss(model, batch, arch)
                    loss = task_loss + sum(f(model, batch, logits, target) for f in hooks.extra_loss)
                    if share is not None:  # summed over the processes: the batch's token mean
                        loss = loss * share * fsdp_mean
                (loss / len(group)).backward()
                step_loss += loss.item() / len(group)
            if distributed.active():
                if not sharded:
                    distributed.all_reduce_grads(params)
                step_loss = distributed.all_reduce_sum(step_loss / fsdp_mean)
            opt.step()
            step += 1
            losses.append(round(step_loss, 5))
            now = elapsed + time.perf_counter() - start
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{tokens / max(now, 1e-9):.0f}")
            if step % tcfg.save_every == 0 and step < total_steps:
                _save_resume(state_file, model, opt, step, losses, tokens, now)
                distributed.barrier()
            for f in hooks.on_step:
                f(step)
    bar.close()
    elapsed += time.perf_counter() - start
    model.eval()
    return {
        "steps": step,
        "examples": len(data),
        "epochs": tcfg.epochs,
        "tokens": tokens,
        "precision": "bf16 autocast" if amp else "fp32",
        "tokens_per_s": tokens / max(elapsed, 1e-9),
        "wall_s": elapsed,
        "loss": losses,
        **loss_drop(losses),
        "peak_memory_mb": _peak_memory_mb(device),
        "processes": distributed.world(),
        "sharded": sharded,
        "params_per_process": sum(_local(p).numel() for p in model.parameters()),
    }


def _local(p: torch.Tensor) -> torch.Tensor:
    """The part of a weight this process holds (all of it unless sharded)."""
    return p.to_local() if hasattr(p, "to_local") else p


def _shard(batch: list[int], data: list[dict]) -> tuple[list[int], float | None]:
    """This process's examples of a batch and its share of the batch's response tokens (None: one process).

    Each process's loss is its examples' token-mean times its share; summed over the processes (the
    gradients are summed) that is the token-mean of the whole batch, as one process computes it. A
    batch-independent term (a penalty) times the shares also sums to itself."""
    if not distributed.active():
        return batch, None
    mine = batch[distributed.rank() :: distributed.world()]
    count = [sum(t != IGNORE for t in data[i]["labels"]) for i in batch]
    return mine, sum(count[distributed.rank() :: distributed.world()]) / sum(count)


def _save_resume(path: Path, model, opt, step, losses, tokens, elapsed) -> None:
    """The stage's state so far, written by process 0 (sharded weights are gathered first: every process calls)."""
    sharded = distributed.is_sharded(model)
    if sharded:
        weights, opt_state = distributed.full_state(model, opt)
    if not distributed.is_main():
        return
    if not sharded:
        weights, opt_state = trainable_state(model), opt.state_dict()
    state = {
        "sharded": sharded,
        "weights": weights,
        "optimizer": opt_state,
        "step": step,
        "losses": losses,
        "tokens": tokens,
        "elapsed": elapsed,
        "rng": torch.get_rng_state(),
    }
    with atomic_file(path) as tmp:
        torch.save(state, tmp)


def with_lora(base, name: str, tcfg: TrainConfig, seed: int, rank_factor: int = 1):
    """Wrap ``base`` in the config's LoRA; seeded, since the adapter's random A init is part of the run.
    ``rank_factor`` widens rank and alpha together (same scaling alpha / r): O-LoRA's one block per stage."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    r, alpha = tcfg.lora_r * rank_factor, tcfg.lora_alpha * rank_factor
    return get_peft_model(base, models.lora_config(name, r=r, alpha=alpha, dropout=tcfg.lora_dropout))
