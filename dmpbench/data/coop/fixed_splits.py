"""The ten CoOp datasets with fixed train/val/test splits (all but ImageNet).

Nine read CoOp's ``split_zhou_<Name>.json``; FGVCAircraft reads the dataset's own ``images_variant_*.txt``
and ``variants.txt`` as CoOp does. Templates are CoOp's ``CUSTOM_TEMPLATES`` (trainers/zsclip.py).
"""

from __future__ import annotations

import os

from dmpbench.data.base import SPLITS, Item
from dmpbench.data.coop.base import LAYOUT_HINT, CoopDataset, file_digest, read_split_json
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS


class SplitJsonDataset(CoopDataset):
    """A CoOp dataset whose split is ``<dataset_dir>/<split_file>``, paths relative to ``image_dir``."""

    split_file: str = ""
    #: folder the split's relative paths start from, relative to ``dataset_dir`` ("" = dataset_dir itself)
    image_dir: str = ""

    def _load(self) -> None:
        path = os.path.join(self.root, self.split_file)
        self._splits, names = read_split_json(self, path, self.image_dir)
        self._set_classnames(names, self.split_file)
        self._fingerprint_parts.append(file_digest(path))


@DATASETS.register("caltech101")
class Caltech101(SplitJsonDataset):
    """Caltech101 (CoOp split, 100 classes)."""

    name = "caltech101"
    dataset_dir = "caltech-101"
    image_dir = "101_ObjectCategories"
    split_file = "split_zhou_Caltech101.json"
    templates = ("a photo of a {}.",)


@DATASETS.register("oxford_pets")
class OxfordPets(SplitJsonDataset):
    """Oxford-IIIT Pets (CoOp split, 37 breeds)."""

    name = "oxford_pets"
    dataset_dir = "oxford_pets"
    image_dir = "images"
    split_file = "split_zhou_OxfordPets.json"
    templates = ("a photo of a {}, a type of pet.",)


@DATASETS.register("stanford_cars")
class StanfordCars(SplitJsonDataset):
    """Stanford Cars (CoOp split, 196 models)."""

    name = "stanford_cars"
    dataset_dir = "stanford_cars"
    image_dir = ""  # paths are cars_train/... and cars_test/...
    split_file = "split_zhou_StanfordCars.json"
    templates = ("a photo of a {}.",)


@DATASETS.register("oxford_flowers")
class OxfordFlowers(SplitJsonDataset):
    """Oxford Flowers-102 (CoOp split)."""

    name = "oxford_flowers"
    dataset_dir = "oxford_flowers"
    image_dir = "jpg"
    split_file = "split_zhou_OxfordFlowers.json"
    templates = ("a photo of a {}, a type of flower.",)


@DATASETS.register("food101")
class Food101(SplitJsonDataset):
    """Food-101 (CoOp split)."""

    name = "food101"
    dataset_dir = "food-101"
    image_dir = "images"
    split_file = "split_zhou_Food101.json"
    templates = ("a photo of {}, a type of food.",)


@DATASETS.register("sun397")
class SUN397(SplitJsonDataset):
    """SUN397 scenes (CoOp split)."""

    name = "sun397"
    dataset_dir = "sun397"
    image_dir = "SUN397"
    split_file = "split_zhou_SUN397.json"
    templates = ("a photo of a {}.",)


@DATASETS.register("dtd")
class DTD(SplitJsonDataset):
    """Describable Textures (CoOp split, 47 classes)."""

    name = "dtd"
    dataset_dir = "dtd"
    image_dir = "images"
    split_file = "split_zhou_DescribableTextures.json"
    templates = ("{} texture.",)


@DATASETS.register("eurosat")
class EuroSAT(SplitJsonDataset):
    """EuroSAT RGB (CoOp split, 10 classes)."""

    name = "eurosat"
    dataset_dir = "eurosat"
    image_dir = "2750"
    split_file = "split_zhou_EuroSAT.json"
    templates = ("a centered satellite photo of {}.",)


@DATASETS.register("ucf101")
class UCF101(SplitJsonDataset):
    """UCF101 middle frames (CoOp split, 101 actions)."""

    name = "ucf101"
    dataset_dir = "ucf101"
    image_dir = "UCF-101-midframes"
    split_file = "split_zhou_UCF101.json"
    templates = ("a photo of a person doing {}.",)


@DATASETS.register("fgvc_aircraft")
class FGVCAircraft(CoopDataset):
    """FGVC-Aircraft variants (the dataset's own train/val/test lists, 100 classes)."""

    name = "fgvc_aircraft"
    dataset_dir = "fgvc_aircraft"
    templates = ("a photo of a {}, a type of aircraft.",)

    def _load(self) -> None:
        variants = os.path.join(self.root, "variants.txt")
        if not os.path.isfile(variants):
            raise DmpbenchError(f"{self.name}: missing {variants} ({LAYOUT_HINT})")
        with open(variants, encoding="utf-8") as f:
            classnames = [line.strip() for line in f if line.strip()]
        cname2lab = {c: i for i, c in enumerate(classnames)}
        self._fingerprint_parts.append(file_digest(variants))
        for which in SPLITS:
            path = os.path.join(self.root, f"images_variant_{which}.txt")
            if not os.path.isfile(path):
                raise DmpbenchError(f"{self.name}: missing split file {path} ({LAYOUT_HINT})")
            items = []
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    parts = line.strip().split(" ")
                    if not parts[0]:
                        continue
                    cname = " ".join(parts[1:])
                    if cname not in cname2lab:
                        raise DmpbenchError(
                            f"{self.name}: class names do not match labels: {os.path.basename(path)} line {n} "
                            f"names {cname!r}, which is not in variants.txt"
                        )
                    items.append(Item(self.key("images", parts[0] + ".jpg"), cname2lab[cname]))
            self._splits[which] = items
            self._fingerprint_parts.append(file_digest(path))
        self._set_classnames(dict(enumerate(classnames)), "variants.txt")
