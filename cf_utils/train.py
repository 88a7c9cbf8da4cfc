"""Staged continual fine-tuning: task k trains the result of task k-1 (QLoRA, LoRA or full).

    artifacts/<profile>/<model>/<variant>/stage-0/   the model as loaded (LoRA: the zero-init adapter)
    artifacts/<profile>/<model>/<variant>/stage-k/   after task k: adapter (or weights), metrics.json

Design:
- Loss on response tokens only: the prompt (already wrapped in the paper's template) is masked
  with -100; the response is " " + target + EOS.
- Length-grouped batches with dynamic padding: examples are shuffled (seeded per epoch), sorted
  by length inside mega-batches, cut into batches, and the batches shuffled again. Little padding,
  and still a random order.
- Under LoRA/QLoRA one adapter is trained on through all stages and never merged (merging into
  4-bit weights rounds); stage k saves it, stage k+1 starts from it.
- Resume: every ``save_every`` optimizer steps the trainable weights, the optimizer and the step
  go to ``.stage-k.resume/state.pt`` (atomically). The batch order depends only on the seed and the
  epoch, so a resumed stage skips what it already did and ends with the same weights as an
  uninterrupted one. A stage directory appears (atomically) only when the stage is finished.
- The chain's variant is a continual-training method (cf_utils/mitigations.py: seq, replay, l2, ewc,
  lwf, olora). The method mixes the stage's data, adds ``extra_loss`` terms to the task loss and may
  keep state with the stage (EWC's Fisher); everything it needs is rebuilt from the previous stage's
  directory, so a resumed stage is the same as an uninterrupted one.
- One process per chain: a lock file in the chain's directory makes a second process (``make -j``,
  two notebooks) wait for the first, then reuse what it finished.

References: Luo et al. 2023 (Continual-Tune's training script: prompt masking, max length 512,
constant LR); Hu et al. 2021 (LoRA); Dettmers et al. 2023 (QLoRA).
"""

from __future__ import annotations

import fcntl
import json
import math
import random
import resource
import shutil
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cf_utils import distributed, models, paths
from cf_utils.config import Config, TrainConfig
from cf_utils.data.records import read_jsonl
from cf_utils.io import atomic_dir, atomic_file, atomic_write_json, sha256_bytes
from cf_utils.progress import tqdm

IGNORE = -100
STAGES = (1, 2, 3, 4, 5)
TASK_NAMES = ("simp", "emdg", "inqqg", "exp", "hgen")  # the paper's order


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
    """(logits, targets) aligned so that ``logits[:, t]`` (float32) predicts ``targets[:, t]`` (IGNORE = no loss).

    Decoder-only: the vocabulary projection is computed only from the first position any row of the
    batch needs (``logits_to_keep``), not over the prompt that every row masks out. With a 49k-token
    vocabulary and prompts that are most of the sequence this saves a large part of the LM head's
    work (measured by ``make bench``).
    """
    labels = batch["labels"]  # (B, T)
    if arch != "causal":
        return model(**batch).logits.float(), labels  # decoder positions line up with the labels
    first = int((labels != IGNORE).int().argmax(dim=1).min())  # earliest response token in the batch
    keep = max(first - 1, 0)  # logits at t predict token t + 1
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                logits_to_keep=labels.shape[1] - keep)  # fmt: skip
    return out.logits[:, :-1].float(), labels[:, keep + 1 :]  # positions keep .. T-2 predict keep+1 .. T-1


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


def _trainable_state(model) -> dict[str, torch.Tensor]:
    """A copy of the trainable weights (resume checkpoints, mitigations' anchors)."""
    return {n: p.detach().clone() for n, p in trainable(model).items()}


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
    opt = torch.optim.AdamW(params, lr=tcfg.lr, weight_decay=0.0)  # constant LR, as the paper for BLOOMZ/mT0

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
        weights, opt_state = _trainable_state(model), opt.state_dict()
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


# ---------------------------------------------------------------- the chain of stages


def chain_dir(profile: str, model_name: str, variant: str) -> Path:
    return paths.artifacts_dir(profile) / model_name / variant


def stage_dir(profile: str, model_name: str, variant: str, k: int) -> Path:
    return chain_dir(profile, model_name, variant) / f"stage-{k}"


def is_done(path: Path) -> bool:
    """A stage is finished when its metrics.json exists (written inside the atomically swapped dir)."""
    return (path / "metrics.json").is_file()


def _task_files(profile: str, k: int) -> tuple[Path, Path]:
    name = f"{k}_{TASK_NAMES[k - 1]}"
    return paths.tasks_dir(profile) / f"{name}.train.jsonl", paths.tasks_dir(profile) / f"{name}.eval.jsonl"


def task_records(cfg: Config, k: int) -> list[dict]:
    """Task k's training records (the first ``train.examples_per_task``)."""
    return read_jsonl(_task_files(cfg.profile, k)[0], "instruction")[: cfg.train.examples_per_task]


def general_records(cfg: Config) -> list[dict]:
    """The general-instruction set (Alpaca analogue, replay, EWC's stage-0 Fisher)."""
    return read_jsonl(paths.tasks_dir(cfg.profile) / "0_general.train.jsonl", "instruction")


def stage_records(cfg: Config, k: int, variant: str) -> list[dict]:
    """What stage k of a ``variant`` chain trains on: task k's records, mixed by the method (replay)."""
    from cf_utils.mitigations import get_method  # mitigations builds on this module

    return get_method(cfg, variant).records(k, task_records(cfg, k))


def with_lora(base, name: str, tcfg: TrainConfig, seed: int, rank_factor: int = 1):
    """Wrap ``base`` in the config's LoRA; seeded, since the adapter's random A init is part of the run.
    ``rank_factor`` widens rank and alpha together (same scaling alpha / r): O-LoRA's one block per stage."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    r, alpha = tcfg.lora_r * rank_factor, tcfg.lora_alpha * rank_factor
    return get_peft_model(base, models.lora_config(name, r=r, alpha=alpha, dropout=tcfg.lora_dropout))


class Chain:
    """One (model, variant) chain: loads the base model once, then trains the unfinished stages."""

    def __init__(self, cfg: Config, model_name: str, variant: str, hooks: Hooks | None = None):
        from cf_utils.mitigations import get_method  # mitigations builds on this module

        self.cfg, self.name, self.variant, self.hooks = cfg, model_name, variant, hooks or Hooks()
        self.method = get_method(cfg, variant)
        self.spec = models.get_spec(model_name)
        self.root = chain_dir(cfg.profile, model_name, variant)
        self.model = self.tokenizer = None

    # -- loading

    def _load(self):
        if self.model is not None:
            return
        t = self.cfg.train
        self.tokenizer = models.load_tokenizer(self.name, profile=self.cfg.profile)
        base = models.load_model(self.name, method=t.method, profile=self.cfg.profile)
        if t.method == "full":
            self.method.check_full()
            self.model = base
            if distributed.sharding():
                self.method.check_sharded()
                distributed.shard(self.model)
        else:
            self.model = with_lora(base, self.name, t, self.cfg.seed, self.method.rank_factor)

    def _restore(self, k: int) -> None:
        """Put stage k's weights into the loaded model."""
        from safetensors.torch import load_file

        src = stage_dir(self.cfg.profile, self.name, self.variant, k)
        if self.cfg.train.method == "full":
            if k == 0:
                return  # stage 0 of full fine-tuning is the base model itself: loaded as is
            state = load_file(str(src / "model.safetensors"))
            distributed.load_full_state(self.model, state, strict=False)
        else:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, load_file(str(src / "adapter_model.safetensors")))

    # -- saving

    def _save(self, k: int, metrics: dict) -> None:
        full = self.cfg.train.method == "full" and k > 0
        weights = None  # the model's own state dict; sharded: gathered whole on process 0 (tied copies dropped)
        if full and distributed.is_sharded(self.model):
            tied = getattr(self.model, "all_tied_weights_keys", None) or {}
            weights = {n: w for n, w in distributed.full_state(self.model)[0].items() if n not in tied}
        if not distributed.is_main():  # one writer; the others wait for it
            distributed.barrier()
            return
        final = stage_dir(self.cfg.profile, self.name, self.variant, k)
        with atomic_dir(final) as tmp:
            if self.cfg.train.method == "full":
                if full:
                    self.model.save_pretrained(tmp, state_dict=weights)
            else:
                self.model.save_pretrained(tmp)  # the adapter only
            self.method.save_state(tmp)  # what the next stage's method needs (EWC: the running Fisher)
            run = {"model": self.name, "variant": self.variant, "stage": k, **self.cfg.to_dict()}
            atomic_write_json(tmp / "run_config.json", run)  # the resolved config that made this stage
            atomic_write_json(tmp / "metrics.json", metrics)  # last: marks the stage finished
        distributed.barrier()

    # -- the chain

    def fingerprint(self) -> str:
        """What the chain's weights depend on: training config, seed, model, variant, task data.
        Evaluation-only settings are left out, so changing them keeps the trained stages."""
        t = {k: v for k, v in self.cfg.to_dict()["train"].items()
             if k not in ("models", "variants")}  # fmt: skip
        manifest = json.loads(paths.data_manifest(self.cfg.profile).read_text())
        data = sorted(f["sha256"] for f in manifest["files"] if f["role"] == "task")  # the training data
        key = {"train": t, "seed": self.cfg.seed, "model": self.name, "variant": self.variant, "data": data}
        if self.method.params():  # a mitigation's strengths (seq and replay add nothing here)
            key["method"] = self.method.params()
        return sha256_bytes(json.dumps(key, sort_keys=True).encode())[:16]

    def _drop_if_stale(self) -> None:
        """A chain trained under another config is removed, never mixed with the new one."""
        marker = stage_dir(self.cfg.profile, self.name, self.variant, 0) / "metrics.json"
        stale = marker.is_file() and json.loads(marker.read_text()).get("fingerprint") != self.fingerprint()
        if stale and distributed.is_main():
            print(f"{self.root}: trained under a different config or data; retraining from stage 0")
            shutil.rmtree(self.root)
        distributed.barrier()

    def run(self) -> list[Path]:
        """Train every unfinished stage; finished stages are never recomputed."""
        with chain_lock(self.root):
            return self._run()

    def _run(self) -> list[Path]:
        self._drop_if_stale()
        done = [k for k in (0, *STAGES) if is_done(stage_dir(self.cfg.profile, self.name, self.variant, k))]
        if 0 not in done:
            self._load()
            meta = {"stage": 0, "model": self.name, "variant": self.variant, "method": self.cfg.train.method}
            self._save(0, {**meta, "fingerprint": self.fingerprint()})
        for k in STAGES:
            if k in done:
                continue
            self._load()
            self._restore(k - 1)
            self._train(k)
        return [stage_dir(self.cfg.profile, self.name, self.variant, k) for k in (0, *STAGES)]

    def _train(self, k: int) -> None:
        task = TASK_NAMES[k - 1]
        resume = self.root / f".stage-{k}.resume"
        prev = stage_dir(self.cfg.profile, self.name, self.variant, k - 1)
        extra = self.method.begin_stage(self.model, self.tokenizer, self.spec.arch, k, prev)
        hooks = Hooks(extra_loss=[*self.hooks.extra_loss, *extra.extra_loss],
                      on_step=[*self.hooks.on_step, *extra.on_step])  # fmt: skip
        try:
            metrics = train_stage(
                self.model,
                self.tokenizer,
                self.spec.arch,
                stage_records(self.cfg, k, self.variant),
                self.cfg.train,
                seed=self.cfg.seed + k,
                resume_dir=resume,
                hooks=hooks,
                desc=f"{self.name}/{self.variant} stage {k} ({task})",
            )
        finally:
            self.method.end_stage()
        metrics.update(
            fingerprint=self.fingerprint(),
            stage=k,
            task=task,
            model=self.name,
            variant=self.variant,
            method=self.cfg.train.method,
        )
        self._save(k, metrics)
        shutil.rmtree(resume, ignore_errors=True)


@contextmanager
def chain_lock(root: Path):
    """Hold an exclusive lock on a chain directory; wait (saying so) while another process holds it.
    The waiting process then finds the other's finished stages or cells and reuses them. Under several
    processes of one launch (cf_utils.distributed) only process 0 locks: they work on the chain together."""
    if not distributed.is_main():
        distributed.barrier()  # process 0 holds the lock: what the others read now stays put
        yield
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(f".{root.name}.lock"), "w") as f:  # beside the dir: a stale chain's rmtree keeps it
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{root}: another process (make -j, another notebook) is working on it; waiting", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        distributed.barrier()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def make_derived(cfg: Config, name: str) -> Path:
    """Build a derived model (the Alpaca analogue): LoRA general instruction tuning of its base in fp32,
    merged into the weights (exact in fp32) and saved as a plain checkpoint the registry serves."""
    out = models.derived_dir(name, cfg.profile)
    with chain_lock(out):  # two chains of this model at once (make -j): one builds it, the other waits
        if not is_done(out):
            _make_derived(cfg, name, out)
    distributed.barrier()
    return out


def _make_derived(cfg: Config, name: str, out: Path) -> None:
    spec = models.get_spec(name)
    base_spec = models.get_spec(spec.base)
    tok = models.load_tokenizer(spec.base, profile=cfg.profile)
    base = models.load_model(spec.base, method="lora", dtype=torch.float32, profile=cfg.profile)
    t = cfg.train
    model = with_lora(base, spec.base, t, cfg.seed)
    recs = read_jsonl(paths.tasks_dir(cfg.profile) / "0_general.train.jsonl", "instruction")[: t.general_examples]
    resume = out.parent / f".{name}.resume"
    metrics = train_stage(model, tok, base_spec.arch, recs, t, seed=cfg.seed, resume_dir=resume,
                          desc=f"{name} (general instruction tuning of {spec.base})")  # fmt: skip
    merged = model.merge_and_unload()
    if distributed.is_main():
        with atomic_dir(out) as tmp:
            merged.save_pretrained(tmp)  # safetensors (transformers 5's only format)
            tok.save_pretrained(tmp)
            atomic_write_json(
                tmp / "metrics.json", {**metrics, "model": name, "base": spec.base, "examples": len(recs)}
            )
        shutil.rmtree(resume, ignore_errors=True)


def chain_summary(profile: str, name: str, variant: str) -> list[dict]:
    """One row per finished stage of a chain: steps, tokens, tokens/s, wall time, first and last loss, peak memory."""
    rows = []
    for k in STAGES:
        path = stage_dir(profile, name, variant, k) / "metrics.json"
        if not path.is_file():
            continue
        m = json.loads(path.read_text())
        rows.append(
            {
                "model": name,
                "variant": variant,
                "stage": k,
                "task": m["task"],
                "steps": m["steps"],
                "tokens": m["tokens"],
                "tokens_per_s": round(m["tokens_per_s"]),
                "wall_s": round(m["wall_s"], 1),
                "first_loss": m["loss"][0],
                "final_loss": m["loss"][-1],
                "peak_memory_mb": round(m["peak_memory_mb"]),
            }
        )
    return rows


def summary(cfg: Config) -> list[dict]:
    """``chain_summary`` of every chain of the profile."""
    return [row for name in cfg.train.models for v in cfg.train.variants for row in chain_summary(cfg.profile, name, v)]


def plan(cfg: Config) -> str:
    """What 02_finetune will run, printed before a long run: chains, stages, steps, and a time
    estimate from the throughput of a finished stage of the same model when there is one."""
    t = cfg.train
    head = f"profile {cfg.profile}: method {t.method}, {len(t.models)} model(s) x {len(t.variants)} variant(s)"
    lines = [head + f", 5 stages of <= {t.examples_per_task or 'all'} examples (batch {t.batch_size})"]
    for name in t.models:
        spec = models.get_spec(name)
        done = [
            json.loads(p.read_text())
            for p in paths.artifacts_dir(cfg.profile).glob(f"{name}/*/stage-[1-5]/metrics.json")
        ]
        s_per_example = [m["wall_s"] / m["examples"] for m in done]
        for variant in t.variants:
            todo = [k for k in STAGES if not is_done(stage_dir(cfg.profile, name, variant, k))]
            n = sum(min(len(read_jsonl(_task_files(cfg.profile, k)[0], "instruction")), t.examples_per_task or 10**9)
                    for k in todo)  # fmt: skip
            steps = n // (t.batch_size * t.grad_accum)
            eta = f", ~{n * statistics.mean(s_per_example) / 60:.0f} min as finished stages ran" if done and n else ""
            lines.append(f"  {name} ({spec.arch}, {spec.params_b:g}B) / {variant}: stages {todo or 'none'} to train,"
                         f" ~{steps} steps{eta}")  # fmt: skip
    return "\n".join(lines)
