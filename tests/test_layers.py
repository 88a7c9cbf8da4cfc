"""The read side stands on its own: the report, the plots and 04_figures read files without importing torch.

Each check imports in a fresh interpreter (this one has torch loaded by other tests) and fails when
torch is then in ``sys.modules``: a report module that imports the trainer, the evaluator or the model
loader (for a model's facts: cf_utils.registry has them) would pull it in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from cf_utils import paths

READ_SIDE = ("cf_utils.report", "cf_utils.plots", "cf_utils.runlog", "cf_utils.mitigation_tables", "cf_utils.registry",
             "cf_utils.chains", "cf_utils.provenance", "cf_utils.dose_tables")  # fmt: skip
HEAVY = ("torch", "transformers", "peft")


def _heavy_after(code: str) -> list[str]:
    """The heavy packages loaded after running ``code`` in a fresh interpreter (in the repository)."""
    check = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", check], cwd=paths.ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", READ_SIDE)
def test_the_read_side_imports_no_torch(module):
    assert _heavy_after(f"import {module}") == [], f"importing {module} loads torch: see tests/test_layers.py"


def test_notebook_04_imports_no_torch():
    cells = json.loads((paths.NOTEBOOKS / "04_figures.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))  # magics
    imports = [ast.unparse(n) for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert any("cf_utils" in line for line in imports)
    assert _heavy_after("\n".join(imports)) == [], f"04_figures' imports load torch: {imports}"
