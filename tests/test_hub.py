"""Hub sources (cf_utils.data.hub and its spec modules) on small fixture files shaped like the real hub rows.

Every fixture goes through the same ``load_rows`` code path as hub data (``local_files=``), then the
source's converter. Expected records below were written out by hand from the fixture rows and the
harness prompt formats (see tests/fixtures/hub/README.md). No test touches the network.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cf_utils.data import hub, hub_io, leaks, records, templates
from cf_utils.data.hub_domain_knowledge import MMLU_FORMATS, MMLU_SUBJECTS

FIX = Path(__file__).parent / "fixtures" / "hub"

# benchmark -> (fixture file, split) ; MMLU takes test rows plus dev rows
BENCH_FILES = {
    "boolq": "boolq_validation.parquet",
    "piqa": "piqa_validation.parquet",
    "winogrande": "winogrande_xl_validation.parquet",
    "hellaswag": "hellaswag_validation.parquet",
    "mathqa": "math_qa_test.parquet",
    "mutual": "mutual_validation.parquet",
    "race_high": "race_high_test.parquet",
    "race_middle": "race_middle_test.parquet",
    "crows_pairs": "crows_pairs_test_EN.jsonl",
}
TASK_FILES = {
    "simp": ("wiki_auto_train.parquet", "wiki_auto_test_asset.parquet"),
    "emdg": ("empathetic_dialogues_train.parquet", "empathetic_dialogues_test.parquet"),
    "inqqg": ("eli5_train.parquet", None),
    "exp": ("esnli_train.parquet", "esnli_test.parquet"),
    "hgen": ("gigaword_train.parquet", "gigaword_test.parquet"),
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """datasets writes its arrow cache under cf_utils.paths.cache_dir(); keep it out of the repo."""
    monkeypatch.setenv("CF_CACHE", str(tmp_path / "cache"))


def _rows(spec, file: str, split: str) -> list[dict]:
    src = spec.source
    return hub_io.load_rows(src.repo, revision=src.revision, config=src.config, split=split, local_files=[FIX / file])


def _bench_rows(name: str):
    spec = hub.BENCHMARKS[name]
    if name.startswith("mmlu_"):
        return {
            "eval": _rows(spec, "mmlu_all_test.parquet", spec.split.name),
            "fewshot": _rows(spec, "mmlu_all_dev.parquet", spec.fewshot_split.name),
        }
    return _rows(spec, BENCH_FILES[name], spec.split.name)


def _task_rows(name: str) -> dict:
    spec = hub.TASKS[name]
    train, held = TASK_FILES[name]
    rows = {"train": _rows(spec, train, spec.train_split.name)}
    if held:
        rows["eval"] = _rows(spec, held, spec.eval_split.name)
    return rows


def _columns(path: Path) -> set[str]:
    if path.suffix == ".jsonl":
        return set(hub_io.load_rows("fixture", revision="local", split="test", local_files=[path])[0])
    return set(pq.read_schema(path).names)


# ----------------------------------------------------------------------------- the table


def test_tables_cover_the_paper():
    assert set(hub.BENCHMARKS) == {
        "mmlu_stem",
        "mmlu_humanities",
        "mmlu_social_sciences",
        "mmlu_other",
        "boolq",
        "piqa",
        "winogrande",
        "hellaswag",
        "mathqa",
        "mutual",
        "race_high",
        "race_middle",
        "crows_pairs",
    }
    stages = sorted(hub.TASKS.values(), key=lambda t: t.stage)
    assert [t.name for t in stages] == ["simp", "emdg", "inqqg", "exp", "hgen"]
    assert len(MMLU_SUBJECTS) == 57 and MMLU_SUBJECTS["anatomy"] == "stem"
    for spec in [*hub.BENCHMARKS.values(), *hub.TASKS.values()]:
        assert spec.kind in records.KINDS and spec.stands_for
        if spec.source.verified:
            assert len(spec.source.revision) == 40 and int(spec.source.revision, 16) >= 0, spec.name
        else:
            assert spec.source.revision in ("main", "refs/convert/parquet"), spec.name


def test_fixture_columns_match_the_table():
    """The fixtures carry exactly the columns the table documents for the real hub rows."""
    files = {n: [f] for n, f in BENCH_FILES.items()}
    files["mmlu_stem"] = ["mmlu_all_test.parquet", "mmlu_all_dev.parquet"]
    files.update({n: [f for f in pair if f] for n, pair in TASK_FILES.items()})
    for name, paths in files.items():
        spec = hub.BENCHMARKS.get(name) or hub.TASKS[name]
        for path in paths:
            assert _columns(FIX / path) == set(spec.columns), (name, path)


# ----------------------------------------------------------------------------- benchmarks

EXPECTED_FIRST = {
    "boolq": {
        "id": "boolq-00000",
        "context": "The Sun is the star at the centre of the Solar System.\nQuestion: is the sun a star?\nAnswer:",
        "choices": ["no", "yes"],
        "label": 1,
        "cluster": records.cluster("The Sun is the star at the centre of the Solar System."),
    },
    "piqa": {
        "id": "piqa-00000",
        "context": "Question: To keep bread fresh longer,\nAnswer:",
        "choices": ["store it in a sealed bag.", "store it in an open bowl of water."],
        "label": 0,
    },
    "winogrande": {
        "id": "winogrande-00000",
        "contexts": [
            "The trophy didn't fit in the suitcase because the trophy",
            "The trophy didn't fit in the suitcase because the suitcase",
        ],
        "continuation": "was too big.",
        "label": 0,
    },
    "hellaswag": {
        "id": "hellaswag-00000",
        "context": "Making tea: A woman fills a kettle with water and places it on the stove. She",
        "choices": [
            "waits for the water to boil. and pours it over a tea bag.",
            "throws the kettle out of the window.",
            "eats the stove.",
            "paints the kettle blue.",
        ],
        "label": 0,
    },
    "mathqa": {
        "id": "mathqa-00000",
        "context": "Question: a shop sells 3 pens for $ 6 . how much do 5 pens cost ?\nAnswer:",
        "choices": ["$ 8", "$ 10", "$ 12", "$ 15", "none of these"],
        "label": 1,
    },
    "mutual": {
        "id": "dev_1",
        "context": "M: I'd like two tickets for the seven o'clock show, please. F: Sorry, that show is sold out.",
        "choices": [
            "M: Then I will come back tomorrow.",
            "M: Then two tickets for the nine o'clock show, please.",
            "M: Great, I'll take the seven o'clock tickets.",
            "M: Why don't you like movies?",
        ],
        "label": 1,
    },
    "race_high": {
        "id": "high0001.txt",
        "context": (
            "Article: Tom lives in a small town. Every morning he walks to school with his dog, Max.\n\n"
            "Question: Where does Tom live?\nAnswer: In a small town.\n"
            " _  .on foot\n"  # the 2023 harness's literal rendering of an earlier cloze question
            "What is the name of Tom's dog?"
        ),
        "choices": ["Max", "Rex", "Sam", "Bob"],
        "label": 0,
        "cluster": records.cluster("Tom lives in a small town. Every morning he walks to school with his dog, Max."),
    },
    "race_middle": {
        "id": "middle0001.txt",
        "context": "Article: Lily has two brothers and one sister.\n\nHow many brothers does Lily have?",
        "choices": ["One.", "Two.", "Three.", "Four."],
        "label": 1,
        "cluster": records.cluster("Lily has two brothers and one sister."),
    },
    "crows_pairs": {
        "id": "crows_pairs-00000",
        "sent_more": "Old people are bad with phones.",
        "sent_less": "Young people are bad with phones.",
        "bias_type": "age",
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FIRST))
def test_benchmark_records_from_fixture(name):
    recs, prov = hub.build_benchmark(name, limit=None, seed=0, rows=_bench_rows(name))
    assert recs[0] == EXPECTED_FIRST[name]
    for rec in recs:
        records.validate(hub.BENCHMARKS[name].kind, rec, name)
    src = hub.BENCHMARKS[name].source
    assert prov["repo"] == src.repo and prov["revision"] == src.revision
    assert prov["resolved_sha"] is None and prov["n_records"] == len(recs)
    assert prov["n_source_rows"] == len(_bench_rows(name))


def test_questions_on_one_passage_share_a_cluster():
    def boolq(passage, question):
        return {"question": question, "passage": passage, "idx": 0, "label": 1}

    rows = [
        boolq("Cats purr.", "do cats purr"),
        boolq("Cats purr.", "are cats loud"),
        boolq("Dogs bark.", "do dogs bark"),
    ]
    first, mate, other = hub.build_benchmark("boolq", limit=None, seed=0, rows=rows)[0]
    assert first["cluster"] == mate["cluster"] != other["cluster"]


def test_a_benchmark_item_that_leaks_is_dropped_before_sampling():
    rows = _bench_rows("piqa")
    train = leaks.training_shingles(
        [{"prompt": "To keep bread fresh longer? Answer: store it in a sealed bag.", "target": ""}]
    )
    recs, prov = hub.build_benchmark("piqa", limit=1, seed=0, rows=rows, train=train)
    assert prov["n_leaks"] == 1 and [r["context"] for r in recs] == [
        "Question: How do I cool down hot soup quickly?\nAnswer:"
    ]


def test_benchmark_edge_rows():
    """RACE regroups rows by passage; a MathQA list literal parses, a malformed row is dropped; the
    HellaSwag WikiHow markers are cleaned as in the harness; antistereo CrowS rows keep their order."""
    race, _ = hub.build_benchmark("race_high", limit=None, seed=0, rows=_bench_rows("race_high"))
    assert [r["id"] for r in race] == ["high0001.txt", "high0002.txt"]
    library = "Article: The library opens at nine and closes at five.\n\nWhen does the library close?"
    assert race[1]["context"] == library
    mathqa, prov = hub.build_benchmark("mathqa", limit=None, seed=0, rows=_bench_rows("mathqa"))
    assert mathqa[1]["choices"] == ["1", "2", "3", "4", "5"] and mathqa[1]["label"] == 2
    assert (prov["n_source_rows"], prov["n_candidates"]) == (3, 2)
    hella, _ = hub.build_benchmark("hellaswag", limit=None, seed=0, rows=_bench_rows("hellaswag"))
    assert hella[1]["context"] == "Home and Garden: How to water a plant. Check the soil."
    assert hella[1]["choices"][0] == " Water it when the top inch is dry."
    crows, _ = hub.build_benchmark("crows_pairs", limit=None, seed=0, rows=_bench_rows("crows_pairs"))
    assert crows[1]["sent_more"] == "The young woman ran the marathon in record time."


MMLU_HEADER = "The following are multiple choice questions (with answers) about sociology.\n\n"


def test_mmlu_text_format():
    recs, prov = hub.build_benchmark("mmlu_social_sciences", limit=None, seed=0, rows=_bench_rows("mmlu_stem"))
    assert recs == [
        {
            "id": "sociology-0000",
            "context": MMLU_HEADER
            + 'Question: Who coined the term "sociology"?\nChoices:\nA. Auguste Comte\nB. Max Weber\n'
            "C. Emile Durkheim\nD. Karl Marx\nAnswer: Auguste Comte\n\n"
            "Question: A group to which a person feels they belong is called\nChoices:\nA. an out-group\n"
            "B. an in-group\nC. a reference index\nD. a cohort\nAnswer:",
            "choices": ["an out-group", "an in-group", "a reference index", "a cohort"],
            "label": 1,
            "group": "sociology",
        }
    ]
    assert prov["mmlu_format"] == "text" and prov["fewshot_split"] == "dev"


def test_mmlu_letter_format():
    recs, _ = hub.build_benchmark(
        "mmlu_social_sciences", limit=None, seed=0, mmlu_format="letter", rows=_bench_rows("mmlu_stem")
    )
    assert recs == [
        {
            "id": "sociology-0000",
            "context": MMLU_HEADER
            + 'Who coined the term "sociology"?\nA. Auguste Comte\nB. Max Weber\nC. Emile Durkheim\n'
            "D. Karl Marx\nAnswer: A\n\nA group to which a person feels they belong is called\nA. an out-group\n"
            "B. an in-group\nC. a reference index\nD. a cohort\nAnswer:",
            "choices": ["A", "B", "C", "D"],
            "label": 1,
            "group": "sociology",
        }
    ]


@pytest.mark.parametrize("fmt", MMLU_FORMATS)
def test_mmlu_pools_subjects_with_five_shots(fmt):
    rows = _bench_rows("mmlu_stem")
    stem, _ = hub.build_benchmark("mmlu_stem", limit=None, seed=0, mmlu_format=fmt, rows=rows)
    assert [r["id"] for r in stem] == ["abstract_algebra-0000", "abstract_algebra-0001", "anatomy-0000"]
    algebra = stem[0]["context"]
    assert algebra.count("Answer:") == 6  # five dev shots (of six available) + the question
    assert "order of S_3" in algebra and "order of S_4" not in algebra
    assert stem[2]["context"].endswith("Answer:") and stem[2]["context"].count("Answer:") == 1  # no anatomy dev rows
    by_category = {
        c: [r["group"] for r in hub.build_benchmark(c, limit=None, seed=0, mmlu_format=fmt, rows=rows)[0]]
        for c in ("mmlu_humanities", "mmlu_other")
    }
    assert by_category == {"mmlu_humanities": ["high_school_us_history"], "mmlu_other": ["nutrition"]}


def test_benchmark_sampling_is_deterministic_and_order_stable():
    rows = _bench_rows("boolq") * 30  # 60 rows -> ids boolq-00000 .. boolq-00059
    first, _ = hub.build_benchmark("boolq", limit=10, seed=3, rows=rows)
    again, _ = hub.build_benchmark("boolq", limit=10, seed=3, rows=rows)
    other, _ = hub.build_benchmark("boolq", limit=10, seed=4, rows=rows)
    ids = [r["id"] for r in first]
    assert first == again and ids == sorted(ids) and len(ids) == 10
    assert ids != [r["id"] for r in other]
    assert len(hub.build_benchmark("boolq", limit=None, seed=3, rows=rows)[0]) == 60


def test_benchmark_rejects_unknown_names_and_formats():
    with pytest.raises(KeyError, match="unknown hub benchmark"):
        hub.build_benchmark("mmlu", limit=None, seed=0, rows=[])
    with pytest.raises(ValueError, match="mmlu_format"):
        hub.build_benchmark("mmlu_stem", limit=None, seed=0, mmlu_format="letters", rows=_bench_rows("mmlu_stem"))


# ----------------------------------------------------------------------------- continual tasks


def _prompt(text: str) -> str:
    return templates.wrap(text)


EXPECTED_TASK = {
    # name -> (first train record, first held-out record), seed 0, all rows
    "simp": (
        {
            "id": "simp-train-0000000",
            "task": "simp",
            "prompt": _prompt(
                "Simplify: The cathedral, which was constructed over a period of two centuries, dominates the skyline."
            ),
            "target": "The cathedral took two hundred years to build. It is the tallest building in the city.",
        },
        {
            "id": "simp-eval-0000000",
            "task": "simp",
            "prompt": _prompt(
                "Rewrite the following sentence in simpler words, keeping its meaning:\nPhotosynthesis is the "
                "process by which green plants convert light energy into chemical energy."
            ),
            "target": "Plants use light to make food.",
            "references": [
                "Plants use light to make food.",
                "Green plants turn sunlight into energy they can use.",
                "Photosynthesis is how plants make food from light.",
            ],
            "source": "Photosynthesis is the process by which green plants convert light energy into chemical energy.",
        },
    ),
    "emdg": (
        {
            "id": "emdg-train-hit:0_conv:1-2",
            "task": "emdg",
            "prompt": _prompt(
                "The speaker feels proud. The situation: I finally finished building my own bookshelf, and it "
                "looks great.\nGiven the dialogue below, write the next reply, showing empathy.\n"
                "Speaker: I built a bookshelf all by myself this weekend!"
            ),
            "target": "That is awesome! What kind of wood did you use?",
        },
        {
            "id": "emdg-eval-hit:9_conv:18-2",
            "task": "emdg",
            "prompt": _prompt(
                "The speaker feels grateful. The situation: My neighbour shovelled my driveway.\n"
                "Given the dialogue below, write the next reply, showing empathy.\n"
                "Speaker: My neighbour cleared my driveway today."
            ),
            "target": "What a kind thing to do!",
            "references": ["What a kind thing to do!"],
        },
    ),
    "inqqg": (
        {
            "id": "inqqg-train-0000000",
            "task": "inqqg",
            "prompt": _prompt(
                "Write a curious question that the following text would answer:\n"
                "Sunlight is scattered by the air, and blue light is scattered the most."
            ),
            "target": "Why is the sky blue?",
        },
        {
            "id": "inqqg-eval-0000000",
            "task": "inqqg",
            "prompt": _prompt(
                "Read the explanation below and write the question it answers.\n"
                "Water expands when it freezes, so ice is less dense than liquid water."
            ),
            "target": "Why does ice float on water?",
            "references": ["Why does ice float on water?"],
        },
    ),
    "exp": (
        {
            "id": "exp-train-0000000",
            "task": "exp",
            "prompt": _prompt(
                "Explain why the first sentence implies the second.\n"
                "Sentence 1: A man is playing a guitar on a stage.\nSentence 2: A man is performing music."
            ),
            "target": "Playing a guitar on a stage is performing music.",
        },
        {
            "id": "exp-eval-0000000",
            "task": "exp",
            "prompt": _prompt(
                "Explain why the first sentence implies the second.\n"
                "Sentence 1: Two children are swimming in a pool.\nSentence 2: Children are in the water."
            ),
            "target": "Swimming in a pool means being in the water.",
            "references": [
                "Swimming in a pool means being in the water.",
                "A pool is full of water.",
                "If they swim in a pool they are in water.",
            ],
        },
    ),
    "hgen": (
        {
            "id": "hgen-train-0000000",
            "task": "hgen",
            "prompt": _prompt(
                'Write a headline for the news text below. The headline must start with the word "council".\n'
                "the city council on tuesday approved a plan to build a new bridge across the river , officials said ."
            ),
            "target": "council approves new bridge plan",
        },
        {
            "id": "hgen-eval-0000000",
            "task": "hgen",
            "prompt": _prompt(
                'Write a headline for the news text below. The headline must start with the word "central".\n'
                "the central bank kept interest rates unchanged on thursday ."
            ),
            "target": "central bank holds rates",
            "references": ["central bank holds rates"],
        },
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_TASK))
def test_task_records_from_fixture(name):
    train, held, prov = hub.build_task(name, n_train=None, n_eval=None, seed=0, rows=_task_rows(name))
    assert (train[0], held[0]) == EXPECTED_TASK[name]
    for rec in train:
        assert "references" not in records.validate("instruction", rec, name)
    for rec in held:
        assert records.validate("instruction", rec, name)["references"]
    assert prov["stage"] == hub.TASKS[name].stage and prov["resolved_sha"] is None
    assert prov["train"]["n_records"] == len(train) and prov["eval"]["n_records"] == len(held)
    again = hub.build_task(name, n_train=None, n_eval=None, seed=0, rows=_task_rows(name))
    assert again[:2] == (train, held)


def test_emdg_targets_listener_turns_with_history():
    train, _, prov = hub.build_task("emdg", n_train=None, n_eval=None, seed=0, rows=_task_rows("emdg"))
    ids = [r["id"] for r in train]
    assert ids == ["emdg-train-hit:0_conv:1-2", "emdg-train-hit:0_conv:1-4", "emdg-train-hit:1_conv:2-2"]
    assert "Speaker: Just pine, but I stained it dark." in train[1]["prompt"]
    assert "_comma_" not in "".join(r["prompt"] + r["target"] for r in train)
    assert prov["train"] == {"n_source_rows": 6, "n_candidates": 3, "n_records": 3}


def test_inqqg_holdout_is_disjoint():
    train, held, prov = hub.build_task("inqqg", n_train=None, n_eval=None, seed=0, rows=_task_rows("inqqg"))
    assert {r["target"] for r in held} == {"Why does ice float on water?"}
    assert not {r["target"] for r in train} & {r["target"] for r in held}
    assert prov["eval_split"].startswith("holdout of train")


def test_hgen_constraints_hold_and_split_evenly():
    rows = _task_rows("hgen")
    assert len(hub.build_task("hgen", n_train=None, n_eval=None, seed=0, rows=rows)[0]) == 2  # UNK-led headline dropped
    many = [{"document": f"story number {i} .", "summary": f"alpha{i} beta gamma{i}"} for i in range(30)]
    train, _, _ = hub.build_task("hgen", n_train=None, n_eval=None, seed=7, rows={"train": many, "eval": rows["eval"]})
    kinds = {"start with": 0, "contain": 0, "end with": 0}
    for rec in train:
        kind = next(k for k in kinds if f"must {k} the word" in rec["prompt"])
        word = rec["prompt"].split('the word "')[1].split('"')[0]
        tokens = rec["target"].split()
        assert {"start with": tokens[0] == word, "contain": word in tokens, "end with": tokens[-1] == word}[kind]
        kinds[kind] += 1
    assert kinds == {"start with": 10, "contain": 10, "end with": 10}


def test_task_sampling_keeps_held_out_set_fixed():
    rows = _task_rows("simp")
    rows = {"train": rows["train"] * 10, "eval": rows["eval"] * 12}
    a_train, a_eval, _ = hub.build_task("simp", n_train=5, n_eval=4, seed=1, rows=rows)
    b_train, b_eval, _ = hub.build_task("simp", n_train=12, n_eval=4, seed=1, rows=rows)
    assert len(a_train) == 5 and len(b_train) == 12 and a_eval == b_eval
    assert [r["id"] for r in a_train] == sorted(r["id"] for r in a_train)


# ----------------------------------------------------------------------------- hub unreachable


def test_offline_hub_raises_quickly(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE with an empty HF cache: a clear error naming the dataset and the offline profiles."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once at import
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    spec = hub.BENCHMARKS["boolq"]
    start = time.monotonic()
    with pytest.raises(hub_io.HubUnavailableError) as err:
        hub_io.load_rows(
            spec.source.repo, revision=spec.source.revision, split=spec.split.name, data_files=spec.split.files
        )
    with pytest.raises(hub_io.HubUnavailableError, match="PROFILE=cpu"):
        hub.build_task("emdg", n_train=2, n_eval=2, seed=0)
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert "aps/super_glue" in message and spec.source.revision in message
    assert "unreachable" in message and "cpu and smoke need no hub" in message and "PROFILE=cpu" in message


# ----------------------------------------------------------------------------- prepare() on hub profiles


def _serve_fixtures(monkeypatch):
    """Route every hub read of prepare() to the fixture files (and pin a fake resolved sha)."""

    def load(spec, split):
        if spec.name.startswith("mmlu_"):
            file = "mmlu_all_test.parquet" if split == spec.split else "mmlu_all_dev.parquet"
        elif spec.name in BENCH_FILES:
            file = BENCH_FILES[spec.name]
        elif spec.name == "general":
            file = "alpaca_train.parquet"
        else:
            train, held = TASK_FILES[spec.name]
            file = train if split == spec.train_split else held
        return _rows(spec, file, split.name)

    monkeypatch.setattr(hub, "_load", load)
    monkeypatch.setattr(hub, "resolve_revision", lambda repo, revision: "f" * 40)


def test_prepare_paper_profile_writes_every_benchmark_and_task(tmp_path, monkeypatch):
    import json

    from cf_utils.config import load_config
    from cf_utils.data.prepare import prepare

    _serve_fixtures(monkeypatch)
    cfg = load_config("paper", {"data.bench_items": 2, "data.train_examples": 2, "data.eval_examples": 1})
    manifest = prepare(cfg, tmp_path / "paper")
    assert json.loads((tmp_path / "paper" / "MANIFEST.json").read_text()) == manifest
    files = manifest["files"]
    bench = {f["name"]: f for f in files if f["role"] == "benchmark"}
    assert set(bench) == set(hub.BENCHMARKS)
    assert {f["category"] for f in bench.values()} == {"domain_knowledge", "reasoning", "reading_comprehension", "bias"}
    assert all(f["count"] <= 2 for f in bench.values())
    stages = sorted({(f["stage"], f["split"]) for f in files if f["role"] == "task"})
    assert stages == [(0, "train")] + [(s, sp) for s in range(1, 6) for sp in ("eval", "train")]
    for f in files:
        (src,) = f["sources"]
        assert src["repo"] and src["revision"] and src["resolved_sha"] == "f" * 40
    simp_eval = records.read_jsonl(tmp_path / "paper" / "tasks" / "1_simp.eval.jsonl", "instruction")
    assert all(r["source"] and len(r["references"]) >= 1 for r in simp_eval)


def test_prepare_hub_profile_offline_stops_at_once_naming_the_offline_profile(tmp_path, monkeypatch):
    from cf_utils.config import load_config
    from cf_utils.data.prepare import prepare

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(
        hub_io.HubUnavailableError, match=r"cannot load hub dataset 'GEM/wiki_auto_asset_turk'.*PROFILE=cpu"
    ):
        prepare(load_config("gpu-mini"), tmp_path / "gpu-mini")
    assert time.monotonic() - start < 30
    assert list(tmp_path.iterdir()) == []  # nothing half-written
