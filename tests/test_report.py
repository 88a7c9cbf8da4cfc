"""Figures, tables, claim verdicts and the report on synthetic scores (no models, seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cf_utils import metrics, paths, report, study

BENCHMARKS = {
    "domain_knowledge": ["science_qa", "physics", "misconceptions"],
    "reasoning": ["strategyqa", "wikihow_step", "winogrande", "math_qa"],
    "reading_comprehension": ["cosmosqa", "multirc", "fables"],
    "bias": ["bbq_ambig", "bbq_disambig"],
}
GROUPS = ["Age", "Gender_identity", "Race_ethnicity"]
OWN_METRIC = {"simp": "sari", "emdg": "bleu", "inqqg": "bleu", "exp": "bleu", "hgen": "rouge1"}
CPU_MODELS = ("smollm2-135m-instruct", "gemma3-270m", "gemma3-270m-alpaca")
N_ITEMS = 30


def synthetic(models=CPU_MODELS, methods=("seq",), drop=0.03, seed=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scores + items of models x methods x stages 0..5: each stage flips about ``drop`` of the right answers."""
    rng = np.random.default_rng(seed)
    scores, items = [], []
    for mi, model in enumerate(models):
        for method in methods:
            for category, benches in BENCHMARKS.items():
                for bench in benches:
                    correct = rng.random(N_ITEMS) < 0.6
                    for stage in study.STAGES:
                        if stage:
                            correct = correct & (
                                rng.random(N_ITEMS) > drop * (mi + 1) / (2 if method == "replay" else 1)
                            )
                        for metric in ("acc", "acc_norm"):
                            scores.append(
                                (model, method, stage, category, bench, metric, correct.mean() * 100, N_ITEMS)
                            )
                        items += [
                            (
                                model,
                                method,
                                stage,
                                category,
                                bench,
                                f"{bench}-{i}",
                                GROUPS[i % 3] if category == "bias" else "",
                                "acc",
                                int(c),
                            )
                            for i, c in enumerate(correct)
                        ]
            for k, task in enumerate(study.TASKS, start=1):
                for stage in sorted({k - 1, k, 5}):
                    value = 10.0 + 20 * (stage >= k) - (stage - k) * 0.5 * (stage > k)
                    for metric in (OWN_METRIC[task], "rougeL"):
                        scores.append((model, method, stage, "new_task", task, metric, value, 40))
    return (pd.DataFrame(scores, columns=metrics.SCORE_COLUMNS), pd.DataFrame(items, columns=metrics.ITEM_COLUMNS))


def write_run(profile: str, **kwargs) -> None:
    folder = paths.artifacts_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    scores, items = synthetic(**kwargs)
    scores.to_csv(folder / "scores.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)


def forgetting_rows(spec: dict[tuple[str, str], tuple[float, float, float]], bias=None) -> pd.DataFrame:
    """A forgetting table: {(model, method): (fg, ci_low, ci_high)} for every general category; ``bias`` alike."""
    rows = []
    for (model, method), (fg, lo, hi) in spec.items():
        for c in report.GENERAL:
            rows.append((model, method, c, 50.0, 50.0 - fg / 2, fg, fg, lo, hi))
        if bias is not None:
            b = bias[(model, method)] if isinstance(bias, dict) else bias
            rows.append((model, method, "bias", 60.0, 60.0 - b[0] / 2, b[0], b[0], b[1], b[2]))
    return pd.DataFrame(rows, columns=metrics.FORGETTING_COLUMNS)


def frames_of(forgetting: pd.DataFrame, bias_metric="acc", new_task=None) -> report.Frames:
    scores = pd.DataFrame([("m", "seq", 0, "bias", "b", bias_metric, 50.0, 10)], columns=metrics.SCORE_COLUMNS)
    return report.Frames("synthetic", scores, forgetting, new_task=new_task)


def verdict(frames: report.Frames, claim: int) -> str:
    table = report.claims(frames).set_index("claim")
    assert set(table["verdict"]) <= set(report.VERDICTS)
    return table.loc[claim, "verdict"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("built")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CF_ARTIFACTS_ROOT", str(root / "artifacts"))
        mp.setenv("CF_FIGURES_ROOT", str(root / "figures"))
        write_run("cpu", models=(*CPU_MODELS, "tiny-seq2seq"), methods=("seq", "replay"))
        path = report.build("cpu", n_boot=50, seed=0)
        yield root, path


def test_build_writes_every_file(built):
    root, path = built
    assert path == root / "artifacts/cpu/report.md"
    for name in ("forgetting.csv", "report.md", "report.html"):
        assert (root / "artifacts/cpu" / name).stat().st_size > 0
    figures = [
        "stage_curves",
        "fg_by_category",
        "fg_vs_scale",
        "base_vs_instruct",
        "bias_by_type",
        "replay_vs_seq",
        "new_task_before_after",
    ]
    for name in figures:
        for ext in ("png", "pdf"):
            assert (root / "figures/cpu" / f"{name}.{ext}").stat().st_size > 1000
    assert not (root / "figures/cpu/decoder_vs_encdec.png").exists()  # tiny-seq2seq is no pretrained model
    tables = [
        "table4_forgetting",
        "table5_bias",
        "table6_general_instruction",
        "table3_new_task",
        "elements",
        "transfer",
        "paper_vs_ours",
    ]
    for name in tables:
        for ext in ("md", "csv", "tex"):
            assert (root / "figures/cpu/tables" / f"{name}.{ext}").stat().st_size > 0
    md = path.read_text()
    assert "../../figures/cpu/stage_curves.png" in md
    assert "Not drawn: needs a decoder-only and an encoder-decoder" in md
    assert "make reproduce PROFILE=cpu" in md
    assert '<img src="../../figures/cpu/fg_by_category.png"' in (root / "artifacts/cpu/report.html").read_text()


def test_tables_contain_the_numbers(built):
    root, _ = built
    forgetting = pd.read_csv(root / "artifacts/cpu/forgetting.csv")
    row = forgetting[(forgetting["model"] == "gemma3-270m") & (forgetting["variant"] == "seq")]
    row = row[row["category"] == "reasoning"].iloc[0]
    cell = f"{row['fg']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    for ext in ("md", "tex", "csv"):
        assert cell in (root / "figures/cpu/tables" / f"table4_forgetting.{ext}").read_text()
    tex = (root / "figures/cpu/tables/table5_bias.tex").read_text()
    assert "\\begin{tabular}" in tex and "BBQ accuracies" in tex and "gemma3-270m-alpaca" in tex


def test_paper_vs_ours_pairs_by_role_and_subtracts():
    forgetting = forgetting_rows(
        {(m, "seq"): (5.0, 1.0, 9.0) for m in (*CPU_MODELS, "mt0-large")}, bias=(-2.0, -4.0, -1.0)
    )
    table = report.paper_vs_ours(frames_of(forgetting))
    paired = dict(zip(table["model"], table["paper_model"], strict=False))
    assert paired == {
        "smollm2-135m-instruct": "bloomz-1.1b",
        "gemma3-270m": "llama-7b",
        "gemma3-270m-alpaca": "alpaca-7b",
        "mt0-large": "mt0-1.2b",
    }
    assert set(table.loc[table["model"] == "gemma3-270m", "table"]) == {6}
    assert set(table.loc[table["model"] == "smollm2-135m-instruct", "table"]) == {4, 5}
    fg = table[(table["model"] == "smollm2-135m-instruct") & (table["category"] == "domain_knowledge")]
    fg = fg[fg["quantity"] == "fg"].iloc[0]
    assert fg["paper"] == 9.54 and fg["ours"] == 5.0 and fg["difference"] == pytest.approx(5.0 - 9.54)
    assert fg["source_quality"] == "corroborated" and "stand-in" in fg["note"]
    bias = table[(table["category"] == "bias")].iloc[0]
    assert "read oppositely" in bias["note"]
    assert (table.loc[table["model"] == "mt0-large", "match"] == "same model").all()


def test_claim1_forgetting_branches():
    holds = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS[:2]})
    assert verdict(frames_of(holds), 1) == report.HOLDS
    mixed = forgetting_rows({("gemma3-270m", "seq"): (5.0, 1.0, 9.0), ("smollm2-135m-instruct", "seq"): (1, -2, 4)})
    assert verdict(frames_of(mixed), 1) == report.MIXED
    none = forgetting_rows({(m, "seq"): (-1.0, -3.0, 1.0) for m in CPU_MODELS[:2]})
    assert verdict(frames_of(none), 1) == report.NOT_HOLD
    tiny = forgetting_rows({("tiny-causal", "seq"): (5.0, 1.0, 9.0)})
    assert (report.claims(frames_of(tiny))["verdict"][:6] == report.NOT_MEASURABLE).all()


def test_claim2_scale_branches():
    cpu = frames_of(forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS}))
    assert verdict(cpu, 2) == report.NOT_MEASURABLE
    assert "Side note across families" in report.claims(cpu).loc[1, "evidence"]
    rising = {
        ("bloomz-1b1", "seq"): (5.0, 1, 9),
        ("bloomz-3b", "seq"): (8.0, 6, 10),
        ("bloomz-7b1", "seq"): (12, 9, 15),
    }
    assert verdict(frames_of(forgetting_rows(rising)), 2) == report.HOLDS
    falling = {("bloomz-1b1", "seq"): (9.0, 1, 9), ("bloomz-3b", "seq"): (4.0, 1, 9)}
    assert verdict(frames_of(forgetting_rows(falling)), 2) == report.NOT_HOLD


def test_claim3_architecture_branches():
    assert (
        verdict(
            frames_of(
                forgetting_rows({("smollm2-135m-instruct", "seq"): (5, 1, 9), ("tiny-seq2seq", "seq"): (9, 1, 20)})
            ),
            3,
        )
        == report.NOT_MEASURABLE
    )
    less = {
        ("bloomz-1b1", "seq"): (5, 1, 9),
        ("mt0-large", "seq"): (9, 6, 12),
        ("bloomz-3b", "seq"): (8, 6, 10),
        ("mt0-xl", "seq"): (20, 16, 24),
    }
    f = frames_of(forgetting_rows(less))
    assert verdict(f, 3) == report.HOLDS
    assert "bloomz-3b (decoder-only)" in report.claims(f).loc[2, "evidence"]  # mt0-xl pairs with the nearest size
    more = less | {("mt0-xl", "seq"): (2, 1, 3)}
    assert verdict(frames_of(forgetting_rows(more)), 3) == report.MIXED


def test_claim4_instruction_tuning_branches():
    helps = {("gemma3-270m", "seq"): (9, 6, 12), ("gemma3-270m-alpaca", "seq"): (4, 2, 6)}
    assert verdict(frames_of(forgetting_rows(helps)), 4) == report.HOLDS
    hurts = {("llama-7b", "seq"): (4, 2, 6), ("alpaca-7b", "seq"): (9, 6, 12)}
    assert verdict(frames_of(forgetting_rows(hurts)), 4) == report.NOT_HOLD
    alone = {("gemma3-270m", "seq"): (9, 6, 12)}
    assert verdict(frames_of(forgetting_rows(alone)), 4) == report.NOT_MEASURABLE


@pytest.mark.parametrize(
    ("metric", "bias", "expected"),
    [
        ("acc", (-3.0, -5.0, -1.0), report.HOLDS),  # BBQ accuracy rose: less biased
        ("acc", (3.0, 1.0, 5.0), report.NOT_HOLD),
        ("pct_stereotype", (3.0, 1.0, 5.0), report.HOLDS),  # CrowS stereotype preference fell
        ("pct_stereotype", (-3.0, -5.0, -1.0), report.NOT_HOLD),
        ("acc", (-3.0, -5.0, 1.0), report.NOT_HOLD),  # the CI spans 0: no model shows a decrease
    ],
)
def test_claim5_bias_reads_the_metric_direction(metric, bias, expected):
    f = forgetting_rows({(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS}, bias=bias)
    assert verdict(frames_of(f, bias_metric=metric), 5) == expected


def test_claim5_mixed_and_unmeasurable():
    models = {(m, "seq"): (5.0, 1.0, 9.0) for m in CPU_MODELS[:2]}
    bias = {("smollm2-135m-instruct", "seq"): (-3.0, -5.0, -1.0), ("gemma3-270m", "seq"): (3.0, 1.0, 5.0)}
    assert verdict(frames_of(forgetting_rows(models, bias=bias)), 5) == report.MIXED
    assert verdict(frames_of(forgetting_rows(models)), 5) == report.NOT_MEASURABLE


def test_claim6_replay_branches():
    seq_only = {("gemma3-270m", "seq"): (9, 6, 12)}
    assert verdict(frames_of(forgetting_rows(seq_only)), 6) == report.NOT_MEASURABLE
    helps = seq_only | {("gemma3-270m", "replay"): (4, 2, 6)}
    assert verdict(frames_of(forgetting_rows(helps)), 6) == report.HOLDS
    hurts = seq_only | {("gemma3-270m", "replay"): (12, 10, 14)}
    assert verdict(frames_of(forgetting_rows(hurts)), 6) == report.NOT_HOLD


def test_claim7_new_task_branches():
    scores, _ = synthetic(models=("tiny-causal",))
    table = metrics.new_task_table(scores)
    f = forgetting_rows({("tiny-causal", "seq"): (5.0, 1.0, 9.0)})
    assert verdict(frames_of(f, new_task=table), 7) == report.HOLDS  # tiny models count for claim 7
    worse = table.assign(gain=np.where(table["task"] == "emdg", -1.0, table["gain"]))
    assert verdict(frames_of(f, new_task=worse), 7) == report.MIXED
    assert verdict(frames_of(f, new_task=table.assign(gain=-1.0)), 7) == report.NOT_HOLD
    assert verdict(frames_of(f), 7) == report.NOT_MEASURABLE


def test_figures_skip_with_reasons():
    scores, items = synthetic(models=("smollm2-135m-instruct",), methods=("seq",))
    forgetting = metrics.forgetting_table(scores)
    frames = report.Frames(
        "x", scores, forgetting, items=None, curves=metrics.curves(scores), new_task=metrics.new_task_table(scores)
    )
    drawn = {d.name: d for d in report.make_figures(frames)}
    for name in ("decoder_vs_encdec", "base_vs_instruct", "bias_by_type", "replay_vs_seq"):
        assert drawn[name].figure is None and drawn[name].reason
    assert drawn["stage_curves"].figure is not None
    assert (paths.figures_dir("x") / "stage_curves.png").exists()
