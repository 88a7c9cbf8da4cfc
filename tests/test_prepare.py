"""01_prepare_data on the real BIG-bench files: determinism (pinned hashes), atomicity, the manifest.

Needs the BIG-bench task files (fetched once from PyPI into data/cache/ by the first test that
asks; marked `network` for that reason)."""

import json
from collections import Counter

import pytest

from cf_utils import notebooks, paths, study
from cf_utils.config import load_config
from cf_utils.data import leaks
from cf_utils.data import prepare as prep
from cf_utils.data.records import read_jsonl

pytestmark = pytest.mark.network

# sha256 of every smoke-profile file, made by:
#   python -c "from cf_utils.config import load_config; from cf_utils.data.prepare import prepare;
#              [print(f['path'], f['sha256']) for f in prepare(load_config('smoke'))['files']]"
# on the pinned bigbench==1.0.0 task files, configs/{defaults,smoke}.yaml (seed 1234).
# A change here means the data changed: bump the builder's `version` and say why in the commit.
SMOKE_SHA256 = {
    "benchmarks/science_qa.jsonl": "938eef6be0474ce61a6f85bb28b5f9f10d6036722e47bb7942b68443768eb13c",
    "benchmarks/physics.jsonl": "3b94f278fe230df087ffc5a35880e1b78f5cba7908041be755c507e8ede526c5",
    "benchmarks/misconceptions.jsonl": "def60210962fec590ee56d568cf526c39dc9394cd6f54e9315fc464100fad401",
    "benchmarks/strategyqa.jsonl": "9161dbcf265f730f4b120641ff0d659eecb5567183b7c14c4f539654ebc93334",
    "benchmarks/wikihow_step.jsonl": "27481d135d87f0143385697bee793512d7713d3f0d87db5f8443d1683090d393",
    "benchmarks/winogrande.jsonl": "f2cf2efb056f6fda670ccec03420db8b1e9e51f0abaeed56536d988f5aee4c55",
    "benchmarks/math_qa.jsonl": "8dd0427b06c9503ec9624c054938369b8903b6a55cf062db2434e72c3711a9f2",
    "benchmarks/cosmosqa.jsonl": "8104103fe0c884b4cc4d9b164034c41e7e12080d0de93b459d1f361da3827e5e",
    "benchmarks/multirc.jsonl": "116491a68fcbe09f4cc78883e5aab8cb4b7affe005284bedcdfc37cf010b58dd",
    "benchmarks/fables.jsonl": "f9d631337c43c11d0475391263ef2c5efb2089e0062adf2753169fc9142a0de0",
    "benchmarks/bbq_pairs.jsonl": "ef302f9e8a4a2bd2dd6863617742db5fad47d1948f9273c4eebb9ef58651fe6e",
    "tasks/1_simp.train.jsonl": "6d896ba0f2a55572f12c55168b6689864577be1ab03659bea9dd7d06ac3f65f1",
    "tasks/1_simp.eval.jsonl": "9502bf84133a111e2ec4ff7532665efba4dfabd15cdfff65260f5e867154fe49",
    "tasks/2_emdg.train.jsonl": "058b37db27ae3c629dec158a1afd471ab618a63cfcc4c60799ccee4025c1c4f7",
    "tasks/2_emdg.eval.jsonl": "7c4684723971895b5ecc17f722419e422ea4b6809889bd8b51e77e620bdaf43c",
    "tasks/3_inqqg.train.jsonl": "edea2d9cc0ad6ef81d3b00f1e6a26da0c5cfde547ad128cfcf6464f20368e094",
    "tasks/3_inqqg.eval.jsonl": "1b346856568eaa612e9ee337ff7acb66ceb4a1024b36383b1db95466d92ed3ac",
    "tasks/4_exp.train.jsonl": "8e9388a8fea0dcef45d088bbcc86bda6f5b051c81ea7ca4087385b6268789989",
    "tasks/4_exp.eval.jsonl": "e00d0ff65315e444585dcc4fd85347ecf8bbd5f593d4fdd305661a09f672d76d",
    "tasks/5_hgen.train.jsonl": "84cb86c139b6f1765d1052215bc1d21b570ce9fa3b8902a0ae57cb974a04e0bc",
    "tasks/5_hgen.eval.jsonl": "f8ec97e826ee36a252606735c30dd12e379a684d5e26a2feb67950896e3b1a95",
    "tasks/0_general.train.jsonl": "b9e21851cb233148e8e4bbd5887b952f241ff95948fe6236a7b3bfb34fb9134a",
}


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "smoke"
    prep.prepare(load_config("smoke"), out)
    return out


@pytest.fixture(scope="module")
def smoke_manifest(smoke_dir):
    return json.loads((smoke_dir / "MANIFEST.json").read_text())


def test_smoke_data_is_byte_identical_to_the_pinned_hashes(smoke_manifest):
    assert {f["path"]: f["sha256"] for f in smoke_manifest["files"]} == SMOKE_SHA256


def test_manifest_has_four_categories_five_stages_and_provenance(smoke_manifest):
    files = smoke_manifest["files"]
    bench = [f for f in files if f["role"] == "benchmark"]
    assert {f["category"] for f in bench} == set(study.CATEGORIES)
    for cat in study.GENERAL:
        assert sum(f["category"] == cat for f in bench) >= 2
    stages = {(f["stage"], f["split"]) for f in files if f["role"] == "task"}
    assert stages == {(s, sp) for s in range(1, 6) for sp in ("train", "eval")} | {(0, "train")}
    for f in files:
        assert f["count"] > 0 and len(f["sha256"]) == 64
        assert all(src["package"] == "bigbench==1.0.0" and len(src["sha256"]) == 64 for src in f["sources"])
    assert smoke_manifest["seeds"] == {"data_sampling": 1234}


def test_benchmark_items_that_leak_are_dropped_and_counted(smoke_manifest, smoke_dir):
    assert smoke_manifest["leak_check"]["n"] == leaks.N
    removed = {f["name"]: f["leaks_removed"] for f in smoke_manifest["files"] if f["role"] == "benchmark"}
    assert removed["multirc"] > 0  # MC-TACO (InqQG's source) was built from MultiRC paragraphs
    assert all(isinstance(n, int) for n in removed.values())
    train = leaks.training_shingles(
        r for p in smoke_dir.glob("tasks/*.train.jsonl") for r in read_jsonl(p, "instruction")
    )
    for f in smoke_manifest["files"]:
        if f["role"] == "benchmark":
            assert not any(leaks.leaks(r, train) for r in read_jsonl(smoke_dir / f["path"], f["kind"])), f["name"]


def test_no_benchmark_keeps_its_gold_at_one_position(smoke_manifest, smoke_dir):
    for f in smoke_manifest["files"]:
        if f["role"] == "benchmark" and f["kind"] != "pair":
            labels = Counter(r["label"] for r in read_jsonl(smoke_dir / f["path"], f["kind"]))
            assert max(labels.values()) <= 0.6 * f["count"], (f["name"], labels)


def test_files_follow_their_schemas(smoke_manifest, smoke_dir):
    for f in smoke_manifest["files"]:
        recs = read_jsonl(smoke_dir / f["path"], f["kind"])
        assert len(recs) == f["count"]
        if f.get("split") == "eval":
            assert all(r["references"] for r in recs)


def test_another_seed_gives_other_data(tmp_path):
    m = prep.prepare(load_config("smoke", seed=7), tmp_path / "s7")
    changed = [f["path"] for f in m["files"] if SMOKE_SHA256[f["path"]] != f["sha256"]]
    assert len(changed) >= len(SMOKE_SHA256) - 2  # (a source smaller than the sample is seed-free)


def test_interrupted_prepare_leaves_previous_data_untouched(tmp_path, monkeypatch):
    out = tmp_path / "smoke"
    first = prep.prepare(load_config("smoke"), out)
    before = sorted(p.read_bytes() for p in out.rglob("*.json*"))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what a SIGINT mid-build looks like from inside

    monkeypatch.setattr(prep.standins, "instruction_records", killed)
    with pytest.raises(KeyboardInterrupt):
        prep.prepare(load_config("smoke", seed=99), out)
    assert sorted(p.read_bytes() for p in out.rglob("*.json*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["smoke"]
    assert json.loads((out / "MANIFEST.json").read_text()) == first


def test_benchmark_filtered_to_nothing_is_a_clear_error(tmp_path):
    with pytest.raises(prep.EmptyBenchmarkError, match=r"no items left after filtering.*max_context_words=1"):
        prep.prepare(load_config("smoke", {"data.max_context_words": 1}), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_notebook_runs_under_papermill_and_rejects_unknown_parameters(tmp_path):
    with pytest.raises(notebooks.ParameterError, match=r"unknown parameter\(s\) \['bench_items'\].*'overrides'"):
        notebooks.run("01_prepare_data", "smoke", {"bench_items": 3})
    log = notebooks.run("01_prepare_data", "smoke", {"overrides": {"data.bench_items": 4}})
    manifest = json.loads(paths.data_manifest("smoke").read_text())
    assert {f["count"] for f in manifest["files"] if f["role"] == "benchmark"} == {4}
    assert log == paths.artifacts_dir("smoke") / "notebooks" / "01_prepare_data.ipynb"
    assert "standins.mapping_table(cfg.data.source)" in log.read_text()


def test_the_readers_tables_show_whole_numbers_and_readable_records(tmp_path, monkeypatch):
    """01's summary: counts and stages as integers, no NaN cells, each field shortened to its head and tail."""
    from cf_utils.data.prepare import benchmark_table, example_records, shorten, task_table

    monkeypatch.setenv("CF_DATA_ROOT", str(tmp_path))
    (tmp_path / "p" / "tasks").mkdir(parents=True)
    prompt = "Below is an instruction. " * 20 + "Make this text simpler: THE INPUT"
    (tmp_path / "p" / "tasks" / "1_simp.train.jsonl").write_text(json.dumps({"id": "a", "prompt": prompt}) + "\n")
    manifest = {"files": [
        {"path": "tasks/1_simp.train.jsonl", "role": "task", "name": "simp", "stage": 1, "split": "train", "count": 8},
        {"path": "tasks/1_simp.train.jsonl", "role": "task", "name": "simp", "stage": 1, "split": "eval", "count": 4},
        {"path": "tasks/1_simp.train.jsonl", "role": "benchmark", "name": "b", "category": "reasoning", "count": 60},
    ]}  # fmt: skip
    bench, tasks = benchmark_table(manifest), task_table(manifest)
    assert bench["items"].tolist() == [60] and not bench.isna().any().any()
    assert tasks.loc[(1, "simp")].tolist() == [4, 8] and str(tasks.dtypes.iloc[0]).startswith("int")
    shown = example_records("p", {"files": manifest["files"][:1]})
    value = shown.loc[("tasks/1_simp.train.jsonl", "prompt"), "value"]
    assert len(value) <= 90 and value.startswith("Below is") and value.endswith("THE INPUT")
    assert shorten("short") == "short"
