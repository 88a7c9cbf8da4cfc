"""Staged continual fine-tuning: task k trains the result of task k-1 (QLoRA, LoRA or full).

    artifacts/<profile>/<model>/<variant>/stage-0/   the model as loaded (LoRA: the zero-init adapter)
    artifacts/<profile>/<model>/<variant>/stage-k/   after task k: adapter (or weights), metrics.json

Design:
- Each stage is one call of the single-stage kernel (cf_utils/stage.py); this module chains them.
- Under LoRA/QLoRA one adapter is trained on through all stages and never merged (merging into
  4-bit weights rounds); stage k saves it, stage k+1 starts from it.
- A stage directory appears (atomically) only when the stage is finished; an unfinished stage
  resumes from its checkpoint (stage.py), so a killed chain ends with the same weights.
- The chain's variant (cf_utils/study.py: seq, replay, l2, ewc, lwf, olora) is a
  ``mitigations.Method``: it mixes the stage's data, adds ``extra_loss`` terms to the task loss and may
  keep state with the stage (EWC's Fisher); everything it needs is rebuilt from the previous stage's
  directory, so a resumed stage is the same as an uninterrupted one.
- A chain trained under another config (training settings, seed, data) is removed, never mixed.
- One process per chain: a lock file beside the chain's directory makes a second process (``make -j``,
  two notebooks) wait for the first, then reuse what it finished.

References: Luo et al. 2023 (arXiv 2308.08747, section 3: the task order, full fine-tuning with a
constant LR); Hu et al. 2021 (LoRA); Dettmers et al. 2023 (QLoRA).
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import torch

from cf_utils import distributed, models, paths, pieces, registry
from cf_utils.chains import study_chains
from cf_utils.config import Config
from cf_utils.data import manifest as data_manifest
from cf_utils.io import atomic_dir, atomic_write_json, sha256_bytes
from cf_utils.mitigations import get_method
from cf_utils.runlog import chain_lock, chain_summary, is_done, read_record, record_file, stage_record
from cf_utils.stage import (
    Hooks,
    general_records,
    snapshot,
    task_records,
    train_stage,
    weight_change,
    with_lora,
)
from cf_utils.study import FULL, LAST, LORA, STAGES, TASKS, TRAINED_STAGES


def stage_records(cfg: Config, k: int, variant: str) -> list[dict]:
    """What stage k of a ``variant`` chain trains on: task k's records, mixed by the method (replay)."""
    return get_method(cfg, variant).records(k, task_records(cfg, k))


class Chain:
    """One (model, variant) chain: loads the base model once, then trains the unfinished stages."""

    def __init__(self, cfg: Config, model_name: str, variant: str, hooks: Hooks | None = None):
        self.cfg, self.name, self.variant, self.hooks = cfg, model_name, variant, hooks or Hooks()
        self.method = get_method(cfg, variant)
        self.tuning = self.method.tuning()  # full, lora or qlora: the config's method, or the variant's own
        self.spec = registry.get_spec(model_name)
        self.root = paths.chain_dir(cfg.profile, model_name, variant)
        self.model = self.tokenizer = None

    # -- loading

    def _load(self):
        if self.model is not None:
            return
        t = self.cfg.train
        self.tokenizer = models.load_tokenizer(self.name, profile=self.cfg.profile)
        base = models.load_model(self.name, method=self.tuning, profile=self.cfg.profile)
        if self.tuning == FULL:
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

        src = paths.stage_dir(self.cfg.profile, self.name, self.variant, k)
        if self.tuning == FULL:
            if k == 0:
                return  # stage 0 of full fine-tuning is the base model itself: loaded as is
            state = load_file(str(src / "model.safetensors"))
            distributed.load_full_state(self.model, state, strict=False)
        else:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, load_file(str(src / "adapter_model.safetensors")))

    # -- saving

    def _save(self, k: int, metrics: dict) -> None:
        full = self.tuning == FULL and k > 0
        weights = None  # the model's own state dict; sharded: gathered whole on process 0 (tied copies dropped)
        if full and distributed.is_sharded(self.model):
            tied = getattr(self.model, "all_tied_weights_keys", None) or {}
            weights = {n: w for n, w in distributed.full_state(self.model)[0].items() if n not in tied}
        if not distributed.is_main():  # one writer; the others wait for it
            distributed.barrier()
            return
        final = paths.stage_dir(self.cfg.profile, self.name, self.variant, k)
        with atomic_dir(final) as tmp:
            if self.tuning == FULL:
                if full:
                    self.model.save_pretrained(tmp, state_dict=weights)
            else:
                self.model.save_pretrained(tmp)  # the adapter only
            self.method.save_state(tmp)  # what the next stage's method needs (EWC: the running Fisher)
            run = {"model": self.name, "variant": self.variant, "stage": k, **self.cfg.to_dict()}
            atomic_write_json(tmp / "run_config.json", run)  # the resolved config that made this stage
            atomic_write_json(record_file(tmp), metrics)  # last: marks the stage finished
        pieces.touch(self.cfg.profile)
        distributed.barrier()

    # -- the chain

    def fingerprint(self) -> str:
        """What the chain's weights depend on: training config, seed, model, variant, task data.
        Evaluation-only settings are left out, so changing them keeps the trained stages."""
        t = {k: v for k, v in self.cfg.to_dict()["train"].items()
             if k not in ("models", "variants")}  # fmt: skip
        manifest = data_manifest.read(self.cfg)
        data = sorted(f["sha256"] for f in manifest["files"] if f["role"] == "task")  # the training data
        key = {"train": t, "seed": self.cfg.seed, "model": self.name, "variant": self.variant, "data": data}
        if self.method.params():  # a mitigation's strengths (seq and replay add nothing here)
            key["method"] = self.method.params()
        return sha256_bytes(json.dumps(key, sort_keys=True).encode())[:16]

    def _drop_if_stale(self) -> None:
        """A chain trained under another config is removed, never mixed with the new one."""
        stage0 = stage_record(self.cfg.profile, self.name, self.variant, 0)
        stale = stage0 is not None and stage0.get("fingerprint") != self.fingerprint()
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
        done = [k for k in STAGES if is_done(paths.stage_dir(self.cfg.profile, self.name, self.variant, k))]
        if 0 not in done:
            self._load()
            meta = {"stage": 0, "model": self.name, "variant": self.variant, "method": self.tuning}
            self._save(0, {**meta, "fingerprint": self.fingerprint()})
        for k in TRAINED_STAGES:
            if k in done:
                continue
            self._load()
            self._restore(k - 1)
            self._train(k)
        return [paths.stage_dir(self.cfg.profile, self.name, self.variant, k) for k in STAGES]

    def _train(self, k: int) -> None:
        task = TASKS[k - 1]
        resume = paths.resume_dir(self.cfg.profile, self.name, self.variant, k)
        prev = paths.stage_dir(self.cfg.profile, self.name, self.variant, k - 1)
        extra = self.method.begin_stage(self.model, self.tokenizer, self.spec.arch, k, prev)
        hooks = Hooks(extra_loss=[*self.hooks.extra_loss, *extra.extra_loss],
                      on_step=[*self.hooks.on_step, *extra.on_step])  # fmt: skip
        before = snapshot(self.model)  # the previous stage's weights: the distance each stage moves
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
        metrics.update(weight_change(self.model, before))
        del before
        metrics.update(
            fingerprint=self.fingerprint(),
            stage=k,
            task=task,
            model=self.name,
            variant=self.variant,
            method=self.tuning,
        )
        self._save(k, metrics)
        shutil.rmtree(resume, ignore_errors=True)


def derived_fingerprint(cfg: Config, name: str) -> str:
    """What a derived model's weights depend on: the training settings, the seed, its base and the
    general-instruction data. A changed config makes a new one (the old one is removed), as a chain."""
    t = {k: v for k, v in cfg.to_dict()["train"].items()
         if k not in ("models", "variants", "examples_per_task", "replay_examples", "save_every")}  # fmt: skip
    general = [f["sha256"] for f in data_manifest.read(cfg)["files"] if f["role"] == "task" and f["stage"] == 0]
    key = {"train": t, "seed": cfg.seed, "model": name, "base": registry.get_spec(name).base, "data": general}
    return sha256_bytes(json.dumps(key, sort_keys=True).encode())[:16]


def make_derived(cfg: Config, name: str) -> Path:
    """Build a derived model (the Alpaca analogue): general instruction tuning of its base, made the way
    the chains train (``train.method``). Full fine-tuning, as the paper's Alpaca, trains every weight;
    (Q)LoRA trains a LoRA in fp32 and merges it into the weights (exact in fp32). Saved as a plain
    checkpoint the registry serves, keyed by ``derived_fingerprint``: a changed config rebuilds it."""
    out = paths.derived_dir(cfg.profile, name)
    fingerprint = derived_fingerprint(cfg, name)
    with chain_lock(out):  # two chains of this model at once (make -j): one builds it, the other waits
        made = read_record(out)
        if made is not None and made.get("fingerprint") != fingerprint:
            if distributed.is_main():
                print(f"{out}: made under a different config or data; making it again", flush=True)
                shutil.rmtree(out)
            distributed.barrier()
        if not is_done(out):
            _make_derived(cfg, name, out, fingerprint)
    distributed.barrier()
    return out


def _make_derived(cfg: Config, name: str, out: Path, fingerprint: str) -> None:
    spec = registry.get_spec(name)
    base_spec = registry.get_spec(spec.base)
    tok = models.load_tokenizer(spec.base, profile=cfg.profile)
    t = cfg.train
    full = t.method == FULL
    base = models.load_model(spec.base, method=FULL if full else LORA, dtype=torch.float32, profile=cfg.profile)
    model = base if full else with_lora(base, spec.base, t, cfg.seed)
    recs = general_records(cfg)[: t.general_examples]
    for stale in out.parent.glob(f".{name}.*.resume"):  # a resume point of another config is never used
        if stale.name != f".{name}.{fingerprint}.resume" and distributed.is_main():
            shutil.rmtree(stale, ignore_errors=True)
    resume = out.parent / f".{name}.{fingerprint}.resume"
    before = snapshot(model)
    metrics = train_stage(model, tok, base_spec.arch, recs, t, seed=cfg.seed, resume_dir=resume,
                          desc=f"{name} (general instruction tuning of {spec.base})")  # fmt: skip
    metrics.update(weight_change(model, before))
    merged = model if full else model.merge_and_unload()
    if distributed.is_main():
        with atomic_dir(out) as tmp:
            merged.save_pretrained(tmp)  # safetensors (transformers 5's only format)
            tok.save_pretrained(tmp)
            atomic_write_json(record_file(tmp), {**metrics, "model": name, "base": spec.base, "method": t.method,
                                                     "examples": len(recs), "fingerprint": fingerprint})  # fmt: skip
        shutil.rmtree(resume, ignore_errors=True)


def summary(cfg: Config) -> list[dict]:
    """``chain_summary`` of every chain of the profile."""
    return [row for name, v, _ in study_chains(cfg) for row in chain_summary(cfg.profile, name, v)]


def outline(cfg: Config) -> str:
    """What 02_finetune will run, printed before a long run: chains, stages, steps, and a time
    estimate from the throughput of a finished stage of the same model when there is one."""
    t = cfg.train
    head = f"profile {cfg.profile}: method {t.method}, {len(study_chains(cfg))} chain(s) of {len(t.models)} model(s)"
    lines = [head + f", {LAST} stages of <= {t.examples_per_task or 'all'} examples (batch {t.batch_size})"]
    chains = study_chains(cfg)
    for name, variant, _ in chains:
        spec = registry.get_spec(name)
        finished = (stage_record(cfg.profile, name, v, k) for m, v, _ in chains if m == name for k in TRAINED_STAGES)
        done = [m for m in finished if m is not None]  # the model's finished stages, of every variant
        s_per_example = [m["wall_s"] / m["examples"] for m in done]
        todo = [k for k in TRAINED_STAGES if not is_done(paths.stage_dir(cfg.profile, name, variant, k))]
        n = sum(len(task_records(cfg, k)) for k in todo)
        steps = n // (t.batch_size * t.grad_accum)
        eta = f", ~{n * statistics.mean(s_per_example) / 60:.0f} min as finished stages ran" if done and n else ""
        lines.append(f"  {name} ({spec.arch}, {spec.params_b:g}B) / {variant}: stages {todo or 'none'} to train,"
                     f" ~{steps} steps{eta}")  # fmt: skip
    return "\n".join(lines)
