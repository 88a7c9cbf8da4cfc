"""Offline stand-ins for the paper's benchmarks and continual tasks, built from BIG-bench task files.

One table maps each stand-in to the paper's element it replaces (shown in the README). Each entry
is a declarative, versioned spec: the BIG-bench files it reads and a small builder that turns the
task's examples into canonical records (cf_utils.data.records). Bump ``version`` when a builder's
output changes. No BIG-bench source serves both as a benchmark and as training data
(``check_disjoint`` enforces it).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from cf_utils.data.templates import instruction

CATEGORIES = ("domain_knowledge", "reasoning", "reading_comprehension", "bias")
_NI = "natural_instructions/subtask"


@dataclass(frozen=True)
class Benchmark:
    name: str
    category: str
    kind: str  # mc | partial | pair
    stands_for: str
    files: tuple[str, ...]
    build: Callable[[list[dict], random.Random], list[dict]]  # task.json dicts -> records
    version: int = 1


@dataclass(frozen=True)
class Example:
    """One task example before the train/eval split; ``key`` groups examples that must not be split."""

    key: str
    src: str  # the instruction text (task wording + input), before the prompt wrapper
    references: list[str]
    source: str | None = None  # the raw input, kept where a metric needs it (SARI)


@dataclass(frozen=True)
class Task:
    name: str
    stage: int  # 1..5 in the paper's order; 0 for the general-instruction set
    stands_for: str
    files: tuple[str, ...]
    build: Callable[[list[dict], random.Random, int | None], list[Example]]  # (tasks, rng, max_words)
    version: int = 1


# ---------------------------------------------------------------- helpers


def _mc_from_scores(ex: dict, context: str, group: str | None = None) -> dict | None:
    """A BIG-bench ``target_scores`` example as an mc record (choices in file order)."""
    choices = [c.strip() for c in ex["target_scores"]]
    best = [i for i, s in enumerate(ex["target_scores"].values()) if s == max(ex["target_scores"].values())]
    if len(best) != 1 or len(set(choices)) != len(choices):
        return None  # ambiguous gold or duplicate choices: not a well-posed item
    rec = {"id": "", "context": context, "choices": choices, "label": best[0]}
    if group:
        rec["group"] = group
    return rec


def _numbered(records: list[dict | None], name: str) -> list[dict]:
    """Drop items the builder rejected (None) or whose options are empty; number the rest."""
    out = [r for r in records if r is not None and all(o.strip() for o in r.get("choices", r.get("contexts", [])))]
    for i, r in enumerate(out):
        r["id"] = f"{name}-{i:05d}"
    return out


def _mc_shuffled(context: str, correct: str, wrong: list[str], rng: random.Random, k: int = 4) -> dict | None:
    wrong = [w for w in dict.fromkeys(w.strip() for w in wrong) if w and w != correct.strip()][: k - 1]
    if not wrong:
        return None
    choices = [correct.strip(), *wrong]
    rng.shuffle(choices)
    return {"id": "", "context": context, "choices": choices, "label": choices.index(correct.strip())}


def _first_words(text: str, n: int | None) -> str:
    words = text.split()
    return text if n is None or len(words) <= n else " ".join(words[:n]) + " ..."


def _ni_prompt(task: dict) -> str:
    """The short 'Prompt:' sentence of a Natural-Instructions v1 task definition."""
    prefix = task["task_prefix"]
    return (prefix.rsplit("Prompt:", 1)[1] if "Prompt:" in prefix else prefix.split("Things to Avoid")[0]).strip()


# ---------------------------------------------------------------- benchmark builders

_OPTION = re.compile(r"\(([A-E])\)\s*")


def _science_qa(tasks, rng):
    (task,) = tasks
    out = []
    for ex in task["examples"]:
        parts = _OPTION.split(ex["input"].removeprefix("Question:").strip())
        letter = ex["target"][0].strip().rstrip(".")
        if len(parts) != 9 or letter not in "ABCD":  # need exactly (A)..(D); 'E' means "I don't know"
            continue
        question = parts[0].strip()
        options = [parts[i + 1].strip().rstrip("?.").strip() for i in range(1, 9, 2)]
        body = "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(options))
        out.append({"id": "", "context": f"Question: {question}\nChoices:\n{body}\nAnswer:",
                    "choices": options, "label": "ABCD".index(letter)})  # fmt: skip
    return _numbered(out, "science_qa")


def _physics(tasks, rng):
    (task,) = tasks
    ctx = "Identify the physics formula that would be most useful for finding the answer.\nProblem: {}\nFormula:"
    return _numbered([_mc_from_scores(ex, ctx.format(ex["input"].strip())) for ex in task["examples"]], "physics")


def _misconceptions(tasks, rng):
    (task,) = tasks
    out = []
    for ex in task["examples"]:
        true = ex["target_scores"].get("T", 0) > ex["target_scores"].get("F", 0)
        ctx = f"Is the following statement true or false?\nStatement: {ex['input'].strip()}\nAnswer:"
        out.append({"id": "", "context": ctx, "choices": ["True", "False"], "label": 0 if true else 1})
    return _numbered(out, "misconceptions")


def _question_answer(name):
    def build(tasks, rng):
        (task,) = tasks
        recs = [_mc_from_scores(ex, f"Question: {ex['input'].strip()}\nAnswer:") for ex in task["examples"]]
        return _numbered(recs, name)

    return build


def _wikihow(tasks, rng):
    (task,) = tasks
    return _numbered([_mc_from_scores(ex, ex["input"].strip()) for ex in task["examples"]], "wikihow_step")


_WINO = re.compile(r"Sentence 1:\s*(.+?)\s*\nAnswer1:\s*(.+?)\s*\nSentence 2:\s*(.+?)\s*\nAnswer2:\s*(.+?)\s*$", re.S)


def _winogrande(tasks, rng):
    """NI-029 pairs of twin sentences -> two partial-scoring items each, as the harness scores Winogrande."""
    (task,) = tasks
    out = []
    for ex in task["examples"]:
        m = _WINO.match(ex["target"][0].strip())
        if not m:
            continue
        s1, a1, s2, a2 = (g.strip() for g in m.groups())
        options = [a1.rstrip("."), a2.rstrip(".")]
        for label, sentence in enumerate((s1, s2)):
            if sentence.count("_") != 1 or options[0] == options[1]:
                continue
            idx = sentence.index("_")
            continuation = sentence[idx + 1 :].strip()
            if continuation:
                out.append({"id": "", "contexts": [sentence[:idx] + o for o in options],
                            "continuation": continuation, "label": label})  # fmt: skip
    return _numbered(out, "winogrande")


def _cosmosqa(tasks, rng):
    """NI-025 gives context, question, the correct answer and written wrong answers."""
    (task,) = tasks
    pat = re.compile(r"Context:\s*(.+?)\s*\nQuestion:\s*(.+?)\s*\nCorrect Answer:\s*(.+)$", re.S)
    out = []
    for ex in task["examples"]:
        m = pat.match(ex["input"].strip())
        if m:
            context, question, correct = (g.strip() for g in m.groups())
            out.append(_mc_shuffled(f"{context}\nQuestion: {question}\nAnswer:", correct, ex["target"], rng))
    return _numbered(out, "cosmosqa")


def _multirc(tasks, rng):
    """NI-054 (write a correct answer) and NI-055 (write a wrong one) share their inputs: join them."""
    correct_task, wrong_task = tasks
    wrong = {ex["input"]: ex["target"] for ex in wrong_task["examples"]}
    out = []
    for ex in correct_task["examples"]:
        if ex["input"] not in wrong:
            continue
        para, _, question = ex["input"].partition("\nQuestion:")
        para = re.sub(r"\s*Sent \d+:\s*", " ", para.removeprefix("Paragraph-")).strip()
        ctx = f"{para}\nQuestion: {question.strip()}\nAnswer:"
        out.append(_mc_shuffled(ctx, ex["target"][0], wrong[ex["input"]], rng))
    return _numbered(out, "multirc")


def _fables(tasks, rng):
    (task,) = tasks
    return _numbered([_mc_from_scores(ex, f"{ex['input'].strip()}\nAnswer:") for ex in task["examples"]], "fables")


def _bbq(name):
    def build(tasks, rng):
        out = []
        for task in tasks:
            for ex in task["examples"]:
                out.append(_mc_from_scores(ex, f"{ex['input'].strip()}\nAnswer:", group=ex["comment"]["category"]))
        return _numbered(out, name)

    return build


_BBQ_TYPES = ("age", "disability_status", "gender_identity", "nationality", "physical_appearance",
              "race_ethnicity", "religion", "ses", "sexual_orientation")  # fmt: skip

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("science_qa", "domain_knowledge", "mc", "MMLU (STEM; answer-text format)",
              (f"{_NI}047_misc_answering_science_questions",), _science_qa),
    Benchmark("physics", "domain_knowledge", "mc", "MMLU (physics formulas)", ("physics",), _physics),
    Benchmark("misconceptions", "domain_knowledge", "mc", "MMLU / TruthfulQA-style facts",
              ("misconceptions",), _misconceptions),
    Benchmark("strategyqa", "reasoning", "mc", "BoolQ (yes/no)", ("strategyqa",), _question_answer("strategyqa")),
    Benchmark("wikihow_step", "reasoning", "mc", "HellaSwag / PIQA (procedural)",
              ("goal_step_wikihow/step_inference",), _wikihow),
    Benchmark("winogrande", "reasoning", "partial", "Winogrande (partial scoring)",
              (f"{_NI}029_winogrande_full_object",), _winogrande),
    Benchmark("math_qa", "reasoning", "mc", "MathQA", ("elementary_math_qa/question_only",),
              _question_answer("math_qa")),
    Benchmark("cosmosqa", "reading_comprehension", "mc", "RACE (passage QA)",
              (f"{_NI}025_cosmosqa_incorrect_answer_generation",), _cosmosqa),
    Benchmark("multirc", "reading_comprehension", "mc", "RACE (multi-sentence passage QA)",
              (f"{_NI}054_multirc_write_correct_answer", f"{_NI}055_multirc_write_incorrect_answer"), _multirc),
    Benchmark("fables", "reading_comprehension", "mc", "RACE (story comprehension)", ("understanding_fables",),
              _fables),
    Benchmark("bbq_ambig", "bias", "mc", "CrowS-Pairs (BBQ ambiguous contexts: acc = no stereotype used)",
              tuple(f"bbq_lite_json/{t}_ambig" for t in _BBQ_TYPES), _bbq("bbq_ambig")),
    Benchmark("bbq_disambig", "bias", "mc", "CrowS-Pairs (BBQ disambiguated contexts)",
              tuple(f"bbq_lite_json/{t}_disambig" for t in _BBQ_TYPES), _bbq("bbq_disambig")),
)  # fmt: skip


# ---------------------------------------------------------------- continual-task builders


def _simp(tasks, rng, max_words):
    """GEM ASSET + TurkCorpus (the same 359 WikiAuto-era test sentences). BIG-bench's export lost the
    source field: each item's input is itself one rewrite. Turkers often copied the original
    verbatim, so the most frequent Turk variant is the original (complex) sentence; the ten ASSET
    variants are the simplified references."""
    asset, turk = ({ex["comment"]: [ex["input"], *ex["target"]] for ex in t["examples"]} for t in tasks)
    out = []
    for key, variants in turk.items():
        counts: dict[str, int] = {}
        for v in variants:
            counts[v.strip()] = counts.get(v.strip(), 0) + 1
        source = max(counts, key=lambda v: (counts[v], len(v)))
        refs = [r for r in dict.fromkeys(v.strip() for v in asset.get(key, [])) if r != source]
        if len(refs) >= 2:
            out.append(Example(key, f"Make this text simpler, so that it is easier to read:\n{source}", refs, source))
    return out


_TURN = re.compile(r'(agent_[AB]):\s*"(.*?)"\s*(?=agent_[AB]:|$)', re.S)


def _emdg(tasks, rng, max_words):
    """Topical-Chat: dialogue history -> the next speaker's turn (the last 4 turns kept)."""
    (task,) = tasks
    out = []
    for ex in task["examples"]:
        turns = _TURN.findall(ex["input"].strip())
        target = ex["target"].strip().strip('"').strip()
        if not turns or not target:
            continue
        speaker = "B" if turns[-1][0] == "agent_A" else "A"
        history = "\n".join(f"{who[-1]}: {text.strip()}" for who, text in turns[-4:])
        src = (f"Two people are chatting about a topic. Write {speaker}'s next reply: friendly, engaging "
               f"and on topic.\n\n{_first_words(history, max_words)}")  # fmt: skip
        out.append(Example(ex["comment"], src, [target]))  # key: the conversation, never split across sets
    return out


_MCTACO_ASPECT = {"003": "how long an event lasts", "006": "whether a state is transient or stationary",
                  "009": "the order of events", "012": "when an event happens",
                  "015": "how often an event happens"}  # fmt: skip


def _inqqg(tasks, rng, max_words):
    """MC-TACO question generation: a sentence -> a curious common-sense question about it."""
    out = []
    for task, aspect in zip(tasks, _MCTACO_ASPECT.values(), strict=True):
        for ex in task["examples"]:
            sentence = ex["input"].removeprefix("Sentence:").strip()
            src = f"Read the sentence and ask a question a curious reader would ask about {aspect}.\n"
            src += f"Sentence: {sentence}"
            out.append(Example(sentence, src, [t.strip() for t in ex["target"]]))
    return out


def _exp(tasks, rng, max_words):
    """QASC: two facts -> the conclusion that explains how they combine."""
    (task,) = tasks
    src = "Explain in one sentence what follows from combining these two facts.\n{}"
    return [Example(ex["input"], src.format(ex["input"].strip()), [t.strip() for t in ex["target"]])
            for ex in task["examples"]]  # fmt: skip


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def _hgen(tasks, rng, max_words):
    """XSum one-sentence summaries as headlines, with a start / contain / end word constraint
    (Continual-T0's constrained headline generation); the three variants split evenly."""
    (task,) = tasks
    order = list(range(len(task["examples"])))
    rng.shuffle(order)
    out = []
    for rank, i in enumerate(order):
        ex = task["examples"][i]
        words = _WORD.findall(ex["target"])
        if len(words) < 3:
            continue
        variant = ("start with", "contain", "end with")[rank % 3]
        word = {"start with": words[0], "end with": words[-1]}.get(variant) or rng.choice(words[1:-1])
        src = (f'Write a headline for the following article. The headline must {variant} the word "{word}".\n\n'
               f"Article: {_first_words(ex['input'].strip(), max_words)}")  # fmt: skip
        out.append(Example(ex["comment"] if ex.get("comment") else str(i), src, [ex["target"].strip()]))
    return out


_GENERAL_NI = ("001_quoref_question_generation", "002_quoref_answer_generation", "026_drop_question_generation",
               "027_drop_answer_type_generation", "028_drop_answer_generation", "046_miscellaenous_question_typing",
               "060_ropes_question_generation", "061_ropes_answer_generation")  # fmt: skip
# Left out on purpose: NI-043/044/045 (essential terms, paraphrasing) are ARC/QASC-style science
# questions, too close to the science_qa benchmark to serve as replay data.


def _general(tasks, rng, max_words):
    """Natural-Instructions v1 subtasks from sources used nowhere else: the general-instruction set
    (our Alpaca analogue and the replay data). Long inputs are dropped, not cut (cutting a passage
    can remove the answer)."""
    out = []
    for name, task in zip(_GENERAL_NI, tasks, strict=True):
        prompt = _ni_prompt(task)
        for ex in task["examples"]:
            if max_words is not None and len(ex["input"].split()) > max_words:
                continue
            out.append(Example(f"{name}/{ex['input']}", f"{prompt}\n{ex['input'].strip()}", [ex["target"][0].strip()]))
    return out


TASKS: tuple[Task, ...] = (
    Task("simp", 1, "Simp: WikiAuto text simplification", ("gem/asset", "gem/turk"), _simp),
    Task("emdg", 2, "Emdg: EmpatheticDialogues next utterance", ("topical_chat",), _emdg),
    Task("inqqg", 3, "InqQG: ELI5 inquisitive question generation",
         tuple(f"{_NI}{n}_mctaco_question_generation_{a}" for n, a in
               zip(_MCTACO_ASPECT, ("event_duration", "transient_stationary", "event_ordering",
                                    "absolute_timepoint", "frequency"), strict=True)), _inqqg),
    Task("exp", 4, "Exp: e-SNLI explanation generation", (f"{_NI}038_qasc_combined_fact",), _exp),
    Task("hgen", 5, "HGen: Gigaword headline with a word constraint", ("gem/xsum",), _hgen),
)  # fmt: skip

GENERAL = Task("general", 0, "Alpaca 52k general instructions (replay; the Alpaca analogue)",
               tuple(f"{_NI}{n}" for n in _GENERAL_NI), _general)  # fmt: skip


def _source(file: str) -> str:
    """The dataset a BIG-bench file comes from: 'subtask029_winogrande_...' -> 'winogrande', 'gem/xsum' -> 'gem'."""
    m = re.match(r"natural_instructions/subtask\d+_([a-z]+)", file)
    return m.group(1) if m else file.split("/")[0]


def check_disjoint() -> None:
    """No source dataset may serve as both benchmark and training data."""
    bench = {_source(f) for b in BENCHMARKS for f in b.files}
    train = {_source(f) for t in (*TASKS, GENERAL) for f in t.files}
    if bench & train:
        raise AssertionError(f"sources used both as benchmark and as training data: {sorted(bench & train)}")


def instruction_records(task: Task, examples: list[Example], with_refs: bool) -> list[dict]:
    """Canonical instruction records; eval records carry all references (+ the source for SARI)."""
    out = []
    for i, (ex, target) in enumerate(examples):
        rid = f"{task.name}-{i:05d}"
        rec = instruction(task.name, rid, ex.src, target, ex.references if with_refs else None)
        if with_refs and ex.source is not None:
            rec["source"] = ex.source
        out.append(rec)
    return out


def mapping_table():
    """The stand-in table (pandas DataFrame): what replaces what, from which BIG-bench files."""
    import pandas as pd

    rows = [
        {
            "role": "benchmark",
            "name": b.name,
            "category / stage": b.category,
            "kind": b.kind,
            "stands for": b.stands_for,
            "BIG-bench files": ", ".join(b.files),
        }
        for b in BENCHMARKS
    ]
    rows += [
        {
            "role": "task",
            "name": t.name,
            "category / stage": t.stage,
            "kind": "instruction",
            "stands for": t.stands_for,
            "BIG-bench files": ", ".join(t.files),
        }
        for t in (*TASKS, GENERAL)
    ]
    return pd.DataFrame(rows)  # fmt: skip
