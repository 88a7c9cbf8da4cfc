"""Stand-in builders on small hand-made BIG-bench examples, checked record for record."""

import random

from cf_utils import study
from cf_utils.data import standin_tasks, standins
from cf_utils.data.prepare import balance_positions, sample, split_examples
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


def test_four_categories_two_or_more_general_elements_and_five_stages():
    for cat in study.GENERAL:
        assert sum(b.category == cat for b in standins.BENCHMARKS) >= 2, cat
    assert [(b.name, b.kind) for b in standins.BENCHMARKS if b.category == "bias"] == [("bbq_pairs", "pair")]
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


def _wino(subject: str, a: str, b: str) -> dict:
    sentence = f"The {subject} fled the {a} for the {b} since the _ were"
    target = f"Sentence 1: {sentence} crowded. \nAnswer1: {a}. \nSentence 2: {sentence} roomy. \nAnswer2: {b}."
    return {"input": f"Context Word: {subject}.", "target": [target]}


def test_winogrande_partial_scoring_as_the_harness_builds_it_and_twins_share_a_cluster():
    recs = _build("winogrande", {"examples": [_wino("rats", "holes", "fields"), _wino("mice", "barns", "woods")]})
    twin = recs[0].pop("cluster")
    assert recs[0] == {"id": "winogrande-00000",
                       "contexts": ["The rats fled the holes for the fields since the holes",
                                    "The rats fled the holes for the fields since the fields"],
                       "continuation": "were crowded.", "label": 0}  # fmt: skip
    assert recs[1]["label"] == 1 and recs[1]["continuation"] == "were roomy."
    assert [r["cluster"] for r in recs[1:]] == [twin, recs[2]["cluster"], recs[2]["cluster"]]
    assert recs[2]["cluster"] != twin


def test_cosmosqa_correct_answer_is_the_label_after_shuffling_and_questions_on_a_context_share_a_cluster():
    def ex(context, question):
        return {"input": f"Context: {context}\nQuestion: {question}\nCorrect Answer: I was late .",
                "target": ["I was hungry .", "I fell ."]}  # fmt: skip

    rec, mate, other = _build("cosmosqa", {"examples": [ex("I ran.", "Why?"), ex("I ran.", "When?"),
                                                        ex("I sat.", "Why?")]})  # fmt: skip
    assert rec["context"] == "I ran.\nQuestion: Why?\nAnswer:"
    assert sorted(rec["choices"]) == sorted(["I was late .", "I was hungry .", "I fell ."])
    assert rec["choices"][rec["label"]] == "I was late ."
    assert rec["cluster"] == mate["cluster"] != other["cluster"]


def test_multirc_questions_on_one_paragraph_share_a_cluster():
    def ex(para, question, answer):
        return {"input": f"Paragraph- Sent 1: {para}\nQuestion: {question}", "target": [answer]}

    inputs = [ex("Ann met Bo.", "Who met Bo?", "Ann"), ex("Ann met  Bo.", "Whom did Ann meet?", "Bo"),
              ex("Cy left.", "Who left?", "Cy")]  # fmt: skip
    wrong = [{**e, "target": ["Dee"]} for e in inputs]
    rec, mate, other = _build("multirc", {"examples": inputs}, {"examples": wrong})
    assert rec["context"] == "Ann met Bo.\nQuestion: Who met Bo?\nAnswer:"
    assert rec["cluster"] == mate["cluster"] != other["cluster"]  # whitespace does not split a passage


def _bbq(polarity, context="I saw a grandson and their grandfather.", order=("grandson", "grandfather"), **kw):
    info = {"ans0": [order[0], "nonOld" if order[0] == "grandson" else "old"], "ans1": ["Unknown", "unknown"],
            "ans2": [order[1], "old" if order[1] == "grandfather" else "nonOld"]}  # fmt: skip
    ex = {"question_index": "1", "question_polarity": polarity, "context_condition": "ambig", "category": "Age",
          "answer_info": info, "additional_metadata": {"stereotyped_groups": ["old"]}, "context": context,
          "question": "Who was bad with phones?" if polarity == "neg" else "Who was good with phones?",
          "ans0": f"The {order[0]}", "ans1": "Unknown", "ans2": f"The {order[1]}", "label": 1}  # fmt: skip
    return {**ex, **kw}


def test_bbq_pairs_put_the_stereotyped_answer_first_in_both_polarities():
    swapped = _bbq("neg", "I saw a grandfather and their grandson.", ("grandfather", "grandson"))
    both_male = {"ans0": ["man", "M"], "ans1": ["?", "unknown"], "ans2": ["boy", "M"]}
    examples = [_bbq("neg"), _bbq("nonneg"), swapped, _bbq("neg", "Two grandsons.", context_condition="disambig"),
                _bbq("neg", answer_info=both_male)]  # fmt: skip
    neg, nonneg, twin = _build("bbq_pairs", {"examples": examples})  # disambiguated and ill-posed items dropped
    assert neg["sent_more"] == "I saw a grandson and their grandfather. Who was bad with phones? The grandfather."
    assert neg["sent_less"] == "I saw a grandson and their grandfather. Who was bad with phones? The grandson."
    assert nonneg["sent_more"].endswith("good with phones? The grandson.") and neg["bias_type"] == "Age"
    assert twin["sent_more"].endswith("? The grandfather.")
    assert neg["cluster"] == nonneg["cluster"] == twin["cluster"]  # one template, the same two people


def test_bbq_pairs_match_group_labels_as_bbq_spells_them():
    ex = _bbq("neg", answer_info={"ans0": ["Terrell Joseph", "M-Black"], "ans1": ["?", "unknown"],
                                  "ans2": ["Jake Ryan", "M-White"]}, ans0="Terrell Joseph", ans2="Jake Ryan",
              additional_metadata={"stereotyped_groups": ["Black", "African American"]})  # fmt: skip
    (rec,) = _build("bbq_pairs", {"examples": [ex]})
    assert rec["sent_more"].endswith("Terrell Joseph.") and rec["sent_less"].endswith("Jake Ryan.")


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


def test_gold_positions_are_balanced_and_the_gold_stays_the_gold():
    recs = [{"id": str(i), "context": "c", "choices": [f"gold{i}", "x", "y"], "label": 0} for i in range(60)]
    recs += [{"id": "w", "contexts": ["a", "b"], "continuation": "c", "label": 1, "cluster": "k"}]
    out = balance_positions(recs, random.Random(0))
    assert [r["choices"][r["label"]] for r in out[:60]] == [f"gold{i}" for i in range(60)]
    assert sorted(r["label"] for r in out[:60]) == [0] * 20 + [1] * 20 + [2] * 20
    assert all(r["choices"][: r["label"]] + r["choices"][r["label"] + 1 :] == ["x", "y"] for r in out[:60])
    assert out[60]["contexts"][out[60]["label"]] == "b" and out[60]["cluster"] == "k"


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
