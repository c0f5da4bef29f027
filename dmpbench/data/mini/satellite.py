"""``mini_satellite``: 12 land-use classes seen from straight above (EuroSAT's role).

Each image is a top-down tile at a random rotation: the class decides what covers the ground (field
patchworks, tree crowns, roofs and streets, water, roads, tracks) and the seed decides sizes, densities,
colours and the base terrain. Hand prompt as CoOp's EuroSAT: "a centered satellite photo of {}.".
"""

from __future__ import annotations

import math

import numpy as np

from dmpbench.data.mini.canvas import BIG, Canvas, background, finish, shades
from dmpbench.data.mini.canvas import jitter as J
from dmpbench.data.mini.render import RenderedDataset
from dmpbench.registry import DATASETS

R = 1.5  # the unit frame is rotated: cover [-R, R]^2


def _land(c, r, *names):
    c.rect(-R, -R, R, R, J(r, *names, amount=30))


def farmland(c, r):
    _land(c, r, "tan", "green")
    x = -R
    while x < R:
        w = r.uniform(0.3, 0.7)
        y = -R
        while y < R:
            hgt = r.uniform(0.4, 0.9)
            col = J(r, "green", "yellow", "tan", "brown", "dark green", amount=25)
            c.rect(x + 0.02, y + 0.02, x + w - 0.02, y + hgt - 0.02, col)
            if r.random() < 0.5:
                for xx in np.arange(x + 0.08, x + w - 0.05, 0.12):
                    c.line([(xx, y + 0.05), (xx, y + hgt - 0.05)], tuple(int(v * 0.85) for v in col), 0.03)
            y += hgt
        x += w


def woodland(c, r):
    _land(c, r, "dark green")
    xyr = r.uniform((-R, -R, 0.1), (R, R, 0.22), (40, 3)).tolist()
    for (x, y, rad), col in zip(xyr, shades(r, "dark green", 40, 30)):
        c.circle(x, y, rad, col, n=8)


def highway(c, r):
    _land(c, r, "green", "tan", "brown")
    off = r.uniform(-0.5, 0.5)
    c.rect(-R, off - 0.3, R, off + 0.3, J(r, "grey", "dark", amount=15))
    c.rect(-R, off - 0.02, R, off + 0.02, J(r, "green", "grey"))
    for lane in (-0.15, 0.15):
        for x in np.arange(-R, R, 0.3):
            c.rect(x, off + lane - 0.01, x + 0.15, off + lane + 0.01, (235, 235, 235))
    for _ in range(int(r.integers(0, 5))):
        x, lane = r.uniform(-1, 1), off + r.choice([-0.22, -0.08, 0.08, 0.22])
        c.rect(x, lane - 0.04, x + 0.12, lane + 0.04, J(r, "red", "white", "blue", "dark"))


def industrial_area(c, r):
    _land(c, r, "grey", "tan")
    for _ in range(int(r.integers(4, 8))):
        x, y = r.uniform(-1.1, 0.6, 2)
        w, h = r.uniform(0.4, 0.9, 2)
        c.rect(x, y, x + w, y + h, J(r, "white", "silver", "grey", "sky", amount=20))
    for _ in range(int(r.integers(0, 3))):
        c.circle(r.uniform(-1, 1), r.uniform(-1, 1), 0.15, J(r, "white", "silver"), n=10)


def pasture(c, r):
    _land(c, r, "green", "yellow")
    for _ in range(int(r.integers(4, 10))):
        c.circle(r.uniform(-R, R), r.uniform(-R, R), r.uniform(0.2, 0.5), J(r, "green", "yellow", "tan", amount=20), n=10)
    for _ in range(int(r.integers(0, 4))):
        c.circle(r.uniform(-1, 1), r.uniform(-1, 1), 0.1, J(r, "dark green"), n=8)


def orchard(c, r):
    _land(c, r, "tan", "brown", "yellow")
    step = r.uniform(0.22, 0.3)
    grid = np.arange(-R, R, step).tolist()
    cols = shades(r, "green", len(grid) ** 2, 30)
    for i, x in enumerate(grid):
        for j, y in enumerate(grid):
            c.circle(x, y, step * 0.35, cols[i * len(grid) + j], n=6)


def residential_area(c, r):
    _land(c, r, "green")
    step = r.uniform(0.45, 0.6)
    roof = shades(r, ("red", "brown", "grey", "orange")[int(r.integers(4))], 64, 30)
    k = 0
    for x in np.arange(-R, R, step).tolist():
        c.rect(x - 0.05, -R, x + 0.05, R, (128, 128, 128))
        for y in np.arange(-R, R, step * 0.6).tolist():
            c.rect(x + 0.1, y, x + 0.1 + step * 0.35, y + step * 0.35, roof[k % 64])
            k += 1


def river(c, r):
    _land(c, r, "green", "dark green", "tan")
    y = np.linspace(-R, R, 20)
    amp, freq, ph, w = r.uniform(0.2, 0.5), r.uniform(1.5, 3), r.uniform(0, 6), r.uniform(0.12, 0.25)
    x = amp * np.sin(freq * y + ph)
    c.poly(np.vstack([np.stack([x - w, y], 1), np.stack([x + w, y], 1)[::-1]]), J(r, "blue", "teal", "navy"))


def sea(c, r):
    water = J(r, "blue", "navy", "teal")
    _land(c, r, "blue")  # covered below (kept: the pinned pixels depend on the random stream)
    c.rect(-R, -R, R, R, water)
    for _ in range(12):
        x, y = r.uniform(-R, R, 2)
        c.line([(x, y), (x + 0.25, y + 0.03)], tuple(min(255, v + 35) for v in water), 0.03)
    if r.random() < 0.4:
        c.rect(-R, 0.9, R, R, J(r, "tan", "green"))


def parking_lot(c, r):
    _land(c, r, "grey", "dark")
    cars = r.integers(0, 256, (22, 3)).tolist()
    full = (r.random(22) < 0.6).tolist()
    k = 0
    for y in (-0.9, 0.1):
        for x in np.arange(-1.2, 1.2, 0.22).tolist():
            c.rect(x, y, x + 0.02, y + 0.6, (230, 230, 230))
            if full[k % 22]:
                c.rect(x + 0.05, y + 0.1, x + 0.17, y + 0.45, tuple(cars[k % 22]))
            k += 1


def railway(c, r):
    _land(c, r, "green", "tan", "brown")
    c.rect(-R, -0.3, R, 0.3, J(r, "grey", "tan", amount=15))
    tie = J(r, "brown", amount=10)
    for x in np.arange(-R, R, 0.12).tolist():
        c.rect(x, -0.2, x + 0.05, 0.2, tie)
    for y in (-0.12, 0.12):
        c.rect(-R, y - 0.02, R, y + 0.02, (80, 80, 85))


def harbor(c, r):
    water = J(r, "blue", "teal", "navy")
    c.rect(-R, -R, R, R, water)
    c.rect(-R, -R, R, -0.6, J(r, "grey", "tan"))
    for x in np.arange(-1.2, 1.2, r.uniform(0.4, 0.6)):
        c.rect(x, -0.6, x + 0.1, 0.6, J(r, "grey", "silver"))
        for _ in range(int(r.integers(0, 3))):
            y = r.uniform(-0.5, 0.5)
            c.ellipse(x + 0.2, y, 0.08, 0.03, J(r, "white", "red"), n=8)


SATELLITE = {
    "farmland": farmland, "woodland": woodland, "highway": highway, "industrial area": industrial_area,
    "pasture": pasture, "orchard": orchard, "residential area": residential_area, "river": river, "sea": sea,
    "parking lot": parking_lot, "railway": railway, "harbor": harbor,
}


def render_satellite(kind: str, rng: np.random.Generator) -> np.ndarray:
    c = Canvas(background(rng, (0, 0, 0)), scale=BIG / 2 * rng.uniform(0.9, 1.15),
               angle=rng.uniform(0, 2 * math.pi), mirror=bool(rng.random() < 0.5))
    SATELLITE[kind](c, rng)
    return finish(rng, c.image, (0.0, 8.0), 0.3, tint=(0.75, 1.2))


@DATASETS.register("mini_satellite")
class MiniSatellite(RenderedDataset):
    """Mini world: 12 land-use classes in top-down tiles (farmland, river, residential area, harbor, ...)."""

    name = "mini_satellite"
    templates = ("a centered satellite photo of {}.",)
    KINDS = tuple(SATELLITE)
    CLASSNAMES = KINDS

    def render(self, kind, rng):
        return render_satellite(kind, rng)
