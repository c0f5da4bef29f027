"""The in-memory base class of the mini world's datasets.

A mini dataset is a pure function of its seed: ``_build()`` returns, per split, a ``uint8`` array of RGB
images ``[N, 32, 32, 3]`` and their labels. Nothing is written to disk; the arrays are built on first use
and kept for the life of the process (one copy per dataset name).
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
from PIL import Image

from dmpbench.data.base import SPLITS, ClassificationDataset, Item
from dmpbench.errors import DmpbenchError

#: side of every mini image
SIZE = 32
#: bump when the generated pixels change (it is part of every mini dataset's fingerprint)
DATA_VERSION = "1"

_CACHE: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
_LOCK = threading.RLock()  # re-entrant: mini_union builds its parts while holding it


class MiniDataset(ClassificationDataset):
    """Base of all built-in mini datasets: fixed splits, held in memory."""

    world = "mini"
    templates: Sequence[str] = ("a photo of a {}.",)
    #: the class names in label order (subclasses set this)
    CLASSNAMES: Sequence[str] = ()
    #: seed the whole dataset is a function of
    seed: int = 0

    @property
    def classnames(self) -> list[str]:
        return list(self.CLASSNAMES)

    # -- generation ---------------------------------------------------------------------------
    def _build(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{split: (images uint8 [N, 32, 32, 3], labels int64 [N])}``."""
        raise NotImplementedError

    def arrays(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """The images and labels of a split as arrays (read-only views; fast path for training/benchmarks)."""
        _check_split(which)
        data = _CACHE.get(self.name)
        if data is None:
            with _LOCK:
                data = _CACHE.get(self.name)
                if data is None:
                    data = self._build()
                    for images, labels in data.values():
                        images.setflags(write=False)
                        labels.setflags(write=False)
                    _CACHE[self.name] = data
        return data[which]

    # -- ClassificationDataset ----------------------------------------------------------------
    def split(self, which: str) -> list[Item]:
        _, labels = self.arrays(which)
        return [Item(f"{self.name}/{which}/{i}", int(y)) for i, y in enumerate(labels)]

    def load_image(self, item: Item) -> Image.Image:
        try:
            name, which, index = item.key.rsplit("/", 2)
            if name != self.name:
                raise ValueError
            images, _ = self.arrays(which)
            return Image.fromarray(images[int(index)], mode="RGB")
        except (ValueError, IndexError) as exc:
            raise DmpbenchError(f"{self.name}: no image with key {item.key!r}") from exc

    @property
    def fingerprint(self) -> str:
        return f"{self.name}:mini-v{DATA_VERSION}:seed{self.seed}"


def _check_split(which: str) -> None:
    if which not in SPLITS:
        raise DmpbenchError(f"unknown split {which!r} (expected one of {', '.join(SPLITS)})")


def split_per_class(labels: np.ndarray, n_val: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Indices of a fixed train/val/test split: per class, a seeded permutation gives ``n_test`` test
    and ``n_val`` val images, the rest train. Each split is returned in ascending index order."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for y in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == y))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {s: np.sort(np.concatenate(p)) for s, p in parts.items()}


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """``[N, H, W]`` uint8 -> ``[N, H, W, 3]``."""
    return np.repeat(gray[..., None], 3, axis=-1)
