"""The new-task metrics on published or hand-computed values."""

import pytest

from cf_utils import textmetrics


def test_sari_matches_the_published_example():
    # The example of evaluate's SARI metric card (Xu et al. 2016 formula, tensor2tensor variant):
    # sari = 26.953601953601954.
    got = textmetrics.sari(
        ["About 95 species are currently accepted."],
        ["About 95 you now get in."],
        [
            [
                "About 95 species are currently known.",
                "About 95 species are now accepted.",
                "95 species are now accepted.",
            ]
        ],
    )
    assert got == pytest.approx(26.953601953601954, abs=1e-9)


def test_sari_rewards_copying_less_than_simplifying():
    src = "The cat, which was very old, sat on the mat."
    refs = [["The old cat sat on the mat."], ["The old cat sat on the mat."]]
    copy = textmetrics.sari([src], [src], refs[:1])
    simplified = textmetrics.sari([src], ["The old cat sat on the mat."], refs[:1])
    assert simplified > copy


def test_bleu_and_rouge_bounds():
    assert textmetrics.bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]) == pytest.approx(100)
    assert textmetrics.rouge(["completely different words"], [["the cat sat"]]) == 0
    # best reference counts: 2 of 3 unigrams of "the cat sat" are in "the cat" -> F1 = 0.8
    assert textmetrics.rouge(["the cat"], [["xyz", "the cat sat"]], "rouge1") == pytest.approx(80)


def test_task_scores_use_each_tasks_metric():
    recs = [{"references": ["a short one."], "source": "a long and complex one."}]
    assert set(textmetrics.task_scores("simp", ["a short one."], recs)) == {"sari", "rougeL"}
    assert set(textmetrics.task_scores("hgen", ["a short one."], recs)) == {"rouge1", "rougeL"}
    assert set(textmetrics.task_scores("exp", ["a short one."], recs)) == {"bleu", "rougeL"}
