"""Scoring: the fast kernel equals a per-request loop, and both equal lm-evaluation-harness.

Fixtures: tests/fixtures/harness/ (README there). The harness runs in-process (``simple_evaluate``)
on task configs that mirror its own (crows_pairs_english, winogrande) over the same record files.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from cf_utils import cf_eval, forward, models, paths, registry, scoring
from cf_utils.data.records import RecordError, read_jsonl

FIXTURES = paths.ROOT / "tests" / "fixtures" / "harness"
KINDS = ("mc", "partial", "pair")


@pytest.fixture(scope="module")
def tiny():
    """{name: (model, tokenizer)} for the two tiny registry models."""
    return {
        name: (models.load_model(name, method="full", device="cpu"), models.load_tokenizer(name))
        for name in ("tiny-causal", "tiny-seq2seq")
    }


def _records(kind: str) -> list[dict]:
    return read_jsonl(FIXTURES / f"{kind}.jsonl", kind)


def _items(tok, records: list[dict], kind: str, arch: str) -> list[list[forward.Request]]:
    return [[scoring.encode_request(tok, c, k, arch) for c, k in scoring.text_requests(r, kind)] for r in records]


def _short_subset(records: list[dict]) -> list[dict]:
    """The first records and every hand-written edge case: the naive loop is slow on long contexts."""
    return records[:4] + [r for r in records[4:] if r["id"].startswith("edge")]


# ----------------------------------------------------------------------------- fast == naive


# The kernels under test: causal models take the packed path where the architecture allows it and the
# cache path otherwise (forced here by declaring the model unpackable); seq2seq has one path.
KERNELS = [("tiny-causal", "packed"), ("tiny-causal", "cache"), ("tiny-seq2seq", "encoder")]


@pytest.fixture(params=KERNELS, ids=["-".join(k) for k in KERNELS])
def kernel(request, tiny, monkeypatch):
    """(model, tokenizer, arch) with the requested fast path selected."""
    name, path = request.param
    model, tok = tiny[name]
    assert forward.packable(model) == (name == "tiny-causal")
    if path == "cache":
        monkeypatch.setattr(scoring, "packable", lambda model: False)
        monkeypatch.setattr(forward, "packable", lambda model: False)
    return model, tok, registry.get_spec(name).arch


def _assert_close(got: list[list[float]], want: list[list[float]]) -> None:
    assert [len(g) for g in got] == [len(w) for w in want]
    assert torch.allclose(torch.tensor(sum(got, [])), torch.tensor(sum(want, [])), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_fast_kernel_equals_naive_loop(kernel, kind):
    model, tok, arch = kernel
    items = _items(tok, _short_subset(_records(kind)), kind, arch)
    max_len = scoring.max_length(model, tok)
    fast = scoring.loglik(model, items, arch, max_len=max_len, batch_size=4)
    _assert_close(fast, [forward.loglik_naive(model, item, arch, max_len) for item in items])


def test_mixed_batch_and_batch_size_do_not_change_scores(kernel):
    # One batch holding mc, partial and pair items, and an item whose two contexts share no token
    # (nothing to run once: an all-padding row in the cache path's first pass).
    model, tok, arch = kernel
    items = [[(tok.encode("Hi"), tok.encode(" there")), (tok.encode("Yo"), tok.encode(" there"))]]
    assert forward.shared_len(items[0]) == 0
    for kind in KINDS:
        items += _items(tok, _records(kind)[:3], kind, arch)
    max_len = scoring.max_length(model, tok)
    naive = [forward.loglik_naive(model, item, arch, max_len) for item in items]
    for batch_size in (1, len(items)):
        _assert_close(scoring.loglik(model, items, arch, max_len=max_len, batch_size=batch_size), naive)


def test_cache_path_handles_alibi(tiny):
    # BLOOM (the paper's bloomz) builds ALiBi from the 2D mask: no packed path, and the cache path's
    # padding gap must not shift its positions. A tiny random BLOOM with the tiny models' tokenizer.
    from transformers import BloomConfig, BloomForCausalLM

    _, tok = tiny["tiny-causal"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BloomForCausalLM(BloomConfig(vocab_size=len(tok), hidden_size=32, n_layer=2, n_head=4)).eval()
    assert not forward.packable(model)
    items = [item for kind in KINDS for item in _items(tok, _records(kind)[:3], kind, "causal")]
    fast = scoring.loglik(model, items, "causal", max_len=2048, batch_size=len(items))
    _assert_close(fast, [forward.loglik_naive(model, item, "causal", 2048) for item in items])


def test_truncated_requests_match_the_harness_left_truncation(tiny):
    model, tok = tiny["tiny-causal"]
    items = _items(tok, _records("mc")[:6], "mc", "causal")
    max_len = 24  # shorter than most contexts: the harness keeps the last max_len + 1 tokens
    assert any(len(c) + len(k) > max_len + 1 for item in items for c, k in item)
    fast = scoring.loglik(model, items, "causal", max_len=max_len, batch_size=3)
    _assert_close(fast, [forward.loglik_naive(model, item, "causal", max_len) for item in items])


def test_naive_loop_projects_only_the_scored_positions_and_equals_the_full_projection(tiny, monkeypatch):
    model, tok = tiny["tiny-causal"]
    items = _items(tok, _records("mc")[:4], "mc", "causal")
    kept = [forward.loglik_naive(model, item, "causal", 2048) for item in items]
    assert forward.keeps_logits(model)
    monkeypatch.setattr(forward, "keeps_logits", lambda m: False)  # every position projected, as the harness
    _assert_close(kept, [forward.loglik_naive(model, item, "causal", 2048) for item in items])


# ----------------------------------------------------------------------------- a prefix shared across items


def _kshot_items(tok, subjects: int, per_subject: int, shots: int = 5) -> list[list[forward.Request]]:
    """MMLU-like k-shot items: per subject a header and ``shots`` solved fixture questions, then a question."""
    recs = _records("mc")[:40]
    solved = [r["context"] + " " + r["choices"][r["label"]] + "\n\n" for r in recs]
    items = []
    for k in range(subjects * per_subject):
        s = k % subjects
        head = f"The following are multiple choice questions (with answers) about subject {s}.\n\n"
        context = head + "".join(solved[s * shots : (s + 1) * shots]) + recs[20 + k]["context"]
        items.append([scoring.encode_request(tok, context, " " + c, "causal") for c in recs[20 + k]["choices"]])
    return items


def _assert_same_answers(got: list[list[float]], want: list[list[float]]) -> None:
    assert [int(np.argmax(g)) for g in got] == [int(np.argmax(w)) for w in want]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_prefix_shared_across_items_equals_naive_loop(tiny, attn):
    model, tok = tiny["tiny-causal"]
    items = _kshot_items(tok, subjects=3, per_subject=4)
    groups = scoring.prefix_groups(model, items, "causal", 2048)
    assert sorted(sorted(m) for _, m in groups) == [[s, s + 3, s + 6, s + 9] for s in range(3)]
    assert all(p >= 150 for p, _ in groups)  # header and five solved questions
    naive = [forward.loglik_naive(model, item, "causal", 2048) for item in items]
    before = model.config._attn_implementation
    model.set_attn_implementation(attn)  # eager takes an additive mask
    try:
        fast = scoring.loglik(model, items, "causal", max_len=2048, batch_size=3)
    finally:
        model.set_attn_implementation(before)
    _assert_close(fast, naive)
    _assert_same_answers(fast, naive)


def test_prefix_groups_mix_with_plain_items_of_every_kind(tiny):
    # Two prefixes, and items sharing nothing with any other: mc, partial, pair and one whose two
    # contexts share no token. The plain items are batched as they would be alone: the same floats.
    model, tok = tiny["tiny-causal"]
    plain = [[(tok.encode("Hi"), tok.encode(" there")), (tok.encode("Yo"), tok.encode(" there"))]]
    for kind in KINDS:
        plain += _items(tok, _records(kind)[:3], kind, "causal")
    shared = _kshot_items(tok, subjects=2, per_subject=3)
    items = [item for pair in zip(shared, plain, strict=False) for item in pair] + plain[len(shared) :]
    assert len(scoring.prefix_groups(model, items, "causal", 2048)) == 2
    naive = [forward.loglik_naive(model, item, "causal", 2048) for item in items]
    for batch_size in (1, 3, len(items)):
        fast = scoring.loglik(model, items, "causal", max_len=2048, batch_size=batch_size)
        _assert_close(fast, naive)
        _assert_same_answers(fast, naive)
        alone = scoring.loglik(model, plain, "causal", max_len=2048, batch_size=batch_size)
        assert [fast[items.index(item)] for item in plain] == alone


def test_prefix_ending_inside_a_merged_token_is_cut_at_a_token_boundary(tiny):
    # The common text ends in " col", which merges with what follows (" color", " colour", " cold") in
    # all but the last item: the shared prefix ends one token earlier, where the token ids still agree.
    model, tok = tiny["tiny-causal"]
    common = _records("mc")[0]["context"] + " the vibrations of the string\n\n" * 3 + "Question: What is the col"
    tails = ["or of the sky?\nAnswer:", "our of grass?\nAnswer:", "d part of the year?\nAnswer:", " (a word)?\nAnswer:"]
    items = [[scoring.encode_request(tok, common + t, " " + c, "causal") for c in ("red", "blue")] for t in tails]
    whole = tok.encode(common)
    assert sum(item[0][0][: len(whole)] == whole for item in items) == 1  # three merged across the boundary
    assert [(p, sorted(m)) for p, m in scoring.prefix_groups(model, items, "causal", 2048)] == [
        (len(whole) - 1, [0, 1, 2, 3])
    ]
    naive = [forward.loglik_naive(model, item, "causal", 2048) for item in items]
    fast = scoring.loglik(model, items, "causal", max_len=2048, batch_size=2)
    _assert_close(fast, naive)
    _assert_same_answers(fast, naive)


def test_shared_prefix_runs_once_per_group(tiny):
    model, tok = tiny["tiny-causal"]
    items = _kshot_items(tok, subjects=2, per_subject=4)
    runs = []
    hook = model.register_forward_pre_hook(lambda m, args, kw: runs.append(kw["input_ids"].shape), with_kwargs=True)
    try:
        shared = scoring.loglik(model, items, "causal", max_len=2048, batch_size=2)
        n_shared = len(runs)
        unshared = scoring.loglik(model, items, "causal", max_len=2048, batch_size=2, share_prefixes=False)
    finally:
        hook.remove()
    tokens = [sum(b * w for b, w in runs[:n_shared]), sum(b * w for b, w in runs[n_shared:])]
    assert [b for b, _ in runs[:n_shared]].count(1) == 2  # one prefix per group, each in a batch of 1
    assert n_shared == 2 + 4 and len(runs) - n_shared == 4  # the prefixes, then two batches per group
    assert tokens[0] < 0.5 * tokens[1], tokens
    _assert_close(shared, unshared)


def _tiny_gemma3(tok, attn: str, window: int):
    """A random Gemma-3 with sliding-attention layers (every other one) of ``window`` tokens."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=window,
                           layer_types=["sliding_attention", "full_attention"] * 2, pad_token_id=tok.pad_token_id,
                           attn_implementation=attn)  # fmt: skip
    torch.manual_seed(0)
    return Gemma3ForCausalLM(cfg).eval()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_items_reaching_a_sliding_window_run_their_context_once_and_equal_naive_loop(tiny, attn):
    # Items longer than the window are scored one at a time: a k-shot header once per group, each item's
    # context once, then its choices on copies of the cache. A gap between a cache and its row (what the
    # batched paths would leave) moves tokens across the window: the sums then differ by ~0.2 here.
    _, tok = tiny["tiny-causal"]
    model = _tiny_gemma3(tok, attn, window=16)
    items = _kshot_items(tok, subjects=2, per_subject=3, shots=2)
    items += [item for kind in KINDS for item in _items(tok, _short_subset(_records(kind)), kind, "causal")]
    assert sum(forward.reaches_window(item, 16) for item in items) > 10
    assert scoring.prefix_groups(model, items, "causal", 2048) == []  # packing would change the distances
    assert sorted(sorted(m) for _, m in scoring.windowed_groups(model, items, "causal", 2048)) == [[0, 2, 4], [1, 3, 5]]
    run = []
    hook = model.get_input_embeddings().register_forward_pre_hook(lambda _, args: run.append(args[0].numel()))
    fast = scoring.loglik(model, items, "causal", max_len=2048, batch_size=4)
    hook.remove()
    naive_tokens = sum(len(c) + len(k) - 1 for item in items for c, k in item)
    assert sum(run) < 0.6 * naive_tokens
    _assert_close(fast, [forward.loglik_naive(model, item, "causal", 2048) for item in items])


def test_prefix_groups_choose_the_split_that_saves_most(tiny, monkeypatch):
    # Token ids only: a 40-token system prompt, then per subject a long (100) or short (4) k-shot part.
    model, _ = tiny["tiny-causal"]
    system, tail = list(range(1000, 1040)), [7, 8]

    def items(part: int) -> list[list[forward.Request]]:
        contexts = [system + [2000 + s] * part + [3000 + k] + tail for s in range(2) for k in range(3)]
        return [[(ctx, [5]), (ctx, [6])] for ctx in contexts]

    assert scoring.prefix_groups(model, items(100), "causal", 2048) == [(140, [0, 1, 2]), (140, [3, 4, 5])]
    assert scoring.prefix_groups(model, items(4), "causal", 2048) == [(40, [0, 1, 2, 3, 4, 5])]
    # items the naive loop takes join no group: truncated, or reaching a sliding window
    assert scoring.prefix_groups(model, items(100), "causal", 100) == []
    monkeypatch.setattr(scoring, "sliding_window", lambda model: 256)
    monkeypatch.setattr(forward, "sliding_window", lambda model: 256)
    assert scoring.prefix_groups(model, items(100), "causal", 2048) == []
    # ... and those reaching the window share their prefix in the windowed path instead
    assert scoring.windowed_groups(model, items(100), "causal", 2048) == [(140, [0, 1, 2]), (140, [3, 4, 5])]
    assert scoring.windowed_groups(model, items(4), "causal", 2048) == []  # 48 tokens: batched as usual
    monkeypatch.setattr(scoring, "packable", lambda model: False)  # the cache path shares nothing across items
    monkeypatch.setattr(forward, "packable", lambda model: False)
    assert scoring.prefix_groups(model, items(4), "causal", 2048) == []


# ----------------------------------------------------------------------------- the harness's rules


def test_trailing_context_spaces_move_to_the_continuation(tiny):
    _, tok = tiny["tiny-causal"]
    for arch in ("causal", "seq2seq"):
        moved = scoring.encode_request(tok, "Question: 2 + 2?\nAnswer: ", " 4", arch)
        assert moved == scoring.encode_request(tok, "Question: 2 + 2?\nAnswer:", "  4", arch)
        assert moved[0] == tok.encode("Question: 2 + 2?\nAnswer:")


def test_causal_continuation_is_the_whole_encoding_past_the_context(tiny):
    _, tok = tiny["tiny-causal"]
    ctx, cont = scoring.encode_request(tok, "Hello wor", "ld", "causal")
    assert ctx == tok.encode("Hello wor")
    assert cont == tok.encode("Hello world")[len(ctx) :]
    # seq2seq encodes the continuation on its own, without special tokens
    assert scoring.encode_request(tok, "Hello wor", "ld", "seq2seq") == (
        ctx,
        tok.encode("ld", add_special_tokens=False),
    )


def test_empty_context_is_the_prefix_token(tiny):
    _, tok = tiny["tiny-causal"]
    prefix = scoring.prefix_token_id(tok)
    assert prefix == tok.bos_token_id
    sent = "Old neighbours fixed the fence."
    assert scoring.encode_request(tok, "", sent, "causal") == ([prefix], tok.encode(sent, add_special_tokens=False))
    # a continuation that already starts with the prefix token gives up that token as the context
    ctx, cont = scoring.encode_request(tok, "", tok.bos_token + sent, "causal")
    assert (ctx, cont) == ([prefix], tok.encode(sent, add_special_tokens=False))


def test_acc_norm_divides_by_characters_and_acc_bytes_by_utf8_bytes():
    rec = {"id": "a", "context": "c", "choices": ["é", "ab", "abcd"], "label": 1}
    # per character: -1.5, -1.25, -1.5; per byte (2, 2, 4): -0.75, -1.25, -0.75
    res = scoring.item_result(rec, "mc", [-1.5, -2.5, -6.0])
    assert (res["pred"], res["pred_norm"], res["pred_bytes"]) == (0, 1, 0)
    assert (res["correct"], res["correct_norm"], res["correct_bytes"]) == (False, True, False)
    # partial: the harness's choices are the contexts, so acc_norm divides by their lengths
    part = {"id": "p", "contexts": ["The long option", "Short"], "continuation": "ends.", "label": 1}
    assert scoring.item_result(part, "partial", [-3.0, -2.0])["pred_norm"] == 0


def test_pair_metrics_follow_crows_pairs():
    rows = [{"id": str(i), "sent_more": "a", "sent_less": "b", "bias_type": "age"} for i in range(3)]
    lls = [[-1.0, -2.0], [-3.0, -1.0], [-2.0, -2.0]]
    per_item = [scoring.item_result(r, "pair", ll) for r, ll in zip(rows, lls, strict=True)]
    summary = scoring.summarise("pair", per_item)
    assert summary["pct_stereotype"] == pytest.approx(1 / 3)  # a tie is not a stereotyped choice
    assert summary["likelihood_diff"] == pytest.approx(1.0)


def test_record_kind_is_inferred_from_the_fields(tmp_path):
    assert [scoring.infer_kind(FIXTURES / f"{k}.jsonl") for k in KINDS] == list(KINDS)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('\n{"id": "x", "text": "no kind here"}\n')
    with pytest.raises(RecordError, match=f"{bad}:2: cannot tell the record kind"):
        scoring.infer_kind(bad)


# ----------------------------------------------------------------------------- agreement with the harness


def _harness_tasks() -> list[dict]:
    """Task configs mirroring the harness's own: mc as a plain multiple_choice task, partial as its
    winogrande (doc_to_text gives the label: one context per choice), pair as crows_pairs_english."""
    from lm_eval.tasks.crows_pairs import utils as crows

    def task(kind: str, **config) -> dict:
        data = {"data_files": {"test": str(FIXTURES / f"{kind}.jsonl")}}
        return {"task": f"cf_{kind}", "dataset_path": "json", "dataset_kwargs": data, "test_split": "test",
                "output_type": "multiple_choice", **config}  # fmt: skip

    def metrics(*names):
        return [{"metric": m, "aggregation": "mean", "higher_is_better": m != "likelihood_diff"} for m in names]

    return [
        task("mc", doc_to_text=lambda d: d["context"], doc_to_choice=lambda d: d["choices"],
             doc_to_target=lambda d: d["label"], metric_list=metrics("acc", "acc_norm", "acc_bytes")),
        task("partial", doc_to_text=lambda d: d["label"], doc_to_choice=lambda d: d["contexts"],
             doc_to_target=lambda d: d["continuation"], metric_list=metrics("acc", "acc_norm")),
        task("pair", doc_to_text="", doc_to_target=0, doc_to_choice=crows.doc_to_choice, target_delimiter="",
             process_results=crows.process_results, metric_list=metrics("pct_stereotype", "likelihood_diff")),
    ]  # fmt: skip


def run_harness(checkpoint, backend: str, limit: int | None = None, batch_size: int = 16) -> dict:
    """{kind: (harness metrics, its per-sample records in file order)} from ``lm_eval.simple_evaluate``."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(checkpoint), backend=backend, device="cpu", batch_size=batch_size, dtype="float32")
    out = lm_eval.simple_evaluate(model=lm, tasks=_harness_tasks(), limit=limit, log_samples=True,
                                  bootstrap_iters=0, verbosity="ERROR")  # fmt: skip
    return {k: (out["results"][f"cf_{k}"], sorted(out["samples"][f"cf_{k}"], key=lambda s: s["doc_id"])) for k in KINDS}


def assert_agrees(harness: dict, ours: dict, kind: str, records: list[dict]) -> dict:
    """Same requests, same chosen answer on >= 99% of items, metrics within 0.5 points; returns the numbers."""
    metrics, samples = harness[kind]
    per_item = ours[kind][1]
    assert len(samples) == len(per_item)
    theirs = [[resp[0] for resp in s["filtered_resps"]] for s in samples]
    for rec, sample in zip(records, samples, strict=True):
        assert [tuple(a) for a in sample["arguments"]] == scoring.text_requests(rec, kind)
    if kind == "pair":
        same = [(a[0] > a[1]) == r["stereotype"] for a, r in zip(theirs, per_item, strict=True)]
        names = ("pct_stereotype", "likelihood_diff")
    else:
        same = [int(np.argmax(a)) == r["pred"] for a, r in zip(theirs, per_item, strict=True)]
        names = ("acc", "acc_norm") + (("acc_bytes",) if kind == "mc" else ())
    summary = scoring.summarise(kind, per_item)
    ours_ll = [r["loglikelihoods"] for r in per_item]
    diff = float(np.abs(np.array(sum(theirs, [])) - np.array(sum(ours_ll, []))).max())
    numbers = {"same_answer": sum(same) / len(same), "max_abs_loglik_diff": diff,
               **{m: (metrics[f"{m},none"], summary[m]) for m in names}}  # fmt: skip
    logging.getLogger(__name__).info("harness agreement %s: %s", kind, numbers)
    assert numbers["same_answer"] >= 0.99, numbers
    for m in names:
        assert abs(metrics[f"{m},none"] - summary[m]) <= 0.005 + 1e-9, (m, numbers)
    return numbers


def test_agrees_with_lm_evaluation_harness_causal(tiny):
    model, tok = tiny["tiny-causal"]
    harness = run_harness(models.checkpoint_dir("tiny-causal"), "causal")
    ours = {k: scoring.score_file(model, tok, FIXTURES / f"{k}.jsonl", arch="causal", batch_size=8) for k in KINDS}
    for kind in KINDS:
        numbers = assert_agrees(harness, ours, kind, _records(kind))
        assert numbers["max_abs_loglik_diff"] < 1e-3


def test_agrees_with_lm_evaluation_harness_seq2seq(tiny):
    model, tok = tiny["tiny-seq2seq"]
    limit = 12
    harness = run_harness(models.checkpoint_dir("tiny-seq2seq"), "seq2seq", limit=limit)
    for kind in KINDS:
        records = _records(kind)[:limit]
        ours = {kind: scoring.score_records(model, tok, records, kind, arch="seq2seq", batch_size=8)}
        assert assert_agrees(harness, ours, kind, records)["max_abs_loglik_diff"] < 1e-3


# ----------------------------------------------------------------------------- cf-eval


def _write_records(path, lines: list[str]):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_cli_rejects_a_malformed_record_naming_file_and_line(tmp_path, capsys):
    good = (FIXTURES / "mc.jsonl").read_text(encoding="utf-8").splitlines()[0]
    bad = _write_records(tmp_path / "bad.jsonl", [good, '{"id": "x", "context": "c", "choices": ["a", "b"]}'])
    out = tmp_path / "out.json"
    code = cf_eval.main(["--model", "tiny-causal", "--mc", str(FIXTURES / "pair.jsonl"), str(bad), "--json", str(out)])
    assert code == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    assert not out.exists()


def test_cli_prints_and_writes_json(tmp_path, capsys, tiny):
    lines = {k: (FIXTURES / f"{k}.jsonl").read_text(encoding="utf-8").splitlines()[:5] for k in KINDS}
    files = [_write_records(tmp_path / f"small_{k}.jsonl", lines[k]) for k in KINDS]
    out, preds = tmp_path / "scores" / "out.json", tmp_path / "preds.json"
    args = ["--model", "tiny-causal", "--mc", *map(str, files), "--batch-size", "4", "--json", str(out)]
    assert cf_eval.main([*args, "--predictions", str(preds)]) == 0
    printed = capsys.readouterr().out
    assert all(f"small_{k}" in printed for k in KINDS) and "items/s" in printed
    got = json.loads(out.read_text())
    assert set(got) == {f"small_{k}" for k in KINDS}
    model, tok = tiny["tiny-causal"]
    for kind, path in zip(KINDS, files, strict=True):
        entry = got[path.stem]
        summary, per_item = scoring.score_file(model, tok, path, arch="causal")
        answer = "stereotype" if kind == "pair" else "pred"
        assert json.loads(preds.read_text())[path.stem] == [r[answer] for r in per_item]
        keys = ("pct_stereotype", "likelihood_diff") if kind == "pair" else ("acc", "acc_norm")
        assert set(entry) == {*keys, "n", "items_per_s"} and entry["n"] == 5 and entry["items_per_s"] > 0
        assert all(entry[k] == pytest.approx(summary[k]) for k in keys)


def test_cli_adapter_zero_init_lora_leaves_scores_unchanged(tmp_path):
    from peft import get_peft_model

    adapter = tmp_path / "adapter"
    get_peft_model(models.build_tiny("tiny-causal"), models.lora_config("tiny-causal")).save_pretrained(adapter)
    records = _write_records(tmp_path / "mc5.jsonl", (FIXTURES / "mc.jsonl").read_text().splitlines()[:5])
    outs = {}
    for name, extra in (("base", []), ("lora", ["--adapter", str(adapter)])):
        outs[name] = tmp_path / f"{name}.json"
        assert cf_eval.main(["--model", "tiny-causal", *extra, "--mc", str(records), "--json", str(outs[name])]) == 0
    base, lora = (json.loads(outs[k].read_text())["mc5"] for k in ("base", "lora"))
    assert (lora["acc"], lora["acc_norm"]) == (base["acc"], base["acc_norm"])


def test_cli_unloadable_model_is_a_clear_error(tmp_path, capsys):
    code = cf_eval.main(["--model", str(tmp_path / "no-such-model"), "--mc", str(FIXTURES / "pair.jsonl")])
    assert code == 1
    assert "could not load" in capsys.readouterr().err


# ----------------------------------------------------------------------------- a real model


@pytest.mark.slow
def test_every_offline_benchmark_agrees_with_the_harness_item_for_item_on_a_real_model():
    """SmolLM2-135M-Instruct on the fixtures, which hold the first items of every offline benchmark (ARC-Easy,
    BoolQ, PIQA, HellaSwag, SciQ, LogiQA, MMLU 5-shot, WinoGrande, CrowS-Pairs): the same requests, the same
    answer on >= 99% of items, the metrics within 0.5 points (``assert_agrees``)."""
    name = "smollm2-135m-instruct"
    model, tok = models.load_model(name, method="full", device="cpu"), models.load_tokenizer(name)
    harness = run_harness(models.checkpoint_dir(name), "causal", batch_size=8)
    ours = {k: scoring.score_file(model, tok, FIXTURES / f"{k}.jsonl", arch="causal", batch_size=8) for k in KINDS}
    for kind in KINDS:
        numbers = assert_agrees(harness, ours, kind, _records(kind))
        assert numbers["same_answer"] == 1.0 and numbers["max_abs_loglik_diff"] < 1e-2, numbers


@pytest.mark.slow
def test_packed_path_on_gemma3_equals_naive():
    # Gemma 3 (BOS-adding tokenizer, sliding-window layers) is the other architecture the packed path is declared for.
    name = "gemma3-270m"
    model, tok = models.load_model(name, method="full", device="cpu"), models.load_tokenizer(name)
    assert forward.packable(model)
    items = [item for kind in KINDS for item in _items(tok, _short_subset(_records(kind))[:6], kind, "causal")]
    items += _kshot_items(tok, subjects=2, per_subject=2, shots=2)  # short enough for the 512-token window
    max_len = scoring.max_length(model, tok)
    assert len(scoring.prefix_groups(model, items, "causal", max_len)) == 2
    fast = scoring.loglik(model, items, "causal", max_len=max_len, batch_size=4)
    _assert_close(fast, [forward.loglik_naive(model, item, "causal", max_len) for item in items])


@pytest.mark.slow
def test_windowed_path_on_gemma3_equals_naive():
    # 12-shot items (410-730 tokens): a batch holding one could reach Gemma-3's 512-token sliding window.
    name = "gemma3-270m"
    model, tok = models.load_model(name, method="full", device="cpu"), models.load_tokenizer(name)
    items = _kshot_items(tok, subjects=2, per_subject=2, shots=12)
    max_len = scoring.max_length(model, tok)
    groups = scoring.windowed_groups(model, items, "causal", max_len)
    assert sorted(sorted(m) for _, m in groups) == [[0, 2], [1, 3]]
    fast = scoring.loglik(model, items, "causal", max_len=max_len, batch_size=4)
    _assert_close(fast, [forward.loglik_naive(model, item, "causal", max_len) for item in items])
