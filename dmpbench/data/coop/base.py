"""What every CoOp-layout reader shares: the data root, item keys, image loading, and input checks.

An item's key is its path relative to the data root (``oxford_pets/images/abyssinian_1.jpg``), so keys -
and the feature cache - are the same on every machine whatever the root is. Class names are the ones CoOp
gives CLIP: from the ``split_zhou_*.json`` files (or ``classnames.txt`` for the ImageNet family) with ``_``
replaced by a space, as CoOp's prompt learner and zero-shot CLIP do.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from typing import Iterable, Sequence

from PIL import Image

from dmpbench.data.base import SPLITS, ClassificationDataset, Item
from dmpbench.errors import DmpbenchError

ENV_VAR = "DMPBENCH_DATA"
#: bump when a reader changes which images or labels it yields (part of every fingerprint)
READER_VERSION = "1"
LAYOUT_HINT = "see CoOp's DATASETS.md for the layout"


def resolve_data_root(data_root: str | os.PathLike | None) -> str:
    """``data_root`` or ``$DMPBENCH_DATA``; a clear error when neither names an existing folder."""
    root = data_root if data_root not in (None, "") else os.environ.get(ENV_VAR)
    if not root:
        raise DmpbenchError(f"no data root: pass --data-root or set {ENV_VAR} to the folder holding the CoOp datasets")
    root = os.path.abspath(os.path.expanduser(str(root)))
    if not os.path.isdir(root):
        raise DmpbenchError(f"data root {root} does not exist (from --data-root or {ENV_VAR})")
    return root


def file_digest(path: str) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def read_imagenet_classnames(path: str, dataset: str) -> dict[str, str]:
    """CoOp's ``ImageNet.read_classnames``: ``{wnid: class name}`` in file order."""
    if not os.path.isfile(path):
        raise DmpbenchError(f"{dataset}: missing {path} (copy imagenet/classnames.txt there; {LAYOUT_HINT})")
    names: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.strip().split(" ")
            if not parts or not parts[0]:
                continue
            if len(parts) < 2:
                raise DmpbenchError(f"{dataset}: {path} line {n} has a folder name but no class name")
            names[parts[0]] = " ".join(parts[1:])
    if not names:
        raise DmpbenchError(f"{dataset}: {path} is empty")
    return names


def list_folders(path: str, dataset: str, ignored: Iterable[str] = ()) -> list[str]:
    """Sorted, non-hidden sub-folders (CoOp's ``listdir_nohidden(sort=True)`` over class folders)."""
    if not os.path.isdir(path):
        raise DmpbenchError(f"{dataset}: missing folder {path} ({LAYOUT_HINT})")
    skip = set(ignored)
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith(".") and e.name not in skip)


def list_images(path: str) -> list[str]:
    """Sorted, non-hidden files of a class folder (sorted so the item order is the same on every machine)."""
    return sorted(e.name for e in os.scandir(path) if e.is_file() and not e.name.startswith("."))


class CoopDataset(ClassificationDataset):
    """Base of the CoOp-layout readers: items under ``<data root>/<dataset_dir>/``."""

    world = "paper"
    #: folder under the data root (CoOp's ``dataset_dir``)
    dataset_dir: str = ""
    #: splits this dataset has (the ImageNet variants are test-only)
    available_splits: Sequence[str] = SPLITS

    def __init__(self, data_root: str | os.PathLike | None = None) -> None:
        self.data_root = resolve_data_root(data_root)
        self.root = os.path.join(self.data_root, self.dataset_dir)
        if not os.path.isdir(self.root):
            raise DmpbenchError(f"{self.name}: missing folder {self.root} under the data root ({LAYOUT_HINT})")
        self._classnames: list[str] = []
        self._splits: dict[str, list[Item]] = {}
        self._checked: set[str] = set()
        self._fingerprint_parts: list[str] = [self.name, READER_VERSION]
        self._load()

    # -- subclasses ---------------------------------------------------------------------------
    def _load(self) -> None:
        """Fill ``self._classnames`` and ``self._splits`` (keys relative to the data root)."""
        raise NotImplementedError

    # -- interface ----------------------------------------------------------------------------
    @property
    def classnames(self) -> list[str]:
        return list(self._classnames)

    def split(self, which: str) -> list[Item]:
        if which not in SPLITS:
            raise DmpbenchError(f"unknown split {which!r} (one of {', '.join(SPLITS)})")
        if which not in self.available_splits:
            raise DmpbenchError(f"{self.name} is test-only (CoOp uses it for evaluation); it has no {which!r} split")
        items = self._splits[which]
        if which not in self._checked:
            self._check_files(items)
            self._checked.add(which)
        return list(items)

    def path(self, item: Item) -> str:
        return os.path.join(self.data_root, item.key)

    def load_image(self, item: Item) -> Image.Image:
        path = self.path(item)
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except FileNotFoundError as exc:
            raise DmpbenchError(f"{self.name}: image file {path} is missing") from exc
        except Exception as exc:  # PIL raises several types for truncated / non-image files
            raise DmpbenchError(f"{self.name}: cannot decode image {path} ({type(exc).__name__})") from exc

    @property
    def fingerprint(self) -> str:
        return ":".join(self._fingerprint_parts)

    # -- helpers ------------------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return "/".join(p.replace(os.sep, "/").strip("/") for p in (self.dataset_dir, *parts) if p.strip("/"))

    def _check_files(self, items: Sequence[Item]) -> None:
        """Every item points to an existing file: one directory listing per folder, not one stat per image."""
        by_dir: dict[str, list[str]] = defaultdict(list)
        for item in items:
            folder, _, name = item.key.rpartition("/")
            by_dir[folder].append(name)
        for folder, names in by_dir.items():
            full = os.path.join(self.data_root, folder)
            try:
                present = set(os.listdir(full))
            except (FileNotFoundError, NotADirectoryError):
                raise DmpbenchError(f"{self.name}: split entry {folder}/{names[0]} points to a missing folder {full}") from None
            for name in names:
                if name not in present:
                    raise DmpbenchError(f"{self.name}: split entry points to a missing file {os.path.join(full, name)}")

    def _set_classnames(self, label_names: dict[int, str], source: str) -> None:
        """Labels must be 0..C-1, each with one class name."""
        if not label_names:
            raise DmpbenchError(f"{self.name}: {source} has no images")
        n = max(label_names) + 1
        missing = [y for y in range(n) if y not in label_names]
        if missing or min(label_names) < 0:
            raise DmpbenchError(
                f"{self.name}: class names do not match labels in {source}: labels must be 0..{n - 1} "
                f"but {'label ' + str(missing[0]) + ' has no images' if missing else 'a label is negative'}"
            )
        self._classnames = [label_names[y].replace("_", " ") for y in range(n)]


def read_split_json(dataset: CoopDataset, path: str, prefix: str) -> tuple[dict[str, list[Item]], dict[int, str]]:
    """CoOp's ``OxfordPets.read_split``: ``{"train"|"val"|"test": [[relative path, label, class name], ...]}``.

    ``prefix`` is the folder the relative paths start from (relative to the data root).
    Returns the items of each split and the label -> class name map (checked for consistency).
    """
    if not os.path.isfile(path):
        raise DmpbenchError(f"{dataset.name}: missing split file {path} (CoOp's split_zhou_*.json; {LAYOUT_HINT})")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as exc:
        raise DmpbenchError(f"{dataset.name}: split file {path} is not valid JSON ({exc.__class__.__name__})") from exc
    splits: dict[str, list[Item]] = {}
    names: dict[int, str] = {}
    base = os.path.basename(path)
    for which in SPLITS:
        entries = raw.get(which) if isinstance(raw, dict) else None
        if not isinstance(entries, list):
            raise DmpbenchError(f"{dataset.name}: split file {path} has no {which!r} list")
        items = []
        for n, entry in enumerate(entries):
            try:
                rel, label, cname = entry
                label = int(label)
                cname = str(cname)
            except (TypeError, ValueError):
                raise DmpbenchError(
                    f"{dataset.name}: {base} {which}[{n}] is not [relative_path, label, classname]: {entry!r}"
                ) from None
            known = names.setdefault(label, cname)
            if known != cname:
                raise DmpbenchError(
                    f"{dataset.name}: class names do not match labels in {base}: label {label} is both {known!r} and {cname!r}"
                )
            items.append(Item(dataset.key(prefix, str(rel).lstrip("/")), label))
        splits[which] = items
    return splits, names
