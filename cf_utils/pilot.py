"""The pilot: what the power calculation assumes, measured once on items set apart from the evaluation items.

    python -m cf_utils.pilot --profile cpu          (make pilot PROFILE=cpu)

Reads data/<profile>/pilot/<name>.jsonl (``data.pilot_items`` per benchmark, drawn before the evaluation items
and removed from their pools, so never evaluated: cf_utils.data.prepare), scores them with the profile's first
model as loaded (stage 0), trains that model through the study's first stage in the profile's regime (the same
records, optimiser, learning rate, epochs and batch as the chain's stage 1), scores them again, and writes
artifacts/<profile>/pilot.json: per element its stage-0 score and 95% interval, its flip rate (the share of
items whose outcome differs after the stage), its chance level and majority baseline, and whether it is at its
floor (cf_utils.power.at_floor). It prints the block to paste into configs/<profile>.yaml (``data.pilot_initial``,
``data.pilot_flip_rate``, ``data.pilot_source``); the power calculation then reads the pilot's numbers in place
of the stated assumptions (cf_utils.power.assumptions). It never looks at a forgetting estimate: a flip rate is
a variance, not an effect, and the pilot's items are not the study's.

    python -m cf_utils.pilot --profile cpu-full --model gemma3-270m     (make pilot PROFILE=cpu-full MODEL=...)

scores a further model of the study on the same pilot items at stage 0 only (a derived model is made first, as
its chain would make it), writes artifacts/<profile>/pilots/<model>.json and prints the block to paste under
``data.pilot_by_model``: its base accuracies, from which the power calculation gives it its own allocation with
the first model's flip rates (a stated assumption: the further models are not trained here).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from cf_utils import models, paths, pieces, power, registry, scoring, stage
from cf_utils.config import CPU, Config, load_config
from cf_utils.data.records import read_jsonl
from cf_utils.io import atomic_write_json
from cf_utils.progress import tqdm
from cf_utils.study import FULL


def _outcomes(model, tok, arch: str, files: list[dict], root: Path) -> dict[str, list[int]]:
    """Per element, each pilot item's primary outcome (correct, or the stereotyped sentence preferred)."""
    out = {}
    for f in tqdm(files, desc="pilot scoring", unit="file"):
        _, per_item = scoring.score_records(model, tok, read_jsonl(root / f["path"], f["kind"]), f["kind"], arch=arch)
        out[f["name"]] = [int(r["stereotype"] if f["kind"] == "pair" else r["correct"]) for r in per_item]
    return out


def _interval(p: float, n: int) -> tuple[float, float]:
    half = 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / n)
    return round(100 * max(0.0, p - half), 1), round(100 * min(1.0, p + half), 1)


def _pilot_files(cfg: Config) -> list[dict]:
    manifest = json.loads(paths.data_manifest(cfg.profile).read_text(encoding="utf-8"))
    files = [f for f in manifest["files"] if f["role"] == "pilot"]
    if not files:
        raise SystemExit(f"no pilot items in data/{cfg.profile}: set data.pilot_items and run make data PROFILE="
                         f"{cfg.profile}")  # fmt: skip
    return files


def _element(f: dict, before: list[int]) -> dict:
    """One element's stage-0 score, its 95% interval, baselines and floor."""
    p, n = sum(before) / len(before), len(before)
    initial = round(100 * p, 2)
    chance, majority = f.get("chance", float("nan")), f.get("majority_baseline", float("nan"))
    return {"category": f["category"], "n": n, "initial": initial, "initial_ci": _interval(p, n), "chance": chance,
            "majority_baseline": majority, "at_floor": power.at_floor(initial, chance, majority)}  # fmt: skip


def stage0(cfg: Config, name: str) -> dict:
    """Score ``name`` as loaded on the pilot items; write artifacts/<profile>/pilots/<name>.json and return it."""
    if name not in cfg.train.models[1:]:
        raise SystemExit(f"{name} is not a further model of configs/{cfg.profile}.yaml (train.models after the first: "
                         f"{cfg.train.models[1:]}); the first model's pilot is `make pilot` without MODEL")  # fmt: skip
    files, root, t0 = _pilot_files(cfg), paths.data_dir(cfg.profile), time.time()
    spec = registry.get_spec(name)
    if spec.source == "derived":  # made once, as its chain makes it, and reused by the chain
        from cf_utils import train

        train.make_derived(cfg, name)
    tok = models.load_tokenizer(name, profile=cfg.profile)
    model = models.load_model(name, method=FULL, profile=cfg.profile)
    model.eval()
    before = _outcomes(model, tok, spec.arch, files, root)
    elements = {f["name"]: _element(f, before[f["name"]]) for f in files}
    n = len(next(iter(before.values())))
    result = {"profile": cfg.profile, "model": name, "seconds": round(time.time() - t0, 1),
              "source": f"cf_utils.pilot --model {name} on {n} held-apart items per benchmark (data/{cfg.profile}/"
                        f"pilot/, seed {cfg.seed}), stage 0 only, {time.strftime('%Y-%m-%d')}",
              "elements": elements}  # fmt: skip
    atomic_write_json(paths.pilot_file(cfg.profile, name), result)
    pieces.touch(cfg.profile)
    return result


def run(cfg: Config) -> dict:
    """Measure, write artifacts/<profile>/pilot.json and return it."""
    files = _pilot_files(cfg)
    name, root, t0 = cfg.train.models[0], paths.data_dir(cfg.profile), time.time()
    arch = registry.get_spec(name).arch
    tok = models.load_tokenizer(name, profile=cfg.profile)
    model = models.load_model(name, method=FULL, profile=cfg.profile)
    before = _outcomes(model, tok, arch, files, root)
    model.train()
    with tempfile.TemporaryDirectory() as tmp:
        trained = stage.train_stage(model, tok, arch, stage.task_records(cfg, 1), cfg.train, seed=cfg.seed,
                                    resume_dir=Path(tmp), desc="pilot stage 1")  # fmt: skip
    model.eval()
    after = _outcomes(model, tok, arch, files, root)
    elements = {}
    for f in files:
        b, a = before[f["name"]], after[f["name"]]
        n = len(b)
        el = _element(f, b)
        elements[f["name"]] = {**{k: el[k] for k in ("category", "n", "initial", "initial_ci")},
                               "flip_rate": round(sum(x != y for x, y in zip(b, a, strict=True)) / n, 3),
                               **{k: el[k] for k in ("chance", "majority_baseline", "at_floor")}}  # fmt: skip
    steps = trained["steps"]
    source = (f"cf_utils.pilot on {n} held-apart items per benchmark (data/{cfg.profile}/pilot/, seed {cfg.seed}), "
              f"{name} at stage 0 and after stage 1 ({steps} steps, lr {cfg.train.lr:g}, batch "
              f"{cfg.train.batch_size}), {time.strftime('%Y-%m-%d')}")  # fmt: skip
    result = {"profile": cfg.profile, "model": name, "source": source, "stage1": {k: trained[k] for k in trained
              if k in ("steps", "examples", "tokens", "wall_s", "tokens_per_s")}, "seconds": round(time.time() - t0, 1),
              "elements": elements}  # fmt: skip
    atomic_write_json(paths.output(cfg.profile, "pilot.json"), result)
    return result


def config_block(result: dict) -> str:
    """The YAML lines to paste under ``data:`` in configs/<profile>.yaml."""
    el = result["elements"]
    lines = [f'  pilot_source: "{result["source"]}"', "  pilot_initial:"]
    lines += [f"    {k}: {v['initial']}" for k, v in el.items()]
    lines += ["  pilot_flip_rate:"] + [f"    {k}: {v['flip_rate']}" for k, v in el.items()]
    return "\n".join(lines)


def model_block(result: dict) -> str:
    """The YAML lines of a further model's stage-0 pilot, to paste under ``data:``."""
    lines = ["  pilot_by_model:", f"    {result['model']}:"]
    lines += [f"      {k}: {v['initial']}" for k, v in result["elements"].items()]
    return "\n".join([*lines, f'  pilot_by_model_source: "{result["source"]}"'])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default=CPU)
    parser.add_argument(
        "--model", help="a further model of train.models: its stage-0 scores only (pilots/<model>.json)"
    )
    args = parser.parse_args(argv)
    cfg = load_config(args.profile)
    if args.model:
        result = stage0(cfg, args.model)
        for k, v in result["elements"].items():
            print(f"{k:22s} n={v['n']:4d} initial {v['initial']:5.1f} {v['initial_ci']}"
                  f"{'  AT FLOOR' if v['at_floor'] else ''}")  # fmt: skip
        print(
            f"\n# configs/{cfg.profile}.yaml, under data: (artifacts/{cfg.profile}/pilots/{args.model}.json; several "
            "models: one pilot_by_model entry each, one source naming them all)\n" + model_block(result)
        )
        return 0
    result = run(cfg)
    for k, v in result["elements"].items():
        floor = "  AT FLOOR" if v["at_floor"] else ""
        print(f"{k:22s} n={v['n']:4d} initial {v['initial']:5.1f} {v['initial_ci']} chance {v['chance']:5.1f} "
              f"majority {v['majority_baseline']:5.1f} flip {v['flip_rate']:.3f}{floor}")  # fmt: skip
    print(f"\n# configs/{cfg.profile}.yaml, under data: (artifacts/{cfg.profile}/pilot.json)\n" + config_block(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
