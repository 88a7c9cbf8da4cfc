"""Mitigations of forgetting, one interface: each continual-training method is a small ``Method``.

A chain's variant names its method (configs: ``train.variants`` for the main study, ``mitigation.methods``
for the comparison in 05_mitigations). ``train.Chain`` asks the method, at every stage k, for

- ``records(k, task_records)``: what stage k trains on (replay mixes general instructions in);
- ``begin_stage(model, tokenizer, arch, k, prev_dir)``: extra loss terms, built from the model as it
  is after stage k-1 (the weights just restored) and from ``prev_dir``, stage k-1's directory;
- ``end_stage()``: undo anything attached to the model; ``save_state(dir)``: files the next stage needs.

The methods (all on the trainable weights, i.e. the LoRA adapter):

- ``seq``: plain sequential fine-tuning (the paper's setting).
- ``replay``: ``train.replay_examples`` general instructions mixed into every stage (the paper's 5.4).
- ``l2``: ``l2_weight/2 * sum (theta - theta_{k-1})^2``, a pull towards the previous stage's weights.
- ``ewc``: the same with each weight's term scaled by a diagonal empirical Fisher (Kirkpatrick et al.
  2017), summed over the earlier stages (online EWC with gamma = 1; Schwarz et al. 2018) and
  normalised to mean 1, so that ``ewc`` with a flat Fisher is ``l2``. Stage 1's Fisher is estimated on
  general instructions (what the starting model knows), stage k's on task k-1, each at the weights
  after that stage, from ``ewc_examples`` examples (squared per-example gradients).
- ``lwf``: Learning without Forgetting (Li & Hoiem 2017): ``lwf_weight * T^2 * KL(teacher || student)``
  on the new task's response tokens at temperature T; the teacher is the model with the adapter
  disabled (the starting model), so no second copy of the model is loaded.
- ``olora``: O-LoRA (Wang et al. 2023): one rank-r block of a rank-5r adapter per stage; stage k
  trains block k only (gradients of the other blocks are masked to zero, so the earlier ones stay
  frozen and the later ones stay at B = 0, i.e. contribute nothing), plus
  ``olora_weight * sum_{j<k} ||A_k A_j^T||_F^2`` over the LoRA layers, which is zero when block k's
  subspace is orthogonal to the earlier ones'. Scaling alpha / r is kept equal to ``seq``'s.
- ``lora``: plain sequential fine-tuning with the design card's LoRA adapter (``train.lora_*``) where the
  study fully fine-tunes (``train.method: full``): the method arm beside the paper's full fine-tuning, on
  the same data and items (Biderman et al. 2024: LoRA learns less and forgets less).
- ``wise``: WiSE-FT (Wortsman et al. 2022) for an adapter: W0 + alpha * dW_k, i.e. the stage-k
  adapter's B scaled by alpha; alpha = 0 is stage 0 exactly and alpha = 1 stage k. Evaluation only:
  the ``seq`` chain's adapters are re-weighted when the checkpoint is evaluated (``scale_adapter``).
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from cf_utils import registry, stage
from cf_utils.config import Config, ConfigError
from cf_utils.study import (
    EVAL_ONLY_VARIANTS,
    EWC,
    FULL,
    L2,
    LORA,
    LORA_ARM,
    LWF,
    OLORA,
    REPLAY,
    SEQ,
    TRAINED_STAGES,
    WISE,
    wise_alpha,
)

FISHER_FILE = "ewc_fisher.safetensors"


class Method:
    """``seq``: plain sequential fine-tuning; the base of every other method."""

    name = SEQ
    rank_factor = 1  # LoRA rank multiplier
    adapter_only = False  # needs a LoRA adapter (not method: full)
    shardable = True  # works when full fine-tuning shards the weights over processes (FSDP)

    def __init__(self, cfg: Config):
        self.cfg, self.m = cfg, cfg.mitigation

    def params(self) -> dict:
        """The method's strengths that the trained weights depend on (the chain fingerprint adds them)."""
        return {}

    def tuning(self) -> str:
        """How this chain's weights are tuned (full, lora, qlora): the config's ``train.method``."""
        return self.cfg.train.method

    def check_full(self) -> None:
        if self.adapter_only:
            raise ConfigError(
                f"method {self.name!r} works on a LoRA adapter; train.method is 'full'. "
                "Use train.method: lora or qlora, or drop it from train.variants / mitigation.methods"
            )

    def check_sharded(self) -> None:
        if not self.shardable:
            raise ConfigError(
                f"method {self.name!r} penalises the distance to the previous weights, which sharded (FSDP) "
                "training does not gather; launch it with configs/accelerate/ddp.yaml, or use train.method: lora"
            )

    def records(self, k: int, task_records: list[dict]) -> list[dict]:
        return task_records

    def begin_stage(self, model, tokenizer, arch: str, k: int, prev_dir: Path) -> stage.Hooks:
        return stage.Hooks()

    def end_stage(self) -> None:
        pass

    def save_state(self, out_dir: Path) -> None:
        pass


class LoRAArm(Method):
    """``lora``: seq with a LoRA adapter, the (Q)LoRA arm of a study that fully fine-tunes."""

    name = LORA_ARM

    def tuning(self) -> str:
        if self.cfg.train.method != FULL:
            raise ConfigError(
                f"variant 'lora' is the LoRA arm beside full fine-tuning; train.method is already "
                f"{self.cfg.train.method!r}, so it would repeat seq. Drop it, or set train.method: full"
            )
        return LORA


class Replay(Method):
    name = REPLAY

    def records(self, k: int, task_records: list[dict]) -> list[dict]:
        n = self.cfg.train.replay_examples
        if not n:
            return task_records
        general = stage.general_records(self.cfg)
        rng = random.Random(f"{self.cfg.seed}:replay:{k}")
        return task_records + rng.sample(general, min(n, len(general)))


# ---------------------------------------------------------------- L2 and EWC


def anchor_penalty(model, anchor: dict[str, torch.Tensor], importance: dict[str, torch.Tensor] | None = None):
    """1/2 * sum_i F_i (theta_i - anchor_i)^2 over the trainable weights (F = 1 without ``importance``)."""
    total = 0.0
    for n, p in stage.trainable(model).items():
        d = (p - anchor[n]).pow(2)
        total = total + 0.5 * (d * importance[n] if importance is not None else d).sum()
    return total


def fisher_diagonal(model, tokenizer, arch: str, records: list[dict], max_length: int) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher of the trainable weights: the mean over ``records`` of the squared
    gradient of each example's response log-likelihood (one example per backward pass)."""
    params = stage.trainable(model)
    fisher = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    data = [e for e in (stage.encode(r, tokenizer, arch, max_length) for r in records) if e is not None]
    if not data:
        raise ValueError("fisher_diagonal: no example has a response token left after truncation")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    for ex in data:
        batch = {k: v.to(device) for k, v in stage.collate([ex], tokenizer.pad_token_id, arch).items()}
        model.zero_grad(set_to_none=True)
        *_, loss = stage.forward_loss(model, batch, arch)
        loss.backward()
        for n, p in params.items():
            if p.grad is not None:
                fisher[n] += p.grad.detach().float().pow(2) / len(data)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return fisher


def normalised(fisher: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Scale a Fisher so that its mean over all weights is 1 (then ewc_weight is on l2_weight's scale)."""
    total = sum(f.sum() for f in fisher.values())
    count = sum(f.numel() for f in fisher.values())
    mean = float(total) / count
    if mean <= 0:
        return {n: torch.ones_like(f) for n, f in fisher.items()}  # no signal: a flat Fisher, i.e. l2
    return {n: f / mean for n, f in fisher.items()}


class L2(Method):
    name = L2
    shardable = False  # its anchor penalty is computed on whole weights

    def params(self) -> dict:
        return {"l2_weight": self.m.l2_weight}

    def importance(self, model, tokenizer, arch, k, prev_dir) -> dict[str, torch.Tensor] | None:
        return None

    def begin_stage(self, model, tokenizer, arch, k, prev_dir) -> stage.Hooks:
        anchor = stage.trainable_state(model)  # stage k-1's weights
        importance = self.importance(model, tokenizer, arch, k, prev_dir)
        weight = self.params()[f"{self.name}_weight"]

        def penalty(model, batch, logits, target):
            return weight * anchor_penalty(model, anchor, importance)

        return stage.Hooks(extra_loss=[penalty])


class EWC(L2):
    name = EWC

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.running: dict[str, torch.Tensor] | None = None

    def params(self) -> dict:
        return {"ewc_weight": self.m.ewc_weight, "ewc_examples": self.m.ewc_examples}

    def importance(self, model, tokenizer, arch, k, prev_dir) -> dict[str, torch.Tensor]:
        """The running Fisher: stage k-1's saved sum plus this estimate at stage k-1's weights."""
        from safetensors.torch import load_file

        n = self.m.ewc_examples
        data = stage.general_records(self.cfg)[:n] if k == 1 else stage.task_records(self.cfg, k - 1)[:n]
        fisher = fisher_diagonal(model, tokenizer, arch, data, self.cfg.train.max_length)
        saved = prev_dir / FISHER_FILE
        if k > 1 and saved.is_file():
            earlier = load_file(str(saved))
            fisher = {name: f + earlier[name].to(f.device) for name, f in fisher.items()}
        self.running = fisher
        return normalised(fisher)

    def save_state(self, out_dir: Path) -> None:
        from safetensors.torch import save_file

        if self.running is not None:
            save_file({n: f.contiguous().cpu() for n, f in self.running.items()}, str(out_dir / FISHER_FILE))


# ---------------------------------------------------------------- LwF


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, temperature: float):
    """T^2 * KL(softmax(teacher/T) || softmax(student/T)), averaged over the response tokens (target != IGNORE)."""
    mask = target != stage.IGNORE  # (B, L)
    if not mask.any():
        return student.sum() * 0.0
    s = torch.log_softmax(student[mask] / temperature, dim=-1)  # (n, V)
    t = torch.log_softmax(teacher[mask] / temperature, dim=-1)
    kl = (t.exp() * (t - s)).sum(dim=-1).mean()
    return kl * temperature**2


class LwF(Method):
    name = LWF
    adapter_only = True

    def params(self) -> dict:
        return {"lwf_weight": self.m.lwf_weight, "lwf_temperature": self.m.lwf_temperature}

    def begin_stage(self, model, tokenizer, arch, k, prev_dir) -> stage.Hooks:
        weight, temperature = self.m.lwf_weight, self.m.lwf_temperature

        def lwf(model, batch, logits, target):
            with torch.no_grad(), model.disable_adapter():  # the starting model, same weights in memory
                teacher, _ = stage.response_logits(model, batch, arch)
            return weight * distillation_loss(logits, teacher, target, temperature)

        return stage.Hooks(extra_loss=[lwf])


# ---------------------------------------------------------------- O-LoRA


def lora_pairs(model) -> list[tuple[torch.nn.Parameter, torch.nn.Parameter]]:
    """(A, B) weights of every LoRA layer's active adapter: A is (r, in), B is (out, r)."""
    from peft.tuners.lora import LoraLayer

    pairs = []
    for module in model.modules():
        if isinstance(module, LoraLayer):
            for name in module.active_adapters:
                pairs.append((module.lora_A[name].weight, module.lora_B[name].weight))
    if not pairs:
        raise ValueError("the model has no LoRA layers")
    return pairs


def orthogonality_penalty(model, block: int, r: int):
    """O-LoRA's sum over LoRA layers and earlier blocks j of ||A_block A_j^T||_F^2 (blocks of r rows of A;
    block counted from 0). The earlier blocks are constants: only the current block gets a gradient."""
    total = 0.0
    for a, _ in lora_pairs(model):
        if block == 0:
            break
        current = a[block * r : (block + 1) * r]  # (r, in)
        earlier = a[: block * r].detach()  # (block * r, in)
        total = total + (current @ earlier.T).pow(2).sum()
    return total


class OLoRA(Method):
    name = OLORA
    adapter_only = True
    rank_factor = len(TRAINED_STAGES)  # one rank-r block per stage

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self._handles: list = []

    def params(self) -> dict:
        return {"olora_weight": self.m.olora_weight}

    def begin_stage(self, model, tokenizer, arch, k, prev_dir) -> stage.Hooks:
        r, block = self.cfg.train.lora_r, k - 1
        for a, b in lora_pairs(model):
            rows = torch.zeros(a.shape[0], 1, device=a.device, dtype=a.dtype)
            rows[block * r : (block + 1) * r] = 1
            cols = rows.reshape(1, -1).to(b.dtype)
            self._handles += [a.register_hook(lambda g, m=rows: g * m), b.register_hook(lambda g, m=cols: g * m)]
        weight = self.m.olora_weight

        def orthogonal(model, batch, logits, target):
            return weight * orthogonality_penalty(model, block, r)

        return stage.Hooks(extra_loss=[orthogonal])

    def end_stage(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


# ---------------------------------------------------------------- WiSE-FT


def scale_adapter(state: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """An adapter state dict with every LoRA B scaled by ``alpha``: delta W = alpha * B A * scaling."""
    return {n: t * alpha if ".lora_B." in n else t for n, t in state.items()}


VARIANTS: dict[str, type[Method]] = {
    m.name: m for m in (Method, Replay, L2, EWC, LwF, OLoRA, LoRAArm)
}  # study.TRAINED_VARIANTS


def get_method(cfg: Config, name: str) -> Method:
    if name not in VARIANTS:
        raise ConfigError(
            f"unknown continual-training method {name!r}: trained methods are {list(VARIANTS)}"
            f"{' (wise is evaluation-only: list it in mitigation.methods)' if name.startswith(WISE) else ''}"
        )
    return VARIANTS[name](cfg)


def tuning(cfg: Config, variant: str) -> str:
    """How a chain's weights are tuned: its method's ``tuning`` (wise-<alpha> re-weights the seq chain's)."""
    return get_method(cfg, SEQ if wise_alpha(variant) is not None else variant).tuning()


def check_model(cfg: Config) -> str:
    """The mitigation study's model, checked against the registry and the training method."""
    name = cfg.mitigation.model
    registry.get_spec(name)  # a clear error for a name not in the registry
    needs_adapter = [m for m in cfg.mitigation.methods if m in EVAL_ONLY_VARIANTS or VARIANTS[m].adapter_only]
    if cfg.train.method == FULL and needs_adapter:
        raise ConfigError(
            f"mitigation.methods {needs_adapter} work on a LoRA adapter; train.method is 'full'. "
            "Use train.method: lora or qlora, or drop them from mitigation.methods"
        )
    return name
