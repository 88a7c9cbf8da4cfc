"""Evaluation of the chains on the tiny models: cells, reuse, resume, adapter swapping, scores/items files."""

import json

import pandas as pd
import pytest
import torch

from cf_utils import evaluate, metrics, models, paths, plan, provenance, scoring, study, textmetrics, train
from cf_utils.config import load_config
from cf_utils.data.prepare import prepare
from cf_utils.data.records import read_jsonl


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Smoke data and one trained tiny-causal chain, shared by the tests of this module (copied per test)."""
    root = tmp_path_factory.mktemp("shared")
    mp = pytest.MonkeyPatch()
    mp.setenv("CF_CACHE", str(paths.cache_dir()))  # the shared cache (model conversions), before data/ moves
    mp.setenv("CF_DATA_ROOT", str(root / "data"))
    mp.setenv("CF_ARTIFACTS_ROOT", str(root / "artifacts"))
    cfg = _cfg()
    prepare(cfg, root / "data" / "smoke")
    train.Chain(cfg, "tiny-causal", "seq").run()
    mp.undo()
    return root


def _cfg(**over):
    return load_config("smoke", {"train.models": ["tiny-causal"], "train.variants": ["seq"], "data.bench_items": 4,
                                 "train.examples_per_task": 8, "eval.precision": "fp32",
                                 "mitigation.methods": [], **over})  # fmt: skip


@pytest.fixture
def cfg(trained, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(trained / "data", tmp_path / "data", dirs_exist_ok=True)
    shutil.copytree(trained / "artifacts", tmp_path / "artifacts", dirs_exist_ok=True)
    return _cfg()


def test_eighteen_generation_cells_cover_table3_and_the_first_and_final_rows():
    measured = {(s, k) for s in range(6) for k in evaluate.tasks_at(s)}
    assert len(measured) == 18
    for k in study.TRAINED_STAGES:
        assert {(k - 1, k), (k, k), (0, k), (5, k)} <= measured


def test_run_writes_consistent_scores_and_items_and_reuses_everything(cfg, monkeypatch):
    calls, generate = [], evaluate.generation.generate

    def counted(model, tok, prompts, **kw):
        calls.append(len(prompts))
        return generate(model, tok, prompts, **kw)

    monkeypatch.setattr(evaluate.generation, "generate", counted)
    evaluate.run(cfg)
    # a checkpoint's task cells are generated in one call, over all their prompts
    task_cells = [c for c in evaluate.cells(cfg) if c.kind == "task"]
    size = {c.name: len(read_jsonl(c.path, "instruction")[: cfg.eval.new_task_examples]) for c in task_cells}
    assert calls == [sum(size[c.name] for c in task_cells if c.stage == s) for s in range(6)]
    scores = metrics.read_scores(paths.artifacts_dir("smoke") / "scores.csv")
    items = metrics.read_items(paths.artifacts_dir("smoke") / "items.csv")
    n_bench = sum(c.kind == "bench" for c in evaluate.cells(cfg)) // 6
    assert set(scores.stage) == set(range(6))
    assert len(scores[(scores.category != "new_task") & scores.metric.isin(metrics.PRIMARY)]) == 6 * n_bench
    assert len(scores[(scores.category == "new_task") & (scores.metric != "rougeL")]) == 18
    # the per-item file reproduces every benchmark value
    outcomes = items[items.metric != metrics.MARGIN]
    mean = outcomes.groupby(["stage", "benchmark", "metric"])["value"].mean().mul(100)
    bench = scores[(scores.category != "new_task") & (scores.metric != "likelihood_diff")]  # pairs: no item value
    bench = bench.set_index(["stage", "benchmark", "metric"])["value"]
    pd.testing.assert_series_equal(mean.sort_index(), bench.sort_index(), check_names=False, atol=1e-3)
    # an item is answered right exactly when its gold answer's log-likelihood beats every wrong one
    key = ["stage", "benchmark", "item"]
    wide = items[items.metric.isin(["acc", metrics.MARGIN])].pivot_table(index=key, columns="metric", values="value")
    wide = wide.dropna()
    assert len(wide) and ((wide[metrics.MARGIN] > 0) == (wide["acc"] == 1)).all()
    assert (items.drop_duplicates(key)["choices"] >= 2).all()
    # the generation statistics rebuild every task's corpus metric
    gens = metrics.read_generations(paths.artifacts_dir("smoke") / "generations.csv")
    for (stage, task), g in gens.groupby(["stage", "benchmark"]):
        cube = g.pivot(index="item", columns="statistic", values="value")[list(textmetrics.statistic_names(task))]
        value = scores[(scores.stage == stage) & (scores.benchmark == task) & (scores.metric != "rougeL")]["value"]
        assert textmetrics.corpus_metric(task, cube.to_numpy()) == pytest.approx(value.item(), abs=1e-3)

    def no_loading(*a, **k):
        raise AssertionError("everything is scored: nothing may be loaded")

    monkeypatch.setattr(models, "load_model", no_loading)
    assert evaluate.run(cfg)[0]["computed"] == 0


def test_changed_setting_or_input_recomputes_only_what_depends_on_it(cfg):
    evaluate.run(cfg)
    longer = _cfg(**{"eval.max_new_tokens": cfg.eval.max_new_tokens + 2})
    assert evaluate.run(longer)[0]["computed"] == 18  # the generation cells only
    bench = paths.benchmarks_dir("smoke") / "arc_easy.jsonl"
    lines = bench.read_text().splitlines()
    bench.write_text("\n".join(lines[:-1]) + "\n")  # one item fewer
    assert evaluate.run(longer)[0]["computed"] == 6  # arc_easy at each checkpoint


def test_interrupted_evaluation_resumes_at_the_first_missing_cell(cfg, monkeypatch):
    real = evaluate.ChainEval._score  # a benchmark cell
    calls = []

    def dies_after_five(self, cell):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(cell)
        return real(self, cell)

    monkeypatch.setattr(evaluate.ChainEval, "_score", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        evaluate.run(cfg)
    monkeypatch.setattr(evaluate.ChainEval, "_score", real)
    total = len(evaluate.cells(cfg))
    assert evaluate.run(cfg)[0]["computed"] == total - 5
    with pytest.raises(FileNotFoundError, match="missing"):
        evaluate.gather(_cfg(**{"train.variants": ["seq", "replay"]}))


def test_swapped_adapter_scores_equal_a_fresh_load_of_that_stage(cfg):
    """Stage 3 reached by merging/unmerging stages 0, 1, 2 scores as the stage-3 adapter loaded alone."""
    from peft import PeftModel

    ev = evaluate.ChainEval(cfg, "tiny-causal", "seq")
    ev._load()
    for k in (0, 1, 2, 3):
        ev._use(k)
    recs = read_jsonl(paths.benchmarks_dir("smoke") / "arc_easy.jsonl", "mc")
    _, swapped = scoring.score_records(ev.model, ev.tokenizer, recs, "mc", arch="causal")
    base = models.load_model("tiny-causal", method="lora", dtype=torch.float32)
    fresh = PeftModel.from_pretrained(base, str(paths.stage_dir("smoke", "tiny-causal", "seq", 3))).eval()
    _, alone = scoring.score_records(fresh, ev.tokenizer, recs, "mc", arch="causal")
    for a, b in zip(swapped, alone, strict=True):
        assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=1e-4)
    # bit for bit as a resumed evaluation that merges stage 3 first: margins must not depend on the history
    resumed = evaluate.ChainEval(cfg, "tiny-causal", "seq")
    resumed._load()
    resumed._use(3)
    _, direct = scoring.score_records(resumed.model, resumed.tokenizer, recs, "mc", arch="causal")
    assert [a["loglikelihoods"] for a in swapped] == [b["loglikelihoods"] for b in direct]
    stage0 = paths.stage_dir("smoke", "tiny-causal", "seq", 0)
    assert any(  # and the stages differ, so the comparison means something
        abs(x - y) > 1e-3
        for a, b in zip(swapped, scoring.score_records(
            PeftModel.from_pretrained(models.load_model("tiny-causal", method="lora", dtype=torch.float32),
                                      str(stage0)).eval(), ev.tokenizer, recs, "mc", arch="causal")[1], strict=True)
        for x, y in zip(a["loglikelihoods"], b["loglikelihoods"], strict=True)
    )  # fmt: skip


def test_unfinished_stage_is_named_with_the_command_that_makes_it(cfg):
    import shutil

    shutil.rmtree(paths.stage_dir("smoke", "tiny-causal", "seq", 4))
    with pytest.raises(FileNotFoundError, match="make finetune PROFILE=smoke"):
        evaluate.run(cfg)


def test_manifest_records_config_code_models_data_and_stage_times(cfg):
    evaluate.run(cfg)
    man = json.loads(provenance.write(cfg).read_text())
    assert man["config"]["train"]["models"] == ["tiny-causal"] and man["seeds"]["bootstrap"] == cfg.seed
    assert set(man["git"]) == {"sha", "dirty"} and man["packages"]["torch"].startswith("2.")
    assert {f["path"] for f in man["data"]["files"]} >= {"benchmarks/arc_easy.jsonl", "tasks/1_simp.train.jsonl"}
    trained = [s for s in man["stages"] if s["stage"] > 0]
    assert len(trained) == 5 and all(s["train_wall_s"] > 0 and s["scoring_s"] > 0 for s in trained)
    assert set(man["results"]) == {"scores.csv", "items.csv", "generations.csv"}
    t = man["time_s"]  # the work by kind, from the steps' own timings
    assert set(t) == {"notebooks", "training", "scoring", "generation", "derived_models", "total"}
    assert t["training"] > 0 and t["scoring"] > 0 and t["generation"] > 0
    assert t["scoring"] == pytest.approx(sum(s["scoring_s"] or 0 for s in man["stages"]), abs=0.5)
    assert t["total"] == pytest.approx(sum(v for k, v in t.items() if k != "total"), abs=0.1)
    chains = man["time_s_by_chain"]  # the same work per chain and per cell
    assert {(c["model"], c["variant"]) for c in chains} == {("tiny-causal", "seq")}
    assert sum(c["training"] for c in chains) == pytest.approx(t["training"], abs=0.5)
    assert sum(man["time_s_by_cell"].values()) == pytest.approx(t["scoring"] + t["generation"], abs=0.5)
    assert set(man["time_s_by_cell"]) >= {"arc_easy", "simp"}


def test_plan_on_a_cpu_takes_an_assumed_peak(monkeypatch):
    # --peak replaces the measurement (which reads low on a busy machine): compute time scales as 1/peak
    monkeypatch.setattr(plan, "cpu_peak", lambda *_: pytest.fail("the assumed peak must not be measured"))
    cfg = load_config("smoke")
    slow, fast = (plan.estimate(cfg, peak=p * 1e9) for p in (30, 60))
    overhead = plan.PROCESS_S / 3600
    for a, b in zip(slow["chains"], fast["chains"], strict=True):
        assert a["eval_hours"] - overhead == pytest.approx(2 * (b["eval_hours"] - overhead))
    assert "assumed: matmul peak 60 GFLOP/s" in plan.render(cfg, peak=60e9)


def test_the_plan_a_run_keeps_is_set_beside_its_recorded_time(tmp_path, capsys):
    """make reproduce keeps `make plan`'s estimate (plan.json) before the chains start; the manifest carries it and
    the report's headline sets the steps' recorded time beside it."""
    from cf_utils.report.render import run_lines

    out = tmp_path / "plan.json"
    assert plan.main(["--profile", "smoke", "--peak", "60", "--out", str(out)]) == 0
    kept = json.loads(out.read_text())
    assert kept["text"] in capsys.readouterr().out and kept["peak"] == "assumed" and kept["peak_flops"] == 60e9
    man = {"plan": {k: v for k, v in kept.items() if k != "text"}, "time_s": {"total": 2 * 3600 * kept["total_hours"]}}
    line = next(x for x in run_lines("smoke", man) if x.startswith("- Planned before the run"))
    assert "60 GFLOP/s assumed" in line and line.endswith("2.00 x the plan")


def test_plan_for_the_paper_profile_needs_no_data_and_gives_gpu_hours():
    text = plan.render(load_config("paper"))
    assert "typical sizes" in text and "GPU hours" in text
    for name in load_config("paper").train.models:
        assert name in text
    one, eight = (plan.scale_out(plan.estimate(load_config("paper")), "qlora", g) for g in (1, 8))
    assert one["memory_per_gpu_gb"] == eight["memory_per_gpu_gb"]  # DDP: a whole copy per GPU
    assert eight["wall_hours"] < one["wall_hours"] / 7 and eight["gpu_hours"] > one["gpu_hours"]
    full1, full8 = (plan.scale_out(plan.estimate(load_config("paper")), "full", g) for g in (1, 8))
    assert full8["memory_per_gpu_gb"] < full1["memory_per_gpu_gb"] / 4  # ZeRO-3 shards the training state
    assert "on 8 GPU(s) (DDP)" in text and "on 1 GPU(s)" in text
    est = plan.estimate(load_config("paper"))
    par = plan.chains_in_parallel(est, 8)  # make -j 8: whole chains side by side
    hours = [c["train_hours"] + c["eval_hours"] for c in est["chains"]]
    assert par["gpu_hours"] == pytest.approx(sum(hours))  # no communication overhead
    assert max(max(hours), sum(hours) / 8) <= par["wall_hours"] <= sum(hours) / 8 + max(hours)
    assert "make -j 8, a chain per GPU" in text
