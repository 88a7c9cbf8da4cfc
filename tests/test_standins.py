"""Stand-in builders on small hand-made BIG-bench examples, checked record for record."""

import random

from cf_utils import study
from cf_utils.data import standin_tasks, standins
from cf_utils.data.prepare import sample, split_examples
from cf_utils.data.records import validate
from cf_utils.data.standin_tasks import Example


def _build(name, *tasks):
    spec = next(b for b in standins.BENCHMARKS if b.name == name)
    recs = standins.build_benchmark(spec, list(tasks), random.Random(0))
    for r in recs:
        validate(spec.kind, r)
    return recs


def test_no_source_is_both_benchmark_and_training_data():
    standins.check_disjoint()
    assert standins._source("natural_instructions/subtask029_winogrande_full_object") == "winogrande"
    assert standins._source("gem/xsum") == "gem"


def test_four_categories_with_two_or_more_elements_and_five_stages():
    for cat in study.CATEGORIES:
        assert sum(b.category == cat for b in standins.BENCHMARKS) >= 2, cat
    assert [t.stage for t in standins.TASKS] == [1, 2, 3, 4, 5]
    assert [t.name for t in standins.TASKS] == ["simp", "emdg", "inqqg", "exp", "hgen"]  # the paper's order


def test_science_qa_parses_options_and_skips_i_dont_know():
    task = {"examples": [
        {"input": "Question: What melts ice?  (A) heat (B) cold (C) dark (D) wind?", "target": ["A."]},
        {"input": "Question: Unanswerable?  (A) a (B) b (C) c (D) d?", "target": ["E."]},
    ]}  # fmt: skip
    (rec,) = _build("science_qa", task)
    assert rec == {"id": "science_qa-00000",
                   "context": "Question: What melts ice?\nChoices:\nA. heat\nB. cold\nC. dark\nD. wind\nAnswer:",
                   "choices": ["heat", "cold", "dark", "wind"], "label": 0}  # fmt: skip


def test_target_scores_with_ambiguous_gold_are_dropped():
    task = {"examples": [{"input": "Q1", "target_scores": {"Yes": 1, "No": 0}},
                         {"input": "Q2", "target_scores": {"Yes": 1, "No": 1}}]}  # fmt: skip
    assert _build("strategyqa", task) == [
        {"id": "strategyqa-00000", "context": "Question: Q1\nAnswer:", "choices": ["Yes", "No"], "label": 0}
    ]


def test_winogrande_partial_scoring_as_the_harness_builds_it():
    target = (
        "Sentence 1: The rats fled the holes for the fields since the _ were crowded. \nAnswer1: holes. \n"
        "Sentence 2: The rats fled the holes for the fields since the _ were roomy. \nAnswer2: fields."
    )
    recs = _build("winogrande", {"examples": [{"input": "Context Word: rats.", "target": [target]}]})
    assert recs[0] == {"id": "winogrande-00000",
                       "contexts": ["The rats fled the holes for the fields since the holes",
                                    "The rats fled the holes for the fields since the fields"],
                       "continuation": "were crowded.", "label": 0}  # fmt: skip
    assert recs[1]["label"] == 1 and recs[1]["continuation"] == "were roomy."


def test_cosmosqa_correct_answer_is_the_label_after_shuffling():
    ex = {
        "input": "Context: I ran.\nQuestion: Why?\nCorrect Answer: I was late .",
        "target": ["I was hungry .", "I fell ."],
    }
    (rec,) = _build("cosmosqa", {"examples": [ex]})
    assert rec["context"] == "I ran.\nQuestion: Why?\nAnswer:"
    assert sorted(rec["choices"]) == sorted(["I was late .", "I was hungry .", "I fell ."])
    assert rec["choices"][rec["label"]] == "I was late ."


def test_bbq_keeps_bias_type_as_group():
    ex = {"comment": {"category": "Age"}, "input": "Ctx. Who?", "target_scores": {"A": 0, "Unknown": 1}}
    (rec,) = _build("bbq_ambig", {"examples": [ex]})
    assert rec["group"] == "Age" and rec["choices"][rec["label"]] == "Unknown"


def test_simp_takes_the_copied_original_as_source_and_asset_as_references():
    turk = {"examples": [{"comment": "t-0", "input": "A long complex original sentence here .",
                          "target": ["A long complex original sentence here .", "A short one ."]}]}  # fmt: skip
    asset = {"examples": [{"comment": "t-0", "input": "Simple one.", "target": ["Simple two.", "Simple one."]}]}
    (ex,) = standin_tasks._simp([asset, turk], random.Random(0), None)
    assert ex.source == "A long complex original sentence here ."
    assert ex.references == ["Simple one.", "Simple two."]


def test_hgen_constraint_variants_are_balanced_and_satisfiable():
    task = {"examples": [{"input": f"Article {i} text.", "target": f"Word{i} beta gamma delta{i}.", "comment": str(i)}
                         for i in range(30)]}  # fmt: skip
    exs = standin_tasks._hgen([task], random.Random(1), 50)
    variants = [next(v for v in ("start with", "contain", "end with") if f"must {v} " in e.src) for e in exs]
    assert {v: variants.count(v) for v in set(variants)} == {"start with": 10, "contain": 10, "end with": 10}
    for e in exs:
        word = e.src.split('the word "')[1].split('"')[0]
        assert word in e.references[0]


def test_emdg_keeps_the_last_turns_and_answers_as_the_next_speaker():
    ex = {
        "input": 'agent_A: "hi" agent_B: "hello" agent_A: "how are you?"',
        "target": '"fine, thanks"',
        "comment": "c1",
    }
    (e,) = standin_tasks._emdg([{"examples": [ex]}], random.Random(0), 100)
    assert "Write B's next reply" in e.src and e.src.endswith("A: hi\nB: hello\nA: how are you?")
    assert e.references == ["fine, thanks"]


def test_split_keeps_keys_apart_and_cycles_references():
    exs = [Example(f"k{i // 2}", f"src{i}", [f"r{i}a", f"r{i}b"]) for i in range(10)]
    train, held = split_examples(exs, n_train=12, n_eval=2, rng=random.Random(3))
    held_keys = {e.key for e, _ in held}
    assert len(held) == 2 and not held_keys & {e.key for e, _ in train}
    assert len(train) == 12  # 6 sources x 2 references: the second reference fills up
    assert len({(e.src, ref) for e, ref in train}) == 12


def test_sample_is_balanced_across_groups_and_keeps_source_order():
    recs = [{"id": str(i), "group": "a" if i < 90 else "b"} for i in range(100)]
    got = sample(recs, 20, random.Random(0))
    assert sum(r["group"] == "b" for r in got) == 10
    assert [int(r["id"]) for r in got] == sorted(int(r["id"]) for r in got)


def test_readme_shows_the_mapping_table():
    from cf_utils import paths

    readme = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    for spec in (*standins.BENCHMARKS, *standins.TASKS, standins.GENERAL):
        assert f"| `{spec.name}` |" in readme and spec.stands_for in readme, spec.name
