"""artifacts/<profile>/manifest.json: where every number of a run comes from.

Resolved config and seeds by purpose; the code (git sha, and whether the tree had uncommitted
changes); package versions; every model's identity (GGUF sha256, hub revision, or the training run
that derived it) and every data file's sha256; the device; wall time and peak memory of every
training stage and the time of every evaluated checkpoint; the executed notebooks' durations
(papermill's own record); and sha256 of the result files.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path

from cf_utils import paths, pieces, registry, runlog
from cf_utils.chains import all_chains, profile_models, trained
from cf_utils.config import Config
from cf_utils.data.manifest import read as read_data_manifest
from cf_utils.io import atomic_write_json, sha256_file
from cf_utils.study import STAGES

PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "datasets", "safetensors", "tokenizers",
            "papermill", "pandas", "numpy", "seaborn", "matplotlib", "sacrebleu", "rouge-score", "gguf")  # fmt: skip


BASELINE_KEYS = ("name", "role", "chance", "majority_baseline")  # what metrics.baselines reads back


def git_state(root: Path = paths.ROOT) -> dict:
    """Commit sha and a dirty flag (tracked files changed); None when not a git checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, check=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}


def versions() -> dict[str, str | None]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# What torch sees of the device, asked in a child process: the manifest's writer (04_figures) reads files only
# and never imports torch. Prints torch's thread count, the CPU's fast bf16 and the CUDA devices' names.
TORCH_DEVICE = (
    "import json, torch; from cf_utils.models import fast_bf16; "
    "print(json.dumps([torch.get_num_threads(), fast_bf16('cpu'), torch.cuda.is_available() and "
    "[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]]))"
)


def torch_device() -> tuple[int | None, bool | None, list[str] | None]:
    """torch's thread count, whether bf16 is fast on the CPU, and the CUDA devices (None: no CUDA), from a
    child process (:data:`TORCH_DEVICE`); all None where torch cannot be imported."""
    try:
        out = subprocess.run([sys.executable, "-c", TORCH_DEVICE], cwd=paths.ROOT, capture_output=True, text=True,
                             check=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None, None, None
    threads, bf16, cuda = json.loads(out.stdout.strip().splitlines()[-1])
    return threads, bf16, cuda or None


def device() -> dict:
    threads, bf16, cuda = torch_device()
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": threads,
            "bf16_fast": bf16}  # fmt: skip
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]  # fmt: skip
        info["cpu"] = names[0] if names else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    if cuda is not None:
        info["cuda"] = cuda
    return info


def model_identity(name: str, profile: str) -> dict:
    spec = registry.get_spec(name)
    out = {"source": spec.source, "arch": spec.arch, "params_b": spec.params_b, "note": spec.note}
    if spec.source == "hub":
        out.update(hub_id=spec.hub_id, revision=spec.revision)
    elif spec.source == "gguf":
        g = registry.GGUF[name]
        out.update(package=g.package, file=g.filename, sha256=g.sha256)
    elif spec.source == "derived":
        record = runlog.record_file(paths.derived_dir(profile, name))
        if record.is_file():
            m = json.loads(record.read_text())
            out.update(base=spec.base, examples=m.get("examples"), wall_s=m.get("wall_s"),
                       record_sha256=sha256_file(record))  # fmt: skip
    return out


def eval_seconds(profile: str) -> dict[tuple, float]:
    """Seconds of evaluation per (model, variant, stage, kind, cell name); kind: scoring (benchmarks,
    log-likelihoods) or generation (the tasks' own metrics)."""
    evals: dict[tuple, float] = defaultdict(float)
    for f in (paths.artifacts_dir(profile) / "eval").glob("*/*/stage-*/*.json"):
        rec = json.loads(f.read_text())
        variant = rec["variant"] if "variant" in rec else rec["method"]  # cells written before the rename
        kind = "generation" if rec.get("kind") == "instruction" else "scoring"
        evals[(rec["model"], variant, rec["stage"], kind, rec.get("benchmark", f.stem))] += rec.get("seconds", 0.0)
    return evals


def stages(cfg: Config, evals: dict[tuple, float]) -> list[dict]:
    """Per (model, variant, stage): training wall time, tokens/s and peak memory; scoring and generation
    seconds (``evals``: :func:`eval_seconds`)."""
    chains = [(m, v) for m, v, _ in trained(all_chains(cfg))]  # 05_mitigations' too (wise trains nothing)
    per_stage: dict[tuple, float] = defaultdict(float)  # the cells of one (model, variant, stage, kind)
    for (name, variant, k, kind, _), seconds in evals.items():
        per_stage[(name, variant, k, kind)] += seconds
    rows = []
    for name, variant in chains:
        for k in STAGES:
            m = runlog.stage_record(cfg.profile, name, variant, k) or {}
            spent = {f"{kind}_s": round(per_stage[(name, variant, k, kind)], 1) or None
                     for kind in ("scoring", "generation")}  # fmt: skip
            rows.append({"model": name, "variant": variant, "stage": k,
                         "train_wall_s": m.get("wall_s"), "train_tokens_per_s": m.get("tokens_per_s"),
                         "train_peak_memory_mb": m.get("peak_memory_mb"), **spent})  # fmt: skip
    return rows


def time_breakdown(evals: dict[tuple, float], rows: list[dict], durations: dict, models: dict) -> dict[str, float]:
    """Seconds spent per kind of work, from each step's own timing: the notebooks (papermill), training
    and evaluation of every chain (its stages' metrics.json, its cells) and the derived models. Their sum
    is the work behind the outputs, whenever it was done: a run that reused finished work took less wall
    time, and make -j runs some of it side by side."""

    def total(values) -> float:
        return round(sum(v for v in values if v), 1)

    out = {
        "notebooks": total(durations.values()),
        "training": total(r["train_wall_s"] for r in rows),
        # every cell, WiSE-FT's evaluation-only variants included
        "scoring": total(v for key, v in evals.items() if key[3] == "scoring"),
        "generation": total(v for key, v in evals.items() if key[3] == "generation"),
        "derived_models": total(m.get("wall_s") for m in models.values()),
    }
    return {**out, "total": total(out.values())}


def time_by_chain(evals: dict[tuple, float], rows: list[dict]) -> list[dict]:
    """Seconds of training, scoring and generation per chain (model, variant), its stages summed."""
    out: dict[tuple, dict[str, float]] = {}
    for r in rows:
        out.setdefault((r["model"], r["variant"]), defaultdict(float))["training"] += r["train_wall_s"] or 0.0
    for (name, variant, _, kind, _), seconds in evals.items():  # WiSE-FT's evaluation-only chains too
        out.setdefault((name, variant), defaultdict(float))[kind] += seconds
    kinds = ("training", "scoring", "generation")
    return [{"model": m, "variant": v, **{k: round(t[k], 1) for k in kinds}} for (m, v), t in out.items()]


def time_by_cell(evals: dict[tuple, float]) -> dict[str, float]:
    """Seconds per benchmark (scoring) or task (generation), summed over chains and stages, largest first."""
    out: dict[str, float] = defaultdict(float)
    for key, seconds in evals.items():
        out[key[4]] += seconds
    return {name: round(t, 1) for name, t in sorted(out.items(), key=lambda kv: -kv[1])}


def notebooks(profile: str) -> dict[str, float | None]:
    """Each executed notebook's duration in seconds, as papermill recorded it."""
    out = {}
    for nb in sorted(paths.notebook_log_dir(profile).glob("*.ipynb")):
        try:
            out[nb.stem] = json.loads(nb.read_text())["metadata"]["papermill"].get("duration")
        except (json.JSONDecodeError, KeyError):
            out[nb.stem] = None
    return out


def build(cfg: Config) -> dict:
    data_manifest = paths.data_manifest(cfg.profile)
    data = read_data_manifest(cfg) if data_manifest.is_file() else {"files": []}  # sampled with cfg.seed
    durations = notebooks(cfg.profile)
    evals = eval_seconds(cfg.profile)
    rows = stages(cfg, evals)
    models = {name: model_identity(name, cfg.profile) for name in profile_models(cfg)}
    return {
        "profile": cfg.profile,
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
        "seeds": cfg.seeds(),
        "git": git_state(),
        "packages": versions(),
        "device": device(),
        "models": models,
        "data": {
            "manifest_sha256": sha256_file(data_manifest) if data_manifest.is_file() else None,
            "files": [{k: f[k] for k in ("path", "sha256", "count", *BASELINE_KEYS) if k in f} for f in data["files"]],
        },  # fmt: skip
        "stages": rows,
        "notebooks_s": durations,
        "time_s": time_breakdown(evals, rows, durations, models),
        "time_s_by_chain": time_by_chain(evals, rows),
        "time_s_by_cell": time_by_cell(evals),
        "plan": _plan(cfg.profile),
        "pieces": _pieces(cfg.profile),  # each make reproduce of the run: its start, end and code
        "results": {name: sha256_file(f) for name in paths.RESULTS if (f := paths.output(cfg.profile, name)).is_file()},
    }


def _plan(profile: str) -> dict | None:
    """The estimate ``make plan`` made before the run (plan.json), its text left out."""
    path = paths.output(profile, "plan.json")
    if not path.is_file():
        return None
    return {k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if k != "text"}


def _pieces(profile: str) -> list[dict]:
    """The run's pieces, the open one's end moved to now (the manifest is among its last steps)."""
    pieces.touch(profile)
    return pieces.read(profile)


def write(cfg: Config) -> Path:
    path = paths.output(cfg.profile, "manifest.json")
    atomic_write_json(path, build(cfg))
    return path
