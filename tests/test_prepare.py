"""01_prepare_data on the real BIG-bench files: determinism (pinned hashes), atomicity, the manifest.

Needs the BIG-bench task files (fetched once from PyPI into data/cache/ by the first test that
asks; marked `network` for that reason)."""

import json

import pytest

from cf_utils import notebooks, paths, study
from cf_utils.config import load_config
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
    "benchmarks/physics.jsonl": "9158d74438379c7c1537ca404922d84566f3ef6b59fa59de834f6ba8cebb5fd2",
    "benchmarks/misconceptions.jsonl": "5c0f6da55f90453bd5e6f85f75e7b8c4d11db8a958c3b48449873517690bf308",
    "benchmarks/strategyqa.jsonl": "3018831082706f3941320af2ec58a2501225ce60db5cb3b47e668a401a10a542",
    "benchmarks/wikihow_step.jsonl": "38c1a087acb478fe98cd83dd7e16dac4ebfed9ecf30ba3265faece101fea5c6b",
    "benchmarks/winogrande.jsonl": "6afb5c70548f76c8b6b15f841c772e8a41c6c8d7c857209c5fbbd6fb38e4ef3f",
    "benchmarks/math_qa.jsonl": "66285580b993ca3d514bd075a9ac889bc1fae09332643fe856cdae5a332fb5d1",
    "benchmarks/cosmosqa.jsonl": "a67ba3ad2a3a1775a4bb769029a0180bac9006c819e18a98b1744b0775691ea8",
    "benchmarks/multirc.jsonl": "3be1d4272877c35c0db21a32c9cf0cfca871e52c433ff3746c8edac17e5e96c4",
    "benchmarks/fables.jsonl": "0ca1489707736b5f499c27f6a5df994eaace333fdfaf5e83719ca3117a564dd5",
    "benchmarks/bbq_ambig.jsonl": "ee0ea8b444d4da75662e744a360a361abff698e0ae88983b1e3ced50b24dac47",
    "benchmarks/bbq_disambig.jsonl": "b00a976b3a15eb3cb2513aeb306d8afa6fe5522b26b00302c95285d56c34dcc2",
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
    for cat in study.CATEGORIES:
        assert sum(f["category"] == cat for f in bench) >= 2
    stages = {(f["stage"], f["split"]) for f in files if f["role"] == "task"}
    assert stages == {(s, sp) for s in range(1, 6) for sp in ("train", "eval")} | {(0, "train")}
    for f in files:
        assert f["count"] > 0 and len(f["sha256"]) == 64
        assert all(src["package"] == "bigbench==1.0.0" and len(src["sha256"]) == 64 for src in f["sources"])
    assert smoke_manifest["seeds"] == {"data_sampling": 1234}


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
    assert "standins.mapping_table()" in log.read_text()
