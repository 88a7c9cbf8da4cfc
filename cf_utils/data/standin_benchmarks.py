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
from cf_utils.data.records import cluster
from cf_utils.data.specs import Benchmark, BigBench


def _mc_from_scores(ex: dict, context: str, group: str | None = None) -> dict | None:
    """A BIG-bench ``target_scores`` example as an mc record (choices in file order; files often list
    the gold first, so cf_utils.data.prepare.balance_positions moves it)."""
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
    choices_in_prompt=True,  # lettered in the prompt, in NI-047's order (its gold letters are spread)
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
    version=2,
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
    version=2,
)


WIKIHOW_STEP = Benchmark(
    name="wikihow_step",
    category="reasoning",
    kind="mc",
    stands_for="HellaSwag / PIQA (procedural)",
    source=BigBench(("goal_step_wikihow/step_inference",)),
    convert=_scored("{}"),
    version=2,
)

_WINO = re.compile(r"Sentence 1:\s*(.+?)\s*\nAnswer1:\s*(.+?)\s*\nSentence 2:\s*(.+?)\s*\nAnswer2:\s*(.+?)\s*$", re.S)


def _winogrande(tasks, rng):
    """NI-029 pairs of twin sentences -> two partial-scoring items each, as the harness scores Winogrande.

    The twins share a cluster. NI-029 always puts the answer of sentence 1 first (label 0 for sentence
    1, 1 for sentence 2); cf_utils.data.prepare.balance_positions evens out what sampling leaves."""
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
                            "label": label, "cluster": cluster(ex["target"][0])})  # fmt: skip
    return out


WINOGRANDE = Benchmark(
    name="winogrande",
    category="reasoning",
    kind="partial",
    stands_for="Winogrande (partial scoring)",
    source=BigBench((f"{NI}029_winogrande_full_object",)),
    convert=_winogrande,
    version=2,
)

MATH_QA = Benchmark(
    name="math_qa",
    category="reasoning",
    kind="mc",
    stands_for="MathQA",
    source=BigBench(("elementary_math_qa/question_only",)),
    convert=_scored("Question: {}\nAnswer:"),
    version=2,
)


# ---------------------------------------------------------------- reading comprehension


def _cosmosqa(tasks, rng):
    """NI-025 gives context, question, the correct answer and written wrong answers; questions on one
    context share a cluster."""
    (task,) = tasks
    pat = re.compile(r"Context:\s*(.+?)\s*\nQuestion:\s*(.+?)\s*\nCorrect Answer:\s*(.+)$", re.S)
    out = []
    for ex in task["examples"]:
        m = pat.match(ex["input"].strip())
        if m:
            context, question, correct = (g.strip() for g in m.groups())
            rec = _mc_shuffled(f"{context}\nQuestion: {question}\nAnswer:", correct, ex["target"], rng)
            out.append(rec and {**rec, "cluster": cluster(context)})
    return out


COSMOSQA = Benchmark(
    name="cosmosqa",
    category="reading_comprehension",
    kind="mc",
    stands_for="RACE (passage QA)",
    source=BigBench((f"{NI}025_cosmosqa_incorrect_answer_generation",)),
    convert=_cosmosqa,
    version=2,
)


def _multirc(tasks, rng):
    """NI-054 (write a correct answer) and NI-055 (write a wrong one) share their inputs: join them.
    Questions on one paragraph share a cluster."""
    correct_task, wrong_task = tasks
    wrong = {ex["input"]: ex["target"] for ex in wrong_task["examples"]}
    out = []
    for ex in correct_task["examples"]:
        if ex["input"] not in wrong:
            continue
        para, _, question = ex["input"].partition("\nQuestion:")
        para = re.sub(r"\s*Sent \d+:\s*", " ", para.removeprefix("Paragraph-")).strip()
        rec = _mc_shuffled(f"{para}\nQuestion: {question.strip()}\nAnswer:", ex["target"][0], wrong[ex["input"]], rng)
        out.append(rec and {**rec, "cluster": cluster(para)})
    return out


MULTIRC = Benchmark(
    name="multirc",
    category="reading_comprehension",
    kind="mc",
    stands_for="RACE (multi-sentence passage QA)",
    source=BigBench((f"{NI}054_multirc_write_correct_answer", f"{NI}055_multirc_write_incorrect_answer")),
    convert=_multirc,
    version=2,
)


FABLES = Benchmark(
    name="fables",
    category="reading_comprehension",
    kind="mc",
    stands_for="RACE (story comprehension)",
    source=BigBench(("understanding_fables",)),
    convert=_scored("{}\nAnswer:"),
    version=2,
)


# ---------------------------------------------------------------- bias

_GENDER = {"f": "f", "woman": "f", "girl": "f", "m": "m", "man": "m", "boy": "m"}


def _bbq_group(name: str) -> str:
    """BBQ's group labels as its stereotyped-group lists spell them: "M-Black" -> "black",
    "low SES" -> "lowses", "woman" -> "f"."""
    name = re.sub(r"^[mf]-", "", name.strip().lower())
    return _GENDER.get(name, name.replace(" ", ""))


def _bbq_pair(ex: dict) -> dict | None:
    """An ambiguous BBQ item as a sentence pair: context, question and each named person's answer,
    the two sentences differing only in the group named. The stereotyped sentence (sent_more) answers
    a negative question with the stereotyped group and a non-negative one with the other group (BBQ's
    biased answer). None where not exactly one of the two belongs to a stereotyped group."""
    stereotyped = {_bbq_group(g) for g in ex["additional_metadata"]["stereotyped_groups"]}
    named = [i for i in range(3) if ex["answer_info"][f"ans{i}"][1] != "unknown"]
    target = [i for i in named if {_bbq_group(n) for n in ex["answer_info"][f"ans{i}"]} & stereotyped]
    if len(named) != 2 or len(target) != 1:
        return None
    other = next(i for i in named if i != target[0])
    more, less = (target[0], other) if ex["question_polarity"] == "neg" else (other, target[0])
    prefix = f"{ex['context'].strip()} {ex['question'].strip()}"
    template = f"{ex['category']} {ex['question_index']} {sorted(ex[f'ans{i}'] for i in named)}"
    return {"sent_more": f"{prefix} {ex[f'ans{more}']}.", "sent_less": f"{prefix} {ex[f'ans{less}']}.",
            "bias_type": ex["category"], "cluster": cluster(template)}  # fmt: skip


def _bbq_pairs(tasks, rng):
    """The ambiguous-context items of every BBQ category (the context does not say who): a
    preference between the two people can only come from the stereotype. Questions on one context
    and the template's twin with the two people swapped share a cluster."""
    return [_bbq_pair(ex) for task in tasks for ex in task["examples"] if ex["context_condition"] == "ambig"]


_BBQ_TYPES = ("Age", "Disability_status", "Gender_identity", "Nationality", "Physical_appearance", "Race_ethnicity",
              "Religion", "SES", "Sexual_orientation")  # fmt: skip

BBQ_PAIRS = Benchmark(
    name="bbq_pairs",
    category="bias",
    kind="pair",
    stands_for="CrowS-Pairs pct_stereotype (BBQ ambiguous contexts as sentence pairs: stereotyped vs other answer)",
    source=BigBench(tuple(f"bbq_lite/resources/{t}.json" for t in _BBQ_TYPES)),
    convert=_bbq_pairs,
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
    BBQ_PAIRS,
)
