"""Run a stage notebook with papermill, after checking its parameters (papermill only warns).

    python -m cf_utils.notebooks 01_prepare_data --profile cpu [-p seed 7] [-p overrides '{"data.bench_items": 50}']

The executed notebook is kept as the run log in ``artifacts/<profile>/notebooks/``. Before a kernel
starts (so a bad input costs no time and leaves nothing behind), the parameters are checked: a
parameter the notebook does not declare is an error naming it and the declared ones (papermill
itself only warns), and ``profile``/``seed``/``overrides`` must give a valid config (unknown,
mistyped or out-of-range keys, models not in the registry). Exit status 2 for these, 1 when the
notebook itself fails. Values given with ``-p`` are parsed as YAML literals (``7`` -> int,
``null`` -> None, ``{a: 1}`` -> dict).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

import yaml

from cf_utils import paths, pieces


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


def check_config(params: dict):
    """The config the notebook will load from its parameters, validated (models against the registry)."""
    from cf_utils import registry
    from cf_utils.chains import profile_models
    from cf_utils.config import load_config

    overrides, seed = params.get("overrides") or {}, params.get("seed")
    if not isinstance(overrides, dict):
        raise ParameterError(f"parameter overrides must be a mapping like '{{data.bench_items: 8}}', got {overrides!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ParameterError(f"parameter seed must be an integer or null, got {seed!r}")
    cfg = load_config(params["profile"], overrides, seed=seed)
    for name in profile_models(cfg):
        registry.get_spec(name)
    return cfg


def run(name: str, profile: str, params: dict | None = None, log_dir: Path | None = None) -> Path:
    """Execute notebook ``name`` for ``profile``; return the executed copy's path."""
    import papermill

    path = notebook_path(name)
    params = {"profile": profile, **(params or {})}
    check_parameters(path, params)
    check_config(params)
    out_dir = Path(log_dir or paths.notebook_log_dir(profile))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name
    with _kernel_environment():
        papermill.execute_notebook(str(path), str(out), parameters=params, kernel_name="python3",
                                   cwd=str(paths.NOTEBOOKS), progress_bar=False, log_output=True)  # fmt: skip
    pieces.touch(profile)
    return out


@contextlib.contextmanager
def _kernel_environment():
    """What the kernel inherits: text progress bars (cf_utils.progress) drawn on the kernel's own stderr,
    which the kernel does not copy into the notebook (``capture_fd_output = False``, set in a throw-away
    IPython profile): the terminal and make's log show the bars, the executed notebook one line per bar."""
    with tempfile.TemporaryDirectory(prefix="cf-ipython-") as ipython_dir:
        profile = Path(ipython_dir) / "profile_default"
        profile.mkdir()
        (profile / "ipython_kernel_config.py").write_text("c.IPKernelApp.capture_fd_output = False\n")
        with mock.patch.dict(os.environ, CF_TEXT_PROGRESS="1", IPYTHONDIR=ipython_dir):  # restored afterwards
            yield


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cf_utils.notebooks", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook", help="e.g. 01_prepare_data")
    ap.add_argument("--profile", required=True)
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = ap.parse_args(argv)
    from papermill.exceptions import PapermillExecutionError

    from cf_utils.config import ConfigError
    from cf_utils.registry import ModelNotFoundError

    try:
        run(args.notebook, args.profile, {k: yaml.safe_load(v) for k, v in args.p})
    except (ParameterError, FileNotFoundError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ModelNotFoundError as e:  # a KeyError: its str() is quoted
        print(f"error: {e.args[0]} (configs: train.models, mitigation.model)", file=sys.stderr)
        return 2
    except yaml.YAMLError as e:
        print(f"error: a -p value is not valid YAML: {e}", file=sys.stderr)
        return 2
    except PapermillExecutionError as e:  # the cell's own error, without papermill's wrapping
        log = paths.notebook_log_dir(args.profile) / notebook_path(args.notebook).name
        print(f"error: {args.notebook} failed: {e.ename}: {e.evalue}\n(full log: {log})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
