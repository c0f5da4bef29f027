"""Few-shot sampling and the base/new class split, with CoOp/CoCoOp (Dassl) semantics.

* ``few_shot``: per class, in the order classes first appear in the split (Dassl's
  ``split_dataset_by_label``), ``random.sample`` K items; a class with fewer than K items is sampled
  *with* replacement (``random.choices``), which is Dassl's ``repeat=True`` and what DESIGN.md asks for.
  The generator is ``random.Random(seed)``, the same stream Dassl gets from ``random.seed(seed)``.
* ``base_new``: sorted labels, base = first ceil(n/2), new = the rest (CoCoOp ``subsample_classes``),
  each relabelled from 0. Few-shot samples are drawn on all classes *before* the split, as CoCoOp does.
"""

from __future__ import annotations

import math
import random
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from dmpbench.data.base import Item

SEEDS = (1, 2, 3)


def few_shot(items: Sequence[Item], k: int, seed: int, warn: bool = True) -> list[Item]:
    """K items per class (Dassl ``generate_fewshot_dataset``); ``k < 1`` returns everything."""
    if k < 1:
        return list(items)
    by_label: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_label[item.label].append(item)
    rng = random.Random(seed)
    chosen: list[Item] = []
    short = []
    for label, group in by_label.items():
        if len(group) >= k:
            chosen.extend(rng.sample(group, k))
        else:
            short.append(label)
            chosen.extend(rng.choices(group, k=k))
    if short and warn:
        warnings.warn(
            f"{len(short)} class(es) have fewer than {k} images (labels {short[:5]}...); "
            "sampled with replacement as CoOp does",
            stacklevel=2,
        )
    return chosen


def validation_shots(k: int) -> int:
    """CoOp samples min(K, 4) validation images per class."""
    return min(k, 4)


@dataclass(frozen=True)
class ClassSplit:
    """A subset of a dataset's labels, relabelled from 0 in sorted order."""

    labels: tuple[int, ...]  # original labels, sorted

    @property
    def relabel(self) -> dict[int, int]:
        return {old: new for new, old in enumerate(self.labels)}

    def names(self, classnames: Sequence[str]) -> list[str]:
        return [classnames[y] for y in self.labels]

    def select(self, items: Sequence[Item]) -> list[Item]:
        """Items whose label is in the subset, relabelled from 0."""
        mapping = self.relabel
        return [Item(it.key, mapping[it.label]) for it in items if it.label in mapping]


def base_new(num_classes: int) -> tuple[ClassSplit, ClassSplit]:
    """CoCoOp's rule: base = the first ceil(n/2) sorted labels, new = the rest."""
    labels = list(range(num_classes))
    m = math.ceil(num_classes / 2)
    return ClassSplit(tuple(labels[:m])), ClassSplit(tuple(labels[m:]))


def all_classes(num_classes: int) -> ClassSplit:
    return ClassSplit(tuple(range(num_classes)))
