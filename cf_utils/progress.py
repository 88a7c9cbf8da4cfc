"""Progress bars: widgets when a person runs a notebook in JupyterLab, text everywhere else.

Under papermill (``make``; the notebook runner sets ``CF_TEXT_PROGRESS=1`` for the kernel) a widget
would never reach the terminal, and a text bar written into the notebook fills the executed copy
(the run log a reviewer opens) with red stderr blocks of carriage returns. So there a bar draws live
on the kernel process's own stderr, which the runner keeps out of the notebook
(``IPKernelApp.capture_fd_output = False``) and which is the terminal or make's log, and when it
closes it prints one plain line into the notebook: what ran, how many, how long. A bar with
``leave=False`` (an inner bar) leaves no line.
"""

import os
import sys

if os.environ.get("CF_TEXT_PROGRESS"):
    from tqdm.std import tqdm as _text_tqdm

    class tqdm(_text_tqdm):  # noqa: N801 (tqdm's own name, so callers import one of the two alike)
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("file", sys.__stderr__)
            super().__init__(*args, **kwargs)

        def close(self) -> None:
            line = None if self.disable or not self.leave else self.summary()
            super().close()
            if line:
                print(line, flush=True)

        def summary(self) -> str:
            """``desc: n/total unit in m:ss`` (and the postfix, e.g. the last loss)."""
            d = self.format_dict
            size = self.format_sizeof if self.unit_scale else str
            done = f"{size(self.n)}/{size(self.total)}" if self.total is not None else size(self.n)
            post = f" ({d['postfix']})" if d.get("postfix") else ""
            return f"{self.desc or 'done'}: {done} {self.unit} in {self.format_interval(d['elapsed'])}{post}"

else:
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
