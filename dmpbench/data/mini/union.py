"""``mini_union``: the union of the four source mini datasets, the label set of the ``mini`` class tree."""

from __future__ import annotations

import numpy as np

from dmpbench.data.base import SPLITS
from dmpbench.data.mini.base import MiniDataset
from dmpbench.data.mini.digits import MiniMNIST
from dmpbench.data.mini.render import MiniLetters, MiniPatterns, MiniShapes
from dmpbench.registry import DATASETS

PARTS = (MiniMNIST, MiniShapes, MiniPatterns, MiniLetters)


@DATASETS.register("mini_union")
class MiniUnion(MiniDataset):
    """Mini world: mini_mnist + mini_shapes + mini_patterns + mini_letters (44 classes, the mini tree's leaves)."""

    name = "mini_union"
    CLASSNAMES = tuple(c for part in PARTS for c in part.CLASSNAMES)

    def _build(self):
        out = {}
        for split in SPLITS:
            images, labels, offset = [], [], 0
            for part in PARTS:
                x, y = part().arrays(split)
                images.append(x)
                labels.append(y + offset)
                offset += len(part.CLASSNAMES)
            out[split] = (np.concatenate(images), np.concatenate(labels))
        return out
