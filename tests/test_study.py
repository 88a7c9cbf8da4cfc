"""The study's vocabulary has one owner (cf_utils/study.py; the profiles: cf_utils/config.py) and the package's
import graph has no cycle."""

import ast
import typing

import pytest

from cf_utils import config, makedeps, mitigations, paths, study

PACKAGE = paths.ROOT / "cf_utils"


def _allowed(cls, name: str) -> tuple:
    hint = typing.get_type_hints(cls)[name]
    if typing.get_origin(hint) is list:
        (hint,) = typing.get_args(hint)
    return typing.get_args(hint)


def test_the_config_allows_exactly_the_registries_values():
    assert _allowed(config.TrainConfig, "variants") == study.TRAINED_VARIANTS == tuple(mitigations.VARIANTS)
    assert _allowed(config.MitigationConfig, "methods") == study.MITIGATIONS
    assert set(study.MITIGATIONS) == (set(mitigations.VARIANTS) - {study.SEQ}) | set(study.EVAL_ONLY_VARIANTS)
    assert _allowed(config.TrainConfig, "method") == study.METHODS


def test_stages_tasks_and_categories_are_consistent():
    assert study.STAGES == (0, *study.TRAINED_STAGES) and study.LAST == len(study.TASKS)
    assert list(study.TASK_LABELS) == list(study.TASKS)
    assert list(study.CATEGORY_LABELS) == list(study.ABBR) == list(study.CATEGORIES)
    assert set(study.GENERAL) < set(study.CATEGORIES)


def _string_tuples(tree: ast.AST) -> list[tuple[str, ...]]:
    return [
        tuple(e.value for e in node.elts)
        for node in ast.walk(tree)
        if isinstance(node, ast.Tuple | ast.List) and node.elts
        and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    ]  # fmt: skip


@pytest.mark.parametrize("vocabulary", ["TASKS", "CATEGORIES", "TRAINED_VARIANTS", "METHODS"])
def test_no_other_module_spells_out_the_vocabulary(vocabulary):
    words = getattr(study, vocabulary)
    copies = [
        f.relative_to(paths.ROOT)
        for f in PACKAGE.rglob("*.py")
        if f.name != "study.py" and words in _string_tuples(ast.parse(f.read_text()))
    ]
    assert not copies, f"{vocabulary} is spelled out in {copies}: import it from cf_utils.study"


# Every name of the study, and the module that owns it: anywhere else the code imports the constant.
OWNED = {
    **dict.fromkeys((*study.TASKS, study.GENERAL_TASK, *study.SCORE_CATEGORIES, study.GENERAL_POOLED), "study.py"),
    **dict.fromkeys((*study.TRAINED_VARIANTS, *study.EVAL_ONLY_VARIANTS, *study.METHODS), "study.py"),
    **dict.fromkeys(config.PROFILES, "config.py"),
}
# The same word with another meaning: the only literals of a study name the package may hold.
OTHER_MEANING = {
    ("*", "cpu"): "torch's device name (the profile is config.CPU)",
    ("cf_utils/textmetrics.py", "exp"): "sacrebleu's exponential smoothing, not the task",
    ("cf_utils/data/offline.py", "paper"): "the mapping table's column: the paper's dataset, not the profile",
    ("cf_utils/report/paper.py", "paper"): "the column of the paper's numbers, not the profile",
}


# Left as they are while they are edited elsewhere (issue 27 goes on there); the check fails once one is clean,
# so the exemption goes with its last literal.
def _typed_names(path) -> list[tuple[int, str]]:
    """(line, word) of every string literal in ``path`` that is a study name (or a ``wise-`` chain name), except
    docstrings and the literal text of f-strings (messages may say "seq")."""
    tree = ast.parse(path.read_text())
    exempt = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    exempt |= {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef) and n.body and isinstance(n.body[0], ast.Expr)
    }
    return sorted(
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in exempt
        and (n.value in OWNED or n.value.startswith(f"{study.WISE}-"))
    )  # fmt: skip


def test_no_study_name_is_typed_outside_its_owner():
    typed = []
    for f in sorted(PACKAGE.rglob("*.py")):
        name = str(f.relative_to(paths.ROOT))
        for line, word in _typed_names(f):
            if OWNED.get(word) == f.name and f.parent == PACKAGE:
                continue
            if ("*", word) in OTHER_MEANING or (name, word) in OTHER_MEANING:
                continue
            typed.append(f"{name}:{line} {word!r}")
    assert not typed, f"study names typed by hand: {typed}; import them (cf_utils.study, cf_utils.config)"


def test_the_import_graph_has_no_cycle():
    graph, state, path = makedeps.import_graph(), {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycle = path[path.index(dep) :] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_make_rules_depend_on_exactly_the_code_they_run():
    graph = makedeps.import_graph()
    train, evaluate = (set(makedeps.sources(makedeps.TARGETS[v], graph)) for v in ("TRAIN_SRC", "EVAL_SRC"))
    assert {"cf_utils/launch.py", "cf_utils/train.py", "cf_utils/stage.py", "cf_utils/mitigations.py"} <= train
    assert "cf_utils/scoring.py" not in train  # a scoring change does not re-run training
    assert {"cf_utils/scoring.py", "cf_utils/generation.py", "cf_utils/launch.py"} <= evaluate
    figures = set(makedeps.sources(makedeps.TARGETS["FIG_SRC"], graph))
    assert {"cf_utils/notebooks.py", "cf_utils/plots.py", "cf_utils/metrics.py", "cf_utils/stats.py"} <= figures
    mk = makedeps.makefile()
    assert all(f"{var} := " in mk for var in makedeps.TARGETS)


def test_every_fact_the_artifact_cites_is_in_the_repository():
    """Nothing points at a file outside the repository (the paper's protocol lives in docs/protocol.md)."""
    assert (paths.ROOT / "docs" / "protocol.md").is_file()
    texts = [
        *paths.ROOT.glob("*.md"),
        *paths.CONFIGS.glob("*.yaml"),
        *PACKAGE.rglob("*.py"),
        *paths.NOTEBOOKS.glob("*.ipynb"),  # not .ipynb_checkpoints/, which JupyterLab leaves
    ]
    citing = [f.name for f in texts if "PROTOCOL.md" in f.read_text()]
    assert not citing, f"{citing} cite PROTOCOL.md, which is not in the repository: cite docs/protocol.md"
