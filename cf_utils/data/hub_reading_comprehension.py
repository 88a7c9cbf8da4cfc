"""Reading comprehension on the hub: RACE-high and RACE-middle, one question per passage, 0-shot.

The 2023 lm-evaluation-harness (task ``race``) read EleutherAI/race, one document per passage: the
passage, its earlier questions with their answers, then the last question, whose options are
scored. That repository is script-only and has no "middle" config, so the per-question parquet
export of ehovy/race is regrouped by passage here to the same documents.

References: Lai et al. 2017 (RACE); lm-evaluation-harness tasks/race; Luo et al. 2023, arXiv
2308.08747, section 3 (RACE as reading comprehension).
"""

from __future__ import annotations

from cf_utils.data.hub_rows import LETTERS, compact, group_in_order, index, mc
from cf_utils.data.specs import Benchmark, Hub, Split
from cf_utils.study import READING_COMPREHENSION


def _race_solved(problem: dict) -> str:
    """An earlier question of the passage with its answer, as the 2023 harness wrote it. For cloze
    questions (ending in "  _  .") it kept only the last five characters of the question before the
    answer; we reproduce that literally so the contexts match the paper's evaluation."""
    answer = problem["options"][index(problem["answer"], LETTERS)]
    if problem["question"].endswith("  _  ."):
        return problem["question"][-5:] + answer + "\n"
    return f"Question: {problem['question']}\nAnswer: {answer}\n"


def _race(rows: list[dict], *, name: str) -> list[dict]:
    """One record per passage: "Article: ..." then the passage's earlier questions with their answers,
    then the last question, whose four options are scored (rows grouped by their source file). One
    record per file already; the cluster also joins files that carry the same article."""
    out = []
    for doc_id, problems in group_in_order(rows, "example_id").items():
        *earlier, last = problems
        context = f"Article: {last['article']}\n\n" + "".join(_race_solved(p) for p in earlier) + last["question"]
        out.append(mc(doc_id, context, last["options"], index(last["answer"], LETTERS), passage=last["article"]))
    return compact(out)


def _race_spec(level: str) -> Benchmark:
    # This export commit lists all/test/0000.parquet; high/ and middle/ follow the same layout.
    return Benchmark(
        name=f"race_{level}",
        category=READING_COMPREHENSION,
        kind="mc",
        stands_for=f"RACE-{level} test, one doc per passage, last question scored (2023 harness), 0-shot",
        source=Hub("ehovy/race", revision="624e205088ca17b947616417669d9cd7c4bbc16b", verified=True, config=level),
        split=Split("test", f"{level}/test/*.parquet"),
        columns=("example_id", "article", "answer", "question", "options"),
        convert=_race,
        version=2,
    )


BENCHMARKS = (_race_spec("high"), _race_spec("middle"))
