"""The dataset interface shared by the paper world (CoOp layout) and the mini world.

A dataset is a list of class names plus three splits of ``Item``s. Images are loaded lazily through
``load_image`` so the image-feature cache can skip them entirely on a hit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

from PIL import Image

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    """One labelled image. ``key`` is stable across machines (a path relative to the data root, or
    ``"<dataset>/<split>/<index>"`` for built-in data) and is what the feature cache hashes."""

    key: str
    label: int


class ClassificationDataset(ABC):
    #: registry name, e.g. "caltech101" or "mini_mnist"
    name: str = ""
    #: "paper" or "mini"
    world: str = "paper"
    #: CoOp's hand prompt(s) for this dataset; ``{}`` is replaced by the class name
    templates: Sequence[str] = ("a photo of a {}.",)

    @property
    @abstractmethod
    def classnames(self) -> list[str]:
        """Class names in label order (label i is ``classnames[i]``)."""

    @abstractmethod
    def split(self, which: str) -> list[Item]:
        """The ``train``, ``val`` or ``test`` split, in a fixed order."""

    @abstractmethod
    def load_image(self, item: Item) -> Image.Image:
        """The RGB image of ``item``; raises ``DmpbenchError`` naming the file when it cannot be decoded."""

    @property
    def fingerprint(self) -> str:
        """Changes whenever the images behind the keys can change (part of the feature-cache key)."""
        return self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {len(self.classnames)} classes>"
