"""Subjects for personalisation (textual inversion, DMPIdentity / DMPMulti's identities, DMP Tables 5, 16):
people with a few training images each and further reference images of the same person.

* Mini world (``mini_subjects``): the first ``n`` identities of the mini faces' *test* split (people the
  mini face-ID network and the mini SD's identity-free captions never tied to a name), each with its first
  ``train_images`` images (the 3-5 a textual inversion learns from) and the rest of its 20 images as the
  reference the Face-ID similarity is measured against. Names are "identity-1" ... (DMP 3.3's condition
  text); ``words`` is each person's caption noun ("man" / "woman"), the class noun of CLIP-T prompts.
* Paper world (``folder_subjects``): a folder with one sub-folder of images per person (DreamBooth's layout;
  CelebA identities in the paper, which are not distributed with this suite): sorted sub-folders, the
  first ``train_images`` images of each (sorted by name) to train on, the rest as reference; the noun is
  "person".

Bad input (one line): too few subjects or images, an unreadable folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dmpbench.errors import DmpbenchError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
#: the identity task's subject set per world (DMPMulti's identity repository): the paper's 20; the mini world's 10,
#: the same people as the variation task's 10 (one textual inversion serves both tasks) and within the 30-minute
#: budget of the image-synthesis set (README "Sliders, identities, variations, storage")
DEFAULT_SUBJECTS = {"mini": 10, "paper": 20}
DEFAULT_TRAIN_IMAGES = 5


@dataclass
class Subjects:
    names: list[str]
    train: torch.Tensor  # [N, 3, H, W] in [0, 1]
    train_labels: torch.Tensor  # [N] subject index
    reference: torch.Tensor
    reference_labels: torch.Tensor
    words: dict[str, str]  # subject -> class noun

    def of(self, i: int, which: str = "train") -> torch.Tensor:
        images, labels = (self.train, self.train_labels) if which == "train" else (self.reference, self.reference_labels)
        return images[labels == i]


def mini_subjects(n: int, train_images: int, size: int, split: str = "test") -> Subjects:
    from torchvision.transforms.functional import resize

    from dmpbench.data.mini.faces import IMAGES_PER_IDENTITY, mini_face_identities

    people = mini_face_identities()
    ids = people.split(split)
    if not 1 <= n <= len(ids):
        raise DmpbenchError(f"mini faces have {len(ids)} {split} identities; asked for {n} subjects")
    if not 1 <= train_images < IMAGES_PER_IDENTITY:
        raise DmpbenchError(f"train_images must be in [1, {IMAGES_PER_IDENTITY - 1}] (each mini identity has {IMAGES_PER_IDENTITY} images)")
    names = [f"identity-{c + 1}" if split == "test" else f"{split}-identity-{c + 1}" for c in range(n)]
    train, ref, tl, rl, words = [], [], [], [], {}
    for c, index in enumerate(ids[:n]):
        images = torch.from_numpy(people.images(index).copy()).permute(0, 3, 1, 2).float() / 255
        if images.shape[-1] != size:
            images = resize(images, [size, size], antialias=True)
        train.append(images[:train_images]), ref.append(images[train_images:])
        tl += [c] * train_images
        rl += [c] * (len(images) - train_images)
        words[names[c]] = people.identity(index).gender
    return Subjects(names, torch.cat(train), torch.tensor(tl), torch.cat(ref), torch.tensor(rl), words)


def folder_subjects(root: str | Path, n: int, train_images: int, size: int) -> Subjects:
    from PIL import Image
    from torchvision import transforms as T

    root = Path(root)
    if not root.is_dir():
        raise DmpbenchError(f"subjects folder {root} does not exist (one sub-folder of images per person)")
    people = sorted(p for p in root.iterdir() if p.is_dir())
    if len(people) < n:
        raise DmpbenchError(f"{root} has {len(people)} subject folders; asked for {n}")
    tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor()])
    names, train, ref, tl, rl = [], [], [], [], []
    for c, folder in enumerate(people[:n]):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) <= train_images:
            raise DmpbenchError(f"subject {folder.name} has {len(files)} images; needs more than {train_images} (training + reference)")
        try:
            images = torch.stack([tf(Image.open(f).convert("RGB")) for f in files])
        except OSError as exc:
            raise DmpbenchError(f"subject {folder.name}: unreadable image ({exc})") from exc
        names.append(folder.name)
        train.append(images[:train_images]), ref.append(images[train_images:])
        tl += [c] * train_images
        rl += [c] * (len(images) - train_images)
    return Subjects(names, torch.cat(train), torch.tensor(tl), torch.cat(ref), torch.tensor(rl), {m: "person" for m in names})


def subjects_for(world: str, n: int, train_images: int, size: int, root: str | Path | None = None,
                 data_root: Path | None = None) -> Subjects:
    """The subject set of a world (mini: mini faces; paper: ``root`` or ``<data root>/identities``)."""
    if world == "mini":
        return mini_subjects(n, train_images, size)
    folder = root or (Path(data_root) / "identities" if data_root else None)
    if folder is None:
        raise DmpbenchError("the identity task needs subject images: --data-root DIR with DIR/identities/<person>/*.jpg "
                            "(or --set task.subjects_root=DIR)")
    return folder_subjects(folder, n, train_images, size)
