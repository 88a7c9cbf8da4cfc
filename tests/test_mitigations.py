"""Mitigations (cf_utils/mitigations.py): each method's defining property, its chain, and the study's tables."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from cf_utils import (
    metrics,
    mitigation_study,
    mitigation_tables,
    mitigations,
    models,
    paths,
    plots,
    report,
    runlog,
    stage,
    study,
    train,
)
from cf_utils.config import ConfigError, load_config
from cf_utils.data.prepare import prepare

ALL = ["replay", "l2", "ewc", "lwf", "olora", "wise"]


def _cfg(**over):
    return load_config("smoke", {"train.models": ["tiny-causal"], "train.variants": ["seq"],
                                 "train.examples_per_task": 8, "eval.precision": "fp32", "eval.n_boot": 50,
                                 "mitigation.methods": ALL, "mitigation.wise_alphas": [0.0, 0.5, 1.0],
                                 **over})  # fmt: skip


def _lora(cfg, rank_factor=1, seed=0):
    return stage.with_lora(models.load_model("tiny-causal", method="lora"), "tiny-causal", cfg.train, seed, rank_factor)


def _batch(tok, n=2):
    recs = [{"prompt": f"### Instruction\nSay {w}.\n\n### Response:", "target": f"{w} {w}."} for w in ("hi", "yo")[:n]]
    return stage.collate([stage.encode(r, tok, "causal", 64) for r in recs], tok.pad_token_id, "causal")


def _perturb(model, scale=0.05, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in stage.trainable(model).values():
            p.add_(torch.randn(p.shape, generator=g) * scale)


# ---------------------------------------------------------------- defining properties (no data needed)


def test_l2_term_is_zero_at_the_previous_weights_and_half_squared_distance_away():
    cfg = _cfg()
    model = _lora(cfg)
    hooks = mitigations.get_method(cfg, "l2").begin_stage(model, None, "causal", 2, None)
    (penalty,) = hooks.extra_loss
    at_anchor = penalty(model, None, None, None)
    assert float(at_anchor) == 0.0
    before = {n: p.detach().clone() for n, p in stage.trainable(model).items()}
    _perturb(model)
    moved = penalty(model, None, None, None)
    expected = 0.5 * sum(float((p - before[n]).pow(2).sum()) for n, p in stage.trainable(model).items())
    assert float(moved) == pytest.approx(cfg.mitigation.l2_weight * expected, rel=1e-5) and expected > 0


def test_ewc_with_a_flat_fisher_is_l2_and_the_fisher_is_a_normalised_nonnegative_diagonal():
    cfg = _cfg()
    model = _lora(cfg)
    anchor = {n: p.detach().clone() for n, p in stage.trainable(model).items()}
    _perturb(model)
    flat = {n: torch.ones_like(a) for n, a in anchor.items()}
    assert float(mitigations.anchor_penalty(model, anchor, flat)) == pytest.approx(
        float(mitigations.anchor_penalty(model, anchor))
    )
    tok = models.load_tokenizer("tiny-causal")
    recs = [{"prompt": "### Instruction\nSay hi.\n\n### Response:", "target": "hi"}] * 3
    fisher = mitigations.fisher_diagonal(model, tok, "causal", recs, 64)
    assert set(fisher) == set(anchor)
    assert all((f >= 0).all() for f in fisher.values()) and any(f.sum() > 0 for f in fisher.values())
    norm = mitigations.normalised(fisher)
    mean = sum(f.sum() for f in norm.values()) / sum(f.numel() for f in norm.values())
    assert float(mean) == pytest.approx(1.0, rel=1e-5)
    assert all(p.grad is None for p in model.parameters())  # estimating leaves no gradients behind


def test_lwf_term_is_zero_while_the_adapter_is_the_identity_and_positive_once_it_moved():
    cfg = _cfg()
    model = _lora(cfg)  # B = 0: the student is the adapter-disabled teacher
    tok = models.load_tokenizer("tiny-causal")
    batch = _batch(tok)
    (lwf,) = mitigations.get_method(cfg, "lwf").begin_stage(model, tok, "causal", 1, None).extra_loss
    logits, target, _ = stage.forward_loss(model, batch, "causal")
    assert float(lwf(model, batch, logits, target)) == pytest.approx(0.0, abs=1e-6)
    _perturb(model, scale=0.5)
    logits, target, _ = stage.forward_loss(model, batch, "causal")
    term = lwf(model, batch, logits, target)
    assert float(term) > 1e-4 and term.requires_grad  # gradients reach the student, not the teacher


def test_olora_penalty_is_zero_for_orthogonal_subspaces_and_positive_for_overlapping_ones():
    cfg = _cfg()
    r = cfg.train.lora_r
    model = _lora(cfg, rank_factor=5)
    pairs = mitigations.lora_pairs(model)
    with torch.no_grad():
        for a, _ in pairs:
            a.zero_()
            a[: 2 * r, : 2 * r] = torch.eye(2 * r)  # block 0 and block 1 span different coordinate axes
    assert float(mitigations.orthogonality_penalty(model, 1, r)) == 0.0
    assert float(mitigations.orthogonality_penalty(model, 0, r)) == 0.0  # nothing before the first block
    with torch.no_grad():
        for a, _ in pairs:
            a[r : 2 * r] = a[:r] + a[r : 2 * r]  # block 1 now overlaps block 0
    assert float(mitigations.orthogonality_penalty(model, 1, r)) > 0


def test_olora_stage_trains_only_its_own_block(tmp_path):
    cfg = _cfg(**{"train.lr": 1e-2})
    r = cfg.train.lora_r
    model = _lora(cfg, rank_factor=5)
    tok = models.load_tokenizer("tiny-causal")
    with torch.no_grad():  # earlier blocks as if trained: a non-zero B
        for _, b in mitigations.lora_pairs(model):
            b[:, :r] = 0.01
    before = [(a.detach().clone(), b.detach().clone()) for a, b in mitigations.lora_pairs(model)]
    method = mitigations.get_method(cfg, "olora")
    hooks = method.begin_stage(model, tok, "causal", 2, None)  # block 1
    recs = [{"prompt": "### Instruction\nSay hi.\n\n### Response:", "target": "hi there"}] * 8
    stage.train_stage(model, tok, "causal", recs, cfg.train, seed=0, resume_dir=tmp_path / "r", hooks=hooks)
    method.end_stage()
    for (a0, b0), (a, b) in zip(before, mitigations.lora_pairs(model), strict=True):
        own = slice(r, 2 * r)
        assert torch.equal(a[:r], a0[:r]) and torch.equal(a[2 * r :], a0[2 * r :])  # other A blocks frozen
        assert torch.equal(b[:, :r], b0[:, :r]) and torch.equal(b[:, 2 * r :], b0[:, 2 * r :])
        assert not torch.equal(b[:, own], b0[:, own])  # its own block learned
    assert all(not a._backward_hooks for a, _ in mitigations.lora_pairs(model))  # masks removed


def test_scale_adapter_scales_only_b():
    state = {"x.lora_A.weight": torch.ones(2, 3), "x.lora_B.weight": torch.ones(3, 2)}
    out = mitigations.scale_adapter(state, 0.25)
    assert torch.equal(out["x.lora_A.weight"], state["x.lora_A.weight"])
    assert torch.equal(out["x.lora_B.weight"], 0.25 * state["x.lora_B.weight"])
    assert study.wise_alpha(study.wise_name(0.25)) == 0.25 and study.wise_alpha("seq") is None


def test_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="methods"):
        load_config("smoke", {"mitigation.methods": ["dropout"]})
    with pytest.raises(ConfigError, match="alphas in"):
        load_config("smoke", {"mitigation.wise_alphas": [1.5]})
    with pytest.raises(ConfigError, match="set mitigation.model"):
        load_config("smoke", {"mitigation.model": None})
    with pytest.raises(ConfigError, match="twice"):
        load_config("smoke", {"mitigation.methods": ["l2", "l2"]})
    with pytest.raises(ConfigError, match="adapter"):
        mitigations.check_model(_cfg(**{"train.method": "full"}))
    with pytest.raises(ConfigError, match="evaluation-only"):
        mitigations.get_method(_cfg(), "wise")


def test_fingerprint_adds_a_methods_strength_only_to_that_method(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "data_manifest", lambda profile: _fake_manifest(tmp_path))
    cfg, stronger = _cfg(), _cfg(**{"mitigation.l2_weight": 7.0})
    assert (
        train.Chain(cfg, "tiny-causal", "seq").fingerprint()
        == train.Chain(stronger, "tiny-causal", "seq").fingerprint()
    )
    assert (
        train.Chain(cfg, "tiny-causal", "l2").fingerprint() != train.Chain(stronger, "tiny-causal", "l2").fingerprint()
    )
    assert (
        train.Chain(cfg, "tiny-causal", "ewc").fingerprint()
        == train.Chain(stronger, "tiny-causal", "ewc").fingerprint()
    )


def _fake_manifest(tmp_path):
    path = tmp_path / "MANIFEST.json"
    seed = _cfg().seed  # the data's seed, as prepare records it (every later step checks it)
    path.write_text(json.dumps({"config": {"seed": seed}, "files": [{"role": "task", "sha256": "abc"}]}))
    return path


# ---------------------------------------------------------------- chains and the study on smoke data


@pytest.fixture(scope="module")
def mitigation_run(tmp_path_factory):
    """Smoke data, every method's tiny-causal chain, its evaluation and the study's tables (shared)."""
    root = tmp_path_factory.mktemp("mitigations")
    mp = pytest.MonkeyPatch()
    mp.setenv("CF_CACHE", str(paths.cache_dir()))  # the shared cache (model conversions), before data/ moves
    for name in ("data", "artifacts", "figures"):
        mp.setenv(f"CF_{name.upper()}_ROOT", str(root / name))
    cfg = _cfg()
    prepare(cfg, root / "data" / "smoke")
    mitigation_study.train_all(cfg)
    mitigation_study.evaluate_all(cfg)
    out = mitigation_study.write(cfg)
    mp.undo()
    return root, out


@pytest.fixture
def study_env(mitigation_run, monkeypatch):
    root, out = mitigation_run
    for name in ("data", "artifacts", "figures"):
        monkeypatch.setenv(f"CF_{name.upper()}_ROOT", str(root / name))
    return out


@pytest.mark.slow  # the smoke chain in make test runs the same study
def test_every_method_trains_its_chain_and_keeps_what_the_next_stage_needs(study_env):
    cfg = _cfg()
    for v in ("seq", "replay", "l2", "ewc", "lwf", "olora"):
        assert all(runlog.is_done(paths.stage_dir("smoke", "tiny-causal", v, k)) for k in range(6)), v
    assert all((paths.stage_dir("smoke", "tiny-causal", "ewc", k) / mitigations.FISHER_FILE).is_file() for k in (1, 5))
    adapters = {
        v: _adapter(paths.stage_dir("smoke", "tiny-causal", v, 5)) for v in ("seq", "l2", "ewc", "lwf", "olora")
    }
    for v in ("l2", "ewc", "lwf", "olora"):  # each method changed what was learned
        assert any(not torch.equal(adapters["seq"][k], adapters[v][k]) for k in adapters[v] if k in adapters["seq"]), v
    olora = adapters["olora"]
    assert next(t.shape[0] for k, t in olora.items() if "lora_A" in k) == 5 * cfg.train.lora_r


def _adapter(stage_dir):
    from safetensors.torch import load_file

    return load_file(str(stage_dir / "adapter_model.safetensors"))


@pytest.mark.slow  # the smoke chain in make test runs the same study
def test_wise_alpha_zero_is_stage_zero_and_alpha_one_is_the_last_stage_exactly(study_env):
    items = metrics.read_items(paths.artifacts_dir("smoke") / "mitigations" / "items.csv")
    scores = metrics.read_scores(paths.artifacts_dir("smoke") / "mitigations" / "scores.csv")

    def outcomes(frame, method, stage, cols):
        sub = frame[(frame.variant == method) & (frame.stage == stage)]
        return sub.sort_values(cols[:-1])[cols].reset_index(drop=True)

    cols = ["benchmark", "item", "metric", "value"]
    pd.testing.assert_frame_equal(outcomes(items, "wise-0", 5, cols), outcomes(items, "seq", 0, cols))
    pd.testing.assert_frame_equal(outcomes(items, "wise-1", 5, cols), outcomes(items, "seq", 5, cols))
    scols = ["benchmark", "metric", "value"]
    gen = scores[scores.category == "new_task"]
    pd.testing.assert_frame_equal(outcomes(gen, "wise-0", 5, scols), outcomes(gen, "seq", 0, scols))
    # and the log-likelihoods themselves, not only the 0/1 outcomes
    ev = paths.artifacts_dir("smoke") / "eval" / "tiny-causal"
    for cell in (ev / "wise-0" / "stage-5").glob("*.json"):
        a, b = json.loads(cell.read_text()), json.loads((ev / "seq" / "stage-0" / cell.name).read_text())
        assert a["items"] == b["items"], cell.name


@pytest.mark.slow  # the smoke chain in make test runs the same study
def test_study_tables_cover_every_method_with_paired_cis(study_env):
    retention, tasks = study_env["retention"], study_env["tasks"]
    methods = ["seq", "replay", "l2", "ewc", "lwf", "olora", "wise-0", "wise-0.5", "wise-1"]
    assert list(dict.fromkeys(retention.variant)) == methods
    assert set(retention.category) == {*study.GENERAL, "general"}
    seq = retention[retention.variant == "seq"]
    assert (seq.vs_seq == 0).all()
    wise0 = retention[(retention.variant == "wise-0") & (retention.category == "general")].iloc[0]
    assert wise0.final_drop == pytest.approx(0.0, abs=1e-9) and wise0.ci_low == wise0.ci_high == 0.0
    ok = retention.dropna(subset=["ci_low"])
    assert ((ok.ci_low <= ok.final_drop + 1e-9) & (ok.final_drop <= ok.ci_high + 1e-9)).all()
    assert len(tasks) == len(methods) * 5
    assert (tasks[tasks.variant == "wise-0"].gain == 0).all()
    summary = study_env["summary"]
    assert list(summary.variant) == methods and summary.verdict.iloc[0] == "reference"
    assert set(summary.verdict) <= {"reference", "forgets less than seq", "forgets more than seq", "inconclusive"}
    others = retention[retention.variant != "seq"]
    assert (others.p_holm >= others.p).all() and seq.p_holm.isna().all()  # Holm never lowers a p-value


@pytest.mark.slow  # the smoke chain in make test runs the same study
def test_study_outputs_figure_and_report_section(study_env, tmp_path):
    root = paths.artifacts_dir("smoke")
    written = pd.read_csv(root / "mitigations.csv")
    assert list(written.columns) == mitigation_tables.RETENTION_COLUMNS
    retention, tasks = mitigation_tables.read("smoke")
    fig = plots.mitigation_tradeoff(retention, tasks, tmp_path)
    assert fig is not None and (tmp_path / "mitigations.png").stat().st_size > 10_000
    frames = report.Frames("smoke", pd.DataFrame(columns=metrics.SCORE_COLUMNS), pd.DataFrame(),
                           mitigations=(retention, tasks))  # fmt: skip
    lines = report.mitigation_lines(frames)
    assert lines[0].startswith("seq loses") and len(lines) >= 2


@pytest.mark.slow  # the smoke chain in make test runs the same study
def test_a_second_study_run_reuses_every_chain_and_cell(study_env, monkeypatch):
    def no_loading(*a, **k):
        raise AssertionError("everything is trained and scored: nothing may be loaded")

    monkeypatch.setattr(models, "load_model", no_loading)
    cfg = _cfg()
    mitigation_study.train_all(cfg)
    assert all(r["computed"] == 0 for r in mitigation_study.evaluate_all(cfg))


def test_bootstrap_of_identical_methods_gives_zero_difference():
    rng = np.random.default_rng(0)
    rows = []
    for b, cat in (("b1", "domain_knowledge"), ("b2", "reasoning")):
        start, end = rng.random(30) > 0.4, rng.random(30) > 0.5
        for variant, k, v in (("seq", 0, start), ("seq", 5, end), ("twin", 5, end)):
            rows += [("m", variant, k, cat, b, f"i{i}", "", f"i{i}", 2, "acc", int(x)) for i, x in enumerate(v)]
    items = pd.DataFrame(rows, columns=list(metrics.ITEM_COLUMNS))
    cats = {"domain_knowledge": ["b1"], "reasoning": ["b2"]}
    t = mitigation_tables.retention_table(items, "m", ["seq", "twin"], cats, n_boot=200, seed=0)
    twin = t[t.variant == "twin"]
    assert (twin.vs_seq == 0).all() and (twin.vs_seq_low == 0).all() and (twin.vs_seq_high == 0).all()
    assert twin.set_index("category").final_drop.equals(t[t.variant == "seq"].set_index("category").final_drop)


def test_plan_lists_the_mitigation_chains_and_wise_trains_nothing():
    from cf_utils import plan

    every = ["lora", "replay", "l2", "ewc", "lwf", "olora", "wise"]
    est = plan.estimate(load_config("cpu-full", {"train.method": "lora", "mitigation.methods": every[1:]}))
    rows = {c["variant"]: c for c in est["chains"] if c["model"] == "smollm2-135m-instruct"}
    assert {"seq", "replay", "l2", "ewc", "lwf", "olora", "wise-0.25", "wise-0.5", "wise-0.75"} <= set(rows)
    assert rows["wise-0.5"]["train_hours"] == 0 and rows["wise-0.5"]["eval_hours"] > 0
    assert rows["lwf"]["train_hours"] > rows["l2"]["train_hours"]  # the teacher's forward pass
    assert rows["l2"]["eval_hours"] < rows["seq"]["eval_hours"]  # one checkpoint, not six
    est = plan.estimate(load_config("cpu-full", {"mitigation.methods": every[:4]}))
    full = {c["variant"]: c for c in est["chains"]}
    lora, seq = full["lora"], full["seq"]  # the LoRA arm beside full fine-tuning: 4N per token, no optimizer state
    assert lora["memory_gb"] < seq["memory_gb"] and lora["train_hours"] < seq["train_hours"]


def test_a_second_process_waits_for_the_chain_lock_then_proceeds(tmp_path, capsys):
    import threading
    import time

    root = tmp_path / "chain"
    held, release = threading.Event(), threading.Event()

    def holder():
        with runlog.chain_lock(root):
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    start = time.perf_counter()
    with runlog.chain_lock(root):
        waited = time.perf_counter() - start
    t.join()
    assert waited >= 0.2 and "waiting" in capsys.readouterr().out
