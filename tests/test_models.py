"""The model registry (cf_utils.models): names, errors, tiny models, LoRA and QLoRA invariants.

Fast tests use only the tiny random-init models (their tokenizer is SmolLM2's, converted once from
the GGUF into the shared, content-keyed cache). Tests marked slow convert and run the real GGUF
models (about a minute the first time, then cached).
"""

from __future__ import annotations

import re
import time

import pytest
import torch

from cf_utils import models, registry

TINY = ("tiny-causal", "tiny-seq2seq")
GGUF = ("smollm2-135m-instruct", "gemma3-270m")
TEXTS = ["The capital of France is Paris.", "Two plus two is four"]


def _batch(tok, name: str) -> dict:
    """A right-padded batch with labels: the texts themselves (causal) or short targets (seq2seq)."""
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    if registry.get_spec(name).arch == "causal":
        target = enc
    else:
        target = tok([" Paris" + tok.eos_token, " four" + tok.eos_token], return_tensors="pt", padding=True)
    enc["labels"] = target["input_ids"].masked_fill(target["attention_mask"] == 0, -100)
    return enc


def _lora_grads(model) -> dict[str, torch.Tensor]:
    return {k: p.grad for k, p in model.named_parameters() if p.requires_grad}


# ----------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", list(registry.REGISTRY))
def test_every_name_resolves_to_a_complete_spec(name):
    spec = registry.get_spec(name)
    assert spec.name == name
    assert spec.arch in registry.ARCHS and spec.source in registry.SOURCES
    assert spec.params_b > 0 and spec.lora_targets and spec.license
    if spec.source == "hub":
        assert spec.hub_id and spec.revision
        assert re.fullmatch(r"[0-9a-f]{40}", spec.revision) or "revision not verified" in spec.note
    if spec.source == "derived":
        assert registry.get_spec(spec.base).source != "derived"
    config = models.lora_config(name)
    assert set(config.target_modules) == set(spec.lora_targets)
    assert config.task_type == ("CAUSAL_LM" if spec.arch == "causal" else "SEQ_2_SEQ_LM")


def test_unknown_name_names_the_model_and_the_registry():
    with pytest.raises(registry.ModelNotFoundError) as info:
        registry.get_spec("gpt-5")
    assert isinstance(info.value, KeyError)
    assert "'gpt-5'" in str(info.value) and "tiny-causal" in str(info.value) and "bloomz-7b1" in str(info.value)


def test_missing_derived_model_says_how_to_make_it():
    with pytest.raises(models.CheckpointMissingError, match=r"gemma3-270m-alpaca.*make finetune PROFILE=cpu"):
        models.checkpoint_dir("gemma3-270m-alpaca", profile="cpu")
    with pytest.raises(models.CheckpointMissingError):
        models.load_model("gemma3-270m-alpaca", method="full", profile="cpu")


def test_hub_model_offline_fails_fast_and_clearly(monkeypatch):
    import huggingface_hub.constants

    # huggingface_hub reads HF_HUB_OFFLINE once at import; patch the constant too.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    for load in (models.load_tokenizer, models.load_model):
        with pytest.raises(models.HubModelUnavailableError, match=r"hub is unreachable.*`cpu` and `smoke` need no hub"):
            load("bloomz-1b1")
    assert time.perf_counter() - start < 10
    assert models.checkpoint_dir("mt0-large") == "bigscience/mt0-large"


# ----------------------------------------------------------------------------- tiny models


@pytest.mark.parametrize("name", TINY)
def test_tiny_model_is_deterministic_and_cached_as_built(name):
    a, b = models.build_tiny(name).state_dict(), models.build_tiny(name).state_dict()
    cached = models.load_model(name, method="full", device="cpu").state_dict()
    assert a.keys() == b.keys() == cached.keys()
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], cached[k]) for k in a)
    ckpt = models.checkpoint_dir(name)
    assert ckpt.name == f"{name}-{models._tiny_key(name)}"
    assert {"SOURCE.json", "config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in ckpt.iterdir()}
    n = sum(p.numel() for p in models.build_tiny(name).parameters())
    assert n == pytest.approx(registry.get_spec(name).params_b * 1e9, rel=0.05)


def test_tiny_tokenizer_pads_right_with_a_dedicated_token():
    tok = models.load_tokenizer("tiny-causal")
    assert tok.padding_side == "right"
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id != tok.eos_token_id
    assert tok.decode(tok("Paris is nice")["input_ids"]) == "Paris is nice"


@pytest.mark.parametrize("name", TINY)
def test_tiny_model_trains_and_generates_with_the_real_tokenizer(name):
    tok = models.load_tokenizer(name)
    model = models.load_model(name, method="full", device="cpu").train()
    batch = _batch(tok, name)
    loss = model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    # Memorise one prompt -> response pair, then greedy decoding must give back the response and stop
    # at EOS: the loss, the label layout and generation (T5 starting from the pad token) all work.
    prompt = tok("Question: two plus two? Answer:")["input_ids"]
    response = tok(" four and nothing else" + tok.eos_token, add_special_tokens=False)["input_ids"]
    if name == "tiny-causal":
        batch = {
            "input_ids": torch.tensor([prompt + response]),
            "labels": torch.tensor([[-100] * len(prompt) + response]),
        }
    else:
        batch = {"input_ids": torch.tensor([prompt]), "labels": torch.tensor([response])}
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(80):
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    out = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False)[0]
    if name == "tiny-seq2seq":
        assert out[0] == model.config.decoder_start_token_id == tok.pad_token_id
        new = out[1:]
    else:
        new = out[len(prompt) :]
    assert new.tolist() == response


# ----------------------------------------------------------------------------- LoRA / QLoRA invariants


@pytest.mark.parametrize("name", TINY)
def test_zero_initialised_lora_leaves_logits_unchanged(name):
    from peft import get_peft_model

    tok = models.load_tokenizer(name)
    batch = _batch(tok, name)
    model = models.load_model(name, method="lora", device="cpu")
    with torch.no_grad():
        base = model(**batch).logits.clone()
        wrapped = get_peft_model(model, models.lora_config(name))
        lora = wrapped(**batch).logits
    n_adapted = sum(1 for k, _ in wrapped.named_modules() if k.endswith(".lora_A"))
    assert n_adapted == {"tiny-causal": 2 * 4, "tiny-seq2seq": 2 * 4 + 2 * 8}[name]  # decoder: self + cross
    assert torch.equal(base, lora)


def test_qlora_gradients_on_cpu_match_a_dequantised_fp32_copy():
    import bitsandbytes as bnb
    from bitsandbytes.functional import dequantize_4bit
    from peft import get_peft_model

    name = "tiny-causal"
    tok = models.load_tokenizer(name)
    quantised = models.load_model(name, method="qlora", device="cpu")
    reference = models.load_model(name, method="full", device="cpu")
    n_4bit = 0
    for path, module in quantised.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            weight = dequantize_4bit(module.weight.data, module.weight.quant_state)
            target = reference.get_submodule(path).weight
            assert not torch.equal(weight, target)  # the rounding is real, so the comparison means something
            with torch.no_grad():
                target.copy_(weight)
            n_4bit += 1
    assert n_4bit == 2 * 7  # q, k, v, o, gate, up, down per layer

    torch.manual_seed(0)
    q_lora = get_peft_model(quantised, models.lora_config(name))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a non-zero B, or every gradient of A would be exactly zero
        for key, p in q_lora.named_parameters():
            if "lora_B" in key:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    f_lora = get_peft_model(reference, models.lora_config(name))
    q_params = dict(q_lora.named_parameters())
    with torch.no_grad():  # the identical adapter
        for key, p in f_lora.named_parameters():
            if "lora_" in key:
                p.copy_(q_params[key])

    batch = _batch(tok, name)
    for model in (q_lora, f_lora):
        model.train()
        model(**batch).loss.backward()
    gq, gf = _lora_grads(q_lora), _lora_grads(f_lora)
    assert gq.keys() == gf.keys() and len(gq) == 2 * 4 * 2  # A and B of q, k, v, o in 2 layers
    # Both paths run fp32 on the same (dequantised) weights; bitsandbytes dequantises and then
    # multiplies, so at most the summation order differs: fp32 eps (1.2e-7) times reductions of <= 128
    # terms stays below 1e-5 relative. (Measured: the gradients are bit-identical.)
    for key in gq:
        torch.testing.assert_close(gq[key], gf[key], rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- the real GGUF models


@pytest.mark.slow
@pytest.mark.parametrize("name", GGUF)
def test_gguf_conversion_reloads_with_the_gguf_logits(name):
    from transformers import AutoModelForCausalLM

    gguf = models.gguf_path(name)
    original = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    converted = models.load_model(name, method="full", device="cpu")
    tok = models.load_tokenizer(name)
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.testing.assert_close(converted(**enc).logits, original(**enc).logits, rtol=1e-5, atol=1e-5)
    n = sum(p.numel() for p in converted.parameters())
    assert n == pytest.approx(registry.get_spec(name).params_b * 1e9, rel=0.02)
    source = models.checkpoint_dir(name) / "SOURCE.json"
    assert registry.GGUF[name].sha256 in source.read_text()


@pytest.mark.slow
def test_smollm2_knows_the_capital_of_france():
    tok = models.load_tokenizer("smollm2-135m-instruct")
    model = models.load_model("smollm2-135m-instruct", method="full", device="cpu")
    enc = tok("The capital of France is", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=3, do_sample=False)
    assert tok.decode(out[0, enc["input_ids"].shape[1] :]).startswith(" Paris")
