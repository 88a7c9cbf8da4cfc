"""The dose study in the report (beyond the paper): its table and what it found, in words.

cf_utils.dose_study writes the study's data (``dose/forgetting.csv``, ``curve.csv``, ``fit.csv``:
:mod:`cf_utils.dose_tables`); the table ``figures/<profile>/tables/dose.*`` and the findings are made here by
04_figures only. A prediction's interval that spans 0 is inconclusive; a prediction at the paper's dose beyond
the largest dose measured is marked extrapolated.
"""

from __future__ import annotations

import pandas as pd

from cf_utils import dose_tables
from cf_utils.report.cells import num, with_ci
from cf_utils.report.table_files import Table

DOSE_NOTE = (
    "F(s) = the mean over the scored elements (those above their floor by the pilot, bias left out) of "
    "100 (R_0 - R_s) / R_0, the per-checkpoint term of the paper's Eq. 1 (%, > 0 = forgotten), after s optimizer "
    "steps on stage 1's task from the base model. Fit: F = a (s / default)^b by least squares on F (F may be "
    "negative; cf_utils/dose_tables.py), so a is F at the default's steps per stage. [95% paired item bootstrap "
    "CI], the law refitted on every resample; 'b at bound' = the share of resamples whose best exponent lies on "
    f"the grid's bound {dose_tables.B_RANGE} (the data do not fix b). State: '{dose_tables.FORGOT}' where the CI "
    f"is above 0, '{dose_tables.GAINED}' where below, else '{dose_tables.INCONCLUSIVE}'. The CIs cover item "
    "sampling only, one training run per learning rate. The 1x checkpoint trains on more distinct examples "
    "than a stage of the chains (one pass where they make three), at the same steps."
)


def _lr(r) -> str:
    return f"{r['lr']:g}" + (" (width rule)" if r["width_rule"] else "")


def dose_table(dose: dict[str, pd.DataFrame]) -> Table:
    """One row per learning rate: a, b, F at the default's dose (measured and fitted) and at the paper's."""
    fit = dose["fit"]
    first = fit.iloc[0]
    paper = f"F at the paper's {first['paper_steps']:,.0f} steps [CI]"
    rows = [{
        "lr": _lr(r),
        "a [CI]": with_ci(r["a"], r["a_low"], r["a_high"]),
        "b [CI]": with_ci(r["b"], r["b_low"], r["b_high"]),
        "b at bound": f"{r['b_at_bound']:.0%}",
        f"F at {first['default_steps']:.0f} steps, measured [CI]": with_ci(
            r["f_default_measured"], r["f_default_measured_low"], r["f_default_measured_high"]),
        "state at the default": r["f_default_state"],
        paper: with_ci(r["f_paper"], r["f_paper_low"], r["f_paper_high"])
        + (f" (extrapolated beyond {r['max_steps']:.0f} steps)" if r["extrapolated"] else ""),
        "state at the paper's dose": r["f_paper_state"],
    } for _, r in fit.iterrows()]  # fmt: skip
    caption = (f"Forgetting against dose (beyond the paper) on {first['model']}: stage 1 trained to "
               f"{first['max_steps']:.0f} steps ({first['max_steps'] / first['default_steps']:g} x the default's "
               f"{first['default_steps']:.0f})")  # fmt: skip
    return Table("dose", caption, pd.DataFrame(rows), DOSE_NOTE)


def dose_lines(dose: dict[str, pd.DataFrame] | None) -> list[str]:
    """What the dose study found, in words from its table (empty without a study)."""
    if dose is None or dose["fit"].empty:
        return []
    fit = dose["fit"]
    first = fit.iloc[0]
    ratio = first["paper_steps"] / first["default_steps"]
    lines = [f"The paper's ~{first['paper_steps']:,.0f} steps per stage are {ratio:.1f} x our default's "
             f"{first['default_steps']:.0f}; the largest dose measured is {first['max_steps']:.0f} steps."]  # fmt: skip
    for _, r in fit.iterrows():
        lines.append(
            f"lr {_lr(r)}: F at the default's dose {num(r['f_default'])}% [{num(r['f_default_low'])}, "
            f"{num(r['f_default_high'])}] ({r['f_default_state']}); the fitted law puts the paper's dose at "
            f"{num(r['f_paper'])}% [{num(r['f_paper_low'])}, {num(r['f_paper_high'])}] ({r['f_paper_state']}"
            + ("; extrapolated" if r["extrapolated"] else "")
            + ")."
        )
    return lines
