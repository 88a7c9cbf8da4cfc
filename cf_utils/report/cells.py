"""How a number is written in the report's tables and evidence: two decimals, CIs as ``x [lo, hi]``.

One place for the format, so a number reads the same in every table (Markdown, CSV, LaTeX), in the
claims' evidence and in the mitigation findings.
"""

from __future__ import annotations

import pandas as pd


def num(x: float) -> str:
    """Two decimals; an en dash for a missing number."""
    return "–" if x is None or pd.isna(x) else f"{x:.2f}"


def with_ci(x: float, low: float, high: float) -> str:
    """``"x [lo, hi]"`` (the point estimate alone where the CI is unknown)."""
    return num(x) if pd.isna(low) or pd.isna(high) else f"{num(x)} [{num(low)}, {num(high)}]"


def fg_cell(row) -> str:
    """A forgetting row's FG with its CI."""
    return with_ci(row["fg"], row["ci_low"], row["ci_high"])


def formatted(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns as 2-decimal strings (tables are displayed, not computed with)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(num)
    return out
