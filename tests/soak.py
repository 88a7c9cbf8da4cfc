"""Soak: the whole study killed (SIGKILL to make and every process under it) at chosen and at random
moments, then finished; the results must equal one uninterrupted run's byte for byte.

    .venv/bin/python tests/soak.py [--profile smoke] [--random-kills 1] [--seed 0] [--keep DIR]

Each run is ``make reproduce PROFILE=<profile>`` with its outputs in a temporary folder (``DATA_ROOT``,
``ARTIFACTS_ROOT``, ``FIGURES_ROOT``; the BIG-bench download cache is shared). First one clean run,
then, in a fresh folder, runs killed

  1. during data preparation (01's half-built data folder exists),
  2. mid-stage in training (a stage's resume checkpoint exists, the stage is not finished),
  3. mid-evaluation (some of 03's cells are scored, scores.csv is not written),
  4. mid-way through the mitigation study (05 is training a method's chain),
  5. during figure generation (04 has saved some figures, the report is not written),

each followed by the next run; the last runs to the end. Passes when every result file equals the
clean run's byte for byte and ``make -q`` then finds nothing to do. The random kills run in a second
fresh folder: ``--random-kills`` runs in a row, each killed at a random moment, then one to the end.
A third fresh folder runs ``make -j 2 reproduce`` (two chains at a time), killed once at a random
moment and then run to the end: parallel chains must give the serial results too.
Exit status 0 on success, 1 with each problem named. ``tests/test_soak.py`` runs it in ``make test``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ("scores.csv", "items.csv", "forgetting.csv", "mitigations.csv", "mitigations_tasks.csv",
           "mitigations/scores.csv", "mitigations/items.csv")  # fmt: skip
TIMEOUT_S = 1800


class Roots:
    def __init__(self, base: Path, profile: str, jobs: int = 1):
        self.base, self.profile, self.jobs = base, profile, jobs
        self.data, self.artifacts, self.figures = base / "data", base / "artifacts", base / "figures"

    def make(self, *extra: str) -> list[str]:
        return ["make", f"-j{self.jobs}", *extra, f"PROFILE={self.profile}", f"DATA_ROOT={self.data}",
                f"ARTIFACTS_ROOT={self.artifacts}", f"FIGURES_ROOT={self.figures}"]  # fmt: skip

    @property
    def out(self) -> Path:
        return self.artifacts / self.profile


def _env() -> dict:
    from cf_utils import paths

    env = dict(os.environ)
    for key in ("CF_DATA_ROOT", "CF_ARTIFACTS_ROOT", "CF_FIGURES_ROOT"):
        env.pop(key, None)
    env["CF_CACHE"] = str(paths.cache_dir())  # shared downloads: resolved before any root moves
    return env


def running_step(pid: int) -> str | None:
    """What a make process tree is executing (from the command lines under it): a notebook's name, or
    ``train <chain>`` / ``evaluate <chain>`` for cf_utils.launch (several under make -j: the first)."""
    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for p in procs:
        try:
            cmd = p.cmdline()
        except psutil.Error:
            continue
        if "cf_utils.notebooks" in cmd:
            return cmd[cmd.index("cf_utils.notebooks") + 1]
        if "cf_utils.launch" in cmd and "--chain" in cmd:
            return f"{cmd[cmd.index('cf_utils.launch') + 1]} {cmd[cmd.index('--chain') + 1]}"
    return None


def kill_tree(pid: int) -> int:
    """SIGKILL make and every process under it (papermill, the kernel); return how many were killed."""
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)
    return len(procs)


Trigger = Callable[[Roots, str | None, float], bool]


def _glob(path: Path, pattern: str) -> list[Path]:
    return list(path.glob(pattern)) if path.exists() else []


def _step(step: str | None, *prefixes: str) -> bool:
    return step is not None and step.startswith(prefixes)


TRIGGERS: dict[str, Trigger] = {
    "data preparation": lambda r, s, t: s == "01_prepare_data" and bool(_glob(r.data, ".*.partial-*")),
    "training mid-stage": lambda r, s, t: _step(s, "train") and bool(_glob(r.out, "*/*/.stage-*.resume/state.pt")),
    "evaluation mid-way": lambda r, s, t: _step(s, "evaluate") and len(_glob(r.out, "eval/*/*/stage-*/*.json")) >= 20,
    "mitigation study": lambda r, s, t: (
        bool(_glob(r.out, "*/l2/stage-2/metrics.json")) and not _glob(r.out, "*/l2/stage-5/metrics.json")
    ),  # fmt: skip
    "figure generation": lambda r, s, t: s == "04_figures" and len(_glob(r.figures, "*/*.png")) >= 5,
}


def after(seconds: float) -> Trigger:
    """Fires once a run has lasted ``seconds``."""
    return lambda roots, step, elapsed: elapsed >= seconds


def run(roots: Roots, log: Path, trigger: Trigger | None = None) -> tuple[bool, str | None, float]:
    """One ``make reproduce``; killed when ``trigger`` fires. Returns (killed, step running, seconds)."""
    t0 = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(roots.make("reproduce"), cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        step = None
        while proc.poll() is None:
            elapsed = time.monotonic() - t0
            if elapsed > TIMEOUT_S:
                kill_tree(proc.pid)
                raise TimeoutError(f"make reproduce took over {TIMEOUT_S} s (log: {log})")
            step = running_step(proc.pid) or step
            if trigger is not None and trigger(roots, step, elapsed):
                kill_tree(proc.pid)
                return True, step, elapsed
            time.sleep(0.05)
    if proc.returncode != 0:
        raise RuntimeError(f"make reproduce failed with status {proc.returncode} (log: {log})")
    return False, step, time.monotonic() - t0


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "missing"


def soak(roots: Roots, plan: list[tuple[str, Trigger]], clean: Roots, log: Path) -> list[str]:
    """Run ``plan``'s kills in ``roots``, then a final run; return the problems found (empty: passed)."""
    problems = []
    for name, trigger in plan:
        killed, step, at = run(roots, log, trigger)
        print(f"  kill '{name}': " + (f"killed at {at:.1f} s during {step}" if killed else
                                      f"no kill: the run finished first ({at:.1f} s)"), flush=True)  # fmt: skip
        if not killed and name in TRIGGERS:
            problems.append(f"kill point '{name}' never reached")
    _, _, last_s = run(roots, log)
    print(f"  final run: {last_s:.0f} s (finishes what the kills left)")
    for f in RESULTS:
        a, b = digest(clean.out / f), digest(roots.out / f)
        print(f"    {f:<24} clean {a}  this {b}")
        if a != b or a == "missing":
            problems.append(f"{f} differs from the uninterrupted run's")
    # the report file must be current: make -q exits 0 when there is nothing to do
    if subprocess.run(roots.make("-q", str(roots.out / "report.md")), cwd=ROOT, env=_env()).returncode != 0:
        problems.append("make would run again after the soak")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--random-kills", type=int, default=5, help="runs killed at random moments (a second folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="keep the runs' folders here (default: a temporary folder, removed)")
    args = ap.parse_args(argv)
    base = Path(args.keep or tempfile.mkdtemp(prefix="cf-soak-"))
    base.mkdir(parents=True, exist_ok=True)
    clean = Roots(base / "clean", args.profile)
    log = base / "make.log"
    try:
        _, _, clean_s = run(clean, log)
        print(f"clean run: {clean_s:.0f} s", flush=True)
        rng = random.Random(args.seed)
        # each run resumes where the last was killed: kills within the first 2-15% of a clean run's time
        # leave work for the next one, so all of them land (their sum stays below the whole)
        moments = [max(2.0, rng.uniform(0.02, 0.15) * clean_s) for _ in range(args.random_kills)]
        plans = {
            "targeted": (1, list(TRIGGERS.items())),
            "random": (1, [(f"at {at:.0f} s", after(at)) for at in moments]),
            "parallel (make -j 2)": (2, [(f"at {moments[0]:.0f} s", after(moments[0]))]),
        }
        problems = []
        for i, (name, (jobs, plan)) in enumerate(plans.items()):
            print(f"{name} kills:", flush=True)
            problems += [f"{name}: {p}" for p in soak(Roots(base / f"run{i}", args.profile, jobs), plan, clean, log)]
        if problems:
            print("FAIL:\n  " + "\n  ".join(problems) + f"\n(log: {log})")
            return 1
        print(
            "PASS: after every kill the next make finished, and the results equal the uninterrupted run's byte for byte"
            " (serial and make -j 2)"
        )
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
