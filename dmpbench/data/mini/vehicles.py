"""``mini_vehicles``: 12 vehicles seen from the side (the fine-grained StanfordCars / FGVCAircraft role).

Six of the classes are road vehicles built from the same parts (body, cabin, wheels) and differ only in
proportions (sedan, sports car, limousine, van, pickup truck, bus): telling them apart is fine-grained. The
pose (position, scale, slight tilt, facing left or right), paint colour, sky and ground colours and noise are
drawn from the seed.
"""

from __future__ import annotations

import math

import numpy as np

from dmpbench.data.mini.canvas import BIG, Canvas, background, finish
from dmpbench.data.mini.canvas import jitter as J
from dmpbench.data.mini.render import RenderedDataset
from dmpbench.registry import DATASETS

PAINT = ("red", "blue", "white", "dark", "silver", "yellow", "green", "navy", "orange")


def _wheel(c: Canvas, x, y, rad):
    c.circle(x, y, rad, (25, 25, 25), n=14)
    c.circle(x, y, rad * 0.45, (185, 188, 192), n=8)


def _car(c, r, body, cabin, wheels, rad=0.2, windows=True):
    """A road vehicle: ``body`` and ``cabin`` are polygons, ``wheels`` their x positions."""
    paint = J(r, *PAINT)
    c.poly(cabin, paint)
    if windows:
        xs = [p[0] for p in cabin]
        ys = [p[1] for p in cabin]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        c.rect(x0 + 0.12, y0 + 0.06, x1 - 0.12, y1 - 0.02, J(r, "sky", "dark", "silver"))
    c.poly(body, paint)
    for x in wheels:
        _wheel(c, x, max(p[1] for p in body), rad)


def sedan(c, r):
    _car(c, r, [(-0.9, 0.0), (0.9, 0.0), (0.92, 0.3), (-0.92, 0.3)],
         [(-0.45, 0.0), (-0.3, -0.35), (0.3, -0.35), (0.5, 0.0)], (-0.55, 0.55))


def sports_car(c, r):
    _car(c, r, [(-0.95, 0.0), (0.7, 0.0), (0.98, 0.18), (0.98, 0.28), (-0.95, 0.28)],
         [(-0.45, 0.02), (-0.2, -0.22), (0.2, -0.22), (0.45, 0.02)], (-0.6, 0.6), 0.18)


def limousine(c, r):
    _car(c, r, [(-1.0, 0.0), (1.0, 0.0), (1.0, 0.25), (-1.0, 0.25)],
         [(-0.7, 0.0), (-0.6, -0.3), (0.5, -0.3), (0.65, 0.0)], (-0.75, 0.75), 0.16)


def van(c, r):
    _car(c, r, [(-0.85, -0.55), (0.55, -0.55), (0.85, -0.05), (0.85, 0.35), (-0.85, 0.35)],
         [(0.3, -0.5), (0.55, -0.5), (0.75, -0.1), (0.3, -0.1)], (-0.5, 0.55))


def pickup_truck(c, r):
    paint = J(r, *PAINT)
    c.rect(-0.95, -0.05, 0.0, 0.3, paint)  # open bed
    c.poly([(0.0, -0.5), (0.45, -0.5), (0.6, -0.1), (0.95, -0.05), (0.95, 0.3), (0.0, 0.3)], paint)
    c.rect(0.1, -0.42, 0.42, -0.15, J(r, "sky", "dark"))
    for x in (-0.6, 0.6):
        _wheel(c, x, 0.3, 0.22)


def bus(c, r):
    paint = J(r, "yellow", "red", "blue", "white", "green", "orange")
    c.rect(-1.0, -0.6, 1.0, 0.35, paint)
    for x in np.linspace(-0.85, 0.55, 5):
        c.rect(x, -0.45, x + 0.22, -0.15, J(r, "sky", "dark"))
    c.rect(0.8, -0.45, 0.95, 0.2, J(r, "sky", "dark"))
    for x in (-0.65, 0.6):
        _wheel(c, x, 0.35, 0.18)


def tractor(c, r):
    paint = J(r, "green", "red", "orange", "yellow", "blue")
    c.rect(-0.6, -0.7, -0.05, 0.05, paint)  # cabin
    c.rect(-0.5, -0.6, -0.15, -0.25, J(r, "sky", "dark"))
    c.rect(-0.05, -0.25, 0.8, 0.15, paint)  # hood
    c.rect(0.5, -0.55, 0.58, -0.25, J(r, "dark"))  # exhaust
    _wheel(c, -0.45, 0.35, 0.45)
    _wheel(c, 0.6, 0.45, 0.25)


def motorcycle(c, r):
    paint = J(r, *PAINT)
    for x in (-0.6, 0.6):
        c.ring(x, 0.35, 0.3, 0.3, (25, 25, 25), 0.1)
    c.poly([(-0.6, 0.35), (-0.2, -0.1), (0.35, -0.15), (0.6, 0.35), (0.1, 0.3)], paint)
    c.rect(-0.45, -0.25, 0.05, -0.12, J(r, "dark", "brown"))
    c.line([(0.35, -0.15), (0.45, -0.5), (0.3, -0.55)], (30, 30, 30), 0.06)


def bicycle(c, r):
    frame = J(r, *PAINT)
    for x in (-0.6, 0.6):
        c.ring(x, 0.3, 0.33, 0.33, (25, 25, 25), 0.05)
    c.line([(-0.6, 0.3), (-0.1, 0.3), (0.45, -0.25), (-0.2, -0.25), (-0.6, 0.3)], frame, 0.06)
    c.line([(-0.1, 0.3), (-0.25, -0.35)], frame, 0.06)
    c.line([(0.6, 0.3), (0.45, -0.25), (0.4, -0.45), (0.25, -0.45)], frame, 0.06)
    c.rect(-0.38, -0.4, -0.12, -0.33, (30, 30, 30))


def airplane(c, r):
    paint = J(r, "white", "silver", "blue", "red", "grey")
    c.poly([(-0.85, -0.05), (-0.95, -0.6), (-0.7, -0.6), (-0.5, -0.05)], paint)  # tail fin
    c.poly([(-0.1, 0.0), (0.25, 0.0), (-0.25, 0.6), (-0.45, 0.6)], tuple(int(0.8 * v) for v in paint))  # wing
    c.ellipse(0, 0, 0.95, 0.16, paint)
    for x in np.linspace(-0.4, 0.6, 6):
        c.circle(x, -0.03, 0.035, J(r, "dark", "navy"), n=6)


def helicopter(c, r):
    paint = J(r, *PAINT)
    c.line([(-0.2, 0.0), (-0.95, -0.15)], paint, 0.1)
    c.rect(-1.0, -0.35, -0.9, -0.05, paint)
    c.ellipse(0.2, 0.05, 0.45, 0.32, paint)
    c.ellipse(0.4, -0.02, 0.2, 0.17, J(r, "sky", "dark"), n=12)
    c.line([(0.2, -0.27), (0.2, -0.42)], (30, 30, 30), 0.06)
    c.line([(-0.6, -0.45), (1.0, -0.4)], (30, 30, 30), 0.05)
    c.line([(-0.15, 0.55), (0.6, 0.55)], (30, 30, 30), 0.05)
    for x in (0.0, 0.4):
        c.line([(x, 0.3), (x, 0.55)], (30, 30, 30), 0.04)


def sailboat(c, r):
    c.line([(0.0, 0.35), (0.0, -0.95)], J(r, "brown", "dark"), 0.05)
    c.poly([(0.05, -0.9), (0.05, 0.25), (0.75, 0.25)], J(r, "white", "cream", "red"))
    c.poly([(-0.05, -0.7), (-0.05, 0.25), (-0.5, 0.25)], J(r, "white", "cream", "yellow"))
    c.poly([(-0.85, 0.32), (0.85, 0.32), (0.6, 0.6), (-0.6, 0.6)], J(r, "brown", "white", "blue", "red"))


VEHICLES = {
    "sedan": sedan, "sports car": sports_car, "limousine": limousine, "van": van, "pickup truck": pickup_truck,
    "bus": bus, "tractor": tractor, "motorcycle": motorcycle, "bicycle": bicycle, "airplane": airplane,
    "helicopter": helicopter, "sailboat": sailboat,
}
_AIR = {"airplane", "helicopter"}


def render_vehicle(kind: str, rng: np.random.Generator) -> np.ndarray:
    sky = J(rng, "sky", "white", "grey", "blue", "orange", amount=40)
    image = background(rng, sky)
    scale = rng.uniform(0.36, 0.48) * BIG
    c = Canvas(image, cx=BIG / 2 + rng.uniform(-6, 6), cy=BIG / 2 + rng.uniform(-6, 6), scale=scale,
               angle=math.radians(rng.uniform(-8, 8)), mirror=bool(rng.random() < 0.5))
    ground = J(rng, "grey", "green", "tan", "dark", "blue", amount=35)
    if kind not in _AIR or rng.random() < 0.3:
        top = c.cy + scale * (0.3 if kind != "tractor" else 0.5) + rng.uniform(-2, 6)
        c.draw.rectangle([0, top, BIG, BIG], fill=ground)
    VEHICLES[kind](c, rng)
    return finish(rng, c.image, (0.0, 8.0), 0.4)


@DATASETS.register("mini_vehicles")
class MiniVehicles(RenderedDataset):
    """Mini world: 12 vehicles in side view; six road vehicles differ only in proportions (fine-grained)."""

    name = "mini_vehicles"
    KINDS = tuple(VEHICLES)
    CLASSNAMES = KINDS

    def render(self, kind, rng):
        return render_vehicle(kind, rng)
