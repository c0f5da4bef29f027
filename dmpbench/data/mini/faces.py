"""Mini faces: the ``mini_faces`` classification dataset (faces by attribute) and the identity-level images
the image-synthesis tasks use. The specification (identities, attributes, rules, captions) is in
``faces_spec``; the drawing in ``faces_render``.

**Identity splits.** The roster's ``N_IDENTITIES`` identities are split once per seed by a seeded
permutation: 600 train, 100 val, 300 test identities (``identity_split``). Every image of a split shows a
person of that split only, so a model is always tested on faces it has never seen.

**mini_faces.** Eleven classes, each named by its one dominant attribute in plain words (below). An image
of a class shows its attribute at strength U(0.6, 1); every other attribute is either off or, with
probability 0.5, on at a low strength U(0, 0.15) (never two of an exclusive pair). The attributes that the
class names tie to a gender (beard, moustache, bald: men; lipstick: women) are drawn on people of that
gender only, in the dominant and in the low-strength role. Pose, expression, lighting, background and
shirt vary per image (``sample_variation``). Per class 200 / 50 / 100 train / val / test images. Each image
is a pure function of ``(seed, split, class, index)``; ``plan`` gives what each image shows without
drawing it.

**API for the image-synthesis tasks** (all importable from here): ``identity(i, seed)`` -> ``Identity``
(``.look``, ``.traits``); ``render_face(identity, attributes, pose, expression, lighting, background,
size)`` -> ``uint8 [size, size, 3]``; ``ATTRIBUTES`` (name -> description, caption words, region);
``caption(attributes, traits)``; ``switch(attributes, name, strength)`` (a slider on a look);
``sample_variation(rng)``; ``identity_images(i, n, seed, size)`` -> images and captions;
``mini_face_identities(seed, size)`` -> ``MiniFaceIdentities`` (1,000 people x 20 images, lazily drawn).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from dmpbench.data.base import SPLITS
from dmpbench.data.mini.base import SIZE, MiniDataset, _check_split
from dmpbench.data.mini.faces_render import render_face
from dmpbench.data.mini.faces_spec import (
    ATTRIBUTES, EXCLUSIVE, N_IDENTITIES, Background, Expression, Identity, Lighting, Pose, caption,
    check_identity_index, identity, sample_variation, switch,
)
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS

#: identities per split (disjoint)
IDENTITY_SPLIT_SIZES = {"train": 600, "val": 100, "test": 300}
PER_CLASS = {"train": 200, "val": 50, "test": 100}
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
#: images per identity in the identity-level set
IMAGES_PER_IDENTITY = 20

#: (class name, dominant attribute, gender of the people drawn or None for anyone)
FACE_CLASSES: tuple[tuple[str, str, str | None], ...] = (
    ("smiling person", "smiling", None),
    ("person with glasses", "glasses", None),
    ("bearded man", "beard", "man"),
    ("old person", "age", None),
    ("bald man", "bald", "man"),
    ("person with long hair", "hair_length", None),
    ("person wearing a hat", "hat", None),
    ("chubby person", "chubby", None),
    ("woman wearing lipstick", "lipstick", "woman"),
    ("surprised person", "surprised", None),
    ("man with a moustache", "moustache", "man"),
)
#: attributes drawn on one gender only (as the class names say)
GENDERED = {"beard": "man", "moustache": "man", "bald": "man", "lipstick": "woman"}


@functools.lru_cache(maxsize=8)
def identity_split(which: str, seed: int = 0) -> tuple[int, ...]:
    """The identity indices of a split (sorted), disjoint across splits."""
    _check_split(which)
    perm = np.random.default_rng([int(seed), 0x5D17]).permutation(N_IDENTITIES)
    start = 0
    for s in SPLITS:
        stop = start + IDENTITY_SPLIT_SIZES[s]
        if s == which:
            return tuple(sorted(int(i) for i in perm[start:stop]))
        start = stop
    raise AssertionError(which)  # pragma: no cover


@functools.lru_cache(maxsize=8)
def _by_gender(which: str, seed: int) -> dict[str | None, tuple[int, ...]]:
    ids = identity_split(which, seed)
    out: dict[str | None, tuple[int, ...]] = {None: ids}
    for g in ("man", "woman"):
        out[g] = tuple(i for i in ids if identity(i, seed).gender == g)
    return out


@dataclass(frozen=True)
class FaceImage:
    """What one image shows (everything ``render_face`` needs)."""

    identity: Identity
    attributes: dict
    pose: Pose
    expression: Expression
    lighting: Lighting
    background: Background

    def render(self, size: int = SIZE) -> np.ndarray:
        return render_face(self.identity, self.attributes, self.pose, self.expression, self.lighting,
                           self.background, size=size)

    @property
    def caption(self) -> str:
        return caption(self.attributes, self.identity.traits)


def _class_image(seed: int, which: str, label: int, j: int) -> FaceImage:
    _, dominant, gender = FACE_CLASSES[label]
    rng = np.random.default_rng([int(seed), 0xFACE5, SPLIT_IDS[which], label, j])
    pool = _by_gender(which, seed)[gender]
    ident = identity(pool[int(rng.integers(len(pool)))], seed)
    attrs = {dominant: round(float(rng.uniform(0.6, 1.0)), 4)}
    for name in ATTRIBUTES:
        low = round(float(rng.uniform(0.0, 0.15)), 4)
        on = rng.random() < 0.5
        if name == dominant or not on or GENDERED.get(name, ident.gender) != ident.gender:
            continue
        if any((a == name and attrs.get(b, 0) > 0) or (b == name and attrs.get(a, 0) > 0) for a, b, _ in EXCLUSIVE):
            continue
        attrs[name] = low
    return FaceImage(ident, attrs, *sample_variation(rng))


@DATASETS.register("mini_faces")
class MiniFaces(MiniDataset):
    """Mini world: procedural faces by their dominant attribute, 11 classes; test people unseen in training."""

    name = "mini_faces"
    CLASSNAMES = tuple(c for c, _, _ in FACE_CLASSES)

    def plan(self, which: str) -> list[FaceImage]:
        """What every image of a split shows, in label-interleaved order, without drawing anything."""
        _check_split(which)
        n = len(FACE_CLASSES)
        return [_class_image(self.seed, which, j % n, j // n) for j in range(PER_CLASS[which] * n)]

    def _build(self):
        out = {}
        n = len(FACE_CLASSES)
        for which in SPLITS:
            plan = self.plan(which)
            images = np.stack([p.render(SIZE) for p in plan])
            out[which] = (images, np.arange(len(plan), dtype=np.int64) % n)
        return out


# -- identity-level images ---------------------------------------------------------------------------
def identity_image(index: int, j: int, seed: int = 0) -> FaceImage:
    """Image ``j`` of identity ``index``: the person's own look under a random pose, expression,
    lighting and background."""
    ident = identity(index, seed)
    if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or j < 0:
        raise DmpbenchError(f"mini faces: image number must be a non-negative integer, got {j!r}")
    rng = np.random.default_rng([int(seed), 0x1D, ident.index, int(j)])
    return FaceImage(ident, dict(ident.look), *sample_variation(rng))


def identity_images(index: int, n: int = IMAGES_PER_IDENTITY, seed: int = 0, size: int = SIZE
                    ) -> tuple[np.ndarray, list[str]]:
    """The first ``n`` images of an identity (``uint8 [n, size, size, 3]``) and their captions."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DmpbenchError(f"mini faces: number of images must be a positive integer, got {n!r}")
    faces = [identity_image(index, j, seed) for j in range(n)]
    return np.stack([f.render(size) for f in faces]), [f.caption for f in faces]


class MiniFaceIdentities:
    """The identity-level mini faces: ``N_IDENTITIES`` people x ``IMAGES_PER_IDENTITY`` images, drawn on
    demand (one identity at a time, cached), with captions that describe the look and never the person.

    ``split(which)`` gives the identity indices of a split (the same split as ``mini_faces``);
    ``images(i)`` an identity's images; ``arrays(indices)`` images ``[k, n, H, W, 3]`` and labels."""

    def __init__(self, seed: int = 0, size: int = SIZE, per_identity: int = IMAGES_PER_IDENTITY):
        self.seed, self.size, self.per_identity = int(seed), size, per_identity
        self._cache: dict[int, tuple[np.ndarray, list[str]]] = {}

    def __len__(self) -> int:
        return N_IDENTITIES

    def split(self, which: str) -> tuple[int, ...]:
        return identity_split(which, self.seed)

    def identity(self, index: int) -> Identity:
        return identity(index, self.seed)

    def _get(self, index: int) -> tuple[np.ndarray, list[str]]:
        index = check_identity_index(index)
        if index not in self._cache:
            images, captions = identity_images(index, self.per_identity, self.seed, self.size)
            images.setflags(write=False)
            self._cache[index] = (images, captions)
        return self._cache[index]

    def images(self, index: int) -> np.ndarray:
        return self._get(index)[0]

    def captions(self, index: int) -> list[str]:
        return list(self._get(index)[1])

    def arrays(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """Images ``uint8 [k, per_identity, H, W, 3]`` of the given identities and their indices."""
        indices = [check_identity_index(i) for i in indices]
        return np.stack([self.images(i) for i in indices]), np.asarray(indices, dtype=np.int64)


@functools.lru_cache(maxsize=4)
def mini_face_identities(seed: int = 0, size: int = SIZE) -> MiniFaceIdentities:
    """The shared identity-level set of a seed and image size (one cache per process)."""
    return MiniFaceIdentities(seed, size)


__all__ = [
    "ATTRIBUTES", "FACE_CLASSES", "N_IDENTITIES", "Background", "Expression", "FaceImage", "Identity", "Lighting",
    "MiniFaceIdentities", "MiniFaces", "Pose", "caption", "identity", "identity_image", "identity_images",
    "identity_split", "mini_face_identities", "render_face", "sample_variation", "switch",
]
