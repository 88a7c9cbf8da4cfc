"""Notebook hygiene and the papermill runner's parameter checks (no kernel started here)."""

import ast
import json

import pytest

from cf_utils import notebooks, paths

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_with_a_literal_parameters_cell(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "strip outputs before committing"
    assert nb["cells"][0]["cell_type"] == "markdown"  # purpose, inputs, outputs, runtime
    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    tree = ast.parse("".join(params[0]["source"]))
    for stmt in tree.body:  # papermill's rule: independent literals only, nothing derived
        assert isinstance(stmt, ast.Assign)
        ast.literal_eval(stmt.value)
    names = {t.id for s in tree.body for t in s.targets}
    assert "profile" in names


def test_unknown_parameter_exits_2_and_names_it(capsys):
    rc = notebooks.main(["01_prepare_data", "--profile", "smoke", "-p", "seeed", "3"])
    assert rc == 2
    assert "unknown parameter(s) ['seeed']" in capsys.readouterr().err


def test_unknown_notebook_is_named(capsys):
    assert notebooks.main(["99_nope", "--profile", "smoke"]) == 2
    assert "no notebook '99_nope'" in capsys.readouterr().err
