"""The continual tasks' own metrics (the paper's Table 3): SARI, BLEU, ROUGE.

BLEU comes from sacrebleu and ROUGE from rouge-score (Google's reimplementation of ROUGE-1.5.5).
SARI (Xu et al., TACL 2016) is written here: its reference implementations are a script in the
authors' repository and a metric script hosted on the Hugging Face hub (evaluate's "sari"), neither
installable offline. We follow the evaluate/tensor2tensor variant (4-grams, 0/0 = 1, the fixed keep
score) and test it on that metric card's published example.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from cf_utils.study import EMDG, EXP, HGEN, INQQG, SIMP

# task -> (metric name, higher is better). Continual-T0 scored Simp with SARI, HGen with ROUGE, and
# the other generation tasks with BLEU; we add ROUGE-L to every task as a second view.
TASK_METRICS = {SIMP: "sari", EMDG: "bleu", INQQG: "bleu", EXP: "bleu", HGEN: "rouge1"}


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else 1.0  # evaluate's convention: 0/0 counts as a perfect score


def _sari_ngram(src: Counter, pred: Counter, refs: list[Counter]) -> tuple[float, float, float]:
    """(keep F1, delete precision, add F1) for one n-gram order, reference counts weighted as in SARI."""
    nref = len(refs)
    ref_all: Counter = Counter()
    for r in refs:
        ref_all.update(r)
    src_rep = Counter({g: c * nref for g, c in src.items()})
    pred_rep = Counter({g: c * nref for g, c in pred.items()})

    keep_pred = src_rep & pred_rep
    keep_good = keep_pred & ref_all
    keep_all = src_rep & ref_all
    keep_p = _ratio(sum(keep_good[g] / keep_pred[g] for g in keep_good), len(keep_pred))
    keep_r = _ratio(sum(keep_good.values()), sum(keep_all.values()))  # the fixed recall (cocoxu issue 6)
    keep_f = 2 * keep_p * keep_r / (keep_p + keep_r) if keep_p + keep_r > 0 else 0.0

    del_pred = src_rep - pred_rep
    del_good = del_pred - ref_all
    del_p = _ratio(sum(del_good[g] / del_pred[g] for g in del_good), len(del_pred))

    add_pred = set(pred) - set(src)
    add_good = add_pred & set(ref_all)
    add_all = set(ref_all) - set(src)
    add_p = _ratio(len(add_good), len(add_pred))
    add_r = _ratio(len(add_good), len(add_all))
    add_f = 2 * add_p * add_r / (add_p + add_r) if add_p + add_r > 0 else 0.0
    return keep_f, del_p, add_f


def _tokens(text: str) -> list[str]:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    # evaluate's SARI lowercases and tokenises with sacrebleu's 13a tokenizer
    return Tokenizer13a()(text.lower()).split()


def sari_sentence(source: str, prediction: str, references: list[str]) -> float:
    """SARI of one sentence, in [0, 100]."""
    src, pred, refs = _tokens(source), _tokens(prediction), [_tokens(r) for r in references]
    scores = [_sari_ngram(_ngrams(src, n), _ngrams(pred, n), [_ngrams(r, n) for r in refs]) for n in range(1, 5)]
    keep, delete, add = (sum(s[i] for s in scores) / 4 for i in range(3))
    return 100 * (keep + delete + add) / 3


def sari(sources: list[str], predictions: list[str], references: list[list[str]]) -> float:
    """Corpus SARI: the mean of sentence scores (as evaluate's sari computes it)."""
    return sum(map(sari_sentence, sources, predictions, references)) / len(predictions)


def bleu(predictions: list[str], references: list[list[str]]) -> float:
    """Corpus BLEU-4 (sacrebleu defaults); references may differ in number per item."""
    import sacrebleu

    width = max(len(r) for r in references)
    streams = [[r[i] if i < len(r) else r[0] for r in references] for i in range(width)]  # pad with the first
    return sacrebleu.corpus_bleu(predictions, streams).score


def rouge(predictions: list[str], references: list[list[str]], kind: str = "rougeL") -> float:
    """Mean best-reference ROUGE F1 (rouge-score, stemmed), in [0, 100]."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer([kind], use_stemmer=True)
    best = [
        max(scorer.score(r, p)[kind].fmeasure for r in refs) for p, refs in zip(predictions, references, strict=True)
    ]
    return 100 * sum(best) / len(best)


def task_scores(task: str, predictions: list[str], records: list[dict]) -> dict[str, float]:
    """The task's own metric plus ROUGE-L, from eval records (``references``, ``source`` for SARI)."""
    refs = [r["references"] for r in records]
    primary = TASK_METRICS[task]
    if primary == "sari":
        value = sari([r["source"] for r in records], predictions, refs)
    elif primary == "bleu":
        value = bleu(predictions, refs)
    else:
        value = rouge(predictions, refs, primary)
    return {primary: value, "rougeL": rouge(predictions, refs)}


# ---------------------------------------------------------------- per-item statistics (bootstrap CIs)
# A task's own metric is a corpus statistic. For a CI on a stage's gain (claim 7) the held-out items are
# resampled and the metric recomputed, which needs each item's share of it: its sentence SARI or
# ROUGE (the corpus value is their mean), or its BLEU sufficient statistics (the corpus BLEU is a
# function of their sums: hypothesis and reference lengths, matched and total n-grams for n = 1..4).
BLEU_STATISTICS = ("sys_len", "ref_len", "correct_1", "correct_2", "correct_3", "correct_4",
                   "total_1", "total_2", "total_3", "total_4")  # fmt: skip


def statistic_names(task: str) -> tuple[str, ...]:
    primary = TASK_METRICS[task]
    return BLEU_STATISTICS if primary == "bleu" else (primary,)


def item_statistics(task: str, predictions: list[str], records: list[dict]) -> list[list[float]]:
    """One row per item: what the task's corpus metric is computed from (``statistic_names``)."""
    primary = TASK_METRICS[task]
    refs = [r["references"] for r in records]
    if primary == "sari":
        return [[sari_sentence(r["source"], p, rs)] for r, p, rs in zip(records, predictions, refs, strict=True)]
    if primary == "bleu":
        import sacrebleu

        rows = []
        for p, rs in zip(predictions, refs, strict=True):
            s = sacrebleu.corpus_bleu([p], [[r] for r in rs])
            rows.append([s.sys_len, s.ref_len, *s.counts, *s.totals])
        return rows
    return [[rouge([p], [rs], primary)] for p, rs in zip(predictions, refs, strict=True)]


def corpus_metric(task: str, stats: np.ndarray) -> np.ndarray:
    """The corpus metric from item statistics (..., items, statistics): one value per leading index."""
    if TASK_METRICS[task] != "bleu":
        return stats[..., 0].mean(axis=-1)
    from sacrebleu.metrics import BLEU

    sums = stats.sum(axis=-2).reshape(-1, len(BLEU_STATISTICS))
    # sacrebleu.corpus_bleu's defaults: exponential smoothing of zero n-gram matches
    values = [BLEU.compute_bleu(list(s[2:6]), list(s[6:10]), int(s[0]), int(s[1]), "exp").score for s in sums]
    return np.asarray(values).reshape(stats.shape[:-2])
