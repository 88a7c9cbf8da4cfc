"""Prompt templates shared by every instruction source.

The paper's wrapper (Continual-Tune's training script, docs/protocol.md): Alpaca style without the
"### Instruction:" / "### Input:" headers. The target is the bare answer; the training code
appends the tokenizer's EOS token.
"""

from __future__ import annotations

TEMPLATE_VERSION = 1

ALPACA_WRAPPER = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n{src}\n\n### Response:"
)


def wrap(src: str) -> str:
    """Wrap an instruction (task text + input) in the paper's prompt template."""
    return ALPACA_WRAPPER.format(src=src.strip())


def instruction(task: str, rid: str, src: str, target: str, references: list[str] | None = None) -> dict:
    """Build one canonical instruction record (prompt already wrapped)."""
    rec = {"id": rid, "task": task, "prompt": wrap(src), "target": target.strip()}
    if references is not None:
        rec["references"] = [r.strip() for r in references]
    return rec
