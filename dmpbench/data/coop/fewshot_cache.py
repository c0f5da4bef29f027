"""Few-shot selections cached on disk, as CoOp caches them in ``split_fewshot/shot_K-seed_S.pkl``.

The selection itself is ``dmpbench.data.splits.few_shot`` (Dassl semantics): K images per class from the
train split and, for datasets with their own val split, ``min(K, 4)`` per class from val (CoOp; ImageNet's val
is its test set and stays whole). The JSON file stores the item keys and labels with the dataset's
fingerprint, so a rerun - on any machine, after any change to listing order - trains on the same images.
A stale or unreadable file is redrawn and rewritten; an unwritable location just skips the cache.
"""

from __future__ import annotations

import json
import os

from dmpbench.cachefiles import write_json

from dmpbench.data.base import ClassificationDataset, Item
from dmpbench.data.splits import few_shot, validation_shots
from dmpbench.errors import DmpbenchError
from dmpbench.locking import artefact_lock

VERSION = 1


def fewshot_path(dataset: ClassificationDataset, k: int, seed: int, cache_dir: str | os.PathLike | None) -> str | None:
    """``<cache_dir>/<dataset>/shot_K-seed_S.json``, or CoOp's ``<dataset folder>/split_fewshot/`` by default."""
    if cache_dir is not None:
        folder = os.path.join(str(cache_dir), dataset.name)
    elif getattr(dataset, "root", None):
        folder = os.path.join(dataset.root, "split_fewshot")
    else:
        return None
    return os.path.join(folder, f"dmpbench-shot_{k}-seed_{seed}.json")


def _draw(dataset: ClassificationDataset, k: int, seed: int) -> dict[str, list[Item]]:
    out = {"train": few_shot(dataset.split("train"), k, seed)}
    if getattr(dataset, "fewshot_val", True):
        out["val"] = few_shot(dataset.split("val"), validation_shots(k), seed, warn=False)
    else:
        out["val"] = dataset.split("val")
    return out


def _read(path: str, dataset: ClassificationDataset, k: int, seed: int) -> dict[str, list[Item]] | None:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        if (raw.get("version"), raw.get("fingerprint"), raw.get("k"), raw.get("seed")) != (
            VERSION, dataset.fingerprint, k, seed,
        ):
            return None
        out = {}
        for which in ("train", "val"):
            valid = {(it.key, it.label) for it in dataset.split(which)}
            items = [Item(str(key), int(label)) for key, label in raw[which]]
            if any((it.key, it.label) not in valid for it in items):
                return None
            out[which] = items
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: str, dataset: ClassificationDataset, k: int, seed: int, data: dict[str, list[Item]]) -> None:
    payload = {
        "version": VERSION, "dataset": dataset.name, "fingerprint": dataset.fingerprint, "k": k, "seed": seed,
        **{which: [[it.key, it.label] for it in items] for which, items in data.items()},
    }
    try:
        write_json(path, payload)
    except DmpbenchError:
        pass  # read-only data root: the selection is deterministic anyway


def cached_few_shot(
    dataset: ClassificationDataset, k: int, seed: int, *, cache_dir: str | os.PathLike | None = None
) -> dict[str, list[Item]]:
    """``{"train": K per class, "val": min(K, 4) per class}``, read from / written to the few-shot cache."""
    if k < 1:
        return {"train": dataset.split("train"), "val": dataset.split("val")}
    path = fewshot_path(dataset, k, seed, cache_dir)
    with artefact_lock(path):  # concurrent ranks/shards: one draws and writes, the others read
        if path and os.path.isfile(path):
            cached = _read(path, dataset, k, seed)
            if cached is not None:
                return cached
        data = _draw(dataset, k, seed)
        if path:
            _write(path, dataset, k, seed, data)
    return data
