"""Progress bars: widgets when a person runs a notebook in JupyterLab, text everywhere else.

Under papermill (``make``) a widget bar would never reach the terminal, so the notebook runner
sets ``CF_TEXT_PROGRESS=1`` for the kernel and the bars are printed as text into the run log.
"""

import os

if os.environ.get("CF_TEXT_PROGRESS"):
    from tqdm.std import tqdm
else:
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
