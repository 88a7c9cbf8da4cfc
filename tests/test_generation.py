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


HEADER = ("Below is an instruction that describes a task, paired with an input that provides further context. "
          "Write a response that appropriately completes the request.\n\nSimplify this text:\n")  # fmt: skip


def test_a_shared_prompt_header_runs_once_and_the_ids_still_equal_generate(tiny):
    model, tok = tiny
    tok.padding_side = "left"
    enc = tok([HEADER + p for p in PROMPTS], return_tensors="pt", padding=True)
    tok.padding_side = "right"
    shared = generation.shared_prompt_len(enc["input_ids"], enc["attention_mask"])
    header = len(tok(HEADER)["input_ids"])
    assert generation.MIN_SHARED_PROMPT <= shared and header - 2 <= shared <= header  # the header, not the padding
    # The last prompt position's logits match one forward of the whole prompts (argmax alone is blind
    # to small errors on a random model).
    whole = model(**enc, position_ids=(enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)).logits[:, -1]
    got = generation._prefill(model, enc["input_ids"], enc["attention_mask"], 12)[0].logits[:, -1]
    torch.testing.assert_close(got, whole, rtol=0, atol=1e-5)
    n = 12
    first = _hf(model, tok, enc, n, tok.eos_token_id)
    eos = int(first[0, 1])  # rows end at different steps, as in the test above
    theirs = _hf(model, tok, enc, n, eos)
    ours = generation.greedy_causal(model, enc["input_ids"], enc["attention_mask"], n, eos, tok.pad_token_id)
    assert torch.equal(ours[:, : theirs.shape[1]], theirs)
    # One row alone, or rows sharing nothing, take the plain path.
    one = generation.shared_prompt_len(enc["input_ids"][:1], enc["attention_mask"][:1])
    assert one == enc["attention_mask"][0].sum() - 1
    tok.padding_side = "left"
    plain = tok(PROMPTS, return_tensors="pt", padding=True)
    tok.padding_side = "right"
    assert generation.shared_prompt_len(plain["input_ids"], plain["attention_mask"]) < generation.MIN_SHARED_PROMPT


def test_prompts_are_cut_by_length_into_near_equal_batches():
    prompts = ["x" * n for n in (5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 11)]
    batches = generation._batches(prompts, 4)
    assert [len(b) for b in batches] == [3, 4, 4]  # 11 prompts, at most 4 a batch: not 4 + 4 + 3 by accident
    assert [len(prompts[i]) for b in batches for i in b] == sorted(map(len, prompts))
