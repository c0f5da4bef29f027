"""Build-or-load of shared artefacts under a file lock, so that concurrent processes (torchrun ranks or
independent ``--shard`` jobs sharing a cache directory) wait for the one that builds an artefact instead
of building it twice or reading it half written.

Every artefact site wraps its whole "exists? load : build and write" in ``artefact_lock(path)``; the lock
is ``<folder's parent>/.locks/<folder>/<name>.lock`` for the artefact ``<folder>/<name>`` (beside the
artefact's folder, which so holds artefacts only), a ``filelock`` lock: ``fcntl`` locks, released by the
kernel when the holder dies, so a killed build never leaves a stale lock (the small lock files stay). Artefacts are still written with a temporary file and
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


def lock_file(path: Path) -> Path:
    """Where the lock of the artefact ``path`` lives."""
    path = Path(path).absolute()
    return path.parent.parent / ".locks" / path.parent.name / f"{path.name}.lock"


@contextlib.contextmanager
def artefact_lock(path: str | os.PathLike | None, collective: bool = False) -> Iterator[None]:
    """Hold the lock of the artefact ``path`` for the duration of the block (module docstring); ``None``: no lock
    (an artefact that is not cached)."""
    if path is None:
        yield
        return
    path = Path(path)
    lock_path = lock_file(path)
    lock = FileLock(str(lock_path))
    dist = _group() if collective else None
    rank0 = dist is None or dist.get_rank() == 0
    held = False
    if rank0:
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
            held = True
        except OSError:  # a read-only location (e.g. a data root's few-shot folder): nothing is written there
            pass
    try:
        if dist is not None:
            dist.barrier()
        yield
        if dist is not None:
            dist.barrier()
    finally:
        if held:
            lock.release()
