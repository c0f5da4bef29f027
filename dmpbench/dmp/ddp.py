"""DistributedDataParallel for ``DMP.fit`` (NCCL on GPUs, gloo on CPU; the process group is set up by the
runner under ``torchrun``, or by the caller).

Protocol: every rank draws the *global* batch from the same seeded generator (indices, noise, timesteps,
null-condition drops: the same random stream as one process) and trains on its contiguous slice of it.
The slice's mean loss is scaled by ``len(slice) * world / batch`` so that DDP's gradient average is exactly
the gradient of the global batch's mean loss, also when ``batch`` is not a multiple of the world size.
Clipping, AdamW and the EMA then see the same all-reduced gradients on every rank, so the weights equal
one process's up to floating-point summation order. Rank 0 alone writes checkpoints.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def group() -> tuple[int, int]:
    """``(rank, world size)`` of the initialised process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return group()[0] == 0


def batch_slice(batch_size: int, rank: int, world: int) -> slice:
    """This rank's contiguous part of a global batch (sizes differ by at most one)."""
    return slice(rank * batch_size // world, (rank + 1) * batch_size // world)


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` under DDP (its gradients all-reduced and averaged in ``backward``)."""
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """Average of a scalar over the ranks (for the logged loss)."""
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / dist.get_world_size()
