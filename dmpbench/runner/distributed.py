"""Scale-out of one ``dmpbench run`` over processes: ``torchrun`` ranks and/or ``--shard I/N`` jobs.

The grid of a run is its list of (dataset, seed) units. It is sorted, then split round-robin: first
``--shard I/N`` keeps units ``I, I+N, I+2N, ...`` (independent jobs, e.g. a Slurm array, no process group),
then, under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), rank ``r`` of ``W`` keeps every ``W``-th
of those from ``r``. The split depends only on the sorted unit list, so every process computes the same
partition without talking to the others; the union over shards and ranks is exactly the grid, and every
unit's record is the one a single process writes (each unit is seeded by itself).

Under ``torchrun`` the runner initialises the process group (NCCL when the ranks use CUDA, each rank on
``cuda:LOCAL_RANK``; gloo on CPU); after its units every rank waits on a barrier and rank 0 reads all
the grid's records from disk and prints the summary table. Shared artefacts are built once under file
locks (``dmpbench.locking``), so ranks and shards sharing a cache directory wait for each other instead.

``--data-parallel`` (torchrun only, methods that declare ``data_parallel = True``): the ranks do not split
the grid; they walk it in lockstep (a barrier before each unit) and train each unit's model together with
DistributedDataParallel (``dmpbench.dmp.ddp``); rank 0 writes the records. Worth it when one model's
training dominates (the paper-world DMP); for a grid of small units the split above scales better.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, TypeVar

import torch

from dmpbench.errors import DmpbenchError

T = TypeVar("T")
_started = False  # the process group is ours to destroy


def _keep(units: Sequence[T], chosen: Sequence[T]) -> list[T]:
    keep = set(chosen)
    return [u for u in units if u in keep]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; ``None`` -> ``(0, 1)``."""
    if text is None:
        return 0, 1
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or int(match[2]) < 1 or int(match[1]) >= int(match[2]):
        raise DmpbenchError(f"invalid --shard {text!r}: expected I/N with 0 <= I < N, e.g. --shard 0/4 (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
    return int(match[1]), int(match[2])


def timeout() -> _dt.timedelta:
    """How long a rank waits on a barrier: at the end it waits for the slowest rank's share of the grid
    (days on the paper world), so 72 h unless ``$DMPBENCH_DIST_TIMEOUT_HOURS`` says otherwise."""
    text = os.environ.get("DMPBENCH_DIST_TIMEOUT_HOURS", "72")
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not hours > 0:
        raise DmpbenchError(f"invalid DMPBENCH_DIST_TIMEOUT_HOURS {text!r}: a positive number of hours")
    return _dt.timedelta(hours=hours)


def launched_ranks() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` from the ``torchrun`` environment; ``(0, 1, 0)`` without it."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as exc:
        raise DmpbenchError(f"malformed torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from exc


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    lockstep: bool = False  # --data-parallel: every rank runs every unit, rank 0 writes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def writes(self) -> bool:
        """Whether this process writes the records of the units it runs."""
        return not self.lockstep or self.rank == 0

    def grid(self, units: Sequence[T]) -> list[T]:
        """This shard's part of the grid (all ranks together), in the grid's order."""
        return _keep(units, sorted(units)[self.index :: self.count])

    def mine(self, units: Sequence[T]) -> Iterator[T]:
        """The units this process runs, in the grid's order (in lockstep: all of the shard's, with a
        barrier before each, so no rank reads a unit's record while another is writing it)."""
        grid = self.grid(units)
        if not self.lockstep:
            yield from _keep(grid, sorted(grid)[self.rank :: self.world])
            return
        for unit in grid:
            barrier()
            yield unit

    def device(self, requested: str | None) -> str | None:
        """Under torchrun, CUDA means this rank's GPU, ``cuda:LOCAL_RANK``."""
        if self.world > 1 and requested in (None, "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return requested

    def labelled(self, say: Callable[[str], None]) -> Callable[[str], None]:
        """Under torchrun, progress lines start with ``[rank R]``; the summary is rank 0's alone."""
        if self.world < 2:
            return say
        return lambda line: say(f"[rank {self.rank}] {line}" if line else line)

    def describe(self) -> str:
        parts = [f"shard {self.index}/{self.count}"] if self.count > 1 else []
        if self.world > 1:
            parts.append(f"rank {self.rank}/{self.world}" + (" (data-parallel, lockstep)" if self.lockstep else ""))
        return ", ".join(parts)


def plan(shard: str | None, data_parallel: bool, method_cls: type, method: str) -> Shard:
    """Validate ``--shard`` / ``--data-parallel`` against the launch; nothing is started."""
    index, count = parse_shard(shard)
    rank, world, local = launched_ranks()
    if world > 1:
        timeout()  # checked before any work
    if data_parallel and world < 2:
        raise DmpbenchError("--data-parallel needs a process group: launch with torchrun --nproc-per-node N (N >= 2)")
    if data_parallel and not getattr(method_cls, "data_parallel", False):
        raise DmpbenchError(f"--data-parallel: method {method!r} trains nothing data-parallel (dmp_coop does); drop the flag")
    return Shard(index, count, rank, world, local, lockstep=data_parallel)


def start(shard: Shard, device: torch.device) -> None:
    """Initialise the process group when launched by torchrun (NCCL on CUDA, gloo on CPU)."""
    import torch.distributed as dist

    global _started
    if shard.world < 2 or dist.is_initialized():
        return
    _started = True
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=timeout(), device_id=device)
    else:
        dist.init_process_group("gloo", timeout=timeout())


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def stop(shard: Shard) -> None:
    """Wait for every rank (so rank 0 can read their records), then leave the process group."""
    import torch.distributed as dist

    global _started
    if shard.world > 1 and dist.is_initialized():
        dist.barrier()
        if _started:
            dist.destroy_process_group()
            _started = False
