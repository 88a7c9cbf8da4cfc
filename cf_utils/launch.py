"""Train or evaluate a profile's chains from the command line: in one process, or in several at once.

    python -m cf_utils.launch train --profile paper                     one process (as 02_finetune)
    accelerate launch --multi_gpu --num_processes 8 -m cf_utils.launch train --profile paper
    torchrun --nproc_per_node 2 -m cf_utils.launch evaluate --profile smoke
    python -m cf_utils.launch train --profile paper --chain bloomz-7b1/seq     one chain (a job array's task)

Several processes share every step of one chain (cf_utils.distributed): training splits each batch
over them and sums the gradients; scoring and generation split the batches and gather the results,
so N processes write the same scores.csv as one. The notebooks then find the work done and reuse it
(`make reproduce` after a launch only writes the summaries, tables and figures).
Needs the prepared data (`make data PROFILE=...`).
"""

from __future__ import annotations

import argparse
import sys

import yaml

from cf_utils import distributed, evaluate, models, paths, train
from cf_utils.config import Config, ConfigError, load_config


def chains(cfg: Config, selected: list[str] | None) -> list[tuple[str, str]]:
    """(model, variant) pairs of the profile, or the ``MODEL/VARIANT`` ones selected (checked against it)."""
    every = [(m, v) for m in cfg.train.models for v in cfg.train.variants]
    if not selected:
        return every
    out = []
    for item in selected:
        model, _, variant = item.partition("/")
        if (model, variant) not in every:
            known = ", ".join(f"{m}/{v}" for m, v in every)
            raise ConfigError(f"--chain {item!r} is not a chain of profile {cfg.profile!r}; its chains: {known}")
        out.append((model, variant))
    return out


def run(step: str, cfg: Config, selected: list[str] | None = None) -> None:
    if not paths.data_manifest(cfg.profile).is_file():
        raise FileNotFoundError(f"no prepared data for {cfg.profile!r}: run `make data PROFILE={cfg.profile}` first")
    todo = chains(cfg, selected)
    if step == "train":
        for name in dict.fromkeys(m for m, _ in todo):
            if models.get_spec(name).source == "derived":
                train.make_derived(cfg, name)
        for name, variant in todo:
            train.Chain(cfg, name, variant).run()
    else:
        for name, variant in todo:
            evaluate.ChainEval(cfg, name, variant).run(progress=distributed.is_main())
        if not selected:
            evaluate.write_scores(cfg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cf_utils.launch", description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=["train", "evaluate"])
    ap.add_argument("--profile", required=True)
    ap.add_argument("--overrides", default="{}", help="config overrides as YAML, e.g. '{train.models: [tiny-causal]}'")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--chain", action="append", metavar="MODEL/VARIANT", help="only these chains (repeatable)")
    args = ap.parse_args(argv)
    try:
        overrides = yaml.safe_load(args.overrides) or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"--overrides must be a mapping, got {args.overrides!r}")
        cfg = load_config(args.profile, overrides, seed=args.seed)
        chains(cfg, args.chain)
    except (ConfigError, yaml.YAMLError, models.ModelNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    distributed.init()
    try:
        run(args.step, cfg, args.chain)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        distributed.barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
