"""Domain knowledge on the hub: MMLU by the harness's four subject categories, 5-shot.

The paper reports MMLU per category (STEM, Humanities, Social Sciences, Other); each category is one
benchmark here, its subjects pooled. Two prompt formats: "text", the 2023 lm-evaluation-harness the
paper used (task ``hendrycksTest-*``: a "Choices:" block, the answer text scored), and "letter", the
modern harness (task ``mmlu_*``: letters scored).

References: Hendrycks et al. 2021 (MMLU); lm-evaluation-harness tasks/mmlu (subject map in
_generate_configs.py); Luo et al. 2023, arXiv 2308.08747, section 3 (MMLU as domain knowledge).
"""

from __future__ import annotations

from collections import Counter

from cf_utils.data.hub_rows import LETTERS, compact, group_in_order, index, mc
from cf_utils.data.specs import Benchmark, Hub, Split
from cf_utils.study import DOMAIN_KNOWLEDGE

MMLU_FORMATS = ("text", "letter")

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


def _mmlu_query(row: dict, fmt: str) -> str:
    """The question block. "text" is the paper-era harness (question as stored, a "Choices:" line,
    the full answer text scored); "letter" is the modern harness (stripped question, letters)."""
    options = "".join(f"{k}. {c}\n" for k, c in zip(LETTERS, row["choices"], strict=False))
    if fmt == "text":
        return f"Question: {row['question']}\nChoices:\n{options}Answer:"
    return f"{row['question'].strip()}\n{options}Answer:"


def _mmlu_choices(row: dict, fmt: str) -> list[str]:
    return [str(c) for c in row["choices"]] if fmt == "text" else list(LETTERS)


def _mmlu(rows: list[dict], *, name: str, fewshot: list[dict], num_fewshot: int, fmt: str) -> list[dict]:
    """One category: the subjects of that category pooled, each item preceded by the header and the
    first ``num_fewshot`` dev questions of its own subject (dev order, as the original MMLU code and
    the modern harness; the 2023 harness drew the same five in a seeded random order)."""
    category = name.removeprefix("mmlu_")
    shots = group_in_order(fewshot, "subject")
    seen: Counter = Counter()
    out = []
    for row in rows:
        subject = row["subject"]
        if subject not in MMLU_SUBJECTS:
            raise ValueError(f"{name}: unknown MMLU subject {subject!r}; the subject map needs updating")
        if MMLU_SUBJECTS[subject] != category:
            continue
        examples = [
            _mmlu_query(s, fmt) + " " + _mmlu_choices(s, fmt)[index(s["answer"], LETTERS)] + "\n\n"
            for s in shots.get(subject, [])[:num_fewshot]
        ]
        header = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
        context = header + "".join(examples) + _mmlu_query(row, fmt)
        rid = f"{subject}-{seen[subject]:04d}"
        seen[subject] += 1
        out.append(mc(rid, context, _mmlu_choices(row, fmt), index(row["answer"], LETTERS), subject))
    return compact(out)


def _mmlu_spec(category: str, label: str) -> Benchmark:
    # The four categories read the same files; the converter keeps its category's subjects.
    return Benchmark(
        name=f"mmlu_{category}",
        category=DOMAIN_KNOWLEDGE,
        kind="mc",
        stands_for=f"MMLU {label} (harness subject map, subjects pooled), 5-shot from each subject's dev set",
        # "Convert dataset to Parquet" commit that wrote the "all" config (subject column added);
        # the all/<split>-NNNNN-of-NNNNN.parquet names are inferred from that conversion's convention.
        source=Hub("cais/mmlu", revision="7894270a77282b5abe7360b7a335bbbf676ced25", verified=True, config="all"),
        split=Split("test", "all/test-*.parquet"),
        fewshot_split=Split("dev", "all/dev-*.parquet"),
        num_fewshot=5,
        columns=("question", "subject", "choices", "answer"),
        convert=_mmlu,
    )


BENCHMARKS = (
    _mmlu_spec("stem", "STEM"),
    _mmlu_spec("humanities", "Humanities"),
    _mmlu_spec("social_sciences", "Social Sciences"),
    _mmlu_spec("other", "Other"),
)
