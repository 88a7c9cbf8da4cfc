"""Run a stage notebook with papermill, after checking its parameters (papermill only warns).

    python -m cf_utils.notebooks 01_prepare_data --profile cpu [-p seed 7] [-p overrides '{"data.bench_items": 50}']

The executed notebook is kept as the run log in ``artifacts/<profile>/notebooks/``. A parameter the
notebook does not declare is an error naming the parameter and the notebook's parameters, so a
typo never runs the default silently. Values given with ``-p`` are parsed as YAML literals
(``7`` -> int, ``null`` -> None, ``{a: 1}`` -> dict).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from cf_utils import paths


class ParameterError(ValueError):
    """A notebook parameter that the notebook does not declare, or one of the wrong type."""


def notebook_path(name: str) -> Path:
    path = paths.NOTEBOOKS / (name if name.endswith(".ipynb") else f"{name}.ipynb")
    if not path.is_file():
        known = sorted(p.stem for p in paths.NOTEBOOKS.glob("*.ipynb"))
        raise FileNotFoundError(f"no notebook {name!r} in {paths.NOTEBOOKS}; known: {known}")
    return path


def check_parameters(path: Path, params: dict) -> None:
    import papermill

    declared = papermill.inspect_notebook(str(path))
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ParameterError(f"{path.name}: unknown parameter(s) {unknown}; the notebook declares {sorted(declared)}")


def run(name: str, profile: str, params: dict | None = None, log_dir: Path | None = None) -> Path:
    """Execute notebook ``name`` for ``profile``; return the executed copy's path."""
    import papermill

    path = notebook_path(name)
    params = {"profile": profile, **(params or {})}
    check_parameters(path, params)
    out_dir = Path(log_dir or paths.artifacts_dir(profile) / "notebooks")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name
    os.environ["CF_TEXT_PROGRESS"] = "1"  # the kernel inherits it: text progress bars reach the run log
    papermill.execute_notebook(str(path), str(out), parameters=params, kernel_name="python3",
                               cwd=str(paths.NOTEBOOKS), progress_bar=False, log_output=True)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cf_utils.notebooks", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook", help="e.g. 01_prepare_data")
    ap.add_argument("--profile", required=True)
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = ap.parse_args(argv)
    from papermill.exceptions import PapermillExecutionError

    try:
        run(args.notebook, args.profile, {k: yaml.safe_load(v) for k, v in args.p})
    except (ParameterError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except PapermillExecutionError as e:  # the cell's own error, without papermill's wrapping
        log = paths.artifacts_dir(args.profile) / "notebooks" / notebook_path(args.notebook).name
        print(f"error: {args.notebook} failed: {e.ename}: {e.evalue}\n(full log: {log})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
