"""Files that must never be seen half written: records, tables, and every cached artefact (feature cache,
few-shot selections, treecut cuts, CoOp repositories, DMP checkpoints).

One rule, used everywhere:

* ``atomic_path(path)``: the caller writes a *unique* temporary file in the same directory
  (``.<name>.<random>.tmp``, from ``tempfile.mkstemp``), which is fsync-ed and moved over ``path`` with
  ``os.replace``. Two processes saving the same artefact each write their own temporary and the last
  ``os.replace`` wins; a reader sees the old complete file or the new complete file, never a mix.
  A failed write removes its temporary; ``OSError`` (full disk, read-only folder) becomes a one-line
  ``DmpbenchError`` naming the file.
* ``remove_stale_temporaries(folder)``: a run killed between creating and replacing leaves its temporary
  behind. Temporaries older than ``STALE_AFTER_S`` (our ``.*.tmp`` names, the legacy fixed names such as
  ``dmp.safetensors.tmp`` and ``.tmp-*`` files) are deleted at the start of every run. The age threshold
  (not the writer's pid) decides, so that folders shared between machines are handled the same way; no
  write of ours takes anywhere near an hour.
* ``try_load``: a cached artefact that does not load is reported in one warning and rebuilt by the caller.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from dmpbench.errors import DmpbenchError

STALE_AFTER_S = 3600.0
T = TypeVar("T")


def os_error_message(path: str | os.PathLike, exc: OSError) -> str:
    """One line for an ``OSError`` while writing ``path`` (a full disk says so)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {path}: no space left on device (free some space or choose another --results/--cache-dir)"
    return f"cannot write {path}: {exc.strerror or exc}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a unique temporary path beside ``path``; on success it replaces ``path`` (fsync-ed)."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise DmpbenchError(os_error_message(path, exc)) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, payload: Any, **dump_kwargs: Any) -> None:
    write_text(path, json.dumps(payload, **dump_kwargs) + "\n")


def is_temporary(path: Path) -> bool:
    name = path.name
    return name.endswith(".tmp") or name.startswith(".tmp-") or name.startswith(".probe-")


def remove_stale_temporaries(folder: str | os.PathLike | None, older_than_s: float = STALE_AFTER_S) -> int:
    """Deletes temporaries left by killed writers under ``folder``; returns how many."""
    if folder is None or not Path(folder).is_dir():
        return 0
    now, removed = time.time(), 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not is_temporary(path):
                continue
            try:
                if now - path.stat().st_mtime > older_than_s:
                    path.unlink()
                    removed += 1
            except OSError:
                continue  # another run removed or replaced it meanwhile
    return removed


def try_load(what: str, load: Callable[[], T]) -> T | None:
    """``load()`` of a cached artefact, or None (after one warning) when the file is corrupt, so that the
    caller rebuilds it."""
    try:
        return load()
    except Exception as exc:  # truncated / garbage files raise many different types
        warnings.warn(f"{what} is unreadable ({type(exc).__name__}: {str(exc)[:80]}); rebuilding it", stacklevel=2)
        return None


def check_writable_dir(folder: str | os.PathLike, what: str) -> None:
    """Fail before any work when ``folder`` cannot be created or written (one line)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DmpbenchError(f"{what} {folder} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", delete=True):
            pass
    except OSError as exc:
        raise DmpbenchError(f"{what} {folder} is not writable: {exc.strerror or exc}") from exc


def remove_empty_dirs(folder: str | os.PathLike) -> None:
    """Removes ``folder`` and its sub-folders when they hold no file (what a failed run created)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for root, _dirs, _files in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
        with contextlib.suppress(OSError):
            Path(root).rmdir()  # fails (and is skipped) when not empty


def cached_tensors(ctx, kind: str, key: dict, build: Callable[[], tuple[dict, dict]]) -> tuple[dict, dict]:
    """``(tensors, stats)`` of ``build()`` under ``ctx.cache_dir/kind/<hash of key>`` (built once, under a lock;
    a corrupt file is rebuilt with one warning; ``stats.json`` is written last and marks a complete artefact)."""
    from safetensors.torch import load_file, save_file

    from dmpbench.locking import artefact_lock

    directory = ctx.artifact_dir(kind, key)
    with artefact_lock(directory / kind):
        if (directory / "stats.json").exists():
            cached = try_load(f"cached {kind} {directory}", lambda: (
                load_file(str(directory / "tensors.safetensors")), json.loads((directory / "stats.json").read_text())))
            if cached is not None:
                ctx.audit[f"{kind}_reused"] = True
                return cached
        tensors, stats = build()
        with atomic_path(directory / "tensors.safetensors") as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
        write_json(directory / "stats.json", stats)
    return tensors, stats
