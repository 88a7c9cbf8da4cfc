"""The paper's side of every comparison: its numbers, its model names, its training setup.

Luo et al. 2023 (arXiv 2308.08747). Its Table 4/5/6 numbers are committed facts in
``data/reference/paper_numbers.csv`` (``paths.PAPER_NUMBERS``; the README there says how each was
transcribed); its training setup (section 4.1; configs/paper.yaml) is the yardstick of
:mod:`cf_utils.report.deviations`. :func:`paper_vs_ours` pairs each of our models with the paper's model
of the same name, or of the nearest role where the profile has none of the paper's models.
"""

from __future__ import annotations

import pandas as pd

from cf_utils import paths
from cf_utils.registry import get_spec
from cf_utils.report.bias import bias_metric
from cf_utils.report.frames import Frames
from cf_utils.report.roles import seq_rows
from cf_utils.study import BIAS, FULL

# The paper's training (section 4.1): every weight fine-tuned, 100k examples per task, 3 epochs,
# effective batch 128, AdamW at a constant 2e-5 for BLOOMZ / mT0.
PAPER_METHOD = FULL
PAPER_LR = 2e-5
PAPER_EXAMPLES = 100_000
PAPER_EPOCHS = 3
PAPER_BATCH = 128
PAPER_NAME = {  # our registry name -> the paper's table name (hub profiles: the same model)
    "bloomz-1b1": "bloomz-1.1b",
    "bloomz-1b7": "bloomz-1.7b",
    "bloomz-3b": "bloomz-3b",
    "bloomz-7b1": "bloomz-7.1b",
    "mt0-large": "mt0-1.2b",
    "mt0-xl": "mt0-3.7b",
    "llama-7b": "llama-7b",
    "alpaca-7b": "alpaca-7b",
    "bloom-7b1": "bloom-7.1b",
}
PAPER_VS_OURS_COLUMNS = ["table", "category", "quantity", "model", "paper_model", "match", "paper", "ours",
                         "difference", "source_quality", "note"]  # fmt: skip


def paper_numbers() -> pd.DataFrame:
    """The paper's Table 4/5/6 numbers: table, model, category, initial, final, fg, source_quality."""
    return pd.read_csv(paths.PAPER_NUMBERS)


def paper_match(model: str) -> tuple[str, str]:
    """The paper model compared with ``model`` and how it was chosen (same model, or nearest in role)."""
    spec = get_spec(model)
    if model in PAPER_NAME:
        return PAPER_NAME[model], "same model"
    if spec.source == "derived":
        return "alpaca-7b", "role: instruction-tuned twin of a base model (Alpaca-7B)"
    if spec.arch == "seq2seq":
        return "mt0-1.2b", "role: encoder-decoder, smallest paper model"
    if not spec.instruction_tuned and spec.source != "tiny":
        return "llama-7b", "role: pretrained base model (LLaMA-7B)"
    return "bloomz-1.1b", "role: decoder-only, smallest instruction-tuned paper model"


def comparison_note(model: str, category: str, metric: str | None) -> str:
    """Why our number may differ from the paper's beside it."""
    note = (
        "same benchmarks; our training differs (LoRA, fewer examples)"
        if get_spec(model).source == "hub"
        else "stand-in benchmarks (offline profile) and a far smaller model: absolute levels differ"
    )
    if category == BIAS and metric == "acc":
        note += "; BBQ accuracy (higher = less biased) vs CrowS pct_stereotype: FG signs read oppositely"
    return note


def paper_vs_ours(frames: Frames) -> pd.DataFrame:
    """Every cell of the paper's Tables 4-6 we can pair with ours (variant ``seq``): difference = ours - paper."""
    paper = paper_numbers()
    f = seq_rows(frames.forgetting).set_index(["model", "category"])
    metric = bias_metric(frames.scores)
    rows = []
    for model in dict.fromkeys(f.index.get_level_values("model")):
        name, match = paper_match(model)
        for _, p in paper[paper["model"] == name].iterrows():
            if (model, p["category"]) not in f.index:
                continue
            ours = f.loc[(model, p["category"])]
            note = comparison_note(model, p["category"], metric)
            rows += [
                (int(p["table"]), p["category"], q, model, name, match, p[q], round(ours[q], 2),
                 round(ours[q] - p[q], 2), p["source_quality"], note)
                for q in ("initial", "final", "fg")
            ]  # fmt: skip
    return pd.DataFrame(rows, columns=PAPER_VS_OURS_COLUMNS)
