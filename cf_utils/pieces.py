"""artifacts/<profile>/pieces.json: a run made in several sittings, each one's start, end and code.

    python -m cf_utils.pieces begin --profile cpu-full     (make reproduce, before anything else)
    python -m cf_utils.pieces end --profile cpu-full       (make reproduce, once the report is written)

A long study (cpu-full: hours) runs in pieces: ``make reproduce`` is interrupted (a session ends, a laptop
sleeps) and the next ``make reproduce`` resumes where it stopped (finished stages and scored cells are kept,
an interrupted stage resumes from its last saved step). Each ``make reproduce`` is a piece. ``begin`` appends
one with its start and the code it runs (the commit, whether tracked files differ from it, and a hash of that
difference); every finished step of the run (a stage, a scored checkpoint, a notebook) moves the open piece's
``end`` forward (``touch``), so a piece killed mid-step ends at its last finished step; ``end`` closes it.

``begin`` refuses to add a piece whose code differs from the pieces before it when the run began from a commit:
results made by two commits would be one run of neither. The error says how to go on (check out the first
piece's commit, or start afresh). A run that reached its report is over: the next ``make reproduce`` begins a new
run (make itself redoes what the new code changed). The manifest carries the pieces, the report sums their time
beside the plan, and ``make publish`` refuses a run whose pieces ran different or uncommitted code (``mixed``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from cf_utils import paths
from cf_utils.io import atomic_write_json


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def code(root: Path = paths.ROOT) -> dict:
    """The commit, whether tracked files differ from it, and the sha256 of ``git diff HEAD`` (None when clean):
    two pieces with the same three ran the same code (untracked files aside). All None outside a git checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        diff = subprocess.run(["git", "diff", "HEAD"], cwd=root, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None, "diff_sha256": None}
    dirty = bool(diff.stdout.strip())
    return {"commit": sha.stdout.strip(), "dirty": dirty,
            "diff_sha256": hashlib.sha256(diff.stdout).hexdigest() if dirty else None}  # fmt: skip


def _file(profile: str) -> Path:
    return paths.output(profile, "pieces.json")


@contextlib.contextmanager
def _locked(profile: str) -> Iterator[list[dict]]:
    """The pieces, read and written back under a lock (two chains of ``make -j 2`` touch at once)."""
    path = _file(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pieces = read(profile)
        before = json.dumps(pieces)
        yield pieces
        if json.dumps(pieces) != before:
            atomic_write_json(path, pieces)


def read(profile: str) -> list[dict]:
    """The pieces so far (none: an empty list)."""
    path = _file(profile)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


CODE = ("commit", "dirty", "diff_sha256")  # what two pieces share when they ran the same code


class MixedCode(RuntimeError):
    """A piece would run other code than the pieces before it."""


def mixed(pieces: list[dict]) -> bool:
    """Whether the pieces ran different code (or any ran uncommitted changes: its code is in no commit)."""
    return any(p.get(k) != pieces[0].get(k) for p in pieces for k in CODE) or any(p.get("dirty") for p in pieces)


def begin(profile: str, now: dict | None = None) -> dict:
    """Open a piece of the run. A run whose last piece reached its report is over: this begins a new one. A run
    left unfinished resumes, with the code it began with: other code is refused when the run began from a commit;
    a working-tree run (uncommitted changes: never publishable) goes on with a warning."""
    now = now or code()
    with _locked(profile) as pieces:
        if pieces and pieces[-1]["finished"]:
            pieces.clear()  # the last run finished; its manifest kept its pieces
        if pieces and any(pieces[0].get(k) != now[k] for k in CODE):
            first = pieces[0]
            was = f"{first['commit']}{' with uncommitted changes' if first['dirty'] else ''}"
            is_ = f"{now['commit']}{' with uncommitted changes' if now['dirty'] else ''}"
            if not first["dirty"]:
                raise MixedCode(
                    f"artifacts/{profile} holds an unfinished run begun by the code of {was} ({len(pieces)} piece(s) "
                    f"so far); this checkout is {is_}. One run, one code: resume it from that commit (git stash; "
                    f"git checkout {first['commit']}; make reproduce PROFILE={profile}), or start afresh (make clean "
                    f"PROFILE={profile}; make reproduce PROFILE={profile})."
                )
            print(f"warning: artifacts/{profile}'s unfinished run began with {was}; this piece runs {is_}: the "
                  "run mixes code and cannot be published (make publish refuses it)", flush=True)  # fmt: skip
        piece = {"piece": len(pieces) + 1, **now, "start": _now(), "end": None, "finished": False,
                 "load_average": round(os.getloadavg()[0], 2)}  # fmt: skip
        pieces.append(piece)
    return piece


def touch(profile: str) -> None:
    """Move the open piece's end to now (a step of the run finished); nothing when no piece is open."""
    if not _file(profile).is_file():
        return
    with _locked(profile) as pieces:
        if pieces and not pieces[-1]["finished"]:
            pieces[-1]["end"] = _now()


def end(profile: str) -> None:
    """Close the open piece: the run reached its report."""
    with _locked(profile) as pieces:
        if pieces and not pieces[-1]["finished"]:
            pieces[-1]["end"], pieces[-1]["finished"] = _now(), True


def seconds(pieces: list[dict]) -> float:
    """The pieces' time, start to end (a piece killed before any step finished counts nothing)."""
    parse = datetime.datetime.fromisoformat
    return sum((parse(p["end"]) - parse(p["start"])).total_seconds() for p in pieces if p.get("end"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cf_utils.pieces", description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=["begin", "end", "show"])
    ap.add_argument("--profile", required=True)
    args = ap.parse_args(argv)
    if args.step == "begin":
        try:
            piece = begin(args.profile)
        except MixedCode as e:
            print(f"error: {e}", flush=True)
            return 2
        print(f"piece {piece['piece']} of the {args.profile} run, code {piece['commit']}"
              f"{' (with uncommitted changes)' if piece['dirty'] else ''}")  # fmt: skip
    elif args.step == "end":
        end(args.profile)
    else:
        pieces = read(args.profile)
        for p in pieces:
            print(f"piece {p['piece']}: {p['start']} .. {p['end']} {p['commit']} load {p['load_average']}")
        print(f"{len(pieces)} piece(s), {seconds(pieces) / 3600:.2f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
