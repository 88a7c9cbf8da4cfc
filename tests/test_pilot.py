"""The pilot (cf_utils/pilot.py) and the power calculation that reads it (cf_utils/power.py): items set apart
before the evaluation items are drawn, measured on a tiny model, and pasted back into the config."""

import pytest
import yaml

from cf_utils import pilot, power
from cf_utils.config import load_config
from cf_utils.data import prepare as prep
from cf_utils.data.records import read_jsonl


@pytest.fixture(scope="module")
def smoke_pilot(tmp_path_factory):
    root = tmp_path_factory.mktemp("pilot")
    mp = pytest.MonkeyPatch()
    for var, sub in (("CF_DATA_ROOT", "data"), ("CF_ARTIFACTS_ROOT", "artifacts"), ("CF_FIGURES_ROOT", "figures")):
        mp.setenv(var, str(root / sub))
    cfg = load_config("smoke", {"data.pilot_items": 6})
    manifest = prep.prepare(cfg)
    result = pilot.run(cfg)
    yield cfg, manifest, result, root / "data" / "smoke"
    mp.undo()


def test_pilot_items_are_set_apart_from_the_evaluation_items(smoke_pilot):
    _, manifest, _, root = smoke_pilot
    files = {(f["role"], f["name"]): f for f in manifest["files"] if f["role"] in ("pilot", "benchmark")}
    for (role, name), f in files.items():
        if role != "pilot":
            continue
        held = {r["id"] for r in read_jsonl(root / f["path"], f["kind"])}
        evaluated = {r["id"] for r in read_jsonl(root / files[("benchmark", name)]["path"], f["kind"])}
        assert len(held) == 6 and not held & evaluated, name
    arc = read_jsonl(root / files[("pilot", "arc_easy")]["path"], "mc")
    assert not any(r["id"].startswith("arc_easy-test-") for r in arc), "the pilot drew from a later split"


def test_a_later_split_leaves_the_pilot_items_where_they_were(tmp_path):
    """ARC-Easy's test split joined after the pilot had run: the pilot's items are those a pool without it
    gives, and the later split's items reach the evaluation pool."""
    import dataclasses

    from cf_utils.data import offline

    cfg = load_config("smoke", {"data.pilot_items": 6})
    spec = offline.BENCHMARKS["arc_easy"]
    with_later = prep._pool(cfg, spec, set())
    without = prep._pool(cfg, dataclasses.replace(spec, later_split=None), set())
    assert with_later.later and not without.later and with_later.recs == without.recs
    a = prep._set_pilot_apart(cfg, tmp_path / "a", [with_later])
    b = prep._set_pilot_apart(cfg, tmp_path / "b", [without])
    assert a[0]["sha256"] == b[0]["sha256"]


def test_the_pilot_measures_every_element_and_writes_a_config_block_that_loads(smoke_pilot):
    _, manifest, result, _ = smoke_pilot
    assert set(result["elements"]) == {f["name"] for f in manifest["files"] if f["role"] == "pilot"}
    for name, el in result["elements"].items():
        assert el["n"] == 6 and 0 <= el["flip_rate"] <= 1 and 0 <= el["initial"] <= 100, name
        assert el["at_floor"] == power.at_floor(el["initial"], el["chance"], el["majority_baseline"])
    assert result["stage1"]["steps"] > 0 and "held-apart items" in result["source"]
    block = yaml.safe_load("data:\n" + pilot.config_block(result))["data"]
    again = load_config("smoke", {"data.pilot_items": 6, **{f"data.{k}": v for k, v in block.items()}})
    assert again.data.pilot_initial == {k: v["initial"] for k, v in result["elements"].items()}


def test_the_allocation_reads_the_pilot_and_gives_an_element_at_floor_no_power():
    class Data:
        fg_half_width, bench_items, bench_tokens, assumed_initial, assumed_flip_rate = 6.0, None, None, 50.0, 0.2
        pilot_initial = {"strong": 80.0, "floor": 27.0}
        pilot_flip_rate = {"strong": 0.05, "floor": 0.3}
        pilot_by_model: dict = {}

    recs = [{"id": str(i), "context": "c" * 40, "choices": ["a", "b", "c", "d"], "label": 0} for i in range(5000)]
    pools = {"strong": ("reasoning", recs), "floor": ("reasoning", recs), "plain": ("bias", recs)}
    baselines = {"strong": (25.0, 25.0), "floor": (25.0, 25.0), "plain": (25.0, 25.0)}
    assert power.floors(Data, baselines) == {"floor"}
    sizes = power.benchmark_sizes(Data, pools, baselines)
    assert sizes["floor"] == power.MIN_ITEMS
    initial, flip = power.assumptions(Data, ["strong", "plain"])
    assert flip == {"strong": 0.1, "plain": 0.2} and initial == {"strong": 80.0, "plain": 50.0}
    assert power.half_width({"strong": sizes["strong"]}, initial, flip) <= 6.0
    assert power.half_width({"strong": sizes["strong"] - 5}, initial, flip) > 5.9  # the least that reaches it


def test_a_further_model_is_measured_at_stage_0_on_the_same_items_and_the_plan_reads_its_block(
    smoke_pilot, monkeypatch
):
    from cf_utils import paths, plan

    cfg, _, result, data = smoke_pilot
    monkeypatch.setenv("CF_DATA_ROOT", str(data.parent))  # the fixture's prepared data
    with pytest.raises(SystemExit, match="not a further model"):
        pilot.stage0(cfg, "tiny-causal")  # the first model: make pilot without MODEL
    other = pilot.stage0(cfg, "tiny-seq2seq")
    assert paths.pilot_file("smoke", "tiny-seq2seq").is_file()
    assert set(other["elements"]) == set(result["elements"]) and "stage 0 only" in other["source"]
    for name, el in other["elements"].items():
        assert el["n"] == 6 and "flip_rate" not in el, name
    first = yaml.safe_load("data:\n" + pilot.config_block(result))["data"]
    block = yaml.safe_load("data:\n" + pilot.model_block(other))["data"]
    cfg = load_config("smoke", {"data.pilot_items": 6, **{f"data.{k}": v for k, v in {**first, **block}.items()}})
    assert cfg.data.pilot_by_model == {"tiny-seq2seq": {k: v["initial"] for k, v in other["elements"].items()}}
    lines = plan.power_lines(cfg)
    assert any(line.startswith("  power (tiny-seq2seq; its stage-0 pilot") for line in lines)


def test_each_model_gets_its_own_allocation_and_an_element_takes_the_most_items_asked():
    class Data:
        fg_half_width, bench_items, bench_tokens, assumed_initial, assumed_flip_rate = 6.0, None, None, 50.0, 0.2
        pilot_initial = {"strong": 80.0, "floor": 27.0, "both": 27.0}
        pilot_flip_rate = {"strong": 0.05, "floor": 0.3, "both": 0.3}
        pilot_by_model = {"other": {"strong": 60.0, "floor": 70.0, "both": 26.0}}

    recs = [{"id": str(i), "context": "c" * 40, "choices": ["a", "b", "c", "d"], "label": 0} for i in range(5000)]
    pools = {n: ("reasoning", recs) for n in ("strong", "floor", "both")}
    baselines = dict.fromkeys(pools, (25.0, 25.0))
    assert power.floors(Data, baselines) == {"both"}  # at floor for every model: the only MIN_ITEMS element
    assert power.floors(Data, baselines, Data.pilot_initial) == {"floor", "both"}
    sizes = power.benchmark_sizes(Data, pools, baselines)
    assert sizes["both"] == power.MIN_ITEMS and sizes["floor"] > power.MIN_ITEMS  # the other model measures it
    for scores in (Data.pilot_initial, Data.pilot_by_model["other"]):
        initial, flip = power.assumptions(Data, list(pools), scores)
        above = {n: sizes[n] for n in pools if n not in power.floors(Data, baselines, scores)}
        assert power.half_width(above, initial, flip) <= 6.0  # every model reaches the target
