"""The dose study (beyond the paper): forgetting against training steps, on one model, at several learning rates.

    python -m cf_utils.dose_study --profile cpu-full        (make dose PROFILE=cpu-full; part of make reproduce
                                                             where the profile sets dose.model)

Trains stage 1's task (cf_utils.study.TASKS[0]) from ``dose.model`` as loaded, in the profile's regime (full
fine-tuning, its optimiser, precision, batch and epochs) on enough of the task's records to reach
max(dose.multiples) x the default's steps per stage, once per learning rate of ``dose.lrs``, and scores the
evaluation items of the elements above their floor at step 0 (the base model, once) and after each
multiple's steps (cf_utils.dose_tables.schedule and scored_files). Then fits forgetting against steps
(cf_utils.dose_tables: what is computed and how) and writes artifacts/<profile>/dose/.

Resume: every (lr, step) scored is in dose/items.csv (written atomically after each checkpoint) and never
scored again; training saves its resume state (cf_utils.stage) at every checkpoint and every ``save_every``
steps in between, so an interrupted run goes on from the last state with the same weights as an uninterrupted
one, and a checkpoint whose scoring was interrupted is scored from the state kept at it. Results made from
other inputs (model, task data, items, training or evaluation settings, seed, schedule: dose/key.json) are
removed, never mixed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, replace

import pandas as pd
import torch

from cf_utils import dose_tables, models, paths, pieces, registry, scoring, stage
from cf_utils.config import Config, ConfigError, load_config
from cf_utils.data import manifest as data_manifest
from cf_utils.data.records import read_jsonl
from cf_utils.io import atomic_write_json, sha256_file
from cf_utils.progress import tqdm
from cf_utils.runlog import chain_lock
from cf_utils.study import FULL, TASK_STAGE, TASKS


class Study:
    """One profile's dose study: its inputs, what is scored so far, and the steps that remain."""

    def __init__(self, cfg: Config):
        if cfg.dose.model is None:
            raise ConfigError(f"profile {cfg.profile!r} runs no dose study: set dose.model (and dose.lrs)")
        self.cfg, self.name = cfg, cfg.dose.model
        self.sched = dose_tables.schedule(cfg)
        self.spec = registry.get_spec(self.name)
        manifest = data_manifest.read(cfg)
        root = paths.data_dir(cfg.profile)
        self.files = dose_tables.scored_files(cfg, manifest["files"])
        self.categories = {f["name"]: f["category"] for f in self.files}
        kinds = {f["name"]: scoring.infer_kind(root / f["path"]) for f in self.files}
        self.bench = {f["name"]: (kinds[f["name"]], read_jsonl(root / f["path"], kinds[f["name"]])) for f in self.files}
        task = paths.task_file(cfg.profile, TASK_STAGE[TASKS[0]], TASKS[0], "train")
        pool = read_jsonl(task, "instruction")
        if len(pool) < self.sched.records:
            raise ConfigError(f"dose: {task} holds {len(pool)} records, the schedule needs {self.sched.records}: "
                              "raise data.train_examples and make data again")  # fmt: skip
        self.records = pool[: self.sched.records]
        self.key = {"model": asdict(self.spec), "task": sha256_file(task), "seed": cfg.seed,
                    "train": {**asdict(cfg.train), "lr": None}, "eval": asdict(cfg.eval),
                    "schedule": asdict(self.sched),
                    "items": {f["name"]: sha256_file(root / f["path"]) for f in self.files}}  # fmt: skip
        self.key = json.loads(json.dumps(self.key, default=str))  # as read back from dose/key.json
        self.tokenizer = self.model = None

    # -- what is done

    def _fresh(self) -> pd.DataFrame:
        """The scored items, if they were made from this study's inputs; else start again (say why)."""
        key_file = paths.output(self.cfg.profile, "dose/key.json")
        folder = key_file.parent
        if key_file.is_file() and json.loads(key_file.read_text()) == self.key:
            items = dose_tables.read_items(self.cfg.profile)
            return items[items["lr"].isna() | items["lr"].isin(self.cfg.dose.lrs)]
        if folder.exists():
            print(f"{folder}: made from other inputs (dose/key.json); the dose study starts again", flush=True)
            shutil.rmtree(folder)
        atomic_write_json(key_file, self.key)
        return dose_tables.read_items(self.cfg.profile)

    def _save(self, items: pd.DataFrame) -> None:
        items = items.sort_values(["step", "lr", "benchmark", "item"], na_position="first", kind="stable")
        items = items[dose_tables.ITEM_COLUMNS].reset_index(drop=True)
        dose_tables.write(self.cfg.profile, {"dose/items.csv": items, "dose/scores.csv": dose_tables.score_table(
            items, self.sched, self.categories)})  # fmt: skip
        pieces.touch(self.cfg.profile)

    # -- the model

    def _load(self) -> None:
        """The base model, as loaded (full fine-tuning: every weight trains)."""
        if self.tokenizer is None:
            self.tokenizer = models.load_tokenizer(self.name, profile=self.cfg.profile)
        self.model = models.load_model(self.name, method=FULL, profile=self.cfg.profile)

    def _score(self, lr: float | None, step: int) -> pd.DataFrame:
        """Every scored element's items at the model's current weights: one row per item."""
        was_training = self.model.training
        self.model.eval()
        amp = models.autocast_dtype(next(self.model.parameters()).device, self.cfg.eval.precision)
        rows = []
        with torch.random.fork_rng(devices=[]):  # scoring leaves the training's random state as it was
            for name, (kind, recs) in tqdm(self.bench.items(), desc=f"dose score step {step}", unit="file"):
                _, per_item = scoring.score_records(self.model, self.tokenizer, recs, kind, arch=self.spec.arch,
                                                    batch_size=self.cfg.eval.batch_size, amp=amp)  # fmt: skip
                rows += [(lr, step, name, r["id"], str(r.get("cluster", r["id"])), int(it["correct"]))
                         for r, it in zip(recs, per_item, strict=True)]  # fmt: skip
        self.model.train(was_training)
        return pd.DataFrame(rows, columns=dose_tables.ITEM_COLUMNS)

    # -- the run

    def run(self, faults: list[Callable[[int], None]] | None = None) -> dict[str, pd.DataFrame]:
        """Score the base model and train and score every learning rate (what is done is reused); write the tables.
        ``faults``: called with each step before its checkpoint is scored (tests interrupt the run there)."""
        with chain_lock(paths.output(self.cfg.profile, "dose/key.json").parent):
            items = self._fresh()
            if not (items["step"] == 0).any():
                self._load()
                items = pd.concat([items, self._score(None, 0)], ignore_index=True)
                self._save(items)
            for lr in self.cfg.dose.lrs:
                items = self._train(lr, items, faults or [])
            frames = dose_tables.tables(items, self.cfg, self.sched)
            dose_tables.write(self.cfg.profile, frames)
            return frames

    def _train(self, lr: float, items: pd.DataFrame, faults: list[Callable[[int], None]]) -> pd.DataFrame:
        """Train at ``lr`` from the base model, scoring each checkpoint not yet scored; return the items."""
        done = set(items.loc[items["lr"] == lr, "step"])
        todo = [s for s in self.sched.checkpoints if s not in done]
        resume = paths.dose_resume_dir(self.cfg.profile, lr)
        if not todo:
            shutil.rmtree(resume, ignore_errors=True)
            return items
        self._load()
        state_file = resume / "state.pt"
        if state_file.is_file():
            state = torch.load(state_file, map_location="cpu", weights_only=False)
            if any(s < state["step"] for s in todo):  # a checkpoint behind the state is unscored: start again
                shutil.rmtree(resume)
            elif state["step"] in todo:  # interrupted while scoring: its weights were kept
                self.model.load_state_dict(state["weights"], strict=False)
                items = pd.concat([items, self._score(lr, state["step"])], ignore_index=True)
                self._save(items)
                todo.remove(state["step"])  # train_stage loads the same state again and goes on from it
            del state

        def on_step(step: int) -> None:
            nonlocal items
            for f in faults:
                f(step)
            if step in todo:
                items = pd.concat([items, self._score(lr, step)], ignore_index=True)
                self._save(items)

        if todo:
            tcfg = replace(self.cfg.train, method=FULL, lr=lr, save_every=self.sched.save_every)
            self.model.train()
            stage.train_stage(self.model, self.tokenizer, self.spec.arch, self.records, tcfg,
                              seed=self.cfg.seed + TASK_STAGE[TASKS[0]], resume_dir=resume,
                              hooks=stage.Hooks(on_step=[on_step]), desc=f"dose lr {lr:g}")  # fmt: skip
        shutil.rmtree(resume, ignore_errors=True)
        return items


def run(cfg: Config, faults: list[Callable[[int], None]] | None = None) -> dict[str, pd.DataFrame]:
    """The dose study of ``cfg`` (see the module docstring); returns the points, curve and fit frames."""
    return Study(cfg).run(faults)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cf_utils.dose_study", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True)
    try:
        frames = run(load_config(ap.parse_args(argv).profile))
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(frames["dose/fit.csv"].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
