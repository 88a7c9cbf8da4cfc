"""One spec type per role for both sources (hub and BIG-bench stand-ins), versioned and checked."""

import dataclasses

import pytest

from cf_utils import study
from cf_utils.data import bigbench, hub, hub_tasks, standins
from cf_utils.data.specs import Benchmark, BigBench, Hub, Task

BENCHMARKS = [*hub.BENCHMARKS.values(), *standins.BENCHMARKS]
TASKS = [*hub.TASKS.values(), hub.GENERAL, *standins.TASKS, standins.GENERAL]


def test_hub_and_standin_specs_share_one_type_per_role():
    assert {type(b) for b in BENCHMARKS} == {Benchmark}
    assert {type(t) for t in TASKS} == {Task}
    assert {type(s.source) for s in [*hub.BENCHMARKS.values(), *hub.TASKS.values()]} == {Hub}
    assert {type(s.source) for s in [*standins.BENCHMARKS, *standins.TASKS]} == {BigBench}


def test_every_spec_has_a_version_and_a_known_category():
    for spec in [*BENCHMARKS, *TASKS]:
        assert isinstance(spec.version, int) and spec.version >= 1, spec.name
    for spec in BENCHMARKS:
        assert spec.category in study.CATEGORIES, spec.name
    for source in (hub.BENCHMARKS.values(), standins.BENCHMARKS):
        assert {b.category for b in source} == set(study.CATEGORIES)


def test_both_sources_train_the_study_tasks_in_its_order():
    assert tuple(hub.TASKS) == study.TASKS
    assert tuple(t.name for t in standins.TASKS) == study.TASKS
    assert [t.stage for t in standins.TASKS] == [study.TASK_STAGE[t.name] for t in standins.TASKS]
    assert hub.GENERAL.stage == standins.GENERAL.stage == 0


def test_a_spec_with_an_unknown_category_or_kind_is_refused():
    spec = standins.BENCHMARKS[0]
    with pytest.raises(ValueError, match="category 'knowledge'"):
        dataclasses.replace(spec, category="knowledge")
    with pytest.raises(ValueError, match="kind 'choice'"):
        dataclasses.replace(spec, kind="choice")


def test_each_hub_converter_sits_in_its_category_module_beside_its_spec():
    for module in hub.BENCHMARK_MODULES:
        for spec in module.BENCHMARKS:
            assert module.__name__.endswith(f".hub_{spec.category}"), spec.name
            assert spec.convert.__module__ == module.__name__, spec.name
    for spec in (*hub_tasks.TASKS, hub_tasks.GENERAL):
        assert spec.convert.__module__ == hub_tasks.__name__, spec.name


def test_every_standin_file_is_pinned():
    files = {f for spec in [*standins.BENCHMARKS, *standins.TASKS, standins.GENERAL] for f in spec.source.files}
    assert files == set(bigbench.TASK_FILES)
