"""The content leak check (cf_utils.data.leaks): 10 shared words drop an item, 9 do not."""

from cf_utils.data import leaks

PASSAGE = "The old mill by the river ground wheat for the whole valley until 1920."
ITEM = {"id": "multirc-00000", "context": f"{PASSAGE}\nQuestion: What did the mill grind?\nAnswer:",
        "choices": ["Wheat", "Corn"], "label": 0}  # fmt: skip


def _train(text: str) -> set:
    return leaks.training_shingles(
        [{"prompt": f"Ask a question about this sentence.\nSentence: {text}", "target": "Why?"}]
    )


def test_ten_shared_words_drop_the_item_and_nine_do_not():
    ten = _train("old mill by the river ground wheat for the whole")  # 10 words of the passage
    nine = _train("old mill by the river ground wheat for the")  # 9 words, then the sentence ends
    assert leaks.drop_leaks([ITEM], ten) == ([], 1)
    assert leaks.drop_leaks([ITEM], nine) == ([ITEM], 0)


def test_case_and_punctuation_do_not_hide_a_leak():
    assert leaks.words("The mill's  WHEAT_field, (1920)!") == ["the", "mill", "s", "wheat", "field", "1920"]
    assert leaks.leaks(ITEM, _train("THE OLD MILL, by the river -- ground wheat for the whole valley"))


def test_every_text_the_model_reads_is_checked():
    train = _train("for the whole valley until 1920 question what did the mill grind answer wheat")
    assert leaks.leaks(ITEM, train)  # a run across the context and a choice
    partial = {"id": "w", "contexts": ["a b c d e", "a b c d f"], "continuation": "g h i j k", "label": 0}
    assert leaks.leaks(partial, leaks.shingles(["a b c d f g h i j k"]))
    pair = {
        "id": "p",
        "sent_more": "one two three four five six seven eight nine ten",
        "sent_less": "x",
        "bias_type": "age",
    }
    assert leaks.leaks(pair, leaks.shingles([pair["sent_more"]])) and not leaks.leaks(pair, leaks.shingles(["x"]))
