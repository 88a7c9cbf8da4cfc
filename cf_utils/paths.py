"""Every path of the project, rooted at the repository (never at the working directory).

The whole layout is here: a module that reads or writes a file asks this one where it is. Data
flows data/ -> artifacts/ -> figures/, one sub-folder per profile:

    data/cache/                                  downloads and conversions shared by all profiles (sha-keyed)
    data/<profile>/                              prepared inputs (01_prepare_data)
        benchmarks/<benchmark>.jsonl, tasks/<k>_<task>.{train,eval}.jsonl, MANIFEST.json
    artifacts/<profile>/                         everything a run makes (git-ignored)
        models/<derived>/                        derived models (the Alpaca analogue)
        <model>/<variant>/stage-<k>/             a chain's stages (adapter or weights, metrics.json)
        <model>/<variant>/trained.json           the chain's make stamp
        eval/<model>/<variant>/stage-<k>/<cell>.json, evaluated.json   scored cells, make stamp
        logs/{train,evaluate}-<model>-<variant>.log, notebooks/*.ipynb  what the terminal and notebooks showed
        finetune.json, scores.csv, items.csv, generations.csv, forgetting.csv, mitigations*.csv, mitigations/
        dose/{items,scores,forgetting,curve,fit}.csv, dose/key.json   the dose study (cf_utils/dose_study.py)
        manifest.json, report.md, report.html, chains.mk
    figures/<profile>/                           figures (*.png, *.pdf) and tables/ (*.md, *.csv, *.tex)
    results/<profile>/                           the published reference run (committed; make publish)

CF_DATA_ROOT, CF_ARTIFACTS_ROOT, CF_FIGURES_ROOT and CF_CACHE move the roots (the Makefile's
DATA_ROOT, ARTIFACTS_ROOT, FIGURES_ROOT; tests use temporary folders).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
NOTEBOOKS = ROOT / "notebooks"
REFERENCE = ROOT / "data" / "reference"  # small committed facts (the paper's numbers)
PAPER_NUMBERS = REFERENCE / "paper_numbers.csv"


def config_file(profile: str) -> Path:
    return CONFIGS / f"{profile}.yaml"


# ---------------------------------------------------------------- data/


def data_root() -> Path:
    """``data/``; ``CF_DATA_ROOT`` moves it (tests use a temporary folder)."""
    return Path(os.environ.get("CF_DATA_ROOT", ROOT / "data"))


def cache_dir() -> Path:
    """Downloads and conversions shared by all profiles; ``CF_CACHE`` moves it."""
    return Path(os.environ.get("CF_CACHE", data_root() / "cache"))


def data_dir(profile: str) -> Path:
    return data_root() / profile


def benchmarks_dir(profile: str) -> Path:
    return data_dir(profile) / "benchmarks"


def tasks_dir(profile: str) -> Path:
    return data_dir(profile) / "tasks"


def task_file(profile: str, k: int, task: str, split: str) -> Path:
    """Continual task ``task`` (trained at stage k; 0: the general-instruction set), split train or eval."""
    return tasks_dir(profile) / f"{k}_{task}.{split}.jsonl"


def data_manifest(profile: str) -> Path:
    return data_dir(profile) / "MANIFEST.json"


# ---------------------------------------------------------------- artifacts/


def artifacts_dir(profile: str) -> Path:
    return Path(os.environ.get("CF_ARTIFACTS_ROOT", ROOT / "artifacts")) / profile


def derived_dir(profile: str, model: str) -> Path:
    """A derived model (config, safetensors, tokenizer), made by training (the Alpaca analogue)."""
    return artifacts_dir(profile) / "models" / model


def chain_dir(profile: str, model: str, variant: str) -> Path:
    return artifacts_dir(profile) / model / variant


def stage_dir(profile: str, model: str, variant: str, k: int) -> Path:
    return chain_dir(profile, model, variant) / f"stage-{k}"


def resume_dir(profile: str, model: str, variant: str, k: int) -> Path:
    """An unfinished stage's resume checkpoint (removed when the stage is finished)."""
    return chain_dir(profile, model, variant) / f".stage-{k}.resume"


def trained_stamp(profile: str, model: str, variant: str) -> Path:
    return chain_dir(profile, model, variant) / "trained.json"


def eval_dir(profile: str, model: str, variant: str) -> Path:
    return artifacts_dir(profile) / "eval" / model / variant


def cell_file(profile: str, model: str, variant: str, stage: int, name: str) -> Path:
    """One scored cell: a checkpoint (stage) on one benchmark or continual task."""
    return eval_dir(profile, model, variant) / f"stage-{stage}" / f"{name}.json"


def evaluated_stamp(profile: str, model: str, variant: str) -> Path:
    return eval_dir(profile, model, variant) / "evaluated.json"


def notebook_log_dir(profile: str) -> Path:
    """The executed notebooks, kept as the run log."""
    return artifacts_dir(profile) / "notebooks"


def pilot_file(profile: str, model: str) -> Path:
    """A further model's stage-0 pilot (cf_utils.pilot --model: its block goes to data.pilot_by_model)."""
    return artifacts_dir(profile) / "pilots" / f"{model}.json"


def dose_resume_dir(profile: str, lr: float) -> Path:
    """The dose study's training state at one learning rate (kept until its last checkpoint is scored)."""
    return artifacts_dir(profile) / "dose" / f".lr-{lr!r}.resume"


def output(profile: str, name: str) -> Path:
    """A run-level output of artifacts/<profile>/: one of OUTPUTS."""
    if name not in OUTPUTS:
        raise KeyError(f"{name!r} is not an output of a run; the outputs: {', '.join(OUTPUTS)}")
    return artifacts_dir(profile) / name


def require(profile: str, name: str) -> Path:
    """``output(profile, name)``, which must exist: else an error naming the step that writes it (a
    reader running the notebooks out of order learns what to run first)."""
    path = output(profile, name)
    if not path.is_file():
        writer, target = OUTPUTS[name]
        raise FileNotFoundError(f"{path} not found: it is written by {writer}; run that first "
                                f"(make {target} PROFILE={profile}), then this step again")  # fmt: skip
    return path


OUTPUTS = {  # each run-level output: the notebook (or module) that writes it and its make target
    "finetune.json": ("02_finetune", "finetune"),  # every stage's steps, tokens, losses
    "scores.csv": ("03_evaluate", "evaluate"),  # model,variant,stage,category,benchmark,metric,value,n
    "items.csv": ("03_evaluate", "evaluate"),  # every item's outcome, cluster, choices, log-likelihood margin
    "generations.csv": ("03_evaluate", "evaluate"),  # each generated item's share of its task's metric
    "mitigations/scores.csv": ("05_mitigations", "mitigations"),  # the mitigation study's cells, same schemas
    "mitigations/items.csv": ("05_mitigations", "mitigations"),
    "mitigations.csv": ("05_mitigations", "mitigations"),  # retention per variant and category, against seq
    "mitigations_tasks.csv": ("05_mitigations", "mitigations"),  # new-task gains per variant
    "dose/items.csv": ("cf_utils.dose_study", "dose"),  # lr,step,benchmark,item,cluster,correct per checkpoint
    "dose/scores.csv": ("cf_utils.dose_study", "dose"),  # lr,step,multiple,category,benchmark,value,n
    "dose/key.json": ("cf_utils.dose_study", "dose"),  # what the dose study's scores depend on (resume check)
    "dose/forgetting.csv": ("cf_utils.dose_study", "dose"),  # F per (lr, step) with its item-bootstrap CI
    "dose/curve.csv": ("cf_utils.dose_study", "dose"),  # the fitted power law and its CI band per lr
    "dose/fit.csv": ("cf_utils.dose_study", "dose"),  # a, b and F at the default's and the paper's dose, CIs
    "forgetting.csv": ("04_figures", "figures"),  # FG (Eq. 1) per model, variant and category with CIs
    "manifest.json": ("04_figures", "figures"),  # config, seeds, code, packages, models, data, times
    "report.md": ("04_figures", "figures"),  # the report
    "report.html": ("04_figures", "figures"),
    "chains.mk": ("cf_utils.launch", "chains"),  # the chains as make variables
    "pilot.json": ("cf_utils.pilot", "pilot"),  # the power calculation's assumptions, measured on held-apart items
    "plan.json": ("cf_utils.plan", "reproduce"),  # make plan's estimate, made after the data, before the chains
    "pieces.json": ("cf_utils.pieces", "reproduce"),  # each sitting of a run: its start, end and code
}


# The run-level outputs that are results (manifest.json keeps their sha256), and those `make publish` copies into
# results/<profile>/ (the first three must be there; LARGE ones when small enough; folders whole): names of OUTPUTS.
RESULTS = ("scores.csv", "items.csv", "generations.csv", "forgetting.csv", "mitigations.csv", "mitigations_tasks.csv",
           "dose/items.csv", "dose/fit.csv")  # fmt: skip
PUBLISHED = ("report.md", "manifest.json", "forgetting.csv", "scores.csv", "mitigations.csv", "mitigations_tasks.csv",
             "plan.json", "pilot.json", "pieces.json")  # fmt: skip
PUBLISHED_LARGE = ("items.csv", "generations.csv")  # the bootstraps' inputs
PUBLISHED_FOLDERS = ("pilots", "dose")


def results_dir(profile: str) -> Path:
    """``results/<profile>/``: the published reference run, committed (cf_utils.publish)."""
    return ROOT / "results" / profile


# ---------------------------------------------------------------- figures/


def figures_dir(profile: str) -> Path:
    return Path(os.environ.get("CF_FIGURES_ROOT", ROOT / "figures")) / profile


def tables_dir(profile: str) -> Path:
    return figures_dir(profile) / "tables"
