"""Reasoning on the hub: BoolQ, PIQA, WinoGrande, HellaSwag, MathQA, MuTual, all 0-shot.

Each converter builds its prompt as lm-evaluation-harness did in 2023 (tasks ``boolq``, ``piqa``,
``winogrande``, ``hellaswag``, ``mathqa``, ``mutual``); its docstring shows the prompt, and its
spec follows it.

References: lm-evaluation-harness, EleutherAI (the task files named above); Luo et al. 2023, arXiv
2308.08747, section 3 (the reasoning elements).
"""

from __future__ import annotations

import ast
import re

from cf_utils.data.hub_rows import LETTERS, compact, mc
from cf_utils.data.specs import Benchmark, Hub, Split
from cf_utils.study import REASONING


def _boolq(rows: list[dict], *, name: str) -> list[dict]:
    """ "{passage}\\nQuestion: {question}?\\nAnswer:" scored on " no" / " yes" (label 1 = yes); questions
    on one passage share a cluster."""
    return compact(
        mc(f"{name}-{i:05d}", f"{r['passage']}\nQuestion: {r['question']}?\nAnswer:", ["no", "yes"], int(r["label"]),
           passage=r["passage"])
        for i, r in enumerate(rows)
    )  # fmt: skip


BOOLQ = Benchmark(
    name="boolq",
    category=REASONING,
    kind="mc",
    stands_for="BoolQ (SuperGLUE) validation, harness prompt, 0-shot",
    # parquet-converter commit on refs/convert/parquet holding boolq/super_glue-*.parquet.
    source=Hub("aps/super_glue", revision="413cccf3ae20d3be5a57aaa7b530dd1366aa9cbc", verified=True, config="boolq"),
    split=Split("validation", "boolq/super_glue-validation.parquet"),
    columns=("question", "passage", "idx", "label"),
    convert=_boolq,
    version=2,
)


def _piqa(rows: list[dict], *, name: str) -> list[dict]:
    """ "Question: {goal}\\nAnswer:" scored on the two solutions."""
    return compact(
        mc(f"{name}-{i:05d}", f"Question: {r['goal']}\nAnswer:", [r["sol1"], r["sol2"]], int(r["label"]))
        for i, r in enumerate(rows)
    )


PIQA = Benchmark(
    name="piqa",
    category=REASONING,
    kind="mc",
    stands_for="PIQA validation, harness prompt, 0-shot",
    # The harness's parquet re-host of ybisk/piqa (the original is script-only).
    source=Hub("baber/piqa", revision="142f6d7367fd9877f0fb3b5734ea6a545f54cdd1", verified=True),
    split=Split("validation", "piqa_validation.parquet"),
    columns=("goal", "sol1", "sol2", "label"),
    convert=_piqa,
)


def _winogrande(rows: list[dict], *, name: str) -> list[dict]:
    """Partial scoring: the sentence up to "_" with each option filled in is the context, the rest of
    the sentence (stripped) the continuation scored under both contexts."""
    out = []
    for i, r in enumerate(rows):
        cut = r["sentence"].index("_")
        contexts = [r["sentence"][:cut] + r["option1"], r["sentence"][:cut] + r["option2"]]
        continuation = r["sentence"][cut + 1 :].strip()
        label = int(r["answer"]) - 1
        out.append({"id": f"{name}-{i:05d}", "contexts": contexts, "continuation": continuation, "label": label})
    return out


WINOGRANDE = Benchmark(
    name="winogrande",
    category=REASONING,
    kind="partial",
    stands_for="WinoGrande (xl) validation, harness partial scoring, 0-shot",
    source=Hub(
        "allenai/winogrande", revision="df8eb8fe2e3ab788ec6eada56b9203a86a34c93d", verified=True, config="winogrande_xl"
    ),
    split=Split("validation", "winogrande_xl/validation-00000-of-00001.parquet"),
    columns=("sentence", "option1", "option2", "answer"),
    convert=_winogrande,
)


def _hellaswag_clean(text: str) -> str:
    """The harness's cleanup: WikiHow "[title]" markers become sentence breaks, other bracketed
    artefacts go, double spaces collapse. As in the harness, an ending that starts with a marker
    ("[step] Water it") keeps the space that followed it."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(rows: list[dict], *, name: str) -> list[dict]:
    """ "{activity_label}: {ctx_a} {Ctx_b}" (cleaned) scored on the four cleaned endings."""
    out = []
    for i, r in enumerate(rows):
        context = _hellaswag_clean(f"{r['activity_label']}: {r['ctx_a']} {r['ctx_b'].capitalize()}")
        out.append(mc(f"{name}-{i:05d}", context, [_hellaswag_clean(e) for e in r["endings"]], int(r["label"])))
    return compact(out)


HELLASWAG = Benchmark(
    name="hellaswag",
    category=REASONING,
    kind="mc",
    stands_for="HellaSwag validation (test labels are hidden), harness preprocessing, 0-shot",
    # Commit of the parquet-conversion pull request (#7); main still ships a loading script.
    source=Hub("Rowan/hellaswag", revision="9c75cc00ec2e1f93893cbd25ba617ee30eb70d88", verified=True),
    split=Split("validation", "data/validation-00000-of-00001.parquet"),
    columns=(
        "ind",
        "activity_label",
        "ctx_a",
        "ctx_b",
        "ctx",
        "endings",
        "source_id",
        "split",
        "split_type",
        "label",
    ),
    convert=_hellaswag,
)

_MATHQA_LETTERS = "abcde"
_MATHQA_MARK = re.compile(r"(?:^|,)\s*([a-e])\s*\)\s*")


def _mathqa_choices(options: str) -> list[str] | None:
    """Parse "a ) 38 , b ) 27.675 , ..." into five texts; None if the string does not parse.

    A minority of rows store the options as a Python list literal; those are joined first (the
    harness's regex left stray quotes on such options)."""
    options = options.strip()
    if options.startswith("["):
        options = " , ".join(ast.literal_eval(options))
    parts = _MATHQA_MARK.split(options)
    letters, texts = parts[1::2], [p.strip().rstrip(",").strip() for p in parts[2::2]]
    return texts if "".join(letters) == _MATHQA_LETTERS else None


def _mathqa(rows: list[dict], *, name: str) -> list[dict]:
    """ "Question: {Problem}\\nAnswer:" scored on the five parsed options."""
    out = []
    for i, r in enumerate(rows):
        choices = _mathqa_choices(r["options"])
        if choices is not None:
            label = _MATHQA_LETTERS.index(r["correct"].strip())
            out.append(mc(f"{name}-{i:05d}", f"Question: {r['Problem']}\nAnswer:", choices, label))
    return compact(out)


MATHQA = Benchmark(
    name="mathqa",
    category=REASONING,
    kind="mc",
    stands_for="MathQA test, harness prompt, options parsed from the 'a ) ... , b ) ...' string, 0-shot",
    source=Hub("allenai/math_qa", revision="38e0ba15f61be453623bb94404f93725f9db0abe", verified=True),
    split=Split("test", "data/test-00000-of-00001.parquet"),
    columns=("Problem", "Rationale", "options", "correct", "annotated_formula", "linear_formula", "category"),
    convert=_mathqa,
)

# MuTual text is tokenised ("do n't", "it 's"); the harness joins it back before scoring.
_MUTUAL_DETOK = (
    (" '", "'"),
    (" \n", "\n"),
    ("\n ", "\n"),
    (" n't", "n't"),
    ("`` ", '"'),
    ("''", '"'),
    (" :", ":"),
    (" ;", ";"),
    (" !", "!"),
    (" ?", "?"),
    (" ,", ","),
    (" .", "."),
)


def _mutual_detok(text: str) -> str:
    for old, new in _MUTUAL_DETOK:
        text = text.replace(old, new)
    return text


def _mutual(rows: list[dict], *, name: str) -> list[dict]:
    """The dialogue (detokenised) as context, the four candidate next turns as choices."""
    out = []
    for r in rows:
        choices = [_mutual_detok(o) for o in r["options"]]
        out.append(mc(str(r["id"]), _mutual_detok(r["article"]), choices, LETTERS.index(r["answers"])))
    return compact(out)


MUTUAL = Benchmark(
    name="mutual",
    category=REASONING,
    kind="mc",
    stands_for="MuTual validation (r@1 = accuracy), harness detokenisation, 0-shot",
    # The harness's MuTual data as parquet. Its conversion (PR #2, short sha 5f41c2c6) was merged
    # into main; no full commit sha was found, so the branch is used unverified.
    source=Hub("lighteval/mutual_harness", revision="main", verified=False, config="mutual"),
    split=Split("validation", "mutual/validation-00000-of-00001.parquet"),
    columns=("answers", "options", "article", "id"),
    convert=_mutual,
)

BENCHMARKS = (BOOLQ, PIQA, WINOGRANDE, HELLASWAG, MATHQA, MUTUAL)
