"""A tiny vector canvas for the procedural mini datasets (objects, vehicles, flowers, scenes, ...).

Drawings are written in a unit frame (x, y in about [-1, 1], y pointing down) and placed on a 64x64 Pillow
image by an affine pose (centre, scale, rotation, mirror). A *style* decides how a part is painted:

* ``fill``: the part's colour (the photo-like default);
* ``sketch``: only the outline, in dark ink (line drawings, the -Sketch role);
* ``cartoon``: flat saturated colour with a thick black outline (a rendition, the -R role);
* ``silhouette``: every part in one colour (a rendition).

``recolour`` (a function of an RGB tuple) changes every part's colour (unusual colours in the -A role). The
finished image is box-filtered to 32x32 (anti-aliasing) and noise is added by the caller.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from dmpbench.data.mini.base import SIZE

SS = 2
BIG = SIZE * SS

Colour = tuple[int, int, int]

# named base colours (jittered per image)
C = {
    "red": (200, 40, 40), "green": (60, 150, 60), "dark green": (30, 95, 40), "brown": (125, 80, 40),
    "yellow": (235, 205, 45), "blue": (50, 90, 200), "grey": (135, 135, 135), "dark": (40, 40, 45),
    "white": (240, 240, 235), "orange": (240, 140, 30), "pink": (235, 130, 170), "purple": (130, 60, 170),
    "sky": (120, 180, 235), "tan": (215, 185, 130), "black": (15, 15, 15), "cream": (245, 230, 190),
    "gold": (220, 180, 50), "silver": (190, 195, 200), "navy": (30, 40, 110), "teal": (40, 150, 150),
}


def jitter(rng: np.random.Generator, *names: str, amount: float = 25.0) -> Colour:
    """One of the named colours, each channel moved by up to ``amount``."""
    base = C[names[int(rng.integers(len(names)))]] if len(names) > 1 else C[names[0]]
    d = rng.uniform(-amount, amount, 3).tolist()
    return tuple(min(255, max(0, int(b + e))) for b, e in zip(base, d))


def shades(rng: np.random.Generator, name: str, n: int, amount: float = 25.0) -> list[Colour]:
    """``n`` jittered copies of one named colour (one generator call)."""
    d = rng.uniform(-amount, amount, (n, 3)) + np.asarray(C[name], np.float64)
    return [tuple(row) for row in np.clip(d, 0, 255).astype(int).tolist()]


def random_colour(rng: np.random.Generator) -> Colour:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def luma(c) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def background(rng: np.random.Generator, colour=None) -> Image.Image:
    """A solid ``BIG x BIG`` background (a random colour unless given); ``finish`` adds lighting gradients."""
    colour = random_colour(rng) if colour is None else tuple(int(v) for v in np.clip(colour, 0, 255))
    return Image.new("RGB", (BIG, BIG), colour)


_T = np.linspace(-1, 1, SIZE)


def vertical(top, bottom, split: float = 1.0) -> np.ndarray:
    """``[BIG, BIG, 3]`` float vertical gradient from ``top`` (row 0) to ``bottom`` (row ``split*BIG``)."""
    t = np.clip(np.linspace(0, 1, BIG) / max(split, 1e-6), 0, 1)[:, None, None]
    row = np.array(top, np.float64) * (1 - t) + np.array(bottom, np.float64) * t
    return np.broadcast_to(row, (BIG, BIG, 3)).copy()


def finish(rng: np.random.Generator, image: Image.Image, noise=(0.0, 8.0), gradient: float = 0.4, tint=None) -> np.ndarray:
    """Box-filter a BIG canvas to ``[SIZE, SIZE, 3]`` uint8, optionally cast a colour over it (a gain per
    channel drawn from ``tint = (low, high)``: light, time of day, white balance), light it with a soft
    linear gradient (with probability ``gradient``) and add Gaussian pixel noise."""
    small = np.asarray(image.resize((SIZE, SIZE), Image.BOX), dtype=np.float64)
    if tint is not None:
        small = small * rng.uniform(tint[0], tint[1], 3)
    if rng.random() < gradient:
        angle = rng.uniform(0, 2 * math.pi)
        ramp = math.cos(angle) * _T[None, :] + math.sin(angle) * _T[:, None]
        small = small + ramp[..., None] * rng.uniform(-40, 40, 3)
    sigma = rng.uniform(*noise)
    if sigma > 0:
        small = small + rng.normal(0, sigma, small.shape)
    return np.clip(small, 0, 255).round().astype(np.uint8)


@functools.lru_cache(maxsize=None)
def _unit_arc(a0: float, a1: float, n: int) -> tuple[tuple[float, float], ...]:
    t = np.radians(np.linspace(a0, a1, n))
    return tuple(zip(np.cos(t).tolist(), np.sin(t).tolist()))


def _ellipse_pts(cx, cy, rx, ry, a0=0.0, a1=360.0, n=20) -> list[tuple[float, float]]:
    return [(cx + rx * u, cy + ry * v) for u, v in _unit_arc(float(a0), float(a1), n)]


@dataclass
class Canvas:
    """A 64x64 RGB image plus the pose that maps the unit frame onto it."""

    image: Image.Image
    cx: float = BIG / 2
    cy: float = BIG / 2
    scale: float = BIG * 0.4
    angle: float = 0.0  # radians
    mirror: bool = False
    aspect: float = 1.0  # horizontal stretch of the drawing (before rotation)
    style: str = "fill"
    ink: Colour = (30, 30, 30)
    width: int = 2
    recolour: Callable[[Colour], Colour] | None = None
    flat: Colour | None = None  # silhouette colour
    draw: ImageDraw.ImageDraw = field(init=False)
    #: when recording (``record_parts``): the painted colour of each part, in drawing order
    parts: list[Colour] | None = field(default=None, init=False)
    _part_map: Image.Image | None = field(default=None, init=False, repr=False)
    _part_draw: ImageDraw.ImageDraw | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.draw = ImageDraw.Draw(self.image)

    # -- part recording (captions read what was drawn; the pixels are not touched) -------------
    def record_parts(self) -> None:
        """From now on, also paint each part's index into a parallel index map (caption facts)."""
        self.parts = []
        self._part_map = Image.new("I", self.image.size, 0)
        self._part_draw = ImageDraw.Draw(self._part_map)

    def _record(self, xy, colour, width: int | None = None) -> None:
        if self.parts is None:
            return
        self.parts.append(tuple(int(v) for v in colour))
        if width is None:
            self._part_draw.polygon(xy, fill=len(self.parts))
        else:
            self._part_draw.line(xy, fill=len(self.parts), width=width, joint="curve")

    def visible_parts(self) -> list[tuple[Colour, int]]:
        """Each recorded part's colour and how many canvas pixels of it are still visible (not painted over)."""
        counts = np.bincount(np.asarray(self._part_map, np.int64).ravel(), minlength=len(self.parts) + 1)
        return [(colour, int(n)) for colour, n in zip(self.parts, counts[1:])]

    @classmethod
    def on(cls, image, **pose) -> "Canvas":
        """A canvas over a Pillow image or a float/uint8 ``[BIG, BIG, 3]`` array."""
        if not isinstance(image, Image.Image):
            image = Image.fromarray(np.clip(image, 0, 255).round().astype(np.uint8), "RGB")
        return cls(image, **pose)

    # -- geometry ------------------------------------------------------------------------------
    def place(self, pts) -> list[tuple[float, float]]:
        ca, sa = math.cos(self.angle) * self.scale, math.sin(self.angle) * self.scale
        m = -self.aspect if self.mirror else self.aspect
        if isinstance(pts, np.ndarray):
            pts = pts.tolist()
        return [(self.cx + ca * m * x - sa * y, self.cy + sa * m * x + ca * y) for x, y in pts]

    def _colour(self, colour) -> Colour:
        if self.flat is not None:
            return self.flat
        if self.recolour is not None:
            colour = self.recolour(colour)
        if self.style == "cartoon":  # flat, saturated
            c = np.asarray(colour, np.float64)
            m = c.mean()
            colour = tuple(int(v) for v in np.clip(m + 1.6 * (c - m), 0, 255))
        return tuple(int(v) for v in colour)

    def _w(self, w: float) -> int:
        return max(1, int(round(w * self.scale)))

    # -- primitives (unit-frame coordinates) ---------------------------------------------------
    def poly(self, pts, colour) -> None:
        xy = self.place(pts)
        if self.style == "sketch":
            self.draw.line(xy + xy[:1], fill=self.ink, width=self.width, joint="curve")
        elif self.style == "cartoon":
            self.draw.polygon(xy, fill=self._colour(colour))
            self.draw.line(xy + xy[:1], fill=(10, 10, 10), width=3, joint="curve")
        else:
            self.draw.polygon(xy, fill=self._colour(colour))
        if self.parts is not None:
            self._record(xy, self._colour(colour))

    def rect(self, x0, y0, x1, y1, colour) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour)

    def ellipse(self, cx, cy, rx, ry, colour, a0=0.0, a1=360.0, n=20) -> None:
        pts = _ellipse_pts(cx, cy, rx, ry, a0, a1, n)
        if 180 < a1 - a0 < 360:
            pts.append((cx, cy))
        self.poly(pts, colour)

    def circle(self, cx, cy, r, colour, n=20) -> None:
        self.ellipse(cx, cy, r, r, colour, n=n)

    def line(self, pts, colour, w: float = 0.08) -> None:
        xy = self.place(pts)
        colour = self.ink if self.style == "sketch" else self._colour(colour)
        width = self.width if self.style == "sketch" else self._w(w)
        self.draw.line(xy, fill=colour, width=width, joint="curve")
        self._record(xy, colour, width)

    def ring(self, cx, cy, rx, ry, colour, w: float = 0.08, a0=0.0, a1=360.0) -> None:
        self.line(_ellipse_pts(cx, cy, rx, ry, a0, a1, 18), colour, w)
