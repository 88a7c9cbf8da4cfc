"""Train or evaluate a profile's chains from the command line: one chain or all, in one process or several.

    python -m cf_utils.launch train --profile paper                     every chain, one process
    python -m cf_utils.launch train --profile paper --chain bloomz-7b1/seq     one chain (a make target, a job)
    python -m cf_utils.launch evaluate --profile paper --chain bloomz-7b1/seq
    python -m cf_utils.launch chains --profile paper                    the chains, one per line
    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 8 -m cf_utils.launch train ...

A chain is one (model, variant): the study's (``train.models`` x ``train.variants``, evaluated at every
stage) and then the mitigation study's that are not among them (``mitigation.methods`` on
``mitigation.model``, evaluated after the last stage; ``wise-<alpha>`` is the seq chain's adapter,
evaluated only). Each finished chain leaves a stamp that make uses as the chain's target:

    artifacts/<profile>/<model>/<variant>/trained.json        its stages' steps, tokens, losses
    artifacts/<profile>/eval/<model>/<variant>/evaluated.json  cells computed and reused, stages

so ``make -j N reproduce`` runs N chains at once, and the notebooks then find the work done and
reuse it (they write the summaries, tables and figures). Several processes under one launcher
share every step of one chain (cf_utils.distributed): training splits each batch over them and
sums the gradients; scoring and generation split the batches and gather the results, so N
processes write the same scores.csv as one. Needs the prepared data (``make data PROFILE=...``).
"""

from __future__ import annotations

import argparse
import sys

import yaml

from cf_utils import distributed, paths
from cf_utils.chains import ChainSpec, all_chains, mitigation_chains, study_chains, trained
from cf_utils.config import Config, ConfigError, load_config
from cf_utils.data import manifest as data_manifest


def chains(cfg: Config) -> list[ChainSpec]:
    """Every chain of the profile (cf_utils.chains.all_chains), the mitigation study's model checked."""
    if cfg.mitigation.methods:
        from cf_utils import mitigations

        mitigations.check_model(cfg)
    return all_chains(cfg)


def select(cfg: Config, selected: list[str] | None) -> list[ChainSpec]:
    """The ``MODEL/VARIANT`` chains selected (checked against the profile's), or all."""
    every = chains(cfg)
    if not selected:
        return every
    by_name = {f"{m}/{v}": (m, v, s) for m, v, s in every}
    unknown = [c for c in selected if c not in by_name]
    if unknown:
        raise ConfigError(f"--chain {unknown[0]!r} is not a chain of profile {cfg.profile!r}; its chains: "
                          + ", ".join(by_name))  # fmt: skip
    return [by_name[c] for c in selected]


def _names(selection) -> str:
    return " ".join(f"{m}/{v}" for m, v, _ in selection)


def makefile(cfg: Config) -> str:
    """The chains as make variables (the Makefile includes them; see its per-chain rules)."""
    every = chains(cfg)
    study = {c[:2] for c in study_chains(cfg)}
    mit_trained = trained(mitigation_chains(cfg))  # WiSE-FT trains nothing
    return (
        f"# The chains of profile {cfg.profile} (`python -m cf_utils.launch chains --profile {cfg.profile} --make`;\n"
        f"# remade by make when the profile changes). Do not edit.\n"
        f"STUDY_CHAINS := {_names(c for c in every if c[:2] in study)}\n"
        f"MITIGATION_CHAINS := {_names(c for c in every if c[:2] not in study)}\n"
        f"MITIGATION_TRAINED := {_names(mit_trained)}\n"
        f"MITIGATIONS_IN_REPRODUCE := {'yes' if cfg.mitigation.in_reproduce else ''}\n"
        f"DOSE_STUDY := {'yes' if cfg.dose.model else ''}\n"
    )


def run(step: str, cfg: Config, selected: list[str] | None = None) -> None:
    from cf_utils import evaluate, registry, runlog, train
    from cf_utils.io import atomic_write_json

    data_manifest.read(cfg)  # the data exist, sampled with this seed
    todo = select(cfg, selected)
    main = distributed.is_main()
    if step == "train":
        todo = trained(todo)  # WiSE-FT trains nothing of its own
        for name in dict.fromkeys(m for m, _, _ in todo):
            if registry.get_spec(name).source == "derived":
                train.make_derived(cfg, name)
        for name, variant, _ in todo:
            train.Chain(cfg, name, variant).run()
            if main:
                rows = runlog.chain_summary(cfg.profile, name, variant)
                atomic_write_json(paths.trained_stamp(cfg.profile, name, variant), {"model": name, "variant": variant,
                                                                               "stages": rows})  # fmt: skip
    else:
        for name, variant, stages in todo:
            done = evaluate.ChainEval(cfg, name, variant, stages).run(progress=main)
            if main:
                atomic_write_json(paths.evaluated_stamp(cfg.profile, name, variant), {**done, "stages": list(stages)})
        if not selected:
            evaluate.write_scores(cfg)
    distributed.barrier()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cf_utils.launch", description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=["train", "evaluate", "chains"])
    ap.add_argument("--profile", required=True)
    ap.add_argument("--overrides", default="{}", help="config overrides as YAML, e.g. '{train.models: [tiny-causal]}'")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--chain", action="append", metavar="MODEL/VARIANT", help="only these chains (repeatable)")
    ap.add_argument("--make", action="store_true", help="chains: print them as make variables")
    args = ap.parse_args(argv)
    from cf_utils import registry

    try:
        overrides = yaml.safe_load(args.overrides) or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"--overrides must be a mapping, got {args.overrides!r}")
        cfg = load_config(args.profile, overrides, seed=args.seed)
        todo = select(cfg, args.chain)
    except (ConfigError, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except registry.ModelNotFoundError as e:  # a KeyError: its str() is quoted
        print(f"error: {e.args[0]} (configs: train.models, mitigation.model)", file=sys.stderr)
        return 2
    if args.step == "chains":
        print(makefile(cfg) if args.make else "\n".join(f"{m}/{v}" for m, v, _ in todo))
        return 0
    gpu = distributed.claim_gpu()  # make -j on several GPUs: a GPU of its own
    if gpu is not None:
        print(f"{args.step} {', '.join(args.chain or ['all chains'])}: GPU {gpu}", flush=True)
    distributed.init()
    if distributed.world() > 1 and distributed.is_main():
        print(f"{args.step}: {distributed.world()} processes ({distributed.backend()})", flush=True)
    try:
        run(args.step, cfg, args.chain)
    except (FileNotFoundError, ConfigError) as e:  # no data yet; a method that cannot run sharded
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
