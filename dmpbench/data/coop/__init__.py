"""Readers for the CoOp dataset layout (CoOp's DATASETS.md) under a data root (``--data-root`` / ``$DMPBENCH_DATA``).

Importing this package registers all fifteen readers in ``DATASETS``.
"""

from dmpbench.data.coop.base import CoopDataset, resolve_data_root
from dmpbench.data.coop.fewshot_cache import cached_few_shot
from dmpbench.data.coop.fixed_splits import (
    DTD, SUN397, UCF101, Caltech101, EuroSAT, FGVCAircraft, Food101, OxfordFlowers, OxfordPets, StanfordCars,
)
from dmpbench.data.coop.imagenet import ImageNet, ImageNetA, ImageNetR, ImageNetSketch, ImageNetV2

COOP_DATASETS = {
    cls.name: cls
    for cls in (
        ImageNet, Caltech101, OxfordPets, StanfordCars, OxfordFlowers, Food101, FGVCAircraft, SUN397, DTD, EuroSAT,
        UCF101, ImageNetV2, ImageNetSketch, ImageNetA, ImageNetR,
    )
}

__all__ = ["COOP_DATASETS", "CoopDataset", "cached_few_shot", "resolve_data_root"] + [
    c.__name__ for c in COOP_DATASETS.values()
]
