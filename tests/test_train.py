"""Staged training on the tiny models: label masking, batching, resume, the chain, derived models."""

import dataclasses
import json

import pytest
import torch

from cf_utils import models, paths, registry, runlog, stage, study, train
from cf_utils.config import ConfigError, load_config
from cf_utils.data.prepare import prepare


@pytest.fixture(scope="module")
def smoke_data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    prepare(load_config("smoke"), root / "smoke")
    return root


@pytest.fixture
def smoke(smoke_data_root, monkeypatch):
    monkeypatch.setenv("CF_DATA_ROOT", str(smoke_data_root))
    return load_config(
        "smoke",
        {"train.models": ["tiny-causal"], "train.variants": ["seq"], "train.examples_per_task": 12,
         "eval.new_task_examples": 2, "eval.max_new_tokens": 4, "train.save_every": 2},
    )  # fmt: skip


REC = {"id": "x", "task": "simp", "prompt": "### Instruction\nSay hi.\n\n### Response:", "target": "Hello there."}


def test_labels_mask_exactly_the_prompt_tokens():
    tok = models.load_tokenizer("tiny-causal")
    prompt_ids = tok(REC["prompt"])["input_ids"]
    ex = stage.encode(REC, tok, "causal", max_length=512)
    n = len(prompt_ids)
    assert ex["input_ids"][:n] == prompt_ids
    assert ex["labels"][:n] == [stage.IGNORE] * n
    assert ex["labels"][n:] == ex["input_ids"][n:]  # every response token is learned ...
    assert ex["labels"][-1] == tok.eos_token_id  # ... including the EOS that ends it
    assert tok.decode(ex["input_ids"][n:-1]) == " Hello there."


def test_seq2seq_encoding_and_truncation():
    tok = models.load_tokenizer("tiny-seq2seq")
    ex = stage.encode(REC, tok, "seq2seq", max_length=512)
    assert ex["input_ids"] == tok(REC["prompt"])["input_ids"]
    assert ex["labels"][-1] == tok.eos_token_id and stage.IGNORE not in ex["labels"]
    assert stage.encode(REC, models.load_tokenizer("tiny-causal"), "causal", max_length=3) is None


def test_batch_order_is_deterministic_complete_and_wastes_little_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 200, (500,), generator=g).tolist()
    order = stage.batch_order(lengths, 8, seed=1, epoch=0)
    assert order == stage.batch_order(lengths, 8, seed=1, epoch=0)
    assert order != stage.batch_order(lengths, 8, seed=1, epoch=1)
    assert sorted(i for b in order for i in b) == list(range(500))

    def waste(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    naive = [list(range(i, min(i + 8, 500))) for i in range(0, 500, 8)]
    assert waste(order) < 0.25 * waste(naive)


def test_collate_pads_and_masks():
    batch = stage.collate(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}], 0, "causal"
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]


def _lora_tiny(seed=0):
    from peft import get_peft_model

    torch.manual_seed(seed)
    return get_peft_model(models.load_model("tiny-causal", method="lora"), models.lora_config("tiny-causal"))


class Killed(Exception):
    pass


def test_interrupted_stage_resumes_to_the_same_adapter(smoke, tmp_path):
    tok = models.load_tokenizer("tiny-causal")
    recs = train.stage_records(smoke, 1, "seq")
    tcfg = smoke.train

    whole = _lora_tiny()
    m1 = stage.train_stage(whole, tok, "causal", recs, tcfg, seed=3, resume_dir=tmp_path / "a")

    def kill_at_3(step):
        if step == 3:
            raise Killed

    first = _lora_tiny()
    with pytest.raises(Killed):
        stage.train_stage(first, tok, "causal", recs, tcfg, seed=3, resume_dir=tmp_path / "b",
                          hooks=stage.Hooks(on_step=[kill_at_3]))  # fmt: skip
    assert (tmp_path / "b" / "state.pt").is_file()  # the checkpoint of step 2
    again = _lora_tiny()
    m2 = stage.train_stage(again, tok, "causal", recs, tcfg, seed=3, resume_dir=tmp_path / "b")
    for (n, a), (_, b) in zip(stage.trainable_state(whole).items(), stage.trainable_state(again).items(), strict=True):
        assert torch.equal(a, b), n
    assert m1["loss"] == m2["loss"] and m1["tokens"] == m2["tokens"] and m1["steps"] == m2["steps"]


def test_a_stage_draws_the_same_dropout_whatever_ran_before_it(smoke, tmp_path):
    """A stage restarted in a fresh process must equal the stage run after others (tiny-seq2seq has dropout)."""
    from peft import get_peft_model

    tok = models.load_tokenizer("tiny-seq2seq")
    recs = [{**REC, "id": str(i), "target": f"Hello there {i}."} for i in range(8)]
    adapters = []
    for prior_draws in (0, 1000):
        torch.manual_seed(0)
        model = get_peft_model(models.load_model("tiny-seq2seq", method="lora"), models.lora_config("tiny-seq2seq"))
        torch.rand(prior_draws)  # what an earlier stage in the same process would have consumed
        stage.train_stage(model, tok, "seq2seq", recs, smoke.train, seed=3, resume_dir=tmp_path / str(prior_draws))
        adapters.append(stage.trainable_state(model))
    assert registry.get_spec("tiny-seq2seq") and any(
        getattr(m, "p", 0) > 0 for m in models.load_model("tiny-seq2seq").modules()
    )  # the test means something only with dropout in the model
    for n, a in adapters[0].items():
        assert torch.equal(a, adapters[1][n]), n


@pytest.mark.parametrize("model", ["tiny-causal", "tiny-seq2seq"])
def test_chain_trains_saves_and_never_recomputes(smoke, model, monkeypatch):
    cfg = load_config("smoke", {**_overrides(smoke), "train.models": [model]})
    dirs = train.Chain(cfg, model, "seq").run()
    assert [d.name for d in dirs] == [f"stage-{k}" for k in range(6)]
    for k, d in enumerate(dirs):
        m = json.loads((d / "metrics.json").read_text())
        assert (d / "adapter_model.safetensors").is_file() and (d / "adapter_config.json").is_file()
        if k:
            assert m["task"] == study.TASKS[k - 1] and m["steps"] > 0 and m["tokens"] > 0
            assert len(m["loss"]) == m["steps"] and m["wall_s"] > 0
    stamp = [d.stat().st_mtime_ns for d in dirs]

    def no_loading(*a, **k):
        raise AssertionError("a finished chain must not load its model")

    monkeypatch.setattr(models, "load_model", no_loading)
    train.Chain(cfg, model, "seq").run()
    assert [d.stat().st_mtime_ns for d in dirs] == stamp


def _overrides(cfg):
    t = cfg.train
    return {"train.variants": t.variants, "train.examples_per_task": t.examples_per_task,
            "eval.new_task_examples": cfg.eval.new_task_examples, "eval.max_new_tokens": cfg.eval.max_new_tokens,
            "train.save_every": t.save_every}  # fmt: skip


def test_chain_killed_mid_way_finishes_only_what_is_missing(smoke):
    def kill_in_stage_3(step, calls=[0]):  # noqa: B006 - counts steps across stages
        calls[0] += 1
        if calls[0] == 2 * 3 + 2:  # 3 steps per stage (12 examples / batch 4): stage 3, after its step-2 checkpoint
            raise Killed

    with pytest.raises(Killed):
        train.Chain(smoke, "tiny-causal", "seq", hooks=stage.Hooks(on_step=[kill_in_stage_3])).run()
    root = paths.chain_dir(smoke.profile, "tiny-causal", "seq")
    assert sorted(p.name for p in root.iterdir()) == [".stage-3.resume", "stage-0", "stage-1", "stage-2"]
    early = [(root / f"stage-{k}" / "metrics.json").stat().st_mtime_ns for k in (1, 2)]
    train.Chain(smoke, "tiny-causal", "seq").run()
    assert [(root / f"stage-{k}" / "metrics.json").stat().st_mtime_ns for k in (1, 2)] == early
    assert sorted(p.name for p in root.iterdir()) == [f"stage-{k}" for k in range(6)]


def test_changed_training_config_retrains_instead_of_mixing(smoke, capsys):
    train.Chain(smoke, "tiny-causal", "seq").run()
    root = paths.chain_dir(smoke.profile, "tiny-causal", "seq")
    before = json.loads((root / "stage-5" / "metrics.json").read_text())["fingerprint"]
    eval_only = load_config("smoke", {**_overrides(smoke), "train.models": ["tiny-causal"], "eval.max_new_tokens": 5,
                                           "train.variants": ["seq", "replay"]})  # fmt: skip
    assert train.Chain(eval_only, "tiny-causal", "seq").fingerprint() == before
    changed = load_config("smoke", {**_overrides(smoke), "train.models": ["tiny-causal"], "train.lr": 5e-4})
    train.Chain(changed, "tiny-causal", "seq").run()
    assert "retraining from stage 0" in capsys.readouterr().out
    after = json.loads((root / "stage-5" / "metrics.json").read_text())["fingerprint"]
    assert after != before


def test_replay_mixes_general_instructions(smoke):
    seq = train.stage_records(smoke, 2, "seq")
    replay = train.stage_records(smoke, 2, "replay")
    assert replay[: len(seq)] == seq
    assert len(replay) == len(seq) + smoke.train.replay_examples
    assert {r["task"] for r in replay[len(seq) :]} == {"general"}


def test_derived_model_is_made_once_and_served_by_the_registry(smoke, monkeypatch):
    spec = registry.ModelSpec(name="tiny-causal-alpaca", arch="causal", source="derived", family="tiny",
                            params_b=0.0, instruction_tuned=True, base="tiny-causal",
                            lora_targets=registry.get_spec("tiny-causal").lora_targets)  # fmt: skip
    monkeypatch.setitem(registry.REGISTRY, spec.name, spec)
    with pytest.raises(models.CheckpointMissingError, match="make_derived"):
        models.checkpoint_dir(spec.name, smoke.profile)
    out = train.make_derived(smoke, spec.name)
    assert out == paths.artifacts_dir(smoke.profile) / "models" / spec.name
    tuned = models.load_model(spec.name, profile=smoke.profile)
    base = models.load_model("tiny-causal")
    diff = [not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), base.state_dict().values(), strict=True)]
    assert any(diff)  # the general tuning changed the weights (merged: a plain checkpoint, no adapter)
    made = json.loads((out / "metrics.json").read_text())
    assert made["method"] == "lora" and made["weight_distance"] > 0
    assert train.make_derived(smoke, spec.name) == out  # made once
    # A changed training config makes it again, the paper's way when the method is full: every weight moves
    full = dataclasses.replace(smoke, train=dataclasses.replace(smoke.train, method="full", lr=1e-3))
    assert train.derived_fingerprint(full, spec.name) != made["fingerprint"]
    train.make_derived(full, spec.name)
    remade = json.loads((out / "metrics.json").read_text())
    assert remade["fingerprint"] == train.derived_fingerprint(full, spec.name) and remade["method"] == "full"
    tuned = models.load_model(spec.name, profile=smoke.profile)
    assert all(not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), base.state_dict().values(),
                                                     strict=True) if a.dim() == 2)  # fmt: skip


def test_loss_drop_compares_the_first_and_last_tenth_of_steps():
    assert stage.loss_drop([3.0, 2.0] + [1.0] * 17 + [0.5]) == {"loss_start": 2.5, "loss_end": 0.75, "loss_drop": 1.75}
    assert stage.loss_drop([2.0]) == {"loss_start": 2.0, "loss_end": 2.0, "loss_drop": 0.0}


def test_weight_change_is_the_l2_distance_over_the_trainable_weights():
    m = models.load_model("tiny-causal")
    for p in m.parameters():
        p.requires_grad_(False)
    w = m.get_output_embeddings().weight
    w.requires_grad_(True)
    before = stage.snapshot(m)
    assert len(before) == 1  # the one trainable weight
    with torch.no_grad():
        w[0, :4] += 0.5  # moves by sqrt(4 * 0.25) = 1
    moved = stage.weight_change(m, before)
    assert moved["weight_distance"] == pytest.approx(1.0, rel=1e-5)
    assert moved["relative_distance"] == pytest.approx(1.0 / float(before[next(iter(before))].norm()), rel=1e-4)


@pytest.mark.parametrize("model", ["tiny-causal", "tiny-seq2seq"])
def test_forward_loss_equals_the_models_own_loss(model):
    tok = models.load_tokenizer(model)
    arch = registry.get_spec(model).arch
    recs = [{**REC, "prompt": REC["prompt"] + " x" * n, "target": "Hi" + " there" * n} for n in (0, 3, 7)]
    batch = stage.collate([stage.encode(r, tok, arch, 512) for r in recs], tok.pad_token_id, arch)
    m = models.load_model(model)
    *_, ours = stage.forward_loss(m, batch, arch)
    assert torch.allclose(ours, m(**batch).loss, rtol=1e-6, atol=1e-6)


def test_causal_logits_only_at_response_positions_with_the_models_softcap():
    """The projection runs at the N positions that predict a response token, (N, V), and keeps the
    model's own output transform (Gemma's final-logit soft-capping): the loss is still the model's."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tok = models.load_tokenizer("tiny-causal")
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, final_logit_softcapping=3.0,
                           pad_token_id=tok.pad_token_id)  # fmt: skip
    torch.manual_seed(0)
    m = Gemma3ForCausalLM(cfg).eval()
    recs = [{**REC, "prompt": REC["prompt"] + " x" * n, "target": "Hi" + " there" * n} for n in (0, 3, 7)]
    batch = stage.collate([stage.encode(r, tok, "causal", 512) for r in recs], tok.pad_token_id, "causal")
    logits, target, ours = stage.forward_loss(m, batch, "causal")
    n_response = int((batch["labels"] != stage.IGNORE).sum())
    assert logits.shape == (n_response, len(tok)) and target.shape == (n_response,)
    assert float(logits.detach().abs().max()) <= 3.0  # capped
    assert torch.allclose(ours, m(**batch).loss, rtol=1e-6, atol=1e-6)


def test_qlora_chain_stage_trains_a_4bit_model_and_keeps_the_adapter_unmerged(smoke):
    cfg = load_config("smoke", {**_overrides(smoke), "train.models": ["tiny-causal"], "train.method": "qlora"})
    chain = train.Chain(cfg, "tiny-causal", "seq")
    chain.run()
    import bitsandbytes as bnb

    assert any(isinstance(m, bnb.nn.Linear4bit) for m in chain.model.modules())  # the base stayed 4-bit
    stage5 = paths.stage_dir(cfg.profile, "tiny-causal", "seq", 5)
    assert (stage5 / "adapter_model.safetensors").is_file() and not (stage5 / "model.safetensors").exists()


def test_full_fine_tuning_saves_weights_per_stage(smoke):
    cfg = load_config("smoke", {**_overrides(smoke), "train.models": ["tiny-causal"], "train.method": "full"})
    train.Chain(cfg, "tiny-causal", "seq").run()
    s1, s2 = (paths.stage_dir(cfg.profile, "tiny-causal", "seq", k) / "model.safetensors" for k in (1, 2))
    from safetensors.torch import load_file

    a, b = load_file(str(s1)), load_file(str(s2))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # stage 2 trained on from stage 1's weights


def test_the_lora_arm_trains_an_adapter_beside_full_fine_tuning_and_logs_each_stage(smoke):
    cfg = load_config("smoke", {**_overrides(smoke), "train.models": ["tiny-causal"], "train.method": "full"})
    train.Chain(cfg, "tiny-causal", "lora").run()
    stage5 = paths.stage_dir(cfg.profile, "tiny-causal", "lora", 5)
    assert (stage5 / "adapter_model.safetensors").is_file() and not (stage5 / "model.safetensors").exists()
    rows = runlog.chain_summary(cfg.profile, "tiny-causal", "lora")
    assert [r["stage"] for r in rows] == [1, 2, 3, 4, 5] and {r["method"] for r in rows} == {"lora"}
    assert all(r["weight_distance"] > 0 and r["loss_start"] is not None for r in rows)
    from cf_utils import evaluate

    assert evaluate.ChainEval(cfg, "tiny-causal", "lora").tuning == "lora"
    with pytest.raises(ConfigError, match="would repeat seq"):
        train.Chain(load_config("smoke", _overrides(smoke)), "tiny-causal", "lora")
