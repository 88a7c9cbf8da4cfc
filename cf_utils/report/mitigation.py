"""The mitigation study in the report (beyond the paper): its table and what it found, in words.

05_mitigations writes the study's data (``mitigations.csv``, ``mitigations_tasks.csv``:
:mod:`cf_utils.mitigation_tables`); the table ``figures/<profile>/tables/mitigations.*`` and the findings
are made here, from those files, by 04_figures only, so each output has one writer. Verdicts come from
the paired bootstrap p-value of each method's difference to ``seq``, Holm-adjusted over the methods
(:func:`mitigation_tables.verdict`).
"""

from __future__ import annotations

import pandas as pd

from cf_utils import mitigation_tables
from cf_utils.report.cells import num
from cf_utils.report.frames import Frames
from cf_utils.report.table_files import Table
from cf_utils.study import GENERAL_POOLED, SEQ

MITIGATION_NOTE = (
    "Final drop = (start - end) / start x 100 per benchmark, averaged per category; general = the mean of "
    "domain knowledge, reasoning and reading comprehension (bias left out). Start = the seq chain's stage 0, "
    "shared by every method. 'Less forgetting than seq' = seq's drop minus the method's, with its 95% paired "
    "bootstrap CI (same items resampled for every method); the verdict is from its bootstrap p-value, "
    "Holm-adjusted over the methods (5% family-wise). New-task gain = each task's own "
    "metric after the last stage minus at the start, averaged over the 5 tasks. wise-a: the seq adapter "
    "scaled by a (evaluation only). Strengths: mitigation section of the profile's config (manifest.json)."
)


def mitigation_table(retention: pd.DataFrame, tasks: pd.DataFrame) -> Table:
    """One row per method (mitigation_tables.summary) with its caption and the note on how it was computed."""
    caption = f"Mitigations (beyond the paper) on {retention['model'].iloc[0]}: each method after the last stage"
    return Table("mitigations", caption, mitigation_tables.summary(retention, tasks), MITIGATION_NOTE)


def mitigation_lines(frames: Frames) -> list[str]:
    """What the mitigation study found, in words computed from its table (empty without a study)."""
    if frames.mitigations is None:
        return []
    retention, tasks = frames.mitigations
    gen = retention[retention["category"] == GENERAL_POOLED].set_index("variant", drop=False)
    gains = tasks.groupby("variant")["gain"].mean()
    verdicts = {m: mitigation_tables.verdict(r) for m, r in gen.iterrows()}
    better = [m for m, v in verdicts.items() if v == "forgets less than seq"]
    worse = [m for m, v in verdicts.items() if v == "forgets more than seq"]
    seq = gen.loc[SEQ]
    lines = [
        f"seq loses {num(seq['final_drop'])}% [{num(seq['ci_low'])}, {num(seq['ci_high'])}] of its general-knowledge "
        f"score by the last stage and gains {num(gains[SEQ])} points on the new tasks."
    ]
    if better:
        lines.append(
            "Forget measurably less than seq (Holm-adjusted paired bootstrap p < 0.05): "
            + "; ".join(f"{m} ({num(gen.loc[m, 'vs_seq'])} points less, new-task gain {num(gains[m])})" for m in better)
            + "."
        )
    else:
        lines.append(
            "No method keeps measurably more general knowledge than seq at this scale: no difference to seq is "
            "detected in its favour (Holm-adjusted paired bootstrap p < 0.05)."
        )
    if worse:
        lines.append("Forget measurably more than seq: " + ", ".join(worse) + ".")
    return lines
