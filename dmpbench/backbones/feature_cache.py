"""Image features computed once per (weights, transform, images, precision) and kept on disk.

Both worlds use it: any ``Backbone`` with any ``ClassificationDataset``. Evaluating a prompt set then only
needs the text side, which is what makes sweeps over many prompts cheap.

* Key: SHA-256 of ``backbone.cache_key``, ``dataset.name``, ``dataset.fingerprint``, the absolute data root (when
  the dataset has one), the item keys (in order), ``backbone.transform_key`` and the effective precision.
* File: ``<cache_dir>/<dataset>-<key[:24]>.safetensors`` with the features, a mask of the kept items, and in
  its metadata the full key, the shape and a SHA-256 of the feature bytes. A file that does not load, or whose
  key, shape or checksum disagree, is rebuilt (with a warning). Writes go to a temp file + ``os.replace``.
* Extraction: a ``DataLoader`` with worker processes decodes and transforms the images; bf16 (or fp16)
  autocast on CUDA when asked for. Features are float32 on the CPU, not normalised.
* Undecodable images: ``DmpbenchError`` naming the file, or, with ``skip_bad_images=True``, skipped and
  counted (a warning names the first ones); the rows then belong to the kept items only - pass
  ``return_items=True`` to get them.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from typing import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from dmpbench.backbones.base import Backbone
from dmpbench.cachefiles import atomic_path
from dmpbench.data.base import ClassificationDataset, Item
from dmpbench.errors import DmpbenchError
from dmpbench.locking import artefact_lock

FORMAT = "dmpbench-features-1"
PRECISIONS = ("fp32", "bf16", "fp16")


def effective_precision(precision: str, device: torch.device) -> str:
    """The precision actually used: autocast only runs on CUDA, elsewhere features are fp32."""
    if precision not in PRECISIONS:
        raise DmpbenchError(f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")
    return precision if device.type == "cuda" else "fp32"


def cache_key(backbone: Backbone, dataset: ClassificationDataset, items: Sequence[Item], precision: str) -> str:
    h = hashlib.sha256()
    head = [FORMAT, backbone.cache_key, dataset.name, dataset.fingerprint, backbone.transform_key, precision, len(items)]
    root = getattr(dataset, "data_root", None)
    if root:  # the same split file under another data root is other data (its images may differ)
        head.append(os.path.abspath(str(root)))
    h.update(json.dumps(head).encode())
    for item in items:
        h.update(item.key.encode())
        h.update(b"\0")
    return h.hexdigest()


def cache_path(cache_dir: str | os.PathLike, dataset: ClassificationDataset, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset.name)
    return os.path.join(str(cache_dir), f"{safe}-{key[:24]}.safetensors")


def _digest(feats: torch.Tensor, kept: torch.Tensor) -> str:
    h = hashlib.sha256(feats.contiguous().numpy().tobytes())
    h.update(kept.to(torch.uint8).contiguous().numpy().tobytes())
    return h.hexdigest()


def _load(path: str, key: str, n_items: int) -> tuple[torch.Tensor, torch.Tensor, list[str]] | None:
    """(features, kept mask, bad keys) from a valid cache file, None when absent; warns when invalid."""
    if not os.path.exists(path):
        return None
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            feats = f.get_tensor("features")
            kept_raw = f.get_tensor("kept")
        kept = kept_raw.bool()
        ok = (
            meta.get("format") == FORMAT
            and meta.get("key") == key
            and kept.shape == (n_items,)
            and feats.dim() == 2 and feats.dtype == torch.float32
            and feats.shape[0] == int(kept.sum())
            and meta.get("sha256") == _digest(feats, kept_raw)
        )
        bad = json.loads(meta.get("bad", "[]"))
    except Exception as exc:  # truncated / garbage file: safetensors raises various types
        warnings.warn(f"feature cache {path} is unreadable ({type(exc).__name__}); recomputing", stacklevel=3)
        return None
    if not ok:
        warnings.warn(f"feature cache {path} does not match its key, shape or checksum; recomputing", stacklevel=3)
        return None
    return feats, kept, bad


def _save(path: str, key: str, feats: torch.Tensor, kept: torch.Tensor, bad: list[str]) -> None:
    from safetensors.torch import save_file

    meta = {"format": FORMAT, "key": key, "sha256": _digest(feats, kept), "bad": json.dumps(bad)}
    with atomic_path(path) as tmp:
        save_file({"features": feats.contiguous(), "kept": kept.to(torch.uint8)}, str(tmp), metadata=meta)


class _Images(Dataset):
    """Decodes + transforms one item; never raises, so a bad image becomes a one-line message."""

    def __init__(self, dataset: ClassificationDataset, items: Sequence[Item], transform):
        self.dataset, self.items, self.transform = dataset, list(items), transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        try:
            return self.transform(self.dataset.load_image(self.items[i])), i, ""
        except DmpbenchError as exc:
            return None, i, str(exc)
        except Exception as exc:
            return None, i, f"{self.dataset.name}: cannot read image {self.items[i].key} ({type(exc).__name__}: {exc})"


def _collate(batch):
    """(stacked good images or None, their indices, [(index, error)] of the bad ones)."""
    good = [(img, i) for img, i, err in batch if not err]
    errors = [(i, err) for _, i, err in batch if err]
    images = torch.stack([img for img, _ in good]) if good else None
    return images, [i for _, i in good], errors


def _extract(backbone, dataset, items, precision, batch_size, num_workers, progress, skip_bad_images):
    from tqdm.auto import tqdm

    device = backbone.device
    loader = DataLoader(
        _Images(dataset, items, backbone.image_transform()),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
    )
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    feats: list[torch.Tensor | None] = [None] * len(items)
    bad: list[tuple[int, str]] = []
    bar = tqdm(total=len(items), desc=f"image features {dataset.name}", unit="img", disable=not progress, leave=False)
    try:
        with torch.no_grad():
            for images, idx, errors in loader:
                if errors and not skip_bad_images:
                    raise DmpbenchError(f"{errors[0][1]} (replace or remove the file and rerun: dmpbench run never skips unreadable images)")
                bad.extend(errors)
                if images is not None:
                    images = images.to(device, non_blocking=True)
                    if dtype is not None:
                        with torch.autocast("cuda", dtype=dtype):
                            out = backbone.encode_image(images)
                    else:
                        out = backbone.encode_image(images)
                    for row, i in zip(out.float().cpu(), idx):
                        feats[i] = row
                bar.update(len(idx) + len(errors))
    finally:
        bar.close()
    kept = torch.tensor([f is not None for f in feats], dtype=torch.bool)
    rows = [f for f in feats if f is not None]
    out = torch.stack(rows) if rows else torch.zeros(0, backbone.embed_dim)
    if bad:
        first = "; ".join(e for _, e in bad[:3])
        warnings.warn(f"skipped {len(bad)} of {len(items)} images that could not be read: {first}", stacklevel=3)
    return out, kept, [items[i].key for i, _ in sorted(bad)]


def image_features(
    backbone: Backbone,
    dataset: ClassificationDataset,
    items: Sequence[Item],
    *,
    cache_dir: str | os.PathLike | None,
    precision: str = "fp32",
    batch_size: int = 64,
    num_workers: int | None = None,
    progress: bool = True,
    skip_bad_images: bool = False,
    return_items: bool = False,
):
    """Image features ``[N, embed_dim]`` (float32, CPU, not normalised) of ``items``, from the cache when possible.

    ``num_workers`` defaults to ``min(4, cpu count)`` (0 when there is at most one batch).
    ``cache_dir=None`` disables the cache. With ``skip_bad_images=True`` undecodable images are dropped (rows
    follow the kept items); ``return_items=True`` returns ``(features, kept_items)``.
    """
    items = list(items)
    precision = effective_precision(precision, backbone.device)
    if num_workers is None:  # worker start-up only pays off beyond a batch
        num_workers = min(4, os.cpu_count() or 1) if len(items) > batch_size else 0
    key = cache_key(backbone, dataset, items, precision)
    path = cache_path(cache_dir, dataset, key) if cache_dir is not None else None
    with artefact_lock(path):  # concurrent ranks/shards: one extracts, the others wait and load
        hit = _load(path, key, len(items)) if path else None
        if hit is None:
            feats, kept, bad = _extract(backbone, dataset, items, precision, batch_size, num_workers, progress, skip_bad_images)
            if path:
                _save(path, key, feats, kept, bad)
    if hit is not None:
        feats, kept, bad = hit
        if bad and not skip_bad_images:
            raise DmpbenchError(
                f"{dataset.name}: {len(bad)} image(s) could not be read, e.g. {bad[0]} "
                "(replace or remove the file and rerun: dmpbench run never skips unreadable images)"
            )
        if bad:
            warnings.warn(f"skipped {len(bad)} of {len(items)} images that could not be read (cached), e.g. {bad[0]}", stacklevel=2)
    if return_items:
        return feats, [it for it, k in zip(items, kept.tolist()) if k]
    return feats


class ImageSet:
    """Images of items from one or more datasets, in order, decoded and transformed on demand: what a method
    that prompts the image tower (VPT, MaPLe, ...) trains and is scored on, where the others use the cached
    features. ``load`` gives a batch as tensors; ``encode`` streams every image through an encoder (the
    feature cache's loader: worker processes decode, a bad image is a one-line error)."""

    def __init__(self, parts: Sequence[tuple[ClassificationDataset, Sequence[Item]]], transform):
        self.parts = [(ds, list(items)) for ds, items in parts if len(items)]
        self.transform = transform
        self._index = [(p, j) for p, (_, items) in enumerate(self.parts) for j in range(len(items))]

    def __len__(self) -> int:
        return len(self._index)

    def subset(self, keep: torch.Tensor) -> "ImageSet":
        """The images where the boolean mask ``keep`` (one entry per image) is true, in order."""
        if keep.numel() != len(self):
            raise ValueError(f"mask of {keep.numel()} entries for {len(self)} images")
        chosen = keep.tolist()
        parts, offset = [], 0
        for ds, items in self.parts:
            parts.append((ds, [it for it, k in zip(items, chosen[offset : offset + len(items)]) if k]))
            offset += len(items)
        return ImageSet(parts, self.transform)

    def __add__(self, other: "ImageSet") -> "ImageSet":
        return ImageSet([*self.parts, *other.parts], self.transform)

    def load(self, indices: Sequence[int]) -> torch.Tensor:
        """``[B, 3, H, W]``: the images at ``indices``."""
        out = []
        for i in indices:
            p, j = self._index[int(i)]
            ds, items = self.parts[p]
            image, _, err = _Images(ds, items, self.transform)[j]
            if err:
                raise DmpbenchError(err)
            out.append(image)
        return torch.stack(out)

    def encode(self, encode, batch_size: int = 64, progress: bool = False, desc: str = "prompted image features") -> torch.Tensor:
        """``[N, D]`` float32 CPU: ``encode(images)`` over every image (no gradients), in order."""
        from tqdm.auto import tqdm

        feats = []
        bar = tqdm(total=len(self), desc=desc, unit="img", disable=not progress, leave=False)
        try:
            with torch.no_grad():
                for ds, items in self.parts:
                    workers = min(4, os.cpu_count() or 1) if len(items) > batch_size else 0
                    loader = DataLoader(_Images(ds, items, self.transform), batch_size=batch_size, num_workers=workers, collate_fn=_collate)
                    for images, idx, errors in loader:
                        if errors:
                            raise DmpbenchError(f"{errors[0][1]} (replace or remove the file and rerun: dmpbench run never skips unreadable images)")
                        feats.append(encode(images).float().cpu())
                        bar.update(len(idx))
        finally:
            bar.close()
        return torch.cat(feats) if feats else torch.zeros(0, 0)
