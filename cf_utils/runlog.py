"""The run log on disk: what a finished stage recorded, the marker that says it is finished, the chain lock.

    <stage dir>/metrics.json   written last inside the stage's atomically swapped directory: its presence
                               marks the stage finished; it holds the stage's steps, tokens, losses, times

A stage directory is a chain's ``stage-<k>`` (paths.stage_dir) or a derived model's (paths.derived_dir).
Training writes the record (cf_utils.train), evaluation checks it, and the report and the manifest read
it back; none of them builds the file name itself. Standard library only, so the read side (report,
plots, 04_figures) reads the log without importing torch; the lock asks the process group
(cf_utils.distributed) only when it is taken, which only the writers do.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cf_utils import paths
from cf_utils.study import TRAINED_STAGES

RECORD = "metrics.json"
# Per stage, beside steps and tokens: what forgetting depends on (stage.loss_drop, stage.weight_change).
STAGE_LOG = ("loss_start", "loss_end", "loss_drop", "weight_distance", "relative_distance")


def record_file(stage_dir: Path) -> Path:
    """A stage directory's record (its done marker)."""
    return stage_dir / RECORD


def is_done(stage_dir: Path) -> bool:
    """A stage is finished when its record exists (written inside the atomically swapped dir)."""
    return record_file(stage_dir).is_file()


def read_record(stage_dir: Path) -> dict | None:
    """A finished stage's record, or None when the stage is not finished."""
    path = record_file(stage_dir)
    return json.loads(path.read_text()) if path.is_file() else None


def stage_record(profile: str, model: str, variant: str, k: int) -> dict | None:
    """The record of stage ``k`` of a (model, variant) chain, or None when that stage is not finished."""
    return read_record(paths.stage_dir(profile, model, variant, k))


def chain_summary(profile: str, name: str, variant: str) -> list[dict]:
    """One row per finished stage of a chain: steps, tokens, tokens/s, wall time, first and last loss, peak
    memory, and what the forgetting literature ties forgetting to: the task loss at the start and end of
    the stage (``stage.loss_drop``) and the distance the weights moved from the previous stage's
    (``stage.weight_change``; the adapter's weights under (Q)LoRA). A field a stage's record lacks (one
    trained before it was recorded) is empty."""
    rows = []
    for k in TRAINED_STAGES:
        m = stage_record(profile, name, variant, k)
        if m is None:
            continue
        rows.append(
            {
                "model": name,
                "variant": variant,
                "method": m.get("method"),
                "stage": k,
                "task": m["task"],
                "epochs": m.get("epochs"),
                "steps": m.get("steps"),
                "tokens": m.get("tokens"),
                "tokens_per_s": _rounded(m.get("tokens_per_s")),
                "wall_s": _rounded(m.get("wall_s"), 1),
                "first_loss": m["loss"][0],
                "final_loss": m["loss"][-1],
                **{key: m.get(key) for key in STAGE_LOG},
                "peak_memory_mb": _rounded(m.get("peak_memory_mb")),
            }
        )
    return rows


def _rounded(x: float | None, digits: int | None = None) -> float | None:
    return None if x is None else round(x, digits)


@contextmanager
def chain_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on a chain directory; wait (saying so) while another process holds it.
    The waiting process then finds the other's finished stages or cells and reuses them. Under several
    processes of one launch (cf_utils.distributed) only process 0 locks: they work on the chain together."""
    from cf_utils import distributed  # torch: only the writers lock

    if not distributed.is_main():
        distributed.barrier()  # process 0 holds the lock: what the others read now stays put
        yield
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(f".{root.name}.lock"), "w") as f:  # beside the dir: a stale chain's rmtree keeps it
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{root}: another process (make -j, another notebook) is working on it; waiting", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        distributed.barrier()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
