"""Offline stand-ins for the paper's benchmarks, built from BIG-bench task files (profiles smoke, cpu).

Each builder turns the examples of its BIG-bench files into canonical records without ids
(cf_utils.data.records; None for an ill-posed item) and is followed by its spec, which says which
paper element it stands for. cf_utils.data.standins drops the rejected items and numbers the rest.
Grouped by the paper's categories (cf_utils.study.CATEGORIES), each element's prompt built the way
lm-evaluation-harness builds the element it stands for.

References: BIG-bench (Srivastava et al. 2022, ``bigbench==1.0.0``); Natural-Instructions v1
(Mishra et al. 2022), exported in BIG-bench; Luo et al. 2023, arXiv 2308.08747, section 3.
"""

from __future__ import annotations

import random
import re

from cf_utils.data.bigbench import NI
from cf_utils.data.specs import Benchmark, BigBench


def _mc_from_scores(ex: dict, context: str, group: str | None = None) -> dict | None:
    """A BIG-bench ``target_scores`` example as an mc record (choices in file order)."""
    choices = [c.strip() for c in ex["target_scores"]]
    best = [i for i, s in enumerate(ex["target_scores"].values()) if s == max(ex["target_scores"].values())]
    if len(best) != 1 or len(set(choices)) != len(choices):
        return None  # ambiguous gold or duplicate choices: not a well-posed item
    rec = {"context": context, "choices": choices, "label": best[0]}
    if group:
        rec["group"] = group
    return rec


def _mc_shuffled(context: str, correct: str, wrong: list[str], rng: random.Random, k: int = 4) -> dict | None:
    """An mc record from a correct answer and written wrong ones (deduplicated, at most k choices)."""
    wrong = [w for w in dict.fromkeys(w.strip() for w in wrong) if w and w != correct.strip()][: k - 1]
    if not wrong:
        return None
    choices = [correct.strip(), *wrong]
    rng.shuffle(choices)
    return {"context": context, "choices": choices, "label": choices.index(correct.strip())}


def _scored(template: str):
    """The builder of a ``target_scores`` task: each example's input, stripped, put into ``template``
    as the context; the choices and the gold as the file scores them."""

    def build(tasks, rng):
        return [_mc_from_scores(ex, template.format(ex["input"].strip())) for task in tasks for ex in task["examples"]]

    return build


# ---------------------------------------------------------------- domain knowledge

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
        out.append({"context": f"Question: {question}\nChoices:\n{body}\nAnswer:",
                    "choices": options, "label": "ABCD".index(letter)})  # fmt: skip
    return out


SCIENCE_QA = Benchmark(
    name="science_qa",
    category="domain_knowledge",
    kind="mc",
    stands_for="MMLU (STEM; answer-text format)",
    source=BigBench((f"{NI}047_misc_answering_science_questions",)),
    convert=_science_qa,
)


PHYSICS = Benchmark(
    name="physics",
    category="domain_knowledge",
    kind="mc",
    stands_for="MMLU (physics formulas)",
    source=BigBench(("physics",)),
    convert=_scored(
        "Identify the physics formula that would be most useful for finding the answer.\nProblem: {}\nFormula:"
    ),
)


def _misconceptions(tasks, rng):
    (task,) = tasks
    out = []
    for ex in task["examples"]:
        true = ex["target_scores"].get("T", 0) > ex["target_scores"].get("F", 0)
        ctx = f"Is the following statement true or false?\nStatement: {ex['input'].strip()}\nAnswer:"
        out.append({"context": ctx, "choices": ["True", "False"], "label": 0 if true else 1})
    return out


MISCONCEPTIONS = Benchmark(
    name="misconceptions",
    category="domain_knowledge",
    kind="mc",
    stands_for="MMLU / TruthfulQA-style facts",
    source=BigBench(("misconceptions",)),
    convert=_misconceptions,
)


# ---------------------------------------------------------------- reasoning

STRATEGYQA = Benchmark(
    name="strategyqa",
    category="reasoning",
    kind="mc",
    stands_for="BoolQ (yes/no)",
    source=BigBench(("strategyqa",)),
    convert=_scored("Question: {}\nAnswer:"),
)


WIKIHOW_STEP = Benchmark(
    name="wikihow_step",
    category="reasoning",
    kind="mc",
    stands_for="HellaSwag / PIQA (procedural)",
    source=BigBench(("goal_step_wikihow/step_inference",)),
    convert=_scored("{}"),
)

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
                out.append({"contexts": [sentence[:idx] + o for o in options], "continuation": continuation,
                            "label": label})  # fmt: skip
    return out


WINOGRANDE = Benchmark(
    name="winogrande",
    category="reasoning",
    kind="partial",
    stands_for="Winogrande (partial scoring)",
    source=BigBench((f"{NI}029_winogrande_full_object",)),
    convert=_winogrande,
)

MATH_QA = Benchmark(
    name="math_qa",
    category="reasoning",
    kind="mc",
    stands_for="MathQA",
    source=BigBench(("elementary_math_qa/question_only",)),
    convert=_scored("Question: {}\nAnswer:"),
)


# ---------------------------------------------------------------- reading comprehension


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
    return out


COSMOSQA = Benchmark(
    name="cosmosqa",
    category="reading_comprehension",
    kind="mc",
    stands_for="RACE (passage QA)",
    source=BigBench((f"{NI}025_cosmosqa_incorrect_answer_generation",)),
    convert=_cosmosqa,
)


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
    return out


MULTIRC = Benchmark(
    name="multirc",
    category="reading_comprehension",
    kind="mc",
    stands_for="RACE (multi-sentence passage QA)",
    source=BigBench((f"{NI}054_multirc_write_correct_answer", f"{NI}055_multirc_write_incorrect_answer")),
    convert=_multirc,
)


FABLES = Benchmark(
    name="fables",
    category="reading_comprehension",
    kind="mc",
    stands_for="RACE (story comprehension)",
    source=BigBench(("understanding_fables",)),
    convert=_scored("{}\nAnswer:"),
)


# ---------------------------------------------------------------- bias


def _bbq(tasks, rng):
    """BBQ's examples end in their question; the bias type (comment.category) becomes the record's group."""
    return [_mc_from_scores(ex, f"{ex['input'].strip()}\nAnswer:", group=ex["comment"]["category"])
            for task in tasks for ex in task["examples"]]  # fmt: skip


_BBQ_TYPES = ("age", "disability_status", "gender_identity", "nationality", "physical_appearance",
              "race_ethnicity", "religion", "ses", "sexual_orientation")  # fmt: skip

BBQ_AMBIG = Benchmark(
    name="bbq_ambig",
    category="bias",
    kind="mc",
    stands_for="CrowS-Pairs (BBQ ambiguous contexts: acc = no stereotype used)",
    source=BigBench(tuple(f"bbq_lite_json/{t}_ambig" for t in _BBQ_TYPES)),
    convert=_bbq,
)
BBQ_DISAMBIG = Benchmark(
    name="bbq_disambig",
    category="bias",
    kind="mc",
    stands_for="CrowS-Pairs (BBQ disambiguated contexts)",
    source=BigBench(tuple(f"bbq_lite_json/{t}_disambig" for t in _BBQ_TYPES)),
    convert=_bbq,
)

BENCHMARKS = (
    SCIENCE_QA,
    PHYSICS,
    MISCONCEPTIONS,
    STRATEGYQA,
    WIKIHOW_STEP,
    WINOGRANDE,
    MATH_QA,
    COSMOSQA,
    MULTIRC,
    FABLES,
    BBQ_AMBIG,
    BBQ_DISAMBIG,
)
