"""``chitchat-dataset==0.9.0`` (MIT): 7,168 open-domain conversations between crowd workers (``dataset.json``).

The file maps a conversation id to ``{"messages": [[{"text", "sender", "timestamp"}, ...], ...], ...}``: each
inner list is one turn, the consecutive messages of one speaker. A row here is one conversation,
``{"conv_id", "turns"}``, each turn its messages joined by a space, in file order.

Reference: Brouwer et al. 2019, https://github.com/BYU-PCCL/chitchat-dataset.
"""

from __future__ import annotations

import json

from cf_utils.data.readers.wheel import Wheel

FILE = "chitchat_dataset/dataset.json"


def parse(rel: str, data: bytes) -> list[dict]:
    if rel != FILE:
        raise ValueError(f"no parser for {rel}")
    conversations = json.loads(data.decode("utf-8"))
    return [
        {"conv_id": cid, "turns": [" ".join(m["text"].strip() for m in turn) for turn in conv["messages"]]}
        for cid, conv in conversations.items()
    ]


WHEEL = Wheel(
    "chitchat-dataset", "0.9.0", "MIT", "7bf89f36645e2d5ec87d53370c8e851b5a688479c7beb7079cb4c87fc5acea3e", parse
)
