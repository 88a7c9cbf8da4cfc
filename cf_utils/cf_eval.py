"""``cf-eval``: log-likelihood accuracy of a model on canonical record files, from the shell.

    cf-eval --model NAME_OR_DIR_OR_HUB_ID [--adapter DIR] --mc FILE.jsonl [FILE.jsonl ...]
            [--batch-size N] [--dtype bf16|fp32] [--json OUT]

A thin wrapper over ``cf_utils.scoring`` (the harness's requests and metrics; see its docstring).
``--model`` is a registry name (``cf_utils.models``), else a local checkpoint directory, else a
Hugging Face hub id. The record kind of each file (mc / partial / pair) is inferred from its fields;
every file is validated before the model is loaded. Prints one line per file; ``--json`` writes
``{file stem: {"acc", "acc_norm", "n", "items_per_s"}}`` (fractions; a pair file has
``pct_stereotype`` and ``likelihood_diff`` in place of acc and acc_norm), atomically;
``--predictions`` writes each item's chosen answer (a pair file: whether the stereotyped sentence
was preferred), for comparing answers with another scorer item by item.

Exit codes: 0 done; 1 the model could not be loaded; 2 bad arguments or a malformed record file
(the message names the file and line; nothing is written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from huggingface_hub.utils import httpx

from cf_utils import models, registry, scoring
from cf_utils.data.records import RecordError, read_jsonl
from cf_utils.io import atomic_write_json
from cf_utils.study import FULL


class ModelLoadError(RuntimeError):
    """A --model or --adapter that could not be loaded; the message says why."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    about = "Log-likelihood accuracy on canonical record files, scored as lm-evaluation-harness does."
    ap = argparse.ArgumentParser(prog="cf-eval", description=about)
    ap.add_argument("--model", required=True, help="registry name, local checkpoint directory, or hub id")
    ap.add_argument("--adapter", help="a peft adapter directory to load on top of the model")
    ap.add_argument("--mc", nargs="+", required=True, metavar="FILE.jsonl", help="record files (mc, partial, pair)")
    ap.add_argument("--batch-size", type=int, help="items per batch (default: 4 on a CPU, 16 on a GPU)")
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="fp32",
                    help="fp32 (default; the harness's numbers) or bf16 autocast (faster where bf16 is)")  # fmt: skip
    ap.add_argument("--json", type=Path, help="write per-file metrics here")
    ap.add_argument("--predictions", type=Path,
                    help="write each item's chosen answer: {file stem: [choice index, ...]} in file order")  # fmt: skip
    args = ap.parse_args(argv)
    if args.batch_size is not None and args.batch_size < 1:
        ap.error("--batch-size must be at least 1")
    stems = [Path(f).stem for f in args.mc]
    if len(set(stems)) != len(stems):
        ap.error(f"--mc files must have distinct names (they key the --json output): {stems}")
    return args


def read_files(paths: list[str]) -> dict[str, tuple[str, list[dict]]]:
    """{file: (kind, records)}, every file validated (RecordError names file and line)."""
    out = {}
    for path in paths:
        kind = scoring.infer_kind(path)
        out[path] = (kind, read_jsonl(path, kind))
    return out


def _load_auto(name: str, device: torch.device):
    """A local directory or hub id through the transformers Auto classes: (model, tokenizer, arch)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name)
        arch = "seq2seq" if config.is_encoder_decoder else "causal"
        auto = AutoModelForSeq2SeqLM if arch == "seq2seq" else AutoModelForCausalLM
        model = auto.from_pretrained(name, dtype=torch.float32, device_map=str(device))
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError, httpx.HTTPError) as e:
        raise ModelLoadError(
            f"could not load {name!r}: it is not a registry name ({', '.join(registry.REGISTRY)}), not a "
            "local checkpoint directory, and the Hugging Face hub could not serve it (unreachable, wrong id, "
            f"or not in the local hub cache). Cause: {e}"
        ) from e
    return model, tokenizer, arch


def load(name: str, adapter: str | None, device: torch.device):
    """(model in eval mode, tokenizer, arch) for --model and --adapter."""
    if name in registry.REGISTRY:
        try:
            model = models.load_model(name, method=FULL, dtype=torch.float32, device=device)
            tokenizer = models.load_tokenizer(name)
        except (OSError, ValueError, models.HubModelUnavailableError) as e:  # missing checkpoint, hub down
            derived = registry.get_spec(name).source == "derived"
            hint = f" (pass its directory instead: --model artifacts/<profile>/models/{name})" if derived else ""
            raise ModelLoadError(f"{e}{hint}") from e
        arch = registry.get_spec(name).arch
    else:
        model, tokenizer, arch = _load_auto(name, device)
    if adapter is not None:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").is_file():
            raise ModelLoadError(f"--adapter {adapter}: no adapter_config.json there")
        model = PeftModel.from_pretrained(model, adapter)
    return model.eval(), tokenizer, arch


def _line(stem: str, summary: dict) -> str:
    if summary["kind"] == "pair":
        scores = f"pct_stereotype {summary['pct_stereotype']:6.1%}  likelihood_diff {summary['likelihood_diff']:.3f}"
    else:
        scores = f"acc {summary['acc']:6.1%}  acc_norm {summary['acc_norm']:6.1%}"
    return f"{stem:<24} {scores}  n {summary['n']:>5}  {summary['items_per_s']:8.1f} items/s"


def _json_entry(summary: dict) -> dict:
    keys = ("pct_stereotype", "likelihood_diff") if summary["kind"] == "pair" else ("acc", "acc_norm")
    return {**{k: summary[k] for k in keys}, "n": summary["n"], "items_per_s": summary["items_per_s"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        files = read_files(args.mc)
    except (RecordError, FileNotFoundError) as e:
        print(f"cf-eval: error: {e}", file=sys.stderr)
        return 2
    device = models.default_device()
    try:
        model, tokenizer, arch = load(args.model, args.adapter, device)
    except ModelLoadError as e:
        print(f"cf-eval: error: {e}", file=sys.stderr)
        return 1
    amp = models.autocast_dtype(device, args.dtype)
    results, predictions = {}, {}
    for path, (kind, records) in files.items():
        summary, per_item = scoring.score_records(
            model, tokenizer, records, kind, arch=arch, batch_size=args.batch_size, amp=amp
        )
        stem = Path(path).stem
        print(_line(stem, summary), flush=True)
        results[stem] = _json_entry(summary)
        predictions[stem] = [r.get("pred", r.get("stereotype")) for r in per_item]
    if args.json is not None:
        atomic_write_json(args.json, results)
    if args.predictions is not None:
        atomic_write_json(args.predictions, predictions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
