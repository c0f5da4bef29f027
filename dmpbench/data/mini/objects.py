"""``mini_objects``: 47 everyday objects (ImageNet's role) and its four shifted variants.

The objects are drawn part by part (``object_drawings``) with per-class drawing variants and plausible
colours, then posed at a random position, scale, aspect, rotation and mirror over a random solid or gradient
background, sometimes beside a small distractor blob, with pixel noise. The variants play the roles of
ImageNet's test-only shifts and are built the same way CoOp reads those:

* ``mini_objects_v2`` (ImageNet-V2): the same 47 classes, a fresh seed and slightly different renderer
  parameters (smaller objects, more rotation, more noise and gradients, stronger colour jitter);
* ``mini_objects_sketch`` (ImageNet-Sketch): the same 47 classes as dark line drawings on white paper;
* ``mini_objects_a`` (ImageNet-A): hard cases on a 20-class subset: clutter, occlusion, unusual colours,
  extreme scale (two of them per image);
* ``mini_objects_r`` (ImageNet-R): renditions on another 20-class subset: cartoon, silhouette, inverted
  colours, mosaic, posterised painting.

As ImageNet-A/-R in CoOp, the subsets are labelled 0..19 in the source's label order, carry their own class
names (so zero-shot and prompt learners classify among the 20 only), and ``source_labels`` maps each label back
to ``mini_objects``' label. The variants are evaluation sets: their train/val splits are small (10 / 10 per
class) and no task learns on them.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from dmpbench.data.mini.canvas import BIG, Canvas, background, finish, luma, random_colour
from dmpbench.data.mini.object_drawings import OBJECTS
from dmpbench.data.mini.render import RenderedDataset
from dmpbench.registry import DATASETS

CLASSNAMES = tuple(OBJECTS)

#: the -A subset (hard cases) and the -R subset (renditions), as names of mini_objects' classes
A_CLASSES = ("house", "cup", "umbrella", "key", "bell", "fish", "bird", "chair", "clock", "bottle", "mushroom",
             "banana", "candle", "scissors", "kite", "ladder", "snowman", "guitar", "spider", "butterfly")
R_CLASSES = ("tree", "cup", "fish", "bird", "lamp", "apple", "book", "hammer", "balloon", "cat", "dog", "snowman",
             "teapot", "pencil", "sun", "crown", "shoe", "hat", "anchor", "carrot")

SOURCE_PARAMS = {"scale": (0.30, 0.46), "rotate": 25.0, "noise": (0.0, 8.0), "gradient": 0.4, "jitter": 1.0}
V2_PARAMS = {"scale": (0.27, 0.44), "rotate": 32.0, "noise": (2.0, 12.0), "gradient": 0.6, "jitter": 1.6}
SHIFT_PER_CLASS = {"train": 10, "val": 10, "test": 100}


def _pose(rng, scale_range, rotate) -> dict:
    scale = rng.uniform(*scale_range) * BIG
    room = max(BIG / 2 - scale * 0.95, 0.0)
    return {"cx": BIG / 2 + rng.uniform(-room, room), "cy": BIG / 2 + rng.uniform(-room, room), "scale": scale,
            "angle": math.radians(rng.uniform(-rotate, rotate)), "mirror": bool(rng.random() < 0.5),
            "aspect": rng.uniform(0.85, 1.15)}


def _recolour_jitter(rng, amount: float):
    shift = rng.uniform(-20 * amount, 20 * amount, 3).tolist()
    return lambda col: tuple(min(255, max(0, int(v + d))) for v, d in zip(col, shift))


def _blob(c: Canvas, rng) -> None:
    """A distractor: a random polygon in a random colour somewhere on the canvas (drawn in the unit frame)."""
    x, y = rng.uniform(-1.6, 1.6, 2)
    n = int(rng.integers(3, 7))
    a = np.sort(rng.uniform(0, 2 * math.pi, n))
    rad = rng.uniform(0.15, 0.45, n)
    c.poly(np.stack([x + rad * np.cos(a), y + rad * np.sin(a)], 1), random_colour(rng))


def render_object(kind: str, rng: np.random.Generator, params=SOURCE_PARAMS, record: dict | None = None) -> np.ndarray:
    """One object image. ``record`` (a dict, optional) receives what a caption needs, read from the very
    draws that made the image (``captions.object_facts``): the background colour, the pose's scale as a
    fraction of the canvas, whether a distractor was drawn, and the object's parts as (painted colour,
    visible pixels). Recording draws nothing on the image and takes nothing from ``rng``."""
    c = Canvas.on(background(rng), **_pose(rng, params["scale"], params["rotate"]))
    c.recolour = _recolour_jitter(rng, params["jitter"])
    distractor = bool(rng.random() < 0.2)
    if distractor:
        _blob(c, rng)
    if record is not None:
        record.update(background=c.image.getpixel((0, 0)), scale=c.scale / BIG, distractor=distractor)
        c.record_parts()
    OBJECTS[kind](c, rng)
    if record is not None:
        record["parts"] = c.visible_parts()
    return finish(rng, c.image, params["noise"], params["gradient"])


def render_sketch(kind: str, rng: np.random.Generator) -> np.ndarray:
    paper = np.full(3, rng.uniform(225, 255)) + rng.uniform(-8, 8, 3)
    c = Canvas.on(background(rng, paper), **_pose(rng, (0.30, 0.46), 25.0))
    c.style = "sketch"
    c.ink = tuple(int(v) for v in rng.integers(10, 90, 3))
    c.width = int(rng.integers(1, 3))
    OBJECTS[kind](c, rng)
    return finish(rng, c.image, (0.0, 5.0), 0.2)


HARD = ("clutter", "occlusion", "colours", "scale")


def render_hard(kind: str, rng: np.random.Generator) -> np.ndarray:
    """An ImageNet-A style hard case: two of clutter / occlusion / unusual colours / extreme scale."""
    picks = set(rng.choice(len(HARD), 2, replace=False).tolist())
    hard = {HARD[i] for i in picks}
    scale = ((0.16, 0.22) if rng.random() < 0.5 else (0.55, 0.7)) if "scale" in hard else SOURCE_PARAMS["scale"]
    c = Canvas.on(background(rng), **_pose(rng, scale, 35.0))
    if "clutter" in hard:
        for _ in range(int(rng.integers(4, 8))):
            _blob(c, rng)
    if "colours" in hard:
        perm = rng.permutation(3)
        c.recolour = lambda col: (255 - col[perm[0]], col[perm[1]], 255 - col[perm[2]])
    OBJECTS[kind](c, rng)
    if "occlusion" in hard:
        for _ in range(int(rng.integers(1, 3))):
            w, h = rng.uniform(0.15, 0.35, 2) * BIG
            x = rng.uniform(c.cx - c.scale, c.cx + c.scale) - w / 2
            y = rng.uniform(c.cy - c.scale, c.cy + c.scale) - h / 2
            c.draw.rectangle([x, y, x + w, y + h], fill=random_colour(rng))
    return finish(rng, c.image, (2.0, 10.0), 0.5)


RENDITIONS = ("cartoon", "silhouette", "inverted", "mosaic", "painting")


def render_rendition(kind: str, rng: np.random.Generator) -> np.ndarray:
    """An ImageNet-R style rendition of an object."""
    style = RENDITIONS[int(rng.integers(len(RENDITIONS)))]
    c = Canvas.on(background(rng), **_pose(rng, SOURCE_PARAMS["scale"], 25.0))
    if style == "cartoon":
        c.style = "cartoon"
    elif style == "silhouette":
        bg = c.image.getpixel((0, 0))
        while True:
            flat = random_colour(rng)
            if abs(luma(flat) - luma(bg)) > 90:
                break
        c.flat = flat
    OBJECTS[kind](c, rng)
    image = c.image
    if style == "inverted":
        image = Image.fromarray(255 - np.asarray(image))
    elif style == "mosaic":
        side = int(rng.integers(8, 13))
        image = image.resize((side, side), Image.BOX).resize((BIG, BIG), Image.NEAREST)
    elif style == "painting":
        levels = int(rng.integers(2, 4))
        q = np.asarray(image).astype(np.float64)
        step = 255.0 / levels
        image = Image.fromarray((np.round(q / step) * step).clip(0, 255).astype(np.uint8))
    return finish(rng, image, (0.0, 6.0), 0.3)


@DATASETS.register("mini_objects")
class MiniObjects(RenderedDataset):
    """Mini world: 47 everyday objects drawn part by part with variants, colours, poses and backgrounds."""

    name = "mini_objects"
    KINDS = CLASSNAMES
    CLASSNAMES = CLASSNAMES

    def render(self, kind, rng):
        return render_object(kind, rng)


class _ObjectShift(RenderedDataset):
    """A shifted view of mini_objects (evaluation only): ``source_labels`` maps labels to mini_objects'."""

    source = "mini_objects"
    per_class = SHIFT_PER_CLASS

    @property
    def source_labels(self) -> list[int]:
        index = {n: i for i, n in enumerate(CLASSNAMES)}
        return [index[n] for n in self.CLASSNAMES]


@DATASETS.register("mini_objects_v2")
class MiniObjectsV2(_ObjectShift):
    """Mini world: mini_objects re-rendered from a fresh seed with slightly different parameters (ImageNet-V2's role)."""

    name = "mini_objects_v2"
    KINDS = CLASSNAMES
    CLASSNAMES = CLASSNAMES
    seed = 1

    def render(self, kind, rng):
        return render_object(kind, rng, V2_PARAMS)


@DATASETS.register("mini_objects_sketch")
class MiniObjectsSketch(_ObjectShift):
    """Mini world: mini_objects as line drawings on white (ImageNet-Sketch's role)."""

    name = "mini_objects_sketch"
    KINDS = CLASSNAMES
    CLASSNAMES = CLASSNAMES

    def render(self, kind, rng):
        return render_sketch(kind, rng)


@DATASETS.register("mini_objects_a")
class MiniObjectsA(_ObjectShift):
    """Mini world: hard cases of 20 mini_objects classes: clutter, occlusion, odd colours, odd scale (ImageNet-A's role)."""

    name = "mini_objects_a"
    KINDS = tuple(n for n in CLASSNAMES if n in A_CLASSES)
    CLASSNAMES = KINDS

    def render(self, kind, rng):
        return render_hard(kind, rng)


@DATASETS.register("mini_objects_r")
class MiniObjectsR(_ObjectShift):
    """Mini world: renditions of 20 mini_objects classes: cartoon, silhouette, inverted, mosaic, painting (ImageNet-R's role)."""

    name = "mini_objects_r"
    KINDS = tuple(n for n in CLASSNAMES if n in R_CLASSES)
    CLASSNAMES = KINDS

    def render(self, kind, rng):
        return render_rendition(kind, rng)
