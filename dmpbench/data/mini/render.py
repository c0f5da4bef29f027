"""Procedural mini datasets rendered with Pillow/numpy from a seed: shapes, patterns, letters.

Every image is a pure function of ``(dataset seed, split, index)``: a ``numpy`` PCG64 stream drives the
class-independent nuisance (position, scale, rotation, aspect, colours, background gradient, noise,
stroke) and the class decides the geometry. Images are drawn at 64x64 and box-filtered to 32x32
(anti-aliasing). Per class: 200 train, 50 val, 100 test images. Letters use Pillow's embedded scalable
font (no system fonts), so the pixels depend only on numpy, Pillow and FreeType, not on the machine.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dmpbench.data.mini.base import SIZE, MiniDataset
from dmpbench.registry import DATASETS

SS = 2  # supersampling factor
BIG = SIZE * SS
PER_CLASS = {"train": 200, "val": 50, "test": 100}
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


# -- colours and backgrounds ----------------------------------------------------------------------
def _luma(c: np.ndarray) -> float:
    return float(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])


def _colours(rng: np.random.Generator, min_contrast: float = 90.0) -> tuple[np.ndarray, np.ndarray]:
    """A foreground and a background colour whose luminances differ by at least ``min_contrast``."""
    while True:
        fg, bg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if abs(_luma(fg) - _luma(bg)) >= min_contrast:
            return fg.astype(np.float64), bg.astype(np.float64)


def _background(rng: np.random.Generator, bg: np.ndarray) -> np.ndarray:
    """``[SIZE, SIZE, 3]`` float background: solid or a soft gradient around ``bg``."""
    out = np.broadcast_to(bg, (SIZE, SIZE, 3)).astype(np.float64)
    if rng.random() < 0.4:
        angle = rng.uniform(0, 2 * math.pi)
        t = np.linspace(-1, 1, SIZE)
        ramp = math.cos(angle) * t[None, :] + math.sin(angle) * t[:, None]
        out = out + ramp[..., None] * rng.uniform(-35, 35, 3)
    return out


def _compose(rng: np.random.Generator, mask: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Blend ``fg`` over a background through ``mask`` (float [SIZE, SIZE] in [0, 1]) and add noise."""
    img = _background(rng, bg) * (1 - mask[..., None]) + fg * mask[..., None]
    sigma = rng.uniform(0, 8)
    img = img + rng.normal(0, sigma, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def _downsample(big: Image.Image) -> np.ndarray:
    return np.asarray(big.resize((SIZE, SIZE), Image.BOX), dtype=np.float64) / 255.0


# -- shapes -------------------------------------------------------------------------------------
def _regular(n: int, start: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(math.cos(start + 2 * math.pi * k / n), math.sin(start + 2 * math.pi * k / n)) for k in range(n)]


def _star() -> list[tuple[float, float]]:
    pts = []
    for k in range(10):
        r = 1.0 if k % 2 == 0 else 0.42
        a = -math.pi / 2 + math.pi * k / 5
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


def _heart() -> list[tuple[float, float]]:
    pts = []
    for k in range(48):
        t = 2 * math.pi * k / 48
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((x / 17.0, -(y + 2.5) / 17.0))
    return pts


SHAPES: dict[str, list[tuple[float, float]] | None] = {
    "circle": _regular(48),
    "square": [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
    "triangle": [(x, y + 0.15) for x, y in _regular(3)],
    "star": _star(),
    "hexagon": _regular(6, 0.0),
    "pentagon": _regular(5),
    "cross": [(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3),
              (0.3, 1), (-0.3, 1), (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3)],
    "heart": _heart(),
    "arrow": [(-1, -0.22), (0.2, -0.22), (0.2, -0.6), (1, 0), (0.2, 0.6), (0.2, 0.22), (-1, 0.22)],
    "crescent moon": None,  # two circles, drawn below
    "diamond": [(0, -1), (0.6, 0), (0, 1), (-0.6, 0)],
    "lightning bolt": [(0.15, -1), (-0.55, 0.12), (-0.05, 0.12), (-0.3, 1), (0.55, -0.2), (0.05, -0.2), (0.35, -1)],
}


SHAPE_SCALE = (0.45, 0.85)  # the shape's radius as a fraction of half the canvas


def render_shape(name: str, rng: np.random.Generator, record: dict | None = None) -> np.ndarray:
    """One shape image; ``record`` (optional) receives the drawn foreground/background colours, the scale
    (fraction of half the canvas) and whether it is an outline, for captions (``captions.shape_facts``)."""
    fg, bg = _colours(rng)
    scale = rng.uniform(*SHAPE_SCALE) * BIG / 2
    angle = math.radians(rng.uniform(-35, 35))
    aspect = rng.uniform(0.85, 1.15)
    room = BIG / 2 - scale
    cx, cy = BIG / 2 + rng.uniform(-room, room), BIG / 2 + rng.uniform(-room, room)
    outline = rng.random() < 0.25
    if record is not None:
        record.update(foreground=tuple(int(v) for v in fg), background=tuple(int(v) for v in bg), scale=scale / (BIG / 2),
                      outline=bool(outline and name != "crescent moon"))
    width = int(rng.integers(4, 8))
    ca, sa = math.cos(angle), math.sin(angle)

    def place(pts):
        return [(cx + scale * (ca * x * aspect - sa * y), cy + scale * (sa * x * aspect + ca * y)) for x, y in pts]

    mask = Image.new("L", (BIG, BIG), 0)
    draw = ImageDraw.Draw(mask)
    if name == "crescent moon":
        circle = _regular(48)
        draw.polygon(place(circle), fill=255)
        shift = [(x + 0.55, y - 0.15) for x, y in circle]
        draw.polygon(place([(0.9 * x, 0.9 * y) for x, y in shift]), fill=0)
    elif outline:
        pts = place(SHAPES[name])
        draw.line(pts + pts[:1], fill=255, width=width, joint="curve")
    else:
        draw.polygon(place(SHAPES[name]), fill=255)
    return _compose(rng, _downsample(mask), fg, bg)


# -- patterns -----------------------------------------------------------------------------------
PATTERNS = (
    "horizontal stripes", "vertical stripes", "diagonal stripes", "checkerboard", "polka dots",
    "grid", "zigzag", "waves", "concentric circles", "brick wall",
)


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def render_pattern(name: str, rng: np.random.Generator) -> np.ndarray:
    fg, bg = _colours(rng)
    t = (np.arange(BIG) + 0.5) / BIG * 2 - 1
    x0, y0 = np.meshgrid(t, t)
    tilt = math.radians(rng.uniform(-12, 12))
    if name == "diagonal stripes":
        tilt += math.radians(45 if rng.random() < 0.5 else -45)
    u = math.cos(tilt) * x0 + math.sin(tilt) * y0
    v = -math.sin(tilt) * x0 + math.cos(tilt) * y0
    p = rng.uniform(0.28, 0.55)  # period, in units of half the image
    phase = rng.random()
    duty = rng.uniform(0.35, 0.6)
    if name in ("horizontal stripes", "diagonal stripes"):
        m = _frac(v / p + phase) < duty
    elif name == "vertical stripes":
        m = _frac(u / p + phase) < duty
    elif name == "checkerboard":
        m = (np.floor(u / p + phase) + np.floor(v / p + phase)) % 2 == 0
    elif name == "polka dots":
        a, b = _frac(u / p + phase) - 0.5, _frac(v / p + phase) - 0.5
        m = np.hypot(a, b) < rng.uniform(0.2, 0.34)
    elif name == "grid":
        w = rng.uniform(0.12, 0.22)
        m = (_frac(u / p + phase) < w) | (_frac(v / p + phase) < w)
    elif name == "zigzag":
        q = rng.uniform(0.3, 0.5)
        tri = np.abs(_frac(u / q) - 0.5) * 2
        m = _frac((v + rng.uniform(0.15, 0.3) * tri) / p + phase) < duty
    elif name == "waves":
        q = rng.uniform(0.5, 0.9)
        m = _frac((v + rng.uniform(0.1, 0.2) * np.sin(2 * math.pi * u / q)) / p + phase) < duty
    elif name == "concentric circles":
        cx, cy = rng.uniform(-0.4, 0.4, 2)
        m = _frac(np.hypot(x0 - cx, y0 - cy) / (0.8 * p) + phase) < duty
    elif name == "brick wall":
        row = np.floor(v / p + phase)
        w = rng.uniform(0.12, 0.2)
        mortar = (_frac(v / p + phase) < w) | (_frac((u / p + 0.5 * (row % 2)) / 2) < w / 2)
        m = ~mortar
    else:  # pragma: no cover
        raise ValueError(name)
    mask = _downsample(Image.fromarray((m * 255).astype(np.uint8)))
    return _compose(rng, mask, fg, bg)


# -- letters ------------------------------------------------------------------------------------
LETTERS = ("A", "B", "E", "H", "K", "M", "O", "R", "S", "U", "X", "Z")


@functools.lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's embedded scalable font: identical everywhere


def render_letter(letter: str, rng: np.random.Generator) -> np.ndarray:
    fg, bg = _colours(rng)
    size = int(rng.integers(30, 50))
    stroke = int(rng.integers(0, 4))
    angle = rng.uniform(-20, 20)
    mask = Image.new("L", (BIG, BIG), 0)
    jitter = (BIG - size) / 2 - 2
    xy = (BIG / 2 + rng.uniform(-jitter, jitter), BIG / 2 + rng.uniform(-jitter, jitter))
    ImageDraw.Draw(mask).text(xy, letter, fill=255, font=_font(size), anchor="mm", stroke_width=stroke, stroke_fill=255)
    mask = mask.rotate(angle, resample=Image.BILINEAR, center=xy)
    return _compose(rng, _downsample(mask), fg, bg)


# -- datasets -----------------------------------------------------------------------------------
class RenderedDataset(MiniDataset):
    """A mini dataset drawn by ``render(kind, rng)`` for each class kind."""

    KINDS: tuple[str, ...] = ()
    #: images per class in each split
    per_class: dict[str, int] = PER_CLASS

    def render(self, kind: str, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def split_stream(self, split: str) -> tuple[np.random.Generator, np.ndarray]:
        """The split's one random stream and its labels (class by class, repeated): image ``i`` is
        ``render(KINDS[labels[i]], rng)`` after images ``0..i-1`` drew from the same stream."""
        rng = np.random.default_rng([self.seed, SPLIT_IDS[split], sum(map(ord, self.name))])
        return rng, np.tile(np.arange(len(self.KINDS), dtype=np.int64), self.per_class[split])

    def _build(self):
        out = {}
        for split in self.per_class:
            rng, labels = self.split_stream(split)
            images = np.stack([self.render(self.KINDS[y], rng) for y in labels])
            out[split] = (images, labels)
        return out


@DATASETS.register("mini_shapes")
class MiniShapes(RenderedDataset):
    """Mini world: 12 geometric shapes drawn at random position, scale, rotation, colour and stroke."""

    name = "mini_shapes"
    KINDS = tuple(SHAPES)
    CLASSNAMES = KINDS

    def render(self, kind, rng):
        return render_shape(kind, rng)


@DATASETS.register("mini_patterns")
class MiniPatterns(RenderedDataset):
    """Mini world: 10 texture patterns (stripes, dots, checkerboard, ...) at random period, phase, tilt, colour."""

    name = "mini_patterns"
    KINDS = PATTERNS
    CLASSNAMES = PATTERNS

    def render(self, kind, rng):
        return render_pattern(kind, rng)


@DATASETS.register("mini_letters")
class MiniLetters(RenderedDataset):
    """Mini world: 12 capital letters at random size, stroke weight, rotation, position and colour."""

    name = "mini_letters"
    KINDS = LETTERS
    CLASSNAMES = tuple(f"letter {c}" for c in LETTERS)

    def render(self, kind, rng):
        return render_letter(kind, rng)
