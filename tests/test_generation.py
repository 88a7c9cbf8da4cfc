"""The greedy decoder (cf_utils.generation.greedy_causal) against ``model.generate``: identical outputs."""

import pytest
import torch

from cf_utils import generation, models

PROMPTS = ["Simplify: the cat sat.", "Hi", "Write a question about the passage below and its answer, please:",
           "Explain why the sky is blue in one short sentence.", "x y z", "Tell me"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny():
    return models.load_model("tiny-causal"), models.load_tokenizer("tiny-causal")


def _hf(model, tok, enc, n, eos):
    gen = model.generate(**enc, max_new_tokens=n, do_sample=False, num_beams=1, pad_token_id=tok.pad_token_id,
                         eos_token_id=eos)  # fmt: skip
    return gen[:, enc["input_ids"].shape[1] :]


def test_rows_leave_the_batch_at_eos_and_the_ids_equal_generate(tiny):
    model, tok = tiny
    tok.padding_side = "left"
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    tok.padding_side = "right"  # as load_tokenizer gives it: the other test checks that generate restores it
    n = 12
    # An EOS the random model emits early in some rows and never in others: the second token of row 0.
    first = _hf(model, tok, enc, n, tok.eos_token_id)
    eos = int(first[0, 1])
    theirs = _hf(model, tok, enc, n, eos)
    ours = generation.greedy_causal(model, enc["input_ids"], enc["attention_mask"], n, eos, tok.pad_token_id)
    ended = [(row == eos).any().item() for row in ours]
    assert any(ended) and not all(ended)  # rows left the batch while others went on
    assert torch.equal(ours[:, : theirs.shape[1]], theirs)
    assert (ours[:, theirs.shape[1] :] == tok.pad_token_id).all()


def test_generate_gives_the_same_texts_with_either_kernel(tiny):
    model, tok = tiny
    kw = {"arch": "causal", "max_new_tokens": 10, "batch_size": 4}
    side = tok.padding_side
    ours = generation.generate(model, tok, PROMPTS, **kw)
    assert ours == generation.generate(model, tok, PROMPTS, kernel="hf", **kw)
    assert len(ours) == len(PROMPTS) and tok.padding_side == side  # the tokenizer's side is restored
