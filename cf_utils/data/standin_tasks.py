"""Offline stand-ins for the continual tasks and the general set, built from BIG-bench task files.

Each builder turns its BIG-bench files into ``Example``s (the instruction text before the prompt
wrapper, and the references), followed by its spec: the same task types as Continual-T0, from
sources BIG-bench ships. cf_utils.data.prepare splits the examples by key and
cf_utils.data.standins wraps them into instruction records.

References: Scialom, Chakrabarty, Muresan 2022 (Continual-T0: Simp, Emdg, InqQG, Exp, HGen);
BIG-bench (Srivastava et al. 2022, ``bigbench==1.0.0``) and the Natural-Instructions v1 subtasks it
exports; Luo et al. 2023, arXiv 2308.08747, sections 3 and 5.4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cf_utils.data.bigbench import NI
from cf_utils.data.specs import BigBench, Task, in_study_order
from cf_utils.study import GENERAL_TASK


@dataclass(frozen=True)
class Example:
    """One task example before the train/eval split; ``key`` groups examples that must not be split."""

    key: str
    src: str  # the instruction text (task wording + input), before the prompt wrapper
    references: list[str]
    source: str | None = None  # the raw input, kept where a metric needs it (SARI)


def _first_words(text: str, n: int | None) -> str:
    words = text.split()
    return text if n is None or len(words) <= n else " ".join(words[:n]) + " ..."


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


SIMP = Task(
    name="simp",
    stands_for="Simp: WikiAuto text simplification",
    source=BigBench(("gem/asset", "gem/turk")),
    convert=_simp,
)

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


EMDG = Task(
    name="emdg",
    stands_for="Emdg: EmpatheticDialogues next utterance",
    source=BigBench(("topical_chat",)),
    convert=_emdg,
)

# NI subtask number -> (the temporal aspect the question asks about, the subtask's file suffix)
_MCTACO = {"003": ("how long an event lasts", "event_duration"),
           "006": ("whether a state is transient or stationary", "transient_stationary"),
           "009": ("the order of events", "event_ordering"),
           "012": ("when an event happens", "absolute_timepoint"),
           "015": ("how often an event happens", "frequency")}  # fmt: skip


def _inqqg(tasks, rng, max_words):
    """MC-TACO question generation: a sentence -> a curious common-sense question about it."""
    out = []
    for task, (aspect, _) in zip(tasks, _MCTACO.values(), strict=True):
        for ex in task["examples"]:
            sentence = ex["input"].removeprefix("Sentence:").strip()
            src = f"Read the sentence and ask a question a curious reader would ask about {aspect}.\n"
            src += f"Sentence: {sentence}"
            out.append(Example(sentence, src, [t.strip() for t in ex["target"]]))
    return out


INQQG = Task(
    name="inqqg",
    stands_for="InqQG: ELI5 inquisitive question generation",
    source=BigBench(tuple(f"{NI}{n}_mctaco_question_generation_{f}" for n, (_, f) in _MCTACO.items())),
    convert=_inqqg,
)


def _exp(tasks, rng, max_words):
    """QASC: two facts -> the conclusion that explains how they combine."""
    (task,) = tasks
    src = "Explain in one sentence what follows from combining these two facts.\n{}"
    return [Example(ex["input"], src.format(ex["input"].strip()), [t.strip() for t in ex["target"]])
            for ex in task["examples"]]  # fmt: skip


EXP = Task(
    name="exp",
    stands_for="Exp: e-SNLI explanation generation",
    source=BigBench((f"{NI}038_qasc_combined_fact",)),
    convert=_exp,
)

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


HGEN = Task(
    name="hgen",
    stands_for="HGen: Gigaword headline with a word constraint",
    source=BigBench(("gem/xsum",)),
    convert=_hgen,
)

_GENERAL_NI = ("001_quoref_question_generation", "002_quoref_answer_generation", "026_drop_question_generation",
               "027_drop_answer_type_generation", "028_drop_answer_generation", "046_miscellaenous_question_typing",
               "060_ropes_question_generation", "061_ropes_answer_generation")  # fmt: skip
# Left out on purpose: NI-043/044/045 (essential terms, paraphrasing) are ARC/QASC-style science
# questions, too close to the science_qa benchmark to serve as replay data.


def _ni_prompt(task: dict) -> str:
    """The short 'Prompt:' sentence of a Natural-Instructions v1 task definition."""
    prefix = task["task_prefix"]
    return (prefix.rsplit("Prompt:", 1)[1] if "Prompt:" in prefix else prefix.split("Things to Avoid")[0]).strip()


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


GENERAL = Task(
    name=GENERAL_TASK,
    stands_for="Alpaca 52k general instructions (replay; the Alpaca analogue)",
    source=BigBench(tuple(f"{NI}{n}" for n in _GENERAL_NI)),
    convert=_general,
)

TASKS = in_study_order((SIMP, EMDG, INQQG, EXP, HGEN))  # trained in cf_utils.study.TASKS's order
