"""01_prepare_data on the installed wheels' files: determinism (pinned hashes), atomicity, the manifest, the
instruments, and preparation with an empty cache and no network."""

import json
from collections import Counter

import pytest

from cf_utils import notebooks, paths, study
from cf_utils.config import load_config
from cf_utils.data import leaks, readers
from cf_utils.data import prepare as prep
from cf_utils.data.records import read_jsonl

# sha256 of every smoke-profile file, made by:
#   python -c "from cf_utils.config import load_config; from cf_utils.data.prepare import prepare;
#              [print(f['path'], f['sha256']) for f in prepare(load_config('smoke'))['files']]"
# on the pinned wheels' files (cf_utils/data/readers/source_sha256.json), configs/smoke.yaml (seed 1234).
# A change here means the data changed: bump the builder's `version` and say why in the commit.
SMOKE_SHA256 = {
    "benchmarks/mmlu_stem.jsonl": "d2b78a0e728ce699f895d597428f75cb1d79187a8a3a01e498e04c7daa6a2859",
    "benchmarks/mmlu_humanities.jsonl": "1e75babb2dfa1f747b8543d2d31f7bf3dfe7a32f877c40981069f639a2bb5dda",
    "benchmarks/mmlu_social_sciences.jsonl": "28a4a24469caf9974299a77cea267187b5af8c9ee0106798fd3d0c66b4764f53",
    "benchmarks/mmlu_other.jsonl": "07b0e668c3d13f17acf4234117c2247bf2dd28726ad20d7b5b17f9799c1d69f1",
    "benchmarks/arc_easy.jsonl": "5dff6fe99ddfea158f9dc2cba691da596c2d50c8c7b082d35ec0caf21b44cf55",
    "benchmarks/boolq.jsonl": "fcc087922580a5c6b0614f496feb47704b708468a50bd9e19108e78e8222df75",
    "benchmarks/piqa.jsonl": "74a936e77eef39d903496b5669a207d09e65cb721a8c4f67ef909b9cefc8047c",
    "benchmarks/winogrande.jsonl": "5e25357422cead735c484815d12687b1251f035239d477b80d98ef56bdd95e87",
    "benchmarks/hellaswag.jsonl": "86e5824098a9d6a812e8e500435fa096acde52f22c6e186011eb0a1b75ddefbf",
    "benchmarks/sciq.jsonl": "9408c2896f0b54d1c11f213591d412bb859c51e15ffb5060e8a6444830f6bee2",
    "benchmarks/logiqa.jsonl": "7c9137ae9e8e36f10095cf02c57f175853ebb763dae7e9219bb23c4bafaa4235",
    "benchmarks/crows_pairs.jsonl": "5e0cb8fe387a0edee619d425aba25ae49aa6c6780976baeefc5758adc1f3211e",
    "tasks/1_simp.train.jsonl": "c2e2266637721a4c0636852e4a38ff7e09596c292af257f430962ffc56e14cc3",
    "tasks/1_simp.eval.jsonl": "67d34ed6891e1cda5c589a57972583ec7ad9168a29ae5e9c4183dcb4ea60cc1c",
    "tasks/2_emdg.train.jsonl": "bfbc5171085b43a53f4bc3871c31cf4a8aec07a5cccd3d7dd4dad04e2eeea1fe",
    "tasks/2_emdg.eval.jsonl": "a6364705962b7d0a335ad205901a8c9eb35d1c03868737eeb6b9e21eab77152f",
    "tasks/3_inqqg.train.jsonl": "09f87f0d6b49e1a45736645215ef166e8e43464f67137ee9312c14cb0d5c06ea",
    "tasks/3_inqqg.eval.jsonl": "101b4b03092d7dd2efaa1e5f3a5af9ebe5d7795efb472b6372333a5fef56c638",
    "tasks/4_exp.train.jsonl": "024f0b6b012307ef6517c2b0a2ef1d4cba8c59586165a524c145a5a78edd4c74",
    "tasks/4_exp.eval.jsonl": "3d33b8737c073e97077eead3a642e167b9374921e5a865d598db89943a49331b",
    "tasks/5_hgen.train.jsonl": "d6c5d27bc769f2bbddd2b743c29834e7a38f321abf5ef07105dcd7824dd829f6",
    "tasks/5_hgen.eval.jsonl": "437bc986a87bc1335da5645590d45ad3311c5bdc82d27df4b7f33bddb2265726",
    "tasks/0_general.train.jsonl": "879cbe0f6e2892f989850cae8759d1fa7045e777e813fcb6904fc158caba05cc",
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
        for src in f["sources"]:
            pin = readers.PINS[f"{src['distribution']}=={src['version']}"][src["file"]]
            assert src["sha256"] == pin["sha256"] and src["license"] in ("Apache-2.0", "MIT")
    assert smoke_manifest["seeds"] == {"data_sampling": 1234}


def test_benchmark_items_that_leak_are_dropped_and_counted(smoke_manifest, smoke_dir):
    assert smoke_manifest["leak_check"]["n"] == leaks.N
    removed = {f["name"]: f["leaks_removed"] for f in smoke_manifest["files"] if f["role"] == "benchmark"}
    assert all(isinstance(n, int) for n in removed.values())
    assert smoke_manifest["instruments"]["overlap"] == {"items_dropped": sum(removed.values()), "items_left": 0}
    train = leaks.training_shingles(
        r for p in smoke_dir.glob("tasks/*.train.jsonl") for r in read_jsonl(p, "instruction")
    )
    for f in smoke_manifest["files"]:
        if f["role"] == "benchmark":
            assert not any(leaks.leaks(r, train) for r in read_jsonl(smoke_dir / f["path"], f["kind"])), f["name"]


def test_no_benchmark_keeps_its_gold_at_one_position_and_each_states_chance_and_majority(smoke_manifest, smoke_dir):
    for f in smoke_manifest["files"]:
        if f["role"] != "benchmark":
            continue
        if f["kind"] == "pair":
            assert f["chance"] == f["majority_baseline"] == 50.0
            continue
        recs = read_jsonl(smoke_dir / f["path"], f["kind"])
        labels = Counter(r["label"] for r in recs)
        k = len(recs[0].get("choices", recs[0].get("contexts", [])))
        assert f["chance"] == pytest.approx(100 / k) and f["majority_baseline"] == pytest.approx(
            100 * max(labels.values()) / len(recs), abs=0.01)  # fmt: skip
        if f["name"] == "boolq":  # a fixed answer set: its golds stay, its majority answer is reported
            assert not f["positions_balanced"]
        else:
            assert f["positions_balanced"] and max(labels.values()) <= (1 / k + 0.15) * len(recs), (f["name"], labels)


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

    monkeypatch.setattr(prep.task_records, "render", killed)
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
    assert "offline.mapping_table()" in log.read_text()


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


def test_prepare_needs_nothing_but_the_installed_wheels(tmp_path, monkeypatch):
    """An empty cache and no network: smoke data is built from the installed files alone, byte-identical to the
    pins, and nothing is written to the cache."""
    import socket

    def no_network(*args, **kwargs):
        raise OSError("network access during data preparation")

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("CF_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    manifest = prep.prepare(load_config("smoke"), tmp_path / "smoke")
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == SMOKE_SHA256
    assert list(cache.iterdir()) == []
