"""Soak: the whole study killed (SIGKILL to make and every process under it) at chosen and at random
moments, then finished; the results must equal one uninterrupted run's byte for byte.

    .venv/bin/python tests/soak.py [--profile smoke] [--random-kills 1] [--seed 0] [--keep DIR]
    .venv/bin/python tests/soak.py --kill-once [--profile smoke] [--seed S] [--keep DIR]

Each run is ``make reproduce PROFILE=<profile>`` with its outputs in a temporary folder (``DATA_ROOT``,
``ARTIFACTS_ROOT``, ``FIGURES_ROOT``; the download cache is shared). First one clean run,
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
``tests/test_soak.py`` runs it in ``make test-all``.

``--kill-once`` is ``make test``'s fault check (``make test-kill``), which runs no clean chain of its own:
the clean run is the one ``make reproduce PROFILE=smoke`` just made (the roots make exports, else the
repository's data/ and artifacts/). A copy of it (data and artifacts, the make timestamps kept) loses one
study chain from a stage on, as a run killed there would have left it; ``make reproduce`` in the copy is
killed once, at a moment within the work left, then run to the end. The seed picks the chain, the stage
and the moment. Passes when the remade ``scores.csv`` and every other result equal the clean run's byte
for byte and ``make -q`` finds nothing to do.
Exit status 0 on success, 1 with each problem named (and the command that reruns the check).
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
           "mitigations/scores.csv", "mitigations/items.csv", "dose/items.csv", "dose/fit.csv")  # fmt: skip
TIMEOUT_S = 1800


class Roots:
    """Where one run's outputs go: make's DATA_ROOT, ARTIFACTS_ROOT and FIGURES_ROOT, under ``base``."""

    def __init__(self, base: Path, profile: str, jobs: int = 1):
        self.base, self.profile, self.jobs = base, profile, jobs
        self.data, self.artifacts, self.figures = base / "data", base / "artifacts", base / "figures"

    @classmethod
    def given(cls, profile: str) -> Roots:
        """The roots this process was given: those make exports (CF_*_ROOT), else the repository's."""
        from cf_utils import paths

        roots = cls(ROOT, profile)
        roots.data, roots.artifacts = paths.data_root(), paths.artifacts_dir(profile).parent
        roots.figures = paths.figures_dir(profile).parent
        return roots

    def make(self, *extra: str) -> list[str]:
        return ["make", f"-j{self.jobs}", *extra, f"PROFILE={self.profile}", f"DATA_ROOT={self.data}",
                f"ARTIFACTS_ROOT={self.artifacts}", f"FIGURES_ROOT={self.figures}"]  # fmt: skip

    @property
    def out(self) -> Path:
        return self.artifacts / self.profile


def _env() -> dict:
    from cf_utils import paths

    env = dict(os.environ)
    # each run's roots are on its command line; under `make test` it is a make of its own, not a sub-make
    for key in ("CF_DATA_ROOT", "CF_ARTIFACTS_ROOT", "CF_FIGURES_ROOT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
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
    return problems + compare(roots, clean)


def compare(roots: Roots, clean: Roots) -> list[str]:
    """The problems of a finished run against the clean one: a result file that differs, make not done."""
    problems = []
    for f in RESULTS:
        a, b = digest(clean.out / f), digest(roots.out / f)
        print(f"    {f:<24} clean {a}  this {b}")
        if a != b or a == "missing":
            problems.append(f"{f} differs from the uninterrupted run's")
    if not up_to_date(roots):
        problems.append("make would run again after the resumed run")
    return problems


def up_to_date(roots: Roots) -> bool:
    """The report is current: ``make -q`` exits 0 when there is nothing to do."""
    q = roots.make("-q", str(roots.out / "report.md"))
    return subprocess.run(q, cwd=ROOT, env=_env(), capture_output=True).returncode == 0


# ---------------------------------------------------------------- make test's fault check: one kill, no clean run


def study_chains(profile: str) -> list[str]:
    """The profile's study chains, MODEL/VARIANT (those 03 gathers into scores.csv)."""
    from cf_utils.config import load_config

    cfg = load_config(profile)
    return [f"{m}/{v}" for m in cfg.train.models for v in cfg.train.variants]


def unfinish(roots: Roots, chain: str, stage: int) -> None:
    """Leave ``chain`` as a run killed before training ``stage`` would have: that stage and the later ones
    removed with their scored cells, the chain's make stamps, and the run-level outputs made after it (scores,
    report, ...). The outputs must go too: the Makefile's ``.SECONDARY:`` makes every file target secondary, and
    make does not remake a target whose secondary prerequisite is missing but whose own prerequisites are older."""
    from cf_utils import paths, study

    def here(path: Path) -> Path:  # a path of paths.py's layout, under these roots
        return roots.out / path.relative_to(paths.artifacts_dir(roots.profile))

    model, variant = chain.split("/")
    for k in (s for s in study.STAGES if s >= stage):
        shutil.rmtree(here(paths.stage_dir(roots.profile, model, variant, k)), ignore_errors=True)
        cells = paths.cell_file(roots.profile, model, variant, k, "any").parent  # the stage's scored cells
        shutil.rmtree(here(cells), ignore_errors=True)
    here(paths.trained_stamp(roots.profile, model, variant)).unlink(missing_ok=True)
    here(paths.evaluated_stamp(roots.profile, model, variant)).unlink(missing_ok=True)
    for name in paths.OUTPUTS:
        if name != "chains.mk":
            roots.out.joinpath(name).unlink(missing_ok=True)


def work_left(manifest: Path, chain: str, stage: int) -> float:
    """Seconds of work a run redoes after ``unfinish``: the chain's training, scoring and generation from
    ``stage`` on and the notebooks after the data, as the clean run recorded them (its manifest.json). Process
    starts are not counted, so the run takes longer: a kill within this time lands."""
    try:
        m = json.loads(manifest.read_text())
        model, variant = chain.split("/")
        steps = [s for s in m["stages"] if (s["model"], s["variant"]) == (model, variant) and s["stage"] >= stage]
        chain_s = sum(s[k] or 0 for s in steps for k in ("train_wall_s", "scoring_s", "generation_s"))
        return chain_s + sum(v or 0 for k, v in m["notebooks_s"].items() if not k.startswith("01_"))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"  no timings in {manifest} ({e!r}): assuming 60 s of work left")
        return 60.0


def kill_once(profile: str, seed: int | str, keep: Path | None) -> int:
    from cf_utils import study

    clean = Roots.given(profile)
    rerun = f".venv/bin/python tests/soak.py --kill-once --profile {profile} --seed {seed}"
    if not up_to_date(clean):
        print(f"no clean run to compare with: {clean.out}/report.md is missing or out of date; make it first "
              f"(make reproduce PROFILE={profile}; make test-kill does)")  # fmt: skip
        return 1
    if keep is not None and keep.exists() and any(keep.iterdir()):
        print(f"--keep {keep}: not empty (the check copies a whole run there)")
        return 1
    rng = random.Random(seed)
    chain, stage = rng.choice(study_chains(profile)), rng.choice(study.STAGES)
    work = work_left(clean.out / "manifest.json", chain, stage)
    at = max(2.0, rng.uniform(0.05, 0.95) * work)
    base = keep or Path(tempfile.mkdtemp(prefix="cf-kill-"))
    roots, log = Roots(base, profile), base / "make.log"
    print(f"kill check (seed {seed}): {chain} redone from stage {stage} on, in a copy of {clean.out} "
          f"(~{work:.0f} s of work); make reproduce killed at {at:.0f} s, then resumed", flush=True)  # fmt: skip
    problems = []
    try:
        # the copy keeps every mtime (copy2): make finds done what the clean run did, but for that chain
        shutil.copytree(clean.data / profile, roots.data / profile, symlinks=True)
        shutil.copytree(clean.out, roots.out, symlinks=True)
        unfinish(roots, chain, stage)
        started = time.time()
        for _ in range(3):
            killed, step, elapsed = run(roots, log, after(at))
            if killed:
                print(f"  killed at {elapsed:.1f} s during {step or 'make'}", flush=True)
                break
            # the recorded timings overstated the work left (a busier clean run): again, within this run's time
            print(f"  no kill: the run finished first ({elapsed:.0f} s); again, killed within that", flush=True)
            unfinish(roots, chain, stage)
            at = max(2.0, rng.uniform(0.05, 0.95) * elapsed)
        else:
            problems.append("every run finished before its kill")
        _, _, rest = run(roots, log)
        print(f"  resumed run: {rest:.0f} s", flush=True)
        problems += compare(roots, clean)
        if (roots.out / "scores.csv").stat().st_mtime < started:
            problems.append("scores.csv was not remade: the check compared the clean run's file with its copy")
    except (RuntimeError, TimeoutError, OSError) as e:
        problems.append(str(e))
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems) + f"\n(the runs: {base}; make's output: {log})\nrerun alone: {rerun}")
        return 1
    print("PASS: killed and resumed, the results equal the uninterrupted run's byte for byte")
    if keep is None:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def _seed(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--random-kills", type=int, default=5, help="runs killed at random moments (a second folder)")
    ap.add_argument("--seed", type=_seed, default=0, help="an integer, or any string (make test: the commit)")
    ap.add_argument("--keep", type=Path, help="keep the runs' folders here (default: a temporary folder, removed)")
    ap.add_argument("--kill-once", action="store_true", help="make test's check: one kill, the clean run given")
    args = ap.parse_args(argv)
    if args.kill_once:
        return kill_once(args.profile, args.seed, args.keep)
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
