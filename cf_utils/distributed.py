"""Several processes (one per GPU, or CPU processes) working on one chain: the few collectives we need.

Started by ``accelerate launch --config_file configs/accelerate/{ddp,fsdp}.yaml`` or ``torchrun
--nproc_per_node N`` (both set RANK / WORLD_SIZE / LOCAL_RANK); a single process needs nothing and
every function below is then a no-op. Backend: NCCL on CUDA, gloo on the CPU. Without a launcher, a
process on a machine with several GPUs takes a free one (``claim_gpu``: jobs of ``make -j``).

- Scoring and generation shard whole batches (batch j goes to process j mod N) and gather the
  results, so every batch is computed exactly as in one process: N processes give the same numbers.
- Training splits each batch's examples over the processes and sums their gradients (each process's
  loss is its share of the batch's token-mean), so a step sees the same batch as in one process.
- Full fine-tuning under FSDP (``sharding``, ``shard``): each process holds a shard of every weight,
  gradient and optimizer state (ZeRO stage 3); FSDP reduces the gradients; whole weights are gathered
  on process 0 to be saved (``full_state``) and handed to every process to be loaded (``load_full_state``).
- Only process 0 writes files; the others wait for it (``barrier``).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist

_MPI = (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),  # Open MPI
        ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),  # Intel MPI, MPICH
        ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_LOCAL_RANK"))  # MVAPICH  # fmt: skip


def _adopt_mpi() -> None:
    """``accelerate launch --cpu --num_processes N --mpirun_hostfile FILE`` starts the processes through
    mpirun, which names them in its own variables: take rank and size from there (rendezvous on this
    machine, MASTER_PORT or 29500), as torchrun would have set them."""
    if "RANK" in os.environ:
        return
    for rank, size, local in _MPI:
        if rank in os.environ:
            os.environ.update(RANK=os.environ[rank], WORLD_SIZE=os.environ[size],
                              LOCAL_RANK=os.environ.get(local, os.environ[rank]))  # fmt: skip
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", "29500")
            return


def use_cpu() -> bool:
    """No CUDA, or the launcher was told to use the CPU (``accelerate launch --cpu``)."""
    return not torch.cuda.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true"


def init() -> None:
    """Join the process group the launcher describes (no-op for a single process or when joined)."""
    _adopt_mpi()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    if not use_cpu():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


_HELD: list = []  # the GPU lock this process holds (claim_gpu), open until it exits


def _gpu_ids() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [g for g in visible.split(",") if g.strip()]
    try:  # nvidia-smi, not torch: asking torch would start CUDA before CUDA_VISIBLE_DEVICES is set
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i in range(sum(line.startswith("GPU") for line in out.splitlines()))]


def claim_gpu(ids: list[str] | None = None, lock_dir: Path | None = None, poll_s: float = 5.0) -> str | None:
    """A process started without a launcher (``make -j``, a job per chain) on a machine with several
    GPUs takes one that no other such process holds (a lock file per GPU, held until it exits; all
    taken: it waits for one) and sees only it (CUDA_VISIBLE_DEVICES). Returns the GPU, or None when
    there is nothing to choose (a launcher placed the process, or fewer than 2 GPUs)."""
    _adopt_mpi()
    if "WORLD_SIZE" in os.environ or use_cpu():
        return None
    ids = _gpu_ids() if ids is None else ids
    if len(ids) < 2:
        return None
    lock_dir = Path(lock_dir or tempfile.gettempdir())
    announced = False
    while True:
        for gpu in ids:
            f = open(lock_dir / f"cf_utils-{os.getuid()}-gpu-{gpu}.lock", "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            _HELD.append(f)
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
            return gpu
        if not announced:
            print(f"every GPU ({', '.join(ids)}) is taken by another job; waiting for one", flush=True)
            announced = True
        time.sleep(poll_s)


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def backend() -> str:
    return dist.get_backend() if active() else "none"


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


# ---------------------------------------------------------------- sharded full fine-tuning (ZeRO-3 / FSDP)


def sharding() -> bool:
    """Shard full fine-tuning's weights, gradients and optimizer state over the processes (FSDP, the
    ZeRO-3 scheme): under ``accelerate launch --config_file configs/accelerate/fsdp.yaml`` (it sets
    ACCELERATE_USE_FSDP) or with ``CF_FSDP=1`` under torchrun. Otherwise every process keeps a whole copy."""
    flag = os.environ.get("ACCELERATE_USE_FSDP", os.environ.get("CF_FSDP", ""))
    return active() and flag.lower() in ("1", "true")


def blocks(model) -> list[torch.nn.Module]:
    """The model's repeated blocks (transformers names their classes in ``_no_split_modules``): one shard unit each."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


def shard(model):
    """Shard ``model`` in place over the processes: each block, then the rest (embeddings, head)."""
    from torch.distributed.fsdp import fully_shard

    units = blocks(model)
    if not units:
        raise ValueError(f"{type(model).__name__} names no repeated blocks (_no_split_modules): cannot shard it")
    for block in units:
        fully_shard(block)
    fully_shard(model)
    return model


def is_sharded(model) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def full_state(model, opt=None) -> tuple[dict, dict | None]:
    """A sharded model's whole weights, and optimizer state, on process 0's CPU (the others get empty
    dicts). A collective: every process calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(model, options=options)
    return weights, get_optimizer_state_dict(model, opt, options=options) if opt is not None else None


def load_full_state(model, weights: dict, opt=None, opt_state: dict | None = None, strict: bool = True) -> None:
    """Put whole weights (and optimizer state) into ``model``, sharded or not; every process passes them."""
    if not is_sharded(model):
        model.load_state_dict(weights, strict=strict)
        if opt is not None:
            opt.load_state_dict(opt_state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, strict=strict)
    set_model_state_dict(model, weights, options=options)
    if opt is not None:
        set_optimizer_state_dict(model, opt, opt_state, options=options)
