"""Which source files each make target runs, derived from the real imports (never kept by hand).

A make rule must re-run when any code it executes changes, and only then. The code a notebook or a
chain process executes is the transitive closure of the cf_utils modules it imports (at module level
or inside functions), read here from the syntax trees, so the Makefile's ``*_SRC`` lists are always
the real ones. ``python -m cf_utils.makedeps`` prints them as make variables; the Makefile includes
them (``$(ARTIFACTS_ROOT)/makedeps.mk``, remade when any module or notebook changes).

Standard library only: make runs it before the project's environment exists.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

from cf_utils.paths import NOTEBOOKS, ROOT

PACKAGE = ROOT / "cf_utils"
RUNNER = "cf_utils.notebooks"  # papermill's runner: part of every notebook rule
# make variable -> what runs: a notebook (its code cells' imports), a module run by itself (python -m), or the
# launcher's step modules (a chain process's entry).
TARGETS = {
    "DATA_SRC": "01_prepare_data.ipynb",
    "FINETUNE_SRC": "02_finetune.ipynb",
    "SCORES_SRC": "03_evaluate.ipynb",
    "FIG_SRC": "04_figures.ipynb",
    "MIT_SRC": "05_mitigations.ipynb",
    # cf_utils.launch imports each step's modules inside the step, so a chain's rule depends on the
    # launcher's module-level imports and on the step's own modules, not on the other steps'.
    "TRAIN_SRC": ("cf_utils.train",),  # launch train --chain: the chain's training
    "EVAL_SRC": ("cf_utils.evaluate",),  # launch evaluate --chain: the chain's cells
    "CHAINS_SRC": ("cf_utils.mitigations",),  # launch chains --make: the chains (cf_utils.chains), the model checked
    "DOSE_SRC": "cf_utils.dose_study",  # python -m cf_utils.dose_study: the module and what it imports
}
LAUNCHER = "cf_utils.launch"


def module_files() -> dict[str, Path]:
    """Every cf_utils module by dotted name (a package by its __init__)."""
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = f.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def imported(tree: ast.AST, known: dict[str, Path], top_level: bool = False) -> set[str]:
    """The cf_utils modules a syntax tree imports (``from cf_utils import x`` names module x), anywhere
    or (``top_level``) in its module-level statements only."""
    found = set()
    for node in tree.body if top_level else ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cf_utils"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cf_utils")}
    return {m for m in found if m in known}


def import_graph() -> dict[str, set[str]]:
    """Every cf_utils module -> the cf_utils modules it imports (the package itself left out: it is empty)."""
    known = module_files()
    return {name: imported(ast.parse(path.read_text()), known) - {name, "cf_utils"} for name, path in known.items()}


def notebook_imports(name: str) -> set[str]:
    cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))  # magics
    return imported(ast.parse(code), module_files()) | {RUNNER}


def closure(roots: set[str], graph: dict[str, set[str]]) -> set[str]:
    todo, seen = list(roots), set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph[m]
    return seen


def sources(target: str | tuple[str, ...], graph: dict[str, set[str]]) -> list[str]:
    """The files (relative to the repository) that ``target`` executes."""
    files = module_files()
    if isinstance(target, str) and target.endswith(".ipynb"):
        roots = notebook_imports(target)
    elif isinstance(target, str):  # a module run as python -m
        roots = {target}
    else:  # the launcher's own imports, then the step's modules
        roots = {LAUNCHER, *target} | imported(ast.parse(files[LAUNCHER].read_text()), files, top_level=True)
        graph = {**graph, LAUNCHER: set()}
    return sorted(str(files[m].relative_to(ROOT)) for m in closure(roots, graph))


def makefile() -> str:
    graph = import_graph()
    lines = ["# The source files each target runs: `python -m cf_utils.makedeps` (cf_utils/makedeps.py). Do not edit."]
    lines += [f"{var} := {' '.join(sources(target, graph))}" for var, target in TARGETS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(makefile())
