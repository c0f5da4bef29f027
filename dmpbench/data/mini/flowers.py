"""``mini_flowers``: 12 flower species told apart by petal count, petal shape, colour and habit (Flowers102's role).

Several species share colours (sunflower, buttercup, daffodil and dandelion are yellow; daisy, lily and
dandelion clocks are white), so the class is in the petal count and shape, the centre and the stem. The head
is drawn at a random position, size and rotation over foliage-like or plain backgrounds.
"""

from __future__ import annotations

import math

import numpy as np

from dmpbench.data.mini.canvas import BIG, Canvas, background, finish
from dmpbench.data.mini.canvas import jitter as J
from dmpbench.data.mini.render import RenderedDataset
from dmpbench.registry import DATASETS


_T = np.linspace(0, 2 * math.pi, 12, endpoint=False)
_COS, _SIN = np.cos(_T), np.sin(_T)
_POINTED = _SIN * (1 - 0.8 * np.abs(_COS) ** 3)


def _petals(c: Canvas, r, n, dist, length, width, colour, pointed=False, start=None):
    start = r.uniform(0, 2 * math.pi) if start is None else start
    px, py = length * _COS, width * (_POINTED if pointed else _SIN)
    a = start + 2 * math.pi * np.arange(n)[:, None] / n
    ca, sa = np.cos(a), np.sin(a)
    xs = (dist * ca + ca * px - sa * py).tolist()
    ys = (dist * sa + sa * px + ca * py).tolist()
    for x, y in zip(xs, ys):
        c.poly(list(zip(x, y)), colour)


def _stem(c, r, length=0.9):
    c.line([(0, 0), (0.05, length)], J(r, "green", "dark green"), 0.06)


def daisy(c, r):
    _stem(c, r)
    _petals(c, r, int(r.integers(16, 22)), 0.45, 0.38, 0.07, J(r, "white", amount=12))
    c.circle(0, 0, 0.18, J(r, "yellow", "orange"))


def sunflower(c, r):
    _petals(c, r, int(r.integers(18, 24)), 0.62, 0.3, 0.09, J(r, "yellow", "gold"), pointed=True)
    c.circle(0, 0, 0.45, J(r, "brown", "dark"))


def poppy(c, r):
    _stem(c, r)
    _petals(c, r, 4, 0.38, 0.42, 0.38, J(r, "red", "orange"))
    c.circle(0, 0, 0.14, (20, 20, 20), n=10)


def buttercup(c, r):
    _stem(c, r)
    _petals(c, r, 5, 0.3, 0.3, 0.26, J(r, "yellow", amount=15))
    c.circle(0, 0, 0.1, J(r, "green", "yellow"), n=10)


def tulip(c, r):
    c.ellipse(0.25, 0.6, 0.1, 0.35, J(r, "green"), n=12)
    _stem(c, r)
    col = J(r, "red", "pink", "yellow", "purple", "orange")
    c.poly([(-0.45, -0.35), (-0.2, -0.1), (0, -0.55), (0.2, -0.1), (0.45, -0.35), (0.4, 0.1), (0.2, 0.3),
            (-0.2, 0.3), (-0.4, 0.1)], col)


def rose(c, r):
    _stem(c, r)
    col = J(r, "red", "pink", "white", "yellow")
    for k, rad in enumerate((0.55, 0.42, 0.3, 0.18)):
        shade = tuple(int(v * (1 - 0.12 * k)) for v in col)
        _petals(c, r, 5, rad * 0.35, rad * 0.7, rad * 0.6, shade)
    c.ring(0, 0, 0.1, 0.1, tuple(int(v * 0.55) for v in col), 0.05)


def lavender(c, r):
    c.line([(0, -0.9), (0, 0.95)], J(r, "green"), 0.05)
    col = J(r, "purple", "purple", "blue")
    for y in np.linspace(-0.85, 0.15, 8):
        for s in (-1, 1):
            c.ellipse(s * 0.09, y, 0.09, 0.07, col, n=8)


def dandelion(c, r):
    _stem(c, r)
    if r.random() < 0.5:  # the seed head (clock)
        white = J(r, "white", amount=10)
        for k in range(24):
            a = 2 * math.pi * k / 24
            c.line([(0, 0), (0.6 * math.cos(a), 0.6 * math.sin(a))], white, 0.03)
        c.circle(0, 0, 0.1, J(r, "tan"), n=8)
    else:  # the yellow flower: many thin short petals
        _petals(c, r, 28, 0.2, 0.28, 0.04, J(r, "yellow", amount=15))
        _petals(c, r, 18, 0.1, 0.15, 0.04, J(r, "gold", amount=15))


def bluebell(c, r):
    g = J(r, "green", "dark green")
    c.ring(0.35, 0.9, 0.6, 1.5, g, 0.05, 190, 265)
    col = J(r, "blue", "purple", "navy")
    for k, (x, y) in enumerate(((-0.2, -0.55), (-0.05, -0.1), (0.05, 0.35))):
        c.line([(x + 0.15, y - 0.25), (x, y - 0.1)], g, 0.03)
        c.poly([(x - 0.1, y - 0.12), (x + 0.1, y - 0.12), (x + 0.16, y + 0.12), (x + 0.2, y + 0.18),
                (x - 0.2, y + 0.18), (x - 0.16, y + 0.12)], col)


def daffodil(c, r):
    _stem(c, r)
    _petals(c, r, 6, 0.35, 0.35, 0.18, J(r, "yellow", "white", "cream"), pointed=True)
    c.circle(0, 0, 0.24, J(r, "orange", "yellow", "gold"))
    c.ring(0, 0, 0.24, 0.24, J(r, "orange", "red"), 0.05)


def lily(c, r):
    col = J(r, "white", "pink", "orange")
    _petals(c, r, 6, 0.45, 0.48, 0.13, col, pointed=True)
    spot = J(r, "red", "brown", "purple")
    for k in range(6):
        a = 2 * math.pi * k / 6 + r.uniform(0, 1)
        c.line([(0, 0), (0.35 * math.cos(a), 0.35 * math.sin(a))], J(r, "orange", "brown"), 0.025)
        c.circle(0.35 * math.cos(a), 0.35 * math.sin(a), 0.04, spot, n=6)


def lotus(c, r):
    J(r, "blue", "teal", "navy")  # a water colour draw, unused (kept: the pinned pixels depend on the stream)
    c.ellipse(0, 0.55, 0.95, 0.2, J(r, "green", "dark green"))
    col = J(r, "pink", "white", "purple")
    for a, length in ((-60, 0.5), (-30, 0.6), (0, 0.65), (30, 0.6), (60, 0.5)):
        t = math.radians(a - 90)
        ca, sa = math.cos(t), math.sin(t)
        tt = np.linspace(0, 2 * math.pi, 14, endpoint=False)
        px, py = length * 0.5 * (1 + np.cos(tt)), 0.14 * np.sin(tt) * (1 - 0.8 * np.abs(np.cos(tt)) ** 3)
        c.poly(np.stack([ca * px - sa * py, 0.4 + sa * px + ca * py], 1), col)


FLOWERS = {f.__name__: f for f in (daisy, sunflower, poppy, buttercup, tulip, rose, lavender, dandelion, bluebell,
                                   daffodil, lily, lotus)}


def render_flower(kind: str, rng: np.random.Generator) -> np.ndarray:
    bg = J(rng, "green", "dark green", "sky", "tan", "brown", "grey", amount=45)
    image = background(rng, bg)
    c = Canvas(image, scale=rng.uniform(0.36, 0.5) * BIG, cx=BIG / 2 + rng.uniform(-5, 5),
               cy=BIG / 2 + rng.uniform(-5, 5), angle=math.radians(rng.uniform(-20, 20)), mirror=bool(rng.random() < 0.5))
    if rng.random() < 0.5:  # out-of-focus foliage
        for _ in range(int(rng.integers(2, 6))):
            x, y = rng.uniform(-1.4, 1.4, 2)
            c.ellipse(x, y, rng.uniform(0.2, 0.5), rng.uniform(0.1, 0.3), J(rng, "green", "dark green", amount=40))
    FLOWERS[kind](c, rng)
    return finish(rng, c.image, (0.0, 8.0), 0.4, tint=(0.8, 1.2))


@DATASETS.register("mini_flowers")
class MiniFlowers(RenderedDataset):
    """Mini world: 12 flower species (fine-grained: petal count, shape, colour, habit)."""

    name = "mini_flowers"
    templates = ("a photo of a {}, a type of flower.",)
    KINDS = tuple(FLOWERS)
    CLASSNAMES = KINDS

    def render(self, kind, rng):
        return render_flower(kind, rng)
