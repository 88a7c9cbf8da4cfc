"""One spec type per role for both sources (hub and the wheels' files), versioned and checked."""

import dataclasses

import pytest

from cf_utils import study
from cf_utils.data import hub, hub_tasks, offline
from cf_utils.data.specs import Benchmark, Hub, Packaged, Task

BENCHMARKS = [*hub.BENCHMARKS.values(), *offline.BENCHMARKS.values()]
TASKS = [*hub.TASKS.values(), hub.GENERAL, *offline.TASKS, offline.GENERAL]


def test_hub_and_offline_specs_share_one_type_per_role():
    assert {type(b) for b in BENCHMARKS} == {Benchmark}
    assert {type(t) for t in TASKS} == {Task}
    assert {type(s.source) for s in [*hub.BENCHMARKS.values(), *hub.TASKS.values()]} == {Hub}
    assert {type(s.source) for s in [*offline.BENCHMARKS.values(), *offline.TASKS, offline.GENERAL]} == {Packaged}


def test_every_spec_has_a_version_and_a_known_category():
    for spec in [*BENCHMARKS, *TASKS]:
        assert isinstance(spec.version, int) and spec.version >= 1, spec.name
    for spec in BENCHMARKS:
        assert spec.category in study.CATEGORIES, spec.name
    for source in (hub.BENCHMARKS.values(), offline.BENCHMARKS.values()):
        assert {b.category for b in source} == set(study.CATEGORIES)


def test_both_sources_train_the_study_tasks_in_its_order():
    assert tuple(hub.TASKS) == study.TASKS
    assert tuple(t.name for t in offline.TASKS) == study.TASKS
    assert [t.stage for t in offline.TASKS] == [study.TASK_STAGE[t.name] for t in offline.TASKS]
    assert hub.GENERAL.stage == offline.GENERAL.stage == 0


def test_a_spec_with_an_unknown_category_or_kind_is_refused():
    spec = offline.BENCHMARKS["sciq"]
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
