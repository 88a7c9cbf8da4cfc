"""Several processes (one per GPU, or CPU processes) working on one chain: the few collectives we need.

Started by ``accelerate launch --multi_gpu --num_processes N`` or ``torchrun --nproc_per_node N``
(both set RANK / WORLD_SIZE / LOCAL_RANK); a single process needs nothing and every function
below is then a no-op. Backend: NCCL on CUDA, gloo on the CPU.

- Scoring and generation shard whole batches (batch j goes to process j mod N) and gather the
  results, so every batch is computed exactly as in one process: N processes give the same numbers.
- Training splits each batch's examples over the processes and sums their gradients (each process's
  loss is its share of the batch's token-mean), so a step sees the same batch as in one process.
- Only process 0 writes files; the others wait for it (``barrier``).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init() -> None:
    """Join the process group the launcher describes (no-op for a single process or when joined)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def mine(n: int) -> list[int]:
    """The indices of ``n`` units of work (batches) that this process computes: j with j mod N == rank."""
    return list(range(rank(), n, world()))


def gather_dict(local: dict) -> dict:
    """Every process's ``{key: result}`` merged (keys are disjoint: each unit of work has one owner)."""
    if not active():
        return local
    parts: list[dict | None] = [None] * world()
    dist.all_gather_object(parts, local)
    merged: dict = {}
    for part in parts:
        merged.update(part)
    return merged


def all_reduce_grads(params) -> None:
    """Sum the gradients of ``params`` over the processes (a missing gradient counts as zero)."""
    if not active():
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def all_reduce_sum(value: float) -> float:
    """The sum of ``value`` over the processes."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())
