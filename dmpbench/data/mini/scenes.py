"""``mini_scenes``: 12 landscape and place layouts filling the frame (SUN397's role).

A scene is a layout: a sky (day, overcast or dusk), a horizon at a random height and the class's ground,
water, relief and objects, mirrored at random. Classes share parts (water in beach, lake, island and
waterfall; trees in forest, lake and meadow; snow in mountain and snowfield), so the layout carries the class.
"""

from __future__ import annotations

import math

import numpy as np

from dmpbench.data.mini.canvas import BIG, Canvas, finish, vertical
from dmpbench.data.mini.canvas import jitter as J
from dmpbench.data.mini.render import RenderedDataset
from dmpbench.registry import DATASETS

SKIES = (((90, 150, 230), (190, 220, 245)), ((150, 155, 165), (210, 210, 215)), ((60, 60, 120), (240, 150, 80)))


def _tree(c, r, x, y, h):
    c.rect(x - 0.04 * h, y - 0.3 * h, x + 0.04 * h, y, J(r, "brown"))
    if r.random() < 0.5:
        c.circle(x, y - 0.55 * h, 0.3 * h, J(r, "green", "dark green"), n=10)
    else:
        c.poly([(x - 0.28 * h, y - 0.25 * h), (x, y - h), (x + 0.28 * h, y - 0.25 * h)], J(r, "dark green", "green"))


def _hills(c, r, y, amp, colour, n=3):
    xs = np.linspace(-1.6, 1.6, 16)
    ph = r.uniform(0, 6)
    ys = y - amp * np.abs(np.sin(xs * n + ph))
    c.poly(np.vstack([np.stack([xs, ys], 1), [[1.6, 1.6], [-1.6, 1.6]]]), colour)


def beach(c, r, h):
    c.rect(-1.6, h, 1.6, 1.6, J(r, "blue", "teal"))
    sand = h + r.uniform(0.2, 0.45)
    xs = np.linspace(-1.6, 1.6, 12)
    c.poly(np.vstack([np.stack([xs, sand + 0.06 * np.sin(xs * 4)], 1), [[1.6, 1.6], [-1.6, 1.6]]]), J(r, "tan", "cream"))
    c.line(np.stack([xs, sand - 0.02 + 0.06 * np.sin(xs * 4)], 1), J(r, "white"), 0.04)


def forest(c, r, h):
    c.rect(-1.6, h, 1.6, 1.6, J(r, "dark green", "brown"))
    for _ in range(int(r.integers(7, 12))):
        _tree(c, r, r.uniform(-1.1, 1.1), h + r.uniform(0.1, 0.9), r.uniform(0.6, 1.1))


def desert(c, r, h):
    sand = J(r, "tan", "orange", "yellow")
    c.rect(-1.6, h, 1.6, 1.6, sand)
    for k in range(3):
        _hills(c, r, h + 0.25 * k + 0.1, 0.15, tuple(int(v * (0.95 - 0.07 * k)) for v in sand), n=2)
    if r.random() < 0.5:
        x = r.uniform(-0.7, 0.7)
        c.rect(x - 0.05, h + 0.1, x + 0.05, h + 0.6, J(r, "green"))
        c.line([(x - 0.05, h + 0.35), (x - 0.2, h + 0.35), (x - 0.2, h + 0.2)], J(r, "green"), 0.06)


def city(c, r, h):
    x = -1.6
    while x < 1.6:
        w = r.uniform(0.2, 0.45)
        top = h - r.uniform(0.2, 1.1)
        col = J(r, "grey", "silver", "dark", "tan", "navy")
        c.rect(x, top, x + w, 1.6, col)
        lit = J(r, "yellow", "sky", "dark")
        for wy in np.arange(top + 0.08, 1.0, 0.16).tolist():
            c.rect(x + 0.05, wy, x + w - 0.05, wy + 0.05, lit)
        x += w + r.uniform(0.0, 0.08)
    c.rect(-1.6, h + 0.5, 1.6, 1.6, J(r, "dark", "grey"))


def mountain(c, r, h):
    rock = J(r, "grey", "brown", "navy")
    for k in range(int(r.integers(1, 3))):
        x, w, top = r.uniform(-0.6, 0.6), r.uniform(0.6, 1.0), h - r.uniform(0.7, 1.0)
        c.poly([(x - w, h + 0.3), (x, top), (x + w, h + 0.3)], rock)
        f = 0.3
        snow = top + (h + 0.3 - top) * f
        c.poly([(x - w * f, snow), (x, top), (x + w * f, snow)], J(r, "white", amount=10))
    c.rect(-1.6, h + 0.3, 1.6, 1.6, J(r, "green", "dark green", "brown"))


def lake(c, r, h):
    _hills(c, r, h, 0.2, J(r, "dark green", "green"))
    water = J(r, "blue", "teal", "sky")
    c.rect(-1.6, h, 1.6, h + r.uniform(0.6, 0.9), water)
    for y in np.linspace(h + 0.1, h + 0.55, 4):
        x = r.uniform(-0.9, 0.5)
        c.line([(x, y), (x + 0.3, y)], tuple(min(255, v + 50) for v in water), 0.03)
    for x in (-1.0, 0.95):
        _tree(c, r, x, h + 0.1, 0.5)


def meadow(c, r, h):
    grass = J(r, "green", "yellow")
    c.rect(-1.6, h, 1.6, 1.6, grass)
    for _ in range(int(r.integers(10, 20))):
        c.circle(r.uniform(-1, 1), r.uniform(h + 0.1, 1), 0.04, J(r, "red", "yellow", "white", "purple"), n=6)
    if r.random() < 0.5:
        _tree(c, r, r.uniform(-0.8, 0.8), h + 0.05, 0.5)


def volcano(c, r, h):
    c.rect(-1.6, h, 1.6, 1.6, J(r, "brown", "dark"))
    top = h - r.uniform(0.6, 0.9)
    c.poly([(-1.0, h + 0.2), (-0.2, top), (0.2, top), (1.0, h + 0.2)], J(r, "dark", "brown"))
    c.poly([(-0.2, top), (0.2, top), (0.1, top + 0.25), (-0.05, top + 0.4)], J(r, "red", "orange"))
    for k in range(3):
        c.circle(r.uniform(-0.2, 0.2), top - 0.2 - 0.2 * k, 0.15 + 0.05 * k, J(r, "grey", "dark", amount=20), n=10)


def waterfall(c, r, h):
    rock = J(r, "grey", "brown", "dark")
    c.rect(-1.6, h - 0.6, -0.25, 1.6, rock)
    c.rect(0.25, h - 0.6, 1.6, 1.6, rock)
    c.rect(-0.25, h - 0.55, 0.25, h + 0.6, J(r, "white", "sky", amount=15))
    for x in (-0.15, 0.0, 0.15):
        c.line([(x, h - 0.5), (x, h + 0.55)], J(r, "sky", "blue"), 0.03)
    c.rect(-1.6, h + 0.6, 1.6, 1.6, J(r, "blue", "teal"))
    _tree(c, r, -0.7, h - 0.6, 0.4)


def island(c, r, h):
    c.rect(-1.6, h, 1.6, 1.6, J(r, "blue", "teal"))
    x = r.uniform(-0.3, 0.3)
    c.ellipse(x, h + 0.35, 0.5, 0.15, J(r, "tan", "cream"), 180, 360)
    c.line([(x, h + 0.25), (x + 0.1, h - 0.25)], J(r, "brown"), 0.05)
    for a in (-150, -110, -70, -30):
        t = math.radians(a)
        c.line([(x + 0.1, h - 0.25), (x + 0.1 + 0.3 * math.cos(t), h - 0.25 + 0.2 * math.sin(t) + 0.1)], J(r, "green"), 0.05)


def cave(c, r, h):
    c.rect(-1.6, -1.6, 1.6, 1.6, J(r, "dark", "brown", amount=20))
    rx, ry = r.uniform(0.45, 0.7), r.uniform(0.4, 0.65)
    cx, cy = r.uniform(-0.3, 0.3), r.uniform(-0.1, 0.3)
    c.ellipse(cx, cy, rx, ry, J(r, "sky", "white", "orange", amount=35))
    c.rect(cx - rx, cy + ry * 0.4, cx + rx, cy + ry, J(r, "green", "tan"))
    for k in range(4):
        x = r.uniform(-1, 1)
        c.poly([(x - 0.1, -1.6), (x, -1.6 + r.uniform(0.3, 0.6)), (x + 0.1, -1.6)], J(r, "grey", "brown"))


def snowfield(c, r, h):
    c.rect(-1.6, h, 1.6, 1.6, J(r, "white", amount=10))
    for _ in range(int(r.integers(0, 4))):
        _tree(c, r, r.uniform(-1, 1), h + r.uniform(0.05, 0.3), r.uniform(0.25, 0.45))
    for _ in range(int(r.integers(2, 6))):
        x, y = r.uniform(-1, 1), r.uniform(h + 0.2, 1)
        c.line([(x, y), (x + r.uniform(0.1, 0.3), y)], J(r, "silver", "sky"), 0.03)


SCENES = {f.__name__: f for f in (beach, forest, desert, city, mountain, lake, meadow, volcano, waterfall, island,
                                  cave, snowfield)}


def render_scene(kind: str, rng: np.random.Generator) -> np.ndarray:
    top, bottom = SKIES[int(rng.choice(3, p=(0.6, 0.25, 0.15)))]
    sky = vertical(np.add(top, rng.uniform(-20, 20, 3)), np.add(bottom, rng.uniform(-20, 20, 3)))
    zoom = rng.uniform(0.75, 1.3)  # field of view
    c = Canvas.on(sky, scale=BIG / 2 * zoom, cx=BIG / 2 + rng.uniform(-6, 6), cy=BIG / 2 + rng.uniform(-4, 4),
                  mirror=bool(rng.random() < 0.5), angle=math.radians(rng.uniform(-6, 6)))
    h = rng.uniform(-0.45, 0.3)  # horizon
    if kind in ("beach", "desert", "island", "meadow", "snowfield") and rng.random() < 0.4:
        c.circle(rng.uniform(-0.8, 0.8), rng.uniform(-0.9, h - 0.3), 0.12, J(rng, "yellow", "white"), n=12)
    SCENES[kind](c, rng, h)
    return finish(rng, c.image, (0.0, 8.0), 0.5, tint=(0.65, 1.25))


@DATASETS.register("mini_scenes")
class MiniScenes(RenderedDataset):
    """Mini world: 12 landscape/place layouts filling the frame (beach, forest, city, volcano, ...)."""

    name = "mini_scenes"
    KINDS = tuple(SCENES)
    CLASSNAMES = KINDS

    def render(self, kind, rng):
        return render_scene(kind, rng)
