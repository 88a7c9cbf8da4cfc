"""Evaluate every checkpoint of every chain: the benchmarks (log-likelihood) and the continual tasks' own metrics.

    artifacts/<profile>/eval/<model>/<variant>/stage-<k>/<benchmark>.json   one cell: its input key, summary,
                                                                            every item's outcome
    artifacts/<profile>/scores.csv    model,variant,stage,category,benchmark,metric,value,n  (value in %)
    artifacts/<profile>/items.csv     model,variant,stage,category,benchmark,item,group,metric,value (0/1 per item)

Design:
- One base model per chain, loaded once; each stage's adapter is put into it in turn (LoRA/QLoRA:
  the stage's adapter weights; full: the stage's weights), never a reload per stage. Under LoRA the
  adapter is merged into the (fp32 or bf16) weights while a stage is evaluated and unmerged before the
  next (exact up to rounding; an unmerged adapter made CPU scoring ~9x slower, measured on SmolLM2);
  under QLoRA it stays unmerged, since merging into 4-bit weights rounds.
- A cell (checkpoint x benchmark, or checkpoint x task) is keyed by what its result depends on:
  the checkpoint's weights (sha256 of the stage's adapter or weights, and of the base model's identity),
  the input file's sha256, and the evaluation settings. A cell with the same key is never recomputed;
  a cell whose inputs changed is. Cells are written atomically, so an interrupted run resumes at the
  first missing cell.
- The continual tasks (the paper's Table 3, and forgetting on the tasks themselves): task k is
  generated at stage k-1 (before) and stage k (after), and every task at stages 0 and 5 (where it
  started, what is left at the end): 18 of the 30 cells of the full accuracy matrix, enough for
  Table 3, backward transfer, forgetting of the tasks and each method's overall gain (05_mitigations).
- A chain may be evaluated at some stages only (the mitigation study: the last one), and a ``wise-<alpha>``
  chain is the ``seq`` chain's adapters scaled by alpha (mitigations.scale_adapter), trained nothing.
- scores.csv and items.csv are gathered from the cells of the profile's current models and variants.
- One process per chain: a lock beside the chain's eval directory (runlog.chain_lock).

References: Luo et al. 2023 (the study; Eq. 1 is computed from scores.csv in metrics.py);
lm-evaluation-harness (scoring.py matches it item for item).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch

from cf_utils import (
    distributed,
    generation,
    metrics,
    mitigations,
    models,
    paths,
    pieces,
    registry,
    scoring,
    textmetrics,
)
from cf_utils.chains import study_chains
from cf_utils.config import Config
from cf_utils.data import manifest as data_manifest
from cf_utils.data.records import iter_jsonl, n_options, read_jsonl
from cf_utils.io import atomic_write_json, atomic_write_text, sha256_bytes, sha256_file
from cf_utils.progress import tqdm
from cf_utils.runlog import chain_lock, is_done, record_file
from cf_utils.study import FULL, LAST, LORA, NEW_TASK, SEQ, STAGES, TRAINED_STAGES, wise_alpha

# bump when a cell's content or meaning changes: every cell is then recomputed
# (3: a merged LoRA stage starts from the copied base weights, whatever was merged before)
CELL_VERSION = 3
# Per-item outcome -> metric name in scores.csv/items.csv (value 0/1; the file-level value is its mean in %).
ITEM_METRICS = {"mc": {"acc": "correct", "acc_norm": "correct_norm"}, "pair": {"pct_stereotype": "stereotype"}}
ITEM_METRICS["partial"] = ITEM_METRICS["mc"]
MARGIN = metrics.MARGIN


class AdapterMismatchError(ValueError):
    """A stage's weights were trained on another base model than the chain's."""


class StaleCellError(RuntimeError):
    """A cell on disk does not match what the current config would compute."""


@dataclass(frozen=True)
class Cell:
    """One unit of evaluation work: a checkpoint (stage) and one benchmark or one continual task."""

    stage: int
    kind: str  # "bench" | "task"
    name: str  # benchmark name, or the task's name (simp, emdg, ...)
    path: Path  # the input JSONL
    category: str


def tasks_at(stage: int) -> list[int]:
    """Continual tasks generated at a checkpoint: the next task (before it is trained), the task just
    trained (after), and at the first and the last stage every task."""
    if stage in (0, LAST):
        return list(TRAINED_STAGES)
    return [k for k in (stage, stage + 1) if k in TRAINED_STAGES]


def cells(cfg: Config, stages: tuple[int, ...] = STAGES) -> list[Cell]:
    """Every cell of one chain at ``stages``, stage by stage (so each stage's weights are put in once)."""
    manifest = data_manifest.read(cfg)
    root = paths.data_dir(cfg.profile)
    bench = [f for f in manifest["files"] if f["role"] == "benchmark"]
    task_eval = {f["stage"]: f for f in manifest["files"] if f["role"] == "task" and f.get("split") == "eval"}
    out = []
    for stage in stages:
        out += [Cell(stage, "bench", f["name"], root / f["path"], f["category"]) for f in bench]
        out += [
            Cell(stage, "task", task_eval[k]["name"], root / task_eval[k]["path"], NEW_TASK) for k in tasks_at(stage)
        ]
    return out


def _weights_file(stage_dir: Path) -> Path | None:
    for name in ("adapter_model.safetensors", "model.safetensors"):
        if (stage_dir / name).is_file():
            return stage_dir / name
    return None  # stage 0 of full fine-tuning: the base model itself


def _base_identity(cfg: Config, name: str) -> str:
    """What identifies the base weights: the registry entry (GGUF sha, hub revision) or, for a derived
    model, the record of the training run that made it."""
    spec = registry.get_spec(name)
    if spec.source == "derived":
        record = record_file(paths.derived_dir(cfg.profile, name))
        if not record.is_file():
            raise models.CheckpointMissingError(f"{name}: no derived model at {record.parent}; run the training first")
        return sha256_file(record)
    return json.dumps([spec.name, spec.source, spec.revision, spec.note], sort_keys=True)


class ChainEval:
    """Evaluate one (model, variant) chain at ``stages`` (default all): every missing cell, the model loaded once.

    ``variant`` "wise-<alpha>" evaluates the ``seq`` chain's checkpoints with the adapter scaled by alpha.
    """

    def __init__(self, cfg: Config, model_name: str, variant: str, stages: tuple[int, ...] | None = None):
        self.cfg, self.name, self.variant = cfg, model_name, variant
        self.alpha = wise_alpha(variant)
        self.source = SEQ if self.alpha is not None else variant  # the trained chain whose weights are used
        self.tuning = mitigations.tuning(cfg, variant)  # full, lora or qlora: how the chain's weights were tuned
        if self.alpha is not None and self.tuning == FULL:
            raise mitigations.ConfigError(f"{variant}: WiSE-FT scales a LoRA adapter; train.method is 'full'")
        self.stages = tuple(stages) if stages is not None else STAGES
        self.spec = registry.get_spec(model_name)
        self.model = self.tokenizer = None
        self._stage = None
        self._pristine: dict[str, torch.Tensor] = {}  # merged LoRA: the base weights under each adapter
        self._keys: dict[int, str] = {}  # checkpoint keys by stage
        self._inputs: dict[Path, str] = {}  # sha256 of each input file, hashed once per run

    # -- what a cell depends on

    def checkpoint_key(self, stage: int) -> str:
        if stage not in self._keys:
            d = paths.stage_dir(self.cfg.profile, self.name, self.source, stage)
            if not is_done(d):
                raise FileNotFoundError(
                    f"{d} is not a finished stage: train it first (`make finetune PROFILE={self.cfg.profile}`)"
                )
            made_for = json.loads((d / "run_config.json").read_text()).get("model")
            if made_for != self.name:
                raise AdapterMismatchError(
                    f"{d} was trained on model {made_for!r}, not on {self.name!r}: its adapter does not belong to "
                    f"this base model. Remove {d.parent} and train the chain again (`make finetune "
                    f"PROFILE={self.cfg.profile}`)"
                )
            w = _weights_file(d)
            parts = [_base_identity(self.cfg, self.name), self.tuning, sha256_file(w) if w else "base"]
            if self.alpha is not None:
                parts.append({"adapter_scale": self.alpha})
            self._keys[stage] = sha256_bytes(json.dumps(parts).encode())[:16]
        return self._keys[stage]

    def check_trained(self) -> None:
        """Every stage must be finished before any is evaluated (else: which one is not, and what makes it)."""
        for k in self.stages:
            self.checkpoint_key(k)

    def cell_key(self, cell: Cell) -> str:
        e = self.cfg.eval
        settings = {"precision": e.precision, "batch_size": e.batch_size, "version": CELL_VERSION}
        if cell.kind == "task":
            settings.update(examples=e.new_task_examples, max_new_tokens=e.max_new_tokens)
        if cell.path not in self._inputs:
            self._inputs[cell.path] = sha256_file(cell.path)
        parts = [self.checkpoint_key(cell.stage), self._inputs[cell.path], settings]
        return sha256_bytes(json.dumps(parts, sort_keys=True).encode())[:16]

    def is_fresh(self, cell: Cell) -> bool:
        path = paths.cell_file(self.cfg.profile, self.name, self.variant, cell.stage, cell.name)
        if not path.is_file():
            return False
        try:
            return json.loads(path.read_text())["key"] == self.cell_key(cell)
        except (json.JSONDecodeError, KeyError):
            return False  # unreadable: recompute (writes are atomic, so this is a foreign or edited file)

    # -- the model

    def _load(self) -> None:
        if self.model is not None:
            return
        method = self.tuning
        self.tokenizer = models.load_tokenizer(self.name, profile=self.cfg.profile)
        base = models.load_model(self.name, method=method, profile=self.cfg.profile)
        if method == FULL:
            self.model = base
        else:
            from peft import PeftModel

            stage0 = paths.stage_dir(self.cfg.profile, self.name, self.source, 0)
            try:
                self.model = PeftModel.from_pretrained(base, str(stage0)).eval()
            except (ValueError, RuntimeError) as e:  # modules or shapes of another model
                raise AdapterMismatchError(
                    f"{stage0}: the adapter does not fit {self.name}: {str(e)[:300]}. "
                    f"Remove {stage0.parent} and train the chain again"
                ) from None

    def _use(self, stage: int) -> None:
        """Put stage ``stage``'s weights into the loaded model (stages are visited in order 0..5)."""
        if self._stage == stage:
            return
        from safetensors.torch import load_file

        w = _weights_file(paths.stage_dir(self.cfg.profile, self.name, self.source, stage))
        if self.tuning == FULL:
            if w is None:
                if self._stage is not None:  # the base after another stage's weights: load it again
                    self.model = models.load_model(self.name, method=FULL, profile=self.cfg.profile)
            else:
                self.model.load_state_dict(load_file(str(w)), strict=False)
        else:
            from peft import set_peft_model_state_dict

            merge = self.tuning == LORA
            if merge and self._stage is not None:
                self.model.unmerge_adapter()
                _restore_base(self.model, self._pristine)
            elif merge:
                self._pristine = _base_weights(self.model)
            state = load_file(str(w))
            if self.alpha is not None:
                state = mitigations.scale_adapter(state, self.alpha)
            try:
                result = set_peft_model_state_dict(self.model, state)
            except RuntimeError as e:  # shapes that do not fit: size mismatch
                raise AdapterMismatchError(f"{w}: the adapter does not fit {self.name}: {str(e)[:300]}") from None
            if result.unexpected_keys:
                raise ValueError(f"{w}: adapter keys do not fit {self.name}: {result.unexpected_keys[:3]} ...")
            if merge:
                self.model.merge_adapter()
        self.model.eval()
        self._stage = stage

    # -- one cell

    def _amp(self) -> torch.dtype | None:
        """The autocast dtype of ``eval.precision`` on the model's device."""
        return models.autocast_dtype(next(self.model.parameters()).device, self.cfg.eval.precision)

    def _score(self, cell: Cell) -> dict:
        """A benchmark cell: every item scored."""
        t0 = time.perf_counter()
        kind = scoring.infer_kind(cell.path)
        summary, items = scoring.score_file(self.model, self.tokenizer, cell.path, kind, arch=self.spec.arch,
                                            batch_size=self.cfg.eval.batch_size, amp=self._amp())  # fmt: skip
        return {"seconds": time.perf_counter() - t0, "kind": kind, "summary": summary, "items": items}

    def _generate(self, task_cells: list[Cell]) -> dict[Cell, dict]:
        """The continual tasks' cells of one checkpoint, generated together: their prompts share the
        batches (fewer, fuller batches than task by task). Each cell's seconds are its share of prompts."""
        t0 = time.perf_counter()
        recs = {c: read_jsonl(c.path, "instruction")[: self.cfg.eval.new_task_examples] for c in task_cells}
        prompts = [r["prompt"] for c in task_cells for r in recs[c]]
        names = "+".join(c.name for c in task_cells)
        preds = iter(generation.generate(self.model, self.tokenizer, prompts, arch=self.spec.arch,
                                         max_new_tokens=self.cfg.eval.max_new_tokens, amp=self._amp(),
                                         desc=f"generate {names}"))  # fmt: skip
        seconds = (time.perf_counter() - t0) / max(len(prompts), 1)
        out = {}
        for c in task_cells:
            got = [next(preds) for _ in recs[c]]
            out[c] = {
                "seconds": seconds * len(got),
                "kind": "instruction",
                "summary": {"n": len(got), **textmetrics.task_scores(c.name, got, recs[c])},
                "items": [{"id": r["id"], "prediction": p} for r, p in zip(recs[c], got, strict=True)],
            }
        return out

    def run(self, progress: bool = True) -> dict:
        """Evaluate every stale or missing cell; return counts of computed and reused cells and seconds."""
        with chain_lock(paths.eval_dir(self.cfg.profile, self.name, self.variant)):
            return self._run_cells(progress)

    def _run_cells(self, progress: bool) -> dict:
        self.check_trained()
        every = cells(self.cfg, self.stages)
        todo = [c for c in every if not self.is_fresh(c)]
        t0 = time.perf_counter()
        bar = tqdm(todo, desc=f"evaluate {self.name}/{self.variant}", unit="cell", disable=not progress)
        generated: dict[Cell, dict] = {}  # a checkpoint's task cells, generated together at its first
        for cell in bar:
            bar.set_postfix(stage=cell.stage, cell=cell.name)
            self._load()
            self._use(cell.stage)
            if cell.kind == "task" and cell not in generated:
                generated = self._generate([c for c in todo if c.kind == "task" and c.stage == cell.stage])
            result = generated.pop(cell) if cell.kind == "task" else self._score(cell)
            record = {"key": self.cell_key(cell), "model": self.name, "variant": self.variant, "stage": cell.stage,
                      "category": cell.category, "benchmark": cell.name, **result}  # fmt: skip
            if distributed.is_main():  # every process has the whole result (gathered); one writes it
                atomic_write_json(
                    paths.cell_file(self.cfg.profile, self.name, self.variant, cell.stage, cell.name), record
                )
                pieces.touch(self.cfg.profile)
        return {"model": self.name, "variant": self.variant, "computed": len(todo), "reused": len(every) - len(todo),
                "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def _base_weights(model) -> dict[str, torch.Tensor]:
    """A copy of the base weight under every LoRA layer (only those: a merge changes nothing else)."""
    from peft.tuners.lora import LoraLayer

    return {n: m.get_base_layer().weight.detach().clone() for n, m in model.named_modules() if isinstance(m, LoraLayer)}


def _restore_base(model, pristine: dict[str, torch.Tensor]) -> None:
    """Put the copied base weights back after an unmerge. Unmerging subtracts B@A again, which leaves
    rounding in the last bits; a stage's scores must not depend on which stages were merged before it
    (an interrupted evaluation resumes at stage k without them), so every merge starts from the base."""
    for n, m in model.named_modules():
        if n in pristine:
            m.get_base_layer().weight.data.copy_(pristine[n])


def outline(cfg: Config) -> str:
    """What 03_evaluate will run: cells per chain still to compute (benchmarks and generations)."""
    lines = [f"profile {cfg.profile}: {len(cells(cfg))} cells per chain (6 checkpoints x benchmarks + 18 tasks)"]
    for name, variant, _ in study_chains(cfg):
        ev = ChainEval(cfg, name, variant)
        try:
            ev.check_trained()
            todo = [c for c in cells(cfg) if not ev.is_fresh(c)]
        except FileNotFoundError as e:
            lines.append(f"  {name}/{variant}: not trained yet ({e})")
            continue
        n_bench = sum(c.kind == "bench" for c in todo)
        lines.append(f"  {name}/{variant}: {n_bench} benchmark cells and {len(todo) - n_bench} generation cells to run")
    return "\n".join(lines)


def _margin(it: dict) -> float:
    """The gold answer's log-likelihood minus the best wrong choice's (> 0: answered right, by that much)."""
    lls, label = it["loglikelihoods"], it["label"]
    return lls[label] - max(ll for j, ll in enumerate(lls) if j != label)


def _rows(record: dict, inputs: dict[str, dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """scores.csv, items.csv and generations.csv rows of one cell (``inputs``: its input records by id)."""
    head = {k: record[k] for k in ("model", "stage", "category", "benchmark")}
    head["variant"] = record["variant"] if "variant" in record else record["method"]  # cells written before the rename
    s, kind = record["summary"], record["kind"]
    if kind == "instruction":
        scores = [{**head, "metric": m, "value": v, "n": s["n"]} for m, v in s.items() if m != "n"]
        preds = [it["prediction"] for it in record["items"]]
        recs = [inputs[it["id"]] for it in record["items"]]
        names = textmetrics.statistic_names(record["benchmark"])
        stats = textmetrics.item_statistics(record["benchmark"], preds, recs)
        gens = [
            {**head, "item": it["id"], "statistic": name, "value": value}
            for it, row in zip(record["items"], stats, strict=True)
            for name, value in zip(names, row, strict=True)
        ]
        return scores, [], gens
    scores = [{**head, "metric": m, "value": 100 * s[m], "n": s["n"]} for m in ITEM_METRICS[kind]]
    if kind == "pair":
        scores.append({**head, "metric": "likelihood_diff", "value": s["likelihood_diff"], "n": s["n"]})
    items = []
    for it in record["items"]:
        rec = inputs[it["id"]]
        item = {**head, "item": it["id"], "group": it.get("group", it.get("bias_type", "")),
                "cluster": rec.get("cluster", it["id"]), "choices": n_options(rec)}  # fmt: skip
        items += [{**item, "metric": m, "value": int(it[f])} for m, f in ITEM_METRICS[kind].items()]
        if kind != "pair":
            items.append({**item, "metric": MARGIN, "value": _margin(it)})
    return scores, items, []


class Gathered(NamedTuple):
    scores: pd.DataFrame
    items: pd.DataFrame
    generations: pd.DataFrame


def gather(
    cfg: Config, chains: list[tuple[str, str, tuple[int, ...]]] | None = None, make_target: str = "evaluate"
) -> Gathered:
    """scores, items and generation statistics of ``chains`` (model, variant, stages), from their cells (all
    must exist); by default every stage of the profile's models and variants."""
    if chains is None:
        chains = study_chains(cfg)
    scores, items, gens = [], [], []
    inputs = {}  # input file -> its records by id (cluster, number of choices, references)
    for name, variant, stages in chains:
        ev = ChainEval(cfg, name, variant, stages)
        for cell in cells(cfg, stages):
            path = paths.cell_file(cfg.profile, name, variant, cell.stage, cell.name)
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} is missing: run the evaluation (`make {make_target} PROFILE={cfg.profile}`)"
                )
            if not ev.is_fresh(cell):  # never mix rows of another config, input or checkpoint into the table
                raise StaleCellError(
                    f"{path} was computed from other weights, inputs or settings than the current config's: "
                    f"run the evaluation (`make {make_target} PROFILE={cfg.profile}`) to recompute it"
                )
            if cell.path not in inputs:
                inputs[cell.path] = {r.get("id"): r for _, r in iter_jsonl(cell.path)}  # validated when scored
            s, i, g = _rows(json.loads(path.read_text()), inputs[cell.path])
            scores += s
            items += i
            gens += g
    return Gathered(pd.DataFrame(scores, columns=list(metrics.SCORE_COLUMNS)),
                    pd.DataFrame(items, columns=list(metrics.ITEM_COLUMNS)),
                    pd.DataFrame(gens, columns=list(metrics.GENERATION_COLUMNS)))  # fmt: skip


def write_scores(cfg: Config) -> tuple[Path, Path]:
    """Gather the cells into artifacts/<profile>/scores.csv, items.csv and generations.csv (atomically;
    process 0 writes)."""
    out = {name: paths.output(cfg.profile, name) for name in ("scores.csv", "items.csv", "generations.csv")}
    if distributed.is_main():
        got = gather(cfg)
        atomic_write_text(out["generations.csv"], got.generations.to_csv(index=False, float_format="%.6g"))
        atomic_write_text(out["items.csv"], got.items.to_csv(index=False, float_format="%.6g"))
        atomic_write_text(out["scores.csv"], got.scores.to_csv(index=False, float_format="%.4f"))  # last: make's
    distributed.barrier()
    return out["scores.csv"], out["items.csv"]


def run(cfg: Config) -> list[dict]:
    """Evaluate every chain of the profile, then write scores.csv and items.csv."""
    done = []
    for name, variant, _ in study_chains(cfg):
        ev = ChainEval(cfg, name, variant)
        done.append(ev.run())
        del ev
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    write_scores(cfg)
    return done
