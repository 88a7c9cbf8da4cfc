"""One table as the report shows it and writes it: ``<name>.md``, ``.csv`` and ``.tex``.

The Markdown and LaTeX files carry the caption and the footnote, so a table pasted elsewhere still
says what its numbers mean; the CSV holds the displayed strings (2 decimals, ``x [lo, hi]``), the
numbers behind them are in ``artifacts/<profile>/*.csv``. Files are written atomically: a killed run
never leaves half a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cf_utils.io import atomic_write_text


@dataclass(frozen=True)
class Table:
    """A displayed table (strings, 2 decimals) with its footnote and written files."""

    name: str
    caption: str
    frame: pd.DataFrame
    footnote: str = ""
    files: tuple[Path, ...] = ()


def latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def write_table(table: Table, out_dir: str | Path) -> Table:
    """Write ``<name>.md``, ``.csv`` and ``.tex`` (caption and footnote included) atomically; return it with files."""
    out_dir = Path(out_dir)
    df = table.frame
    md = f"**{table.caption}**\n\n{df.to_markdown(index=False, disable_numparse=True)}\n"
    tex = df.to_latex(index=False, escape=True, caption=latex_escape(table.caption), label=f"tab:{table.name}")
    if table.footnote:
        md += f"\n{table.footnote}\n"
        tex = tex.replace("\\end{table}", f"\\par\\footnotesize {latex_escape(table.footnote)}\n\\end{{table}}")
    files = (out_dir / f"{table.name}.md", out_dir / f"{table.name}.csv", out_dir / f"{table.name}.tex")
    for path, text in zip(files, (md, df.to_csv(index=False, lineterminator="\n"), tex), strict=True):
        atomic_write_text(path, text)
    return Table(table.name, table.caption, df, table.footnote, files)
