"""The study's fixed design: its vocabulary, defined once (Luo et al. 2023, arXiv 2308.08747, section 3).

Everything that names a part of the experiment imports it from here: the five continual tasks and
their order, the stages, the benchmark categories and their labels, the training methods (how the
weights are tuned) and the continual-training variants (what each stage trains on, and with which
extra loss). The configuration's allowed values are these tuples (tests/test_study.py checks it), so a
new variant or category is added here and nowhere else in the vocabulary. Code that means one of them
uses its constant (SEQ, BIAS, FULL, ...): tests/test_study.py fails on a study name typed as a string
anywhere else in the package (the profiles' names: cf_utils/config.py).

    stage 0          the model as loaded (or after general instruction tuning: the Alpaca analogue)
    stage k = 1..5   after training task TASKS[k-1] (the paper's order)
"""

from __future__ import annotations

# ---------------------------------------------------------------- tasks and stages
SIMP, EMDG, INQQG, EXP, HGEN = "simp", "emdg", "inqqg", "exp", "hgen"  # each task by name, for the code that means one
TASKS = (SIMP, EMDG, INQQG, EXP, HGEN)  # the paper's order; task k is trained at stage k
TASK_LABELS = {SIMP: "Simp", EMDG: "Emdg", INQQG: "InqQG", EXP: "Exp", HGEN: "HGen"}
TASK_STAGE = {task: k for k, task in enumerate(TASKS, start=1)}
GENERAL_TASK = "general"  # the general-instruction set: the Alpaca analogue's data and replay's mix (stage 0)
TRAINED_STAGES = tuple(TASK_STAGE.values())  # 1..5: the stages that train
STAGES = (0, *TRAINED_STAGES)  # 0..5: the stages that are evaluated
LAST = TRAINED_STAGES[-1]

# ---------------------------------------------------------------- benchmark categories
DOMAIN_KNOWLEDGE, REASONING, READING_COMPREHENSION = "domain_knowledge", "reasoning", "reading_comprehension"
BIAS = "bias"  # the one category whose metric's direction is not "lower is worse" (cf_utils/report/bias.py)
CATEGORIES = (DOMAIN_KNOWLEDGE, REASONING, READING_COMPREHENSION, BIAS)  # the paper's four
NEW_TASK = "new_task"  # scores.csv's category for the continual tasks' own metrics
SCORE_CATEGORIES = (*CATEGORIES, NEW_TASK)
GENERAL = CATEGORIES[:3]  # claim 1's "general knowledge": domain knowledge, reasoning, reading comprehension
GENERAL_POOLED = "general"  # the category label of a row that pools the GENERAL categories (the mitigation tables)
CATEGORY_LABELS = {
    DOMAIN_KNOWLEDGE: "Domain knowledge",
    REASONING: "Reasoning",
    READING_COMPREHENSION: "Reading comprehension",
    BIAS: "Bias",
}
ABBR = {DOMAIN_KNOWLEDGE: "DK", REASONING: "Rs", READING_COMPREHENSION: "RC", BIAS: "Bias"}

# ---------------------------------------------------------------- training methods and variants
# method: how the weights are tuned (configs' train.method). variant: what a chain of stages trains
# on and with which extra loss (configs' train.variants, scores.csv's `variant` column).
FULL, LORA, QLORA = "full", "lora", "qlora"
METHODS = (FULL, LORA, QLORA)  # the paper's full fine-tuning, LoRA, 4-bit NF4 + LoRA
ADAPTER_METHODS = (LORA, QLORA)
SEQ = "seq"  # plain sequential fine-tuning: the paper's setting and every comparison's reference
REPLAY = "replay"  # the paper's mitigation (section 5.4): general instructions mixed into every stage
L2, EWC, LWF, OLORA = "l2", "ewc", "lwf", "olora"  # the other trained mitigations (cf_utils/mitigations.py)
LORA_ARM = LORA  # the variant "lora": a LoRA chain beside full fine-tuning's (its method is LORA)
TRAINED_VARIANTS = (SEQ, REPLAY, L2, EWC, LWF, OLORA, LORA_ARM)  # cf_utils/mitigations.py trains these
WISE = "wise"  # WiSE-FT: the seq chain's adapter scaled by alpha at evaluation time; its chains: wise-<alpha>
EVAL_ONLY_VARIANTS = (WISE,)  # re-weight the seq chain's adapter at evaluation time, train nothing
MITIGATIONS = (*TRAINED_VARIANTS[1:], *EVAL_ONLY_VARIANTS)  # compared against seq by 05_mitigations


def wise_name(alpha: float) -> str:
    """The chain that evaluates seq's adapter scaled by ``alpha``: "wise-0.5"."""
    return f"{WISE}-{alpha:g}"


def wise_alpha(variant: str) -> float | None:
    """0.5 for "wise-0.5", None for a trained variant."""
    return float(variant.split("-", 1)[1]) if variant.startswith(f"{WISE}-") else None
