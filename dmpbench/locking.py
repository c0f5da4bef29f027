"""Build-or-load of shared artefacts under a file lock, so that concurrent processes (torchrun ranks or
independent ``--shard`` jobs sharing a cache directory) wait for the one that builds an artefact instead
of building it twice or reading it half written.

Every artefact site wraps its whole "exists? load : build and write" in ``artefact_lock(path)``; the lock
is the sibling file ``<path>.lock`` (``filelock``: ``fcntl`` locks, released by the kernel when the holder
dies, so a killed build never leaves a stale lock). Artefacts are still written with a temporary file and
``os.replace``, so a reader that does not lock never sees a partial file either. The cache directory must
be on a file system with working POSIX locks (local disks, Lustre, GPFS, NFSv4) when several nodes share it.

``collective=True`` is for an artefact that all ranks of the process group build together (the DMP trained
with DistributedDataParallel): rank 0 alone takes the file lock (keeping other jobs out) and every rank
passes a barrier on the way in and out, so all ranks see the same "exists?" answer and nobody reads the
artefact before rank 0 has written it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from filelock import FileLock


def _group():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist
    return None


@contextlib.contextmanager
def artefact_lock(path: str | os.PathLike, collective: bool = False) -> Iterator[None]:
    """Hold ``<path>.lock`` for the duration of the block (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock")
    dist = _group() if collective else None
    if dist is None:
        with lock:
            yield
        return
    rank0 = dist.get_rank() == 0
    if rank0:
        lock.acquire()
    try:
        dist.barrier()
        yield
        dist.barrier()
    finally:
        if rank0:
            lock.release()
