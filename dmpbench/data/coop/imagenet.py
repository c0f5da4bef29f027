"""ImageNet and its four test-only shifts (-V2, -Sketch, -A, -R), read as CoOp reads them.

* ``imagenet``: labels = sorted wnid folders of ``images/train``; test = ``images/val`` (CoOp evaluates on
  the val set and uses it as val too). Class names from ``classnames.txt`` (CLIP's names).
* ``imagenet_v2``: folders ``0``..``999`` of ``imagenetv2-matched-frequency-format-val``; label i is the
  i-th line of ``classnames.txt``.
* ``imagenet_sketch``: sorted wnid folders of ``images``.
* ``imagenet_a`` / ``imagenet_r``: the 200 wnid folders present in ``imagenet-a`` / ``imagenet-r`` define the
  label subset (sorted, relabelled 0..199), exactly as CoOp does; ``wnids`` / ``imagenet_labels`` map them
  back to ImageNet's 1,000 labels.
"""

from __future__ import annotations

import os

from dmpbench.data.base import Item
from dmpbench.data.coop.base import CoopDataset, file_digest, list_folders, list_images, read_imagenet_classnames
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS

TEMPLATE = ("a photo of a {}.",)


class _ImageNetFamily(CoopDataset):
    templates = TEMPLATE
    #: wnid of each label (label order)
    wnids: list[str]

    def _classnames_file(self) -> dict[str, str]:
        path = os.path.join(self.root, "classnames.txt")
        names = read_imagenet_classnames(path, self.name)
        self._fingerprint_parts.append(file_digest(path))
        self._all_wnids = list(names)
        return names

    @property
    def imagenet_labels(self) -> list[int]:
        """For each label, its index among the 1,000 ImageNet classes (``classnames.txt`` order)."""
        index = {w: i for i, w in enumerate(self._all_wnids)}
        return [index[w] for w in self.wnids]

    def _read_folders(self, image_dir: str, folders: list[str], names: dict[str, str], labels=None) -> list[Item]:
        items = []
        for label, folder in enumerate(folders):
            if folder not in names:
                raise DmpbenchError(
                    f"{self.name}: class names do not match labels: folder {folder} has no line in classnames.txt"
                )
            full = os.path.join(self.root, image_dir, folder)
            y = label if labels is None else labels[label]
            items.extend(Item(self.key(image_dir, folder, f), y) for f in list_images(full))
        return items

    def _folder_dataset(self, image_dir: str, ignored=()) -> None:
        """A test-only dataset whose class folders (wnids) define its labels."""
        names = self._classnames_file()
        folders = list_folders(os.path.join(self.root, image_dir), self.name, ignored)
        if not folders:
            raise DmpbenchError(f"{self.name}: no class folders in {os.path.join(self.root, image_dir)}")
        data = self._read_folders(image_dir, folders, names)
        self.wnids = folders
        self._classnames = [names[w].replace("_", " ") for w in folders]
        self._splits = {"test": data}
        self._checked.add("test")  # listed from disk


@DATASETS.register("imagenet")
class ImageNet(_ImageNetFamily):
    """ImageNet-1k (CoOp: train = train, val = test = the official val set)."""

    name = "imagenet"
    dataset_dir = "imagenet"
    fewshot_val = False  # CoOp: val is the test set, kept whole

    def _load(self) -> None:
        names = self._classnames_file()
        train_dir = os.path.join(self.root, "images", "train")
        val_dir = os.path.join(self.root, "images", "val")
        folders = list_folders(train_dir, self.name)
        val_folders = list_folders(val_dir, self.name)
        if folders != val_folders:
            odd = sorted(set(folders) ^ set(val_folders))
            raise DmpbenchError(
                f"{self.name}: images/train and images/val have different class folders (e.g. {odd[0]}); "
                "val must be sorted into wnid folders as CoOp expects"
            )
        train = self._read_folders(os.path.join("images", "train"), folders, names)
        test = self._read_folders(os.path.join("images", "val"), folders, names)
        self.wnids = folders
        self._classnames = [names[w].replace("_", " ") for w in folders]
        self._splits = {"train": train, "val": test, "test": test}
        self._checked.update(("train", "val", "test"))


@DATASETS.register("imagenet_v2")
class ImageNetV2(_ImageNetFamily):
    """ImageNet-V2 matched-frequency (test only, ImageNet's 1,000 labels)."""

    name = "imagenet_v2"
    dataset_dir = "imagenetv2"
    available_splits = ("test",)
    image_dir = "imagenetv2-matched-frequency-format-val"

    def _load(self) -> None:
        names = self._classnames_file()
        base = os.path.join(self.root, self.image_dir)
        if not os.path.isdir(base):
            raise DmpbenchError(f"{self.name}: missing folder {base}")
        items = []
        for label, wnid in enumerate(names):
            folder = os.path.join(base, str(label))
            if not os.path.isdir(folder):
                raise DmpbenchError(f"{self.name}: missing class folder {folder} (one per line of classnames.txt)")
            items.extend(Item(self.key(self.image_dir, str(label), f), label) for f in list_images(folder))
        self.wnids = list(names)
        self._classnames = [n.replace("_", " ") for n in names.values()]
        self._splits = {"test": items}
        self._checked.add("test")


@DATASETS.register("imagenet_sketch")
class ImageNetSketch(_ImageNetFamily):
    """ImageNet-Sketch (test only)."""

    name = "imagenet_sketch"
    dataset_dir = "imagenet-sketch"
    available_splits = ("test",)

    def _load(self) -> None:
        self._folder_dataset("images")


@DATASETS.register("imagenet_a")
class ImageNetA(_ImageNetFamily):
    """ImageNet-A (test only, the 200-class subset given by its folders)."""

    name = "imagenet_a"
    dataset_dir = "imagenet-adversarial"
    available_splits = ("test",)

    def _load(self) -> None:
        self._folder_dataset("imagenet-a", ignored=("README.txt",))


@DATASETS.register("imagenet_r")
class ImageNetR(_ImageNetFamily):
    """ImageNet-R (test only, the 200-class subset given by its folders)."""

    name = "imagenet_r"
    dataset_dir = "imagenet-rendition"
    available_splits = ("test",)

    def _load(self) -> None:
        self._folder_dataset("imagenet-r", ignored=("README.txt",))
