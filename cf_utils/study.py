"""The study's fixed design: its vocabulary, defined once (Luo et al. 2023, arXiv 2308.08747, section 3).

Everything that names a part of the experiment imports it from here: the five continual tasks and
their order, the stages, the benchmark categories and their labels, the training methods (how the
weights are tuned) and the continual-training variants (what each stage trains on, and with which
extra loss). The configuration's allowed values are these tuples (tests/test_study.py checks it), so a
new variant or category is added here and nowhere else in the vocabulary.

    stage 0          the model as loaded (or after general instruction tuning: the Alpaca analogue)
    stage k = 1..5   after training task TASKS[k-1] (the paper's order)
"""

from __future__ import annotations

# ---------------------------------------------------------------- tasks and stages
TASKS = ("simp", "emdg", "inqqg", "exp", "hgen")  # the paper's order; task k is trained at stage k
TASK_LABELS = {"simp": "Simp", "emdg": "Emdg", "inqqg": "InqQG", "exp": "Exp", "hgen": "HGen"}
TASK_STAGE = {task: k for k, task in enumerate(TASKS, start=1)}
GENERAL_TASK = "general"  # the general-instruction set: the Alpaca analogue's data and replay's mix (stage 0)
TRAINED_STAGES = tuple(TASK_STAGE.values())  # 1..5: the stages that train
STAGES = (0, *TRAINED_STAGES)  # 0..5: the stages that are evaluated
LAST = TRAINED_STAGES[-1]

# ---------------------------------------------------------------- benchmark categories
CATEGORIES = ("domain_knowledge", "reasoning", "reading_comprehension", "bias")  # the paper's four
NEW_TASK = "new_task"  # scores.csv's category for the continual tasks' own metrics
SCORE_CATEGORIES = (*CATEGORIES, NEW_TASK)
GENERAL = CATEGORIES[:3]  # claim 1's "general knowledge": domain knowledge, reasoning, reading comprehension
CATEGORY_LABELS = {
    "domain_knowledge": "Domain knowledge",
    "reasoning": "Reasoning",
    "reading_comprehension": "Reading comprehension",
    "bias": "Bias",
}
ABBR = {"domain_knowledge": "DK", "reasoning": "Rs", "reading_comprehension": "RC", "bias": "Bias"}

# ---------------------------------------------------------------- training methods and variants
# method: how the weights are tuned (configs' train.method). variant: what a chain of stages trains
# on and with which extra loss (configs' train.variants, scores.csv's `variant` column).
METHODS = ("full", "lora", "qlora")  # the paper's full fine-tuning, LoRA, 4-bit NF4 + LoRA
ADAPTER_METHODS = ("lora", "qlora")
SEQ = "seq"  # plain sequential fine-tuning: the paper's setting and every comparison's reference
TRAINED_VARIANTS = (SEQ, "replay", "l2", "ewc", "lwf", "olora", "lora")  # cf_utils/mitigations.py trains these
WISE = "wise"  # WiSE-FT: the seq chain's adapter scaled by alpha at evaluation time; its chains: wise-<alpha>
EVAL_ONLY_VARIANTS = (WISE,)  # re-weight the seq chain's adapter at evaluation time, train nothing
MITIGATIONS = (*TRAINED_VARIANTS[1:], *EVAL_ONLY_VARIANTS)  # compared against seq by 05_mitigations


def wise_name(alpha: float) -> str:
    """The chain that evaluates seq's adapter scaled by ``alpha``: "wise-0.5"."""
    return f"{WISE}-{alpha:g}"


def wise_alpha(variant: str) -> float | None:
    """0.5 for "wise-0.5", None for a trained variant."""
    return float(variant.split("-", 1)[1]) if variant.startswith(f"{WISE}-") else None
