import json

import pytest

from cf_utils.data.records import RecordError, cluster, read_jsonl, validate, write_jsonl

MC = {"id": "a", "context": "Q?\nAnswer:", "choices": ["x", "y"], "label": 1}


def test_valid_records_of_every_kind():
    validate("mc", MC)
    validate("mc", {**MC, "group": "Age", "cluster": "3f2a"})
    validate("partial", {"id": "w", "contexts": ["A a", "A b"], "continuation": "ends.", "label": 0, "cluster": "c"})
    validate("pair", {"id": "p", "sent_more": "s1", "sent_less": "s2", "bias_type": "age", "cluster": "c"})
    validate("instruction", {"id": "i", "task": "simp", "prompt": "p", "target": "t", "references": ["t"]})


@pytest.mark.parametrize(
    ("rec", "pattern"),
    [
        ({k: v for k, v in MC.items() if k != "label"}, r"lacks field\(s\) \['label'\]"),
        ({**MC, "answer": 1}, r"unknown field\(s\) \['answer'\]"),
        ({**MC, "label": "1"}, r"'label' must be int"),
        ({**MC, "cluster": 7}, r"'cluster' must be str"),
        ({**MC, "label": True}, r"'label' must be int"),
        ({**MC, "label": 2}, r"label 2 is out of range for 2 choices"),
        ({**MC, "choices": ["only"]}, r"at least 2 non-empty"),
        ({**MC, "choices": ["x", ""]}, r"at least 2 non-empty"),
        ([1, 2], r"must be a JSON object"),
    ],
)
def test_malformed_mc(rec, pattern):
    with pytest.raises(RecordError, match=pattern):
        validate("mc", rec)


def test_cluster_is_equal_for_the_same_passage_whatever_its_spacing():
    assert cluster("Ann met  Bo.\n") == cluster("Ann met Bo.") != cluster("Ann met Cy.")


def test_read_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(MC) + "\n" + "{not json\n")
    with pytest.raises(RecordError, match=rf"{path}:2: not valid JSON"):
        read_jsonl(path, "mc")
    path.write_text(json.dumps(MC) + "\n" + json.dumps({**MC, "label": 5}) + "\n")
    with pytest.raises(RecordError, match=rf"{path}:2: label 5 is out of range"):
        read_jsonl(path, "mc")


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(RecordError, match="holds no records"):
        read_jsonl(empty, "mc")
    with pytest.raises(FileNotFoundError, match="make data"):
        read_jsonl(tmp_path / "missing.jsonl", "mc")


def test_write_then_read_roundtrip_and_bad_write_leaves_nothing(tmp_path):
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [MC, {**MC, "id": "b", "context": "naïve ü"}], "mc")
    assert read_jsonl(path, "mc")[1]["context"] == "naïve ü"
    bad = tmp_path / "bad.jsonl"
    with pytest.raises(RecordError):
        write_jsonl(bad, [MC, {**MC, "label": 9}], "mc")
    assert not bad.exists() and not list(tmp_path.glob(".bad*"))
