"""Real benchmarks and continual tasks from the Hugging Face hub (profiles ``gpu-mini`` and ``paper``).

One declarative table per role: ``BENCHMARKS`` (the paper's evaluation elements, PROTOCOL.md,
"Evaluation") and ``TASKS`` (the five Continual-T0 tasks in stage order). Each entry pins a hub
repository to a revision and names the parquet (or jsonl) files to read, so that no loading script
ever runs (``datasets>=4`` refuses them) and a run can record exactly what it read. Each entry also
carries a pure converter from hub rows to the canonical records of ``cf_utils.data.records``.

How the benchmark records are built follows lm-evaluation-harness as the paper used it (2023):
MMLU 5-shot with the subject's dev questions, everything else 0-shot; the prompt of every element
is described at its converter. The continual tasks use our own instruction wording modelled on the
task descriptions of Continual-T0 (Scialom et al., "Fine-tuned Language Models are Continual
Learners", EMNLP 2022), wrapped in the paper's prompt template (``templates.instruction``).

References:
- Luo et al. 2023, arXiv 2308.08747 (the paper), and its protocol notes in PROTOCOL.md.
- lm-evaluation-harness, EleutherAI (tasks hendrycksTest/mmlu, boolq, piqa, winogrande, hellaswag,
  mathqa, mutual, race, crows_pairs).
- Scialom, Chakrabarty, Muresan 2022 (Continual-T0: Simp, Emdg, InqQG, Exp, HGen).

Revisions: ``revision_verified=True`` means the commit sha was seen in public hub pages for that
repository, with the file layout (a comment says where the layout was inferred from neighbouring
files of the same commit); ``False`` marks a branch name whose content can move, with a comment
saying why no sha is pinned. ``resolve_revision`` asks the hub which commit a revision is today, so
the caller can write the asked-for revision and the resolved sha into its manifest.

Hub access happens only in ``load_rows`` (and ``resolve_revision``); with the hub out of reach both
raise ``HubUnavailableError`` quickly. Tests feed small fixture files through the same code path
with ``load_rows(..., local_files=...)``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from huggingface_hub.utils import httpx

from cf_utils.data import records, templates
from cf_utils.paths import cache_dir

HUB_TIMEOUT_S = 10.0
MMLU_FORMATS = ("text", "letter")
MMLU_SHOTS = 5

# Every failure of the hub transport or of the hub itself (offline mode, DNS, timeout, 404, gated,
# unknown revision or file pattern) is an OSError or a transport HTTPError.
_HUB_ERRORS = (OSError, httpx.HTTPError)

Rows = list[dict]
Converter = Callable[..., list[dict]]


class HubUnavailableError(RuntimeError):
    """The hub could not serve a dataset: unreachable, or the id / revision / files are wrong."""


# ----------------------------------------------------------------------------- the tables


@dataclass(frozen=True)
class HubBenchmark:
    """One evaluation element: where its rows live and how they become records."""

    name: str
    category: str
    kind: str
    repo: str
    revision: str
    revision_verified: bool
    config: str | None
    split: str
    data_files: str | None
    columns: tuple[str, ...]
    convert: Converter
    stands_for: str
    fewshot_split: str | None = None
    fewshot_files: str | None = None


@dataclass(frozen=True)
class HubTask:
    """One continual instruction task: train rows, held-out rows, and its instruction templates.

    ``eval_split=None`` means the source has a single split: the held-out rows are carved from it by
    a hash of ``holdout_key`` (disjoint by construction, and stable when the source grows).
    """

    name: str
    stage: int
    kind: str
    repo: str
    revision: str
    revision_verified: bool
    config: str | None
    train_split: str
    train_files: str | None
    eval_split: str | None
    eval_files: str | None
    columns: tuple[str, ...]
    examples: Callable[[Rows], Iterable[dict]]
    templates: tuple[str, ...]
    stands_for: str
    render: Callable[[dict, int, random.Random], str] | None = None
    holdout_key: str | None = None


# ----------------------------------------------------------------------------- small helpers


def _mc(rid: str, context: str, choices: Sequence[str], label: int, group: str | None = None) -> dict | None:
    """A multiple-choice record, or None for a malformed source row (empty or missing options)."""
    choices = [str(c) for c in choices]
    if len(choices) < 2 or not all(choices) or not 0 <= label < len(choices):
        return None
    rec = {"id": rid, "context": context, "choices": choices, "label": label}
    if group is not None:
        rec["group"] = group
    return rec


def _index(value, names: Sequence[str]) -> int:
    """A class index from a ClassLabel int, a digit string, or a class name (hub mirrors differ)."""
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        return list(names).index(value.strip())
    return int(value)


def _name(value, names: Sequence[str]) -> str:
    """A class name from a ClassLabel int or a name."""
    return names[value] if isinstance(value, int) else str(value)


def _group_in_order(rows: Iterable[dict], key: str) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row[key]), []).append(row)
    return groups


def _clip(text: str, limit: int) -> str:
    """Cut long inputs at a word boundary: the trainer truncates at 512 tokens from the right, which
    would otherwise cut off the "### Response:" marker and the target."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def _compact(records_: Iterable[dict | None]) -> list[dict]:
    return [r for r in records_ if r is not None]


# ----------------------------------------------------------------------------- MMLU

# lm-evaluation-harness's subject -> category map (tasks/mmlu/_generate_configs.py). It differs
# from the MMLU paper's table in one place: anatomy is STEM here, "other" there.
_MMLU_STEM = (
    "abstract_algebra anatomy astronomy college_biology college_chemistry college_computer_science "
    "college_mathematics college_physics computer_security conceptual_physics electrical_engineering "
    "elementary_mathematics high_school_biology high_school_chemistry high_school_computer_science "
    "high_school_mathematics high_school_physics high_school_statistics machine_learning"
)
_MMLU_HUMANITIES = (
    "formal_logic high_school_european_history high_school_us_history high_school_world_history "
    "international_law jurisprudence logical_fallacies moral_disputes moral_scenarios philosophy "
    "prehistory professional_law world_religions"
)
_MMLU_SOCIAL = (
    "econometrics high_school_geography high_school_government_and_politics high_school_macroeconomics "
    "high_school_microeconomics high_school_psychology human_sexuality professional_psychology "
    "public_relations security_studies sociology us_foreign_policy"
)
_MMLU_OTHER = (
    "business_ethics clinical_knowledge college_medicine global_facts human_aging management marketing "
    "medical_genetics miscellaneous nutrition professional_accounting professional_medicine virology"
)
MMLU_SUBJECTS: dict[str, str] = {
    subject: category
    for category, names in (
        ("stem", _MMLU_STEM),
        ("humanities", _MMLU_HUMANITIES),
        ("social_sciences", _MMLU_SOCIAL),
        ("other", _MMLU_OTHER),
    )
    for subject in names.split()
}
_LETTERS = "ABCD"


def _mmlu_query(row: dict, fmt: str) -> str:
    """The question block. "text" is the paper-era harness (question as stored, a "Choices:" line,
    the full answer text scored); "letter" is the modern harness (stripped question, letters)."""
    options = "".join(f"{k}. {c}\n" for k, c in zip(_LETTERS, row["choices"], strict=False))
    if fmt == "text":
        return f"Question: {row['question']}\nChoices:\n{options}Answer:"
    return f"{row['question'].strip()}\n{options}Answer:"


def _mmlu_choices(row: dict, fmt: str) -> list[str]:
    return [str(c) for c in row["choices"]] if fmt == "text" else list(_LETTERS)


def _mmlu(rows: Rows, *, name: str, fewshot: Rows, fmt: str) -> list[dict]:
    """One category: the subjects of that category pooled, each item preceded by the header and the
    first five dev questions of its own subject (dev order, as the original MMLU code and the modern
    harness; the 2023 harness drew the same five in a seeded random order)."""
    category = name.removeprefix("mmlu_")
    shots = _group_in_order(fewshot, "subject")
    seen: Counter = Counter()
    out = []
    for row in rows:
        subject = row["subject"]
        if subject not in MMLU_SUBJECTS:
            raise ValueError(f"{name}: unknown MMLU subject {subject!r}; the subject map needs updating")
        if MMLU_SUBJECTS[subject] != category:
            continue
        examples = [
            _mmlu_query(s, fmt) + " " + _mmlu_choices(s, fmt)[_index(s["answer"], _LETTERS)] + "\n\n"
            for s in shots.get(subject, [])[:MMLU_SHOTS]
        ]
        header = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
        context = header + "".join(examples) + _mmlu_query(row, fmt)
        rid = f"{subject}-{seen[subject]:04d}"
        seen[subject] += 1
        out.append(_mc(rid, context, _mmlu_choices(row, fmt), _index(row["answer"], _LETTERS), subject))
    return _compact(out)


# ----------------------------------------------------------------------------- reasoning


def _boolq(rows: Rows, *, name: str) -> list[dict]:
    """ "{passage}\\nQuestion: {question}?\\nAnswer:" scored on " no" / " yes" (label 1 = yes)."""
    return _compact(
        _mc(f"{name}-{i:05d}", f"{r['passage']}\nQuestion: {r['question']}?\nAnswer:", ["no", "yes"], int(r["label"]))
        for i, r in enumerate(rows)
    )


def _piqa(rows: Rows, *, name: str) -> list[dict]:
    """ "Question: {goal}\\nAnswer:" scored on the two solutions."""
    return _compact(
        _mc(f"{name}-{i:05d}", f"Question: {r['goal']}\nAnswer:", [r["sol1"], r["sol2"]], int(r["label"]))
        for i, r in enumerate(rows)
    )


def _winogrande(rows: Rows, *, name: str) -> list[dict]:
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


def _hellaswag_clean(text: str) -> str:
    """The harness's cleanup: WikiHow "[title]" markers become sentence breaks, other bracketed
    artefacts go, double spaces collapse. As in the harness, an ending that starts with a marker
    ("[step] Water it") keeps the space that followed it."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(rows: Rows, *, name: str) -> list[dict]:
    """ "{activity_label}: {ctx_a} {Ctx_b}" (cleaned) scored on the four cleaned endings."""
    out = []
    for i, r in enumerate(rows):
        context = _hellaswag_clean(f"{r['activity_label']}: {r['ctx_a']} {r['ctx_b'].capitalize()}")
        out.append(_mc(f"{name}-{i:05d}", context, [_hellaswag_clean(e) for e in r["endings"]], int(r["label"])))
    return _compact(out)


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


def _mathqa(rows: Rows, *, name: str) -> list[dict]:
    """ "Question: {Problem}\\nAnswer:" scored on the five parsed options."""
    out = []
    for i, r in enumerate(rows):
        choices = _mathqa_choices(r["options"])
        if choices is not None:
            label = _MATHQA_LETTERS.index(r["correct"].strip())
            out.append(_mc(f"{name}-{i:05d}", f"Question: {r['Problem']}\nAnswer:", choices, label))
    return _compact(out)


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


def _mutual(rows: Rows, *, name: str) -> list[dict]:
    """The dialogue (detokenised) as context, the four candidate next turns as choices."""
    out = []
    for r in rows:
        choices = [_mutual_detok(o) for o in r["options"]]
        out.append(_mc(str(r["id"]), _mutual_detok(r["article"]), choices, _LETTERS.index(r["answers"])))
    return _compact(out)


# ----------------------------------------------------------------------------- reading comprehension


def _race_solved(problem: dict) -> str:
    """An earlier question of the passage with its answer, as the 2023 harness wrote it. For cloze
    questions (ending in "  _  .") it kept only the last five characters of the question before the
    answer; we reproduce that literally so the contexts match the paper's evaluation."""
    answer = problem["options"][_index(problem["answer"], _LETTERS)]
    if problem["question"].endswith("  _  ."):
        return problem["question"][-5:] + answer + "\n"
    return f"Question: {problem['question']}\nAnswer: {answer}\n"


def _race(rows: Rows, *, name: str) -> list[dict]:
    """One record per passage: "Article: ..." then the passage's earlier questions with their answers,
    then the last question, whose four options are scored (RACE as the 2023 harness built it from
    EleutherAI/race; rebuilt here from per-question rows grouped by their source file)."""
    out = []
    for doc_id, problems in _group_in_order(rows, "example_id").items():
        *earlier, last = problems
        context = f"Article: {last['article']}\n\n" + "".join(_race_solved(p) for p in earlier) + last["question"]
        out.append(_mc(doc_id, context, last["options"], _index(last["answer"], _LETTERS)))
    return _compact(out)


# ----------------------------------------------------------------------------- bias

CROWS_BIAS_TYPES = (
    "race-color",
    "socioeconomic",
    "gender",
    "disability",
    "nationality",
    "sexual-orientation",
    "physical-appearance",
    "religion",
    "age",
)


def _crows_pairs(rows: Rows, *, name: str) -> list[dict]:
    """sent_more / sent_less kept as the data gives them, whatever the row's stereo_antistereo.

    For "antistereo" rows the data's sent_more is the sentence about the advantaged group and
    sent_less the one that violates a stereotype of the disadvantaged group; both the harness and the
    original CrowS-Pairs metric count a preference for sent_more as the stereotyped choice in either
    direction, so pct_stereotype needs no flip here."""
    return [
        {
            "id": f"{name}-{i:05d}",
            "sent_more": r["sent_more"],
            "sent_less": r["sent_less"],
            "bias_type": _name(r["bias_type"], CROWS_BIAS_TYPES),
        }
        for i, r in enumerate(rows)
    ]


# ----------------------------------------------------------------------------- continual tasks


def _example(uid: str, fields: dict, target: str, references: list[str]) -> dict:
    return {"uid": uid, "fields": fields, "target": target.strip(), "references": references}


def _simp_examples(rows: Rows) -> Iterator[dict]:
    """WikiAuto normal -> simple sentence; the ASSET test rows carry ten human simplifications."""
    for i, r in enumerate(rows):
        refs = [x.strip() for x in (r.get("references") or []) if x and x.strip()]
        target = (r.get("target") or "").strip() or (refs[0] if refs else "")
        if r["source"].strip() and target:
            yield _example(f"{i:07d}", {"source": r["source"].strip()}, target, refs or [target])


def _ed_text(text: str) -> str:
    return text.replace("_comma_", ",").strip()


def _emdg_examples(rows: Rows) -> Iterator[dict]:
    """One example per listener turn (even utterance_idx): emotion + situation + the dialogue so far
    -> that turn, the response-generation setting of EmpatheticDialogues."""
    for conv_id, turns in _group_in_order(rows, "conv_id").items():
        turns = sorted(turns, key=lambda t: int(t["utterance_idx"]))
        for k, turn in enumerate(turns):
            if k == 0 or int(turn["utterance_idx"]) % 2:
                continue
            history = "\n".join(
                f"{'Listener' if int(t['utterance_idx']) % 2 == 0 else 'Speaker'}: {_ed_text(t['utterance'])}"
                for t in turns[:k]
            )
            fields = {"emotion": turn["context"], "situation": _ed_text(turn["prompt"]), "history": history}
            reply = _ed_text(turn["utterance"])
            yield _example(f"{conv_id}-{int(turn['utterance_idx'])}", fields, reply, [reply])


def _inqqg_examples(rows: Rows) -> Iterator[dict]:
    """Answer -> the question it answers (ELI5 pairs)."""
    for i, r in enumerate(rows):
        if r["question"].strip() and r["answer"].strip():
            yield _example(f"{i:07d}", {"answer": _clip(r["answer"], 1200)}, r["question"], [r["question"].strip()])


_ESNLI_LABELS = ("entailment", "neutral", "contradiction")
_ESNLI_RELATION = {
    0: "the first sentence implies the second",
    1: "neither sentence implies or contradicts the other",
    2: "the two sentences contradict each other",
}


def _exp_examples(rows: Rows) -> Iterator[dict]:
    """Premise + hypothesis + gold relation -> the human explanation (e-SNLI; train rows have one
    explanation, validation/test rows three, all kept as references)."""
    for i, r in enumerate(rows):
        label = _index(r["label"], _ESNLI_LABELS)
        refs = [r[k].strip() for k in ("explanation_1", "explanation_2", "explanation_3") if (r.get(k) or "").strip()]
        if label in _ESNLI_RELATION and refs:
            fields = {"premise": r["premise"], "hypothesis": r["hypothesis"], "relation": _ESNLI_RELATION[label]}
            yield _example(f"{i:07d}", fields, refs[0], refs)


def _is_word(token: str) -> bool:
    """A usable constraint word: has a letter, and is not Gigaword's UNK placeholder."""
    return any(c.isalpha() for c in token) and token.lower() != "unk"


def _hgen_examples(rows: Rows) -> Iterator[dict]:
    """Article (first sentence) -> headline. Only headlines whose first and last tokens are real words
    are kept, so that every constraint variant is true of the reference itself; the word is chosen at
    render time."""
    for i, r in enumerate(rows):
        tokens = r["summary"].split()
        if r["document"].strip() and tokens and _is_word(tokens[0]) and _is_word(tokens[-1]):
            fields = {"document": r["document"].strip(), "words": [t for t in tokens if _is_word(t)]}
            yield _example(f"{i:07d}", fields, r["summary"], [r["summary"].strip()])


def _hgen_render(ex: dict, variant: int, rng: random.Random) -> str:
    """Variant 0: the headline must start with its first word; 1: contain a random word of it; 2: end
    with its last word (the three constraints of Continual-T0's HGen)."""
    words = ex["fields"]["words"]
    word = (words[0], rng.choice(words), words[-1])[variant]
    return _HGEN_TEMPLATES[variant].format(document=ex["fields"]["document"], word=word)


_SIMP_TEMPLATES = (
    "Rewrite the following sentence in simpler words, keeping its meaning:\n{source}",
    "Make this text easier to read for a young reader:\n{source}",
    "Simplify: {source}",
)
_EMDG_TEMPLATES = (
    "The speaker feels {emotion}. The situation: {situation}\n"
    "Given the dialogue below, write the next reply, showing empathy.\n{history}",
    "Emotion: {emotion}\nSituation: {situation}\nDialogue so far:\n{history}\n"
    "How would a caring listener answer the last turn?",
)
_INQQG_TEMPLATES = (
    "Read the explanation below and write the question it answers.\n{answer}",
    "Someone wrote this answer on a forum. What question were they most likely asked?\n{answer}",
    "Write a curious question that the following text would answer:\n{answer}",
)
_EXP_TEMPLATES = (
    "Explain why {relation}.\nSentence 1: {premise}\nSentence 2: {hypothesis}",
    "Sentence 1: {premise}\nSentence 2: {hypothesis}\nIn one sentence, explain why {relation}.",
)
_HGEN_TEMPLATES = (
    'Write a headline for the news text below. The headline must start with the word "{word}".\n{document}',
    'Write a headline for the news text below. The headline must contain the word "{word}".\n{document}',
    'Write a headline for the news text below. The headline must end with the word "{word}".\n{document}',
)


# ----------------------------------------------------------------------------- the tables (data)


def _mmlu_entry(category: str, label: str) -> HubBenchmark:
    return HubBenchmark(
        name=f"mmlu_{category}",
        category="domain_knowledge",
        kind="mc",
        repo="cais/mmlu",
        # "Convert dataset to Parquet" commit that wrote the "all" config (subject column added);
        # the all/<split>-NNNNN-of-NNNNN.parquet names are inferred from that conversion's convention.
        revision="7894270a77282b5abe7360b7a335bbbf676ced25",
        revision_verified=True,
        config="all",
        split="test",
        data_files="all/test-*.parquet",
        fewshot_split="dev",
        fewshot_files="all/dev-*.parquet",
        columns=("question", "subject", "choices", "answer"),
        convert=_mmlu,
        stands_for=f"MMLU {label} (harness subject map, subjects pooled), 5-shot from each subject's dev set",
    )


BENCHMARKS: dict[str, HubBenchmark] = {
    b.name: b
    for b in (
        _mmlu_entry("stem", "STEM"),
        _mmlu_entry("humanities", "Humanities"),
        _mmlu_entry("social_sciences", "Social Sciences"),
        _mmlu_entry("other", "Other"),
        HubBenchmark(
            name="boolq",
            category="reasoning",
            kind="mc",
            repo="aps/super_glue",
            # parquet-converter commit on refs/convert/parquet holding boolq/super_glue-*.parquet.
            revision="413cccf3ae20d3be5a57aaa7b530dd1366aa9cbc",
            revision_verified=True,
            config="boolq",
            split="validation",
            data_files="boolq/super_glue-validation.parquet",
            columns=("question", "passage", "idx", "label"),
            convert=_boolq,
            stands_for="BoolQ (SuperGLUE) validation, harness prompt, 0-shot",
        ),
        HubBenchmark(
            name="piqa",
            category="reasoning",
            kind="mc",
            # The harness's parquet re-host of ybisk/piqa (the original is script-only).
            repo="baber/piqa",
            revision="142f6d7367fd9877f0fb3b5734ea6a545f54cdd1",
            revision_verified=True,
            config=None,
            split="validation",
            data_files="piqa_validation.parquet",
            columns=("goal", "sol1", "sol2", "label"),
            convert=_piqa,
            stands_for="PIQA validation, harness prompt, 0-shot",
        ),
        HubBenchmark(
            name="winogrande",
            category="reasoning",
            kind="partial",
            repo="allenai/winogrande",
            revision="df8eb8fe2e3ab788ec6eada56b9203a86a34c93d",
            revision_verified=True,
            config="winogrande_xl",
            split="validation",
            data_files="winogrande_xl/validation-00000-of-00001.parquet",
            columns=("sentence", "option1", "option2", "answer"),
            convert=_winogrande,
            stands_for="WinoGrande (xl) validation, harness partial scoring, 0-shot",
        ),
        HubBenchmark(
            name="hellaswag",
            category="reasoning",
            kind="mc",
            repo="Rowan/hellaswag",
            # Commit of the parquet-conversion pull request (#7); main still ships a loading script.
            revision="9c75cc00ec2e1f93893cbd25ba617ee30eb70d88",
            revision_verified=True,
            config=None,
            split="validation",
            data_files="data/validation-00000-of-00001.parquet",
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
            stands_for="HellaSwag validation (test labels are hidden), harness preprocessing, 0-shot",
        ),
        HubBenchmark(
            name="mathqa",
            category="reasoning",
            kind="mc",
            repo="allenai/math_qa",
            revision="38e0ba15f61be453623bb94404f93725f9db0abe",
            revision_verified=True,
            config=None,
            split="test",
            data_files="data/test-00000-of-00001.parquet",
            columns=("Problem", "Rationale", "options", "correct", "annotated_formula", "linear_formula", "category"),
            convert=_mathqa,
            stands_for="MathQA test, harness prompt, options parsed from the 'a ) ... , b ) ...' string, 0-shot",
        ),
        HubBenchmark(
            name="mutual",
            category="reasoning",
            kind="mc",
            # The harness's MuTual data as parquet. Its conversion (PR #2, short sha 5f41c2c6) was
            # merged into main; no full commit sha was found, so the branch is used unverified.
            repo="lighteval/mutual_harness",
            revision="main",
            revision_verified=False,
            config="mutual",
            split="validation",
            data_files="mutual/validation-00000-of-00001.parquet",
            columns=("answers", "options", "article", "id"),
            convert=_mutual,
            stands_for="MuTual validation (r@1 = accuracy), harness detokenisation, 0-shot",
        ),
        HubBenchmark(
            name="race_high",
            category="reading_comprehension",
            kind="mc",
            # EleutherAI/race (one doc per passage) is script-only and has no "middle" config; the
            # per-question parquet export of ehovy/race is regrouped by passage instead. This export
            # commit lists all/test/0000.parquet; high/ and middle/ follow the same layout.
            repo="ehovy/race",
            revision="624e205088ca17b947616417669d9cd7c4bbc16b",
            revision_verified=True,
            config="high",
            split="test",
            data_files="high/test/*.parquet",
            columns=("example_id", "article", "answer", "question", "options"),
            convert=_race,
            stands_for="RACE-high test, one doc per passage, last question scored (2023 harness), 0-shot",
        ),
        HubBenchmark(
            name="race_middle",
            category="reading_comprehension",
            kind="mc",
            repo="ehovy/race",
            revision="624e205088ca17b947616417669d9cd7c4bbc16b",
            revision_verified=True,
            config="middle",
            split="test",
            data_files="middle/test/*.parquet",
            columns=("example_id", "article", "answer", "question", "options"),
            convert=_race,
            stands_for="RACE-middle test, one doc per passage, last question scored (2023 harness), 0-shot",
        ),
        HubBenchmark(
            name="crows_pairs",
            category="bias",
            kind="pair",
            # The English file the harness's crows_pairs_english reads (revised CrowS-Pairs, Neveol
            # et al. 2022), read directly as jsonl so the repo's loading script never runs. The file
            # is seen at this commit; its column names are those the harness reads.
            repo="BigScienceBiasEval/crows_pairs_multilingual",
            revision="03074a90413340381742c0358bbcc64e6eb7023c",
            revision_verified=True,
            config="english",
            split="test",
            data_files="test_EN.jsonl",
            columns=("sent_more", "sent_less", "stereo_antistereo", "bias_type"),
            convert=_crows_pairs,
            stands_for="CrowS-Pairs English (revised), pct_stereotype per bias type",
        ),
    )
}

TASKS: dict[str, HubTask] = {
    t.name: t
    for t in (
        HubTask(
            name="simp",
            stage=1,
            kind="instruction",
            repo="GEM/wiki_auto_asset_turk",
            # parquet-converter commit that moved every split to default/<split>/NNNN.parquet (seen
            # for the challenge splits; train and test_asset are inferred to follow).
            revision="20250952c087f66ea42f1482435712e32accbb49",
            revision_verified=True,
            config="default",
            train_split="train",
            train_files="default/train/*.parquet",
            eval_split="test_asset",
            eval_files="default/test_asset/*.parquet",
            columns=("gem_id", "gem_parent_id", "source", "target", "references"),
            examples=_simp_examples,
            templates=_SIMP_TEMPLATES,
            stands_for="Continual-T0 Simp: WikiAuto normal -> simple sentence; held out: ASSET test (10 references)",
        ),
        HubTask(
            name="emdg",
            stage=2,
            kind="instruction",
            # facebook/empathetic_dialogues is script-only; this parquet re-host keeps the original
            # per-utterance columns (conv_id, utterance_idx, context = emotion, prompt = situation).
            repo="aegrif/CIS6930_DAAGR_Empathetic_Dialogues",
            revision="865211dbd85a61ef28d2ab4e57629e01677d0481",
            revision_verified=True,
            config=None,
            train_split="train",
            train_files="data/train-00000-of-00001-891ecf2f85e950f4.parquet",
            eval_split="test",
            eval_files="data/test-00000-of-00001-c6b2fe43fa86e302.parquet",
            columns=("conv_id", "utterance_idx", "context", "prompt", "utterance", "new_context", "previous_utterance"),
            examples=_emdg_examples,
            templates=_EMDG_TEMPLATES,
            stands_for="Continual-T0 Emdg: EmpatheticDialogues emotion + situation + dialogue -> next listener turn",
        ),
        HubTask(
            name="inqqg",
            stage=3,
            kind="instruction",
            # ELI5 itself is gone from the hub (Reddit terms). sentence-transformers/eli5 keeps the
            # (question, answer) pairs the task needs. No sha was found: main, read through the
            # repo's own parquet config; one train split, held-out rows carved by question hash.
            repo="sentence-transformers/eli5",
            revision="main",
            revision_verified=False,
            config=None,
            train_split="train",
            train_files=None,
            eval_split=None,
            eval_files=None,
            columns=("question", "answer"),
            holdout_key="question",
            examples=_inqqg_examples,
            templates=_INQQG_TEMPLATES,
            stands_for="Continual-T0 InqQG: ELI5 answer -> question (ELI5 substitute: sentence-transformers/eli5)",
        ),
        HubTask(
            name="exp",
            stage=4,
            kind="instruction",
            # No commit sha found for the parquet conversion of e-SNLI: main, read through the
            # repo's "plain_text" config (fails loudly if main still only has the script).
            repo="esnli/esnli",
            revision="main",
            revision_verified=False,
            config="plain_text",
            train_split="train",
            train_files=None,
            eval_split="test",
            eval_files=None,
            columns=("premise", "hypothesis", "label", "explanation_1", "explanation_2", "explanation_3"),
            examples=_exp_examples,
            templates=_EXP_TEMPLATES,
            stands_for="Continual-T0 Exp: e-SNLI premise + hypothesis + relation -> explanation",
        ),
        HubTask(
            name="hgen",
            stage=5,
            kind="instruction",
            # Harvard/gigaword main is a loading script over a tarball; its parquet export branch has
            # no sha in any page we found, so the branch is used unverified.
            repo="Harvard/gigaword",
            revision="refs/convert/parquet",
            revision_verified=False,
            config="default",
            train_split="train",
            train_files="default/train/*.parquet",
            eval_split="test",
            eval_files="default/test/*.parquet",
            columns=("document", "summary"),
            examples=_hgen_examples,
            templates=_HGEN_TEMPLATES,
            render=_hgen_render,
            stands_for="Continual-T0 HGen: Gigaword headline that starts with / contains / ends with a given word",
        ),
    )
}


def _alpaca_examples(rows: Rows) -> Iterator[dict]:
    """Alpaca's instruction (+ optional input) -> output, as the paper's replay mix (section 5.4)."""
    for i, r in enumerate(rows):
        src = r["instruction"].strip() + (f"\n{r['input'].strip()}" if (r.get("input") or "").strip() else "")
        if src and r["output"].strip():
            yield _example(f"{i:06d}", {"src": src}, r["output"], [r["output"].strip()])


# The general-instruction set: the paper mixes 10k Alpaca samples into continual training (section
# 5.4) and Alpaca-7B is LLaMA-7B tuned on all 52k. Not a stage: build_task("general") serves it.
GENERAL = HubTask(
    name="general",
    stage=0,
    kind="instruction",
    repo="tatsu-lab/alpaca",
    # No commit sha found; main holds one parquet file (data/train-*.parquet).
    revision="main",
    revision_verified=False,
    config=None,
    train_split="train",
    train_files="data/train-*.parquet",
    eval_split=None,
    eval_files=None,
    columns=("instruction", "input", "output"),
    holdout_key="instruction",
    examples=_alpaca_examples,
    templates=("{src}",),
    stands_for="Alpaca 52k general instructions (replay; the Alpaca analogue)",
)


# ----------------------------------------------------------------------------- loading


def _unavailable(repo: str, revision: str, error: BaseException) -> HubUnavailableError:
    return HubUnavailableError(
        f"cannot load hub dataset '{repo}' at revision '{revision}': the Hugging Face hub is unreachable "
        f"from here, or the dataset id, revision or file pattern is wrong ({type(error).__name__}: {error}). "
        "The gpu-mini and paper profiles need the hub; the offline profiles cpu and smoke need no hub: "
        "run `make reproduce PROFILE=cpu`."
    )


@functools.cache
def resolve_revision(repo: str, revision: str) -> str:
    """The commit sha the hub resolves ``revision`` to today (for the manifest).

    Also the fast reachability check before any download: one small API call with a short timeout.
    """
    from huggingface_hub import HfApi

    try:
        return HfApi().dataset_info(repo, revision=revision, timeout=HUB_TIMEOUT_S).sha
    except _HUB_ERRORS as e:
        raise _unavailable(repo, revision, e) from e


def _hf_cache() -> str:
    return str(cache_dir() / "hf-datasets")


def _builder(path: str) -> str:
    suffix = path.rsplit(".", 1)[-1]
    return {"parquet": "parquet", "jsonl": "json", "json": "json"}[suffix]


@contextlib.contextmanager
def _datasets_quietly() -> Iterator:
    """``datasets`` pings a download counter over the network on every load_dataset call, even for
    local files; a slow DNS answer there stalls offline runs for seconds. Switch it off meanwhile."""
    import datasets

    saved = datasets.config.HF_UPDATE_DOWNLOAD_COUNTS
    datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = False
    try:
        yield datasets
    finally:
        datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = saved


def _read_files(files: Sequence[str], split: str) -> Rows:
    with _datasets_quietly() as datasets:
        builder = _builder(files[0])
        ds = datasets.load_dataset(builder, data_files={split: list(files)}, split=split, cache_dir=_hf_cache())
    return ds.to_list()


def _hub_url(repo: str, revision: str, pattern: str) -> str:
    # A branch such as refs/convert/parquet must be URL-encoded inside an hf:// path.
    return f"hf://datasets/{repo}@{quote(revision, safe='')}/{pattern}"


def load_rows(
    repo: str,
    *,
    revision: str,
    config: str | None = None,
    split: str,
    data_files: str | Sequence[str] | None = None,
    local_files: Sequence[str | Path] | None = None,
) -> Rows:
    """All rows of one split, as plain dicts in source order.

    With ``data_files`` the named parquet/jsonl files are read at ``revision`` with the packaged
    builder (no repository code runs). Without, the repository's own data-file config ``config`` is
    used. ``local_files`` reads those files instead of the hub (fixtures, offline copies).
    Raises HubUnavailableError when the hub cannot serve the dataset.
    """
    if local_files is not None:
        return _read_files([str(p) for p in local_files], split)
    resolve_revision(repo, revision)
    patterns = [data_files] if isinstance(data_files, str) else list(data_files or [])
    try:
        if patterns:
            return _read_files([_hub_url(repo, revision, p) for p in patterns], split)
        with _datasets_quietly() as datasets:
            ds = datasets.load_dataset(repo, config, split=split, revision=revision, cache_dir=_hf_cache())
        return ds.to_list()
    except _HUB_ERRORS as e:
        raise _unavailable(repo, revision, e) from e


# ----------------------------------------------------------------------------- building records


def _sample(items: Sequence, k: int | None, rng: random.Random) -> list:
    """k items chosen by ``rng``, kept in source order; all of them when k is None or too large."""
    if k is None or k >= len(items):
        return list(items)
    return [items[i] for i in sorted(rng.sample(range(len(items)), k))]


def _roles(rows: Rows | Mapping[str, Rows]) -> dict[str, Rows]:
    return {"eval": list(rows)} if isinstance(rows, list) else dict(rows)


def _source(spec: HubBenchmark | HubTask, from_hub: bool) -> dict:
    """Where the rows came from; ``resolved_sha`` only when they were read from the hub."""
    return {
        "repo": spec.repo,
        "revision": spec.revision,
        "revision_verified": spec.revision_verified,
        "resolved_sha": resolve_revision(spec.repo, spec.revision) if from_hub else None,
        "config": spec.config,
    }


def _load(spec: HubBenchmark | HubTask, split: str, files: str | None) -> Rows:
    return load_rows(spec.repo, revision=spec.revision, config=spec.config, split=split, data_files=files)


def _validated(kind: str, recs: list[dict], where: str) -> list[dict]:
    for i, rec in enumerate(recs):
        records.validate(kind, rec, f"{where} (record {i})")
    return recs


def build_benchmark(
    name: str,
    *,
    limit: int | None,
    seed: int,
    mmlu_format: str = "text",
    rows: Rows | Mapping[str, Rows] | None = None,
) -> tuple[list[dict], dict]:
    """(records, provenance) for one benchmark.

    ``rows``: pre-loaded source rows (a list, or for MMLU {"eval": test rows, "fewshot": dev rows});
    loaded from the hub when None. ``limit`` records are kept (all when None), chosen by
    ``random.Random(f"{seed}:{name}")`` and kept in source order.
    """
    if name not in BENCHMARKS:
        raise KeyError(f"unknown hub benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    if mmlu_format not in MMLU_FORMATS:
        raise ValueError(f"mmlu_format must be one of {MMLU_FORMATS}, got {mmlu_format!r}")
    spec = BENCHMARKS[name]
    from_hub = rows is None
    if from_hub:
        rows = {"eval": _load(spec, spec.split, spec.data_files)}
        if spec.fewshot_split:
            rows["fewshot"] = _load(spec, spec.fewshot_split, spec.fewshot_files)
    roles = _roles(rows)
    options = {"fewshot": roles["fewshot"], "fmt": mmlu_format} if spec.fewshot_split else {}
    candidates = spec.convert(roles["eval"], name=name, **options)
    recs = _validated(spec.kind, _sample(candidates, limit, random.Random(f"{seed}:{name}")), name)
    provenance = {
        "name": name,
        "category": spec.category,
        "kind": spec.kind,
        **_source(spec, from_hub),
        "split": spec.split,
        "data_files": spec.data_files,
        "stands_for": spec.stands_for,
        "n_source_rows": len(roles["eval"]),
        "n_candidates": len(candidates),
        "n_records": len(recs),
        "seed": seed,
        "limit": limit,
    }
    if spec.fewshot_split:
        provenance.update(fewshot_split=spec.fewshot_split, mmlu_format=mmlu_format, num_fewshot=MMLU_SHOTS)
    return recs, provenance


def _holdout(rows: Rows, key: str, every: int = 20) -> tuple[Rows, Rows]:
    """Split one source split into (train, held-out) by a hash of ``key``: about 1 in ``every`` rows
    held out, identical texts always on the same side, and independent of row order."""

    def held(row: dict) -> bool:
        return int(hashlib.sha256(row[key].strip().encode("utf-8")).hexdigest(), 16) % every == 0

    return [r for r in rows if not held(r)], [r for r in rows if held(r)]


def _render(spec: HubTask, examples: list[dict], role: str, rng: random.Random) -> list[dict]:
    """Instruction records; the templates are split evenly over the examples (shuffled by ``rng``)."""
    variants = [i % len(spec.templates) for i in range(len(examples))]
    rng.shuffle(variants)
    out = []
    for ex, variant in zip(examples, variants, strict=True):
        if spec.render is not None:
            src = spec.render(ex, variant, rng)
        else:
            src = spec.templates[variant].format(**ex["fields"])
        refs = ex["references"] if role == "eval" else None
        rec = templates.instruction(spec.name, f"{spec.name}-{role}-{ex['uid']}", src, ex["target"], refs)
        if role == "eval" and "source" in ex["fields"]:
            rec["source"] = ex["fields"]["source"]  # SARI scores against the source sentence too
        out.append(rec)
    return out


def build_task(
    name: str,
    *,
    n_train: int | None,
    n_eval: int | None,
    seed: int,
    rows: Mapping[str, Rows] | None = None,
) -> tuple[list[dict], list[dict], dict]:
    """(train records, held-out records with "references", provenance) for one continual task.

    ``rows``: pre-loaded {"train": rows, "eval": rows} ("eval" absent for a single-split source);
    loaded from the hub when None. Train records come from the train split only, held-out records
    from the validation/test split (or the hash holdout), so the two never share a source row.
    Each side has its own generator (f"{seed}:{name}:train" / ":eval") so the held-out set does not
    move when ``n_train`` changes.
    """
    tasks = {**TASKS, GENERAL.name: GENERAL}
    if name not in tasks:
        raise KeyError(f"unknown hub task {name!r}; known: {sorted(tasks)}")
    spec = tasks[name]
    from_hub = rows is None
    if from_hub:
        rows = {"train": _load(spec, spec.train_split, spec.train_files)}
        if spec.eval_split:
            rows["eval"] = _load(spec, spec.eval_split, spec.eval_files)
    roles = dict(rows)
    if spec.eval_split is None:
        roles["train"], roles["eval"] = _holdout(roles["train"], spec.holdout_key)
    built, provenance = {}, {"name": name, "stage": spec.stage, "kind": spec.kind, "stands_for": spec.stands_for}
    for role, k in (("train", n_train), ("eval", n_eval)):
        rng = random.Random(f"{seed}:{name}:{role}")
        candidates = list(spec.examples(roles[role]))
        built[role] = _validated(spec.kind, _render(spec, _sample(candidates, k, rng), role, rng), f"{name} {role}")
        provenance[role] = {
            "n_source_rows": len(roles[role]),
            "n_candidates": len(candidates),
            "n_records": len(built[role]),
        }
    provenance.update(
        _source(spec, from_hub),
        train_split=spec.train_split,
        train_data_files=spec.train_files,
        eval_split=spec.eval_split or f"holdout of {spec.train_split} by hash of {spec.holdout_key!r}",
        eval_data_files=spec.eval_files,
        templates=list(spec.templates),
        template_version=templates.TEMPLATE_VERSION,
        seed=seed,
    )
    return built["train"], built["eval"], provenance
