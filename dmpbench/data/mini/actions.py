"""``mini_actions``: 12 human actions performed by a stick figure (UCF101's role).

The figure has a head, a torso and two-segment arms and legs; each action is a pose (joint angles, jittered
per image) plus, for some, a prop (ball, barbell, chair, ladder, bed, water). Position, size, facing, line
weight and colours come from the seed. Hand prompt as CoOp's UCF101: "a photo of a person {}."
"""

from __future__ import annotations

import math

import numpy as np

from dmpbench.data.mini.canvas import BIG, Canvas, background, finish
from dmpbench.data.mini.canvas import jitter as J
from dmpbench.data.mini.render import RenderedDataset
from dmpbench.registry import DATASETS

# pose: torso lean, (upper, lower) angle of the front arm, back arm, front leg, back leg, in degrees from
# straight down (positive = towards the facing direction); hip height offset
POSES = {
    "running": dict(lean=18, arms=((60, 150), (-55, 20)), legs=((65, -20), (-45, -100)), hip=0.0),
    "walking": dict(lean=3, arms=((20, 35), (-20, -10)), legs=((22, 5), (-20, -25)), hip=0.0),
    "jumping": dict(lean=0, arms=((155, 170), (-155, -170)), legs=((35, -15), (-35, 15)), hip=-0.3),
    "sitting": dict(lean=-5, arms=((35, 80), (25, 70)), legs=((90, 5), (85, 0)), hip=0.15),
    "waving": dict(lean=0, arms=((115, 165), (-10, 0)), legs=((8, 0), (-8, 0)), hip=0.0),
    "dancing": dict(lean=-12, arms=((130, 165), (-110, -70)), legs=((70, -20), (-10, 0)), hip=0.0),
    "juggling": dict(lean=0, arms=((45, 110), (-45, -110)), legs=((8, 0), (-8, 0)), hip=0.0),
    "lifting weights": dict(lean=0, arms=((120, 178), (-120, -178)), legs=((18, 0), (-18, 0)), hip=0.0),
    "kicking a ball": dict(lean=-10, arms=((-40, -20), (40, 70)), legs=((85, 75), (-5, 0)), hip=0.0),
    "climbing": dict(lean=0, arms=((160, 175), (150, 165)), legs=((55, -10), (15, 0)), hip=-0.05),
    "sleeping": dict(lean=0, arms=((5, 0), (-5, 0)), legs=((3, 0), (-3, 0)), hip=0.0),
    "swimming": dict(lean=0, arms=((175, 180), (-20, -10)), legs=((10, 0), (-10, 0)), hip=0.0),
}
UPPER, LOWER, THIGH, SHIN = 0.28, 0.26, 0.33, 0.33


def _limb(c, start, angles, lengths, colour, w, jit):
    pts = [start]
    for a, length in zip(angles, lengths):
        t = math.radians(a + jit())
        x, y = pts[-1]
        pts.append((x + length * math.sin(t), y + length * math.cos(t)))
    c.line(pts, colour, w)
    return pts[-1]


def figure(c: Canvas, r, pose: dict, colour, w):
    jit = lambda: r.uniform(-10, 10)  # noqa: E731
    hip = (0.0, 0.2 + pose["hip"])
    lean = math.radians(pose["lean"] + jit() * 0.5)
    neck = (hip[0] + 0.5 * math.sin(lean), hip[1] - 0.5 * math.cos(lean))
    c.line([hip, neck], colour, w)
    c.circle(neck[0] + 0.17 * math.sin(lean), neck[1] - 0.17 * math.cos(lean), 0.14, colour, n=12)
    shoulder = (neck[0] - 0.05 * math.sin(lean), neck[1] + 0.05 * math.cos(lean))
    hands = [_limb(c, shoulder, a, (UPPER, LOWER), colour, w, jit) for a in pose["arms"]]
    feet = [_limb(c, hip, a, (THIGH, SHIN), colour, w, jit) for a in pose["legs"]]
    return hands, feet, neck


def render_action(kind: str, rng: np.random.Generator) -> np.ndarray:
    image = background(rng)
    c = Canvas(image, scale=rng.uniform(0.38, 0.48) * BIG, cx=BIG / 2 + rng.uniform(-5, 5),
               cy=BIG / 2 + rng.uniform(-4, 4), mirror=bool(rng.random() < 0.5))
    bg = image.getpixel((0, 0))
    while True:
        colour = J(rng, "dark", "white", "red", "blue", "navy", "brown", "black", amount=30)
        if abs(sum(colour) - sum(bg)) > 200:
            break
    w = rng.uniform(0.07, 0.11)
    ground = J(rng, "green", "tan", "grey", "brown", amount=30)
    if kind in ("sleeping", "swimming"):
        c.angle = math.radians(-90 + rng.uniform(-8, 8)) if kind == "sleeping" else math.radians(-80 + rng.uniform(-10, 10))
        if kind == "sleeping":
            c.rect(-0.2, -0.9, 0.05, 0.95, J(rng, "white", "blue", "red", "cream"))  # bed, under the body
            c.rect(-0.05, -1.0, 0.15, -0.6, J(rng, "white", "cream"))  # pillow
        figure(c, rng, POSES[kind], colour, w)
        if kind == "swimming":
            c.angle = 0.0
            water = J(rng, "blue", "teal")
            c.rect(-1.5, 0.05, 1.5, 1.5, water)
            for x in np.linspace(-1.2, 1.2, 7):
                c.line([(x, 0.05), (x + 0.12, -0.03), (x + 0.24, 0.05)], tuple(min(255, v + 60) for v in water), 0.04)
        return finish(rng, c.image, (0.0, 8.0), 0.4)
    if kind == "climbing":
        col = J(rng, "brown", "grey", "silver")
        for x in (-0.3, 0.3):
            c.line([(x, -1.5), (x, 1.5)], col, 0.06)
        for y in np.arange(-1.2, 1.3, 0.3):
            c.line([(-0.3, y), (0.3, y)], col, 0.05)
    else:
        c.draw.rectangle([0, c.cy + c.scale * 0.88, BIG, BIG], fill=ground)
    if kind == "sitting":
        chair = J(rng, "brown", "red", "blue", "grey")
        c.rect(-0.05, 0.2, 0.4, 0.28, chair)
        c.rect(-0.1, -0.3, -0.03, 0.88, chair)
        c.rect(0.33, 0.28, 0.4, 0.88, chair)
    hands, feet, neck = figure(c, rng, POSES[kind], colour, w)
    if kind == "juggling":
        for k in range(3):
            a = math.radians(-150 + 60 * k + rng.uniform(-10, 10))
            c.circle(0.45 * math.cos(a), neck[1] - 0.25 + 0.45 * math.sin(a), 0.07, J(rng, "red", "yellow", "blue", "green"), n=8)
    elif kind == "lifting weights":
        (x0, y0), (x1, y1) = hands
        c.line([(x0 - 0.25, y0), (x1 + 0.25, y1)] if x0 < x1 else [(x0 + 0.25, y0), (x1 - 0.25, y1)], (60, 60, 60), 0.05)
        for x, y in ((x0, y0), (x1, y1)):
            s = 1 if x > 0 else -1
            c.rect(x + s * 0.12, y - 0.15, x + s * 0.22, y + 0.15, J(rng, "dark", "black", "red"))
    elif kind == "kicking a ball":
        fx, fy = feet[0]
        c.circle(fx + 0.15, fy, 0.13, J(rng, "white", "orange", "red", "yellow"), n=12)
    return finish(rng, c.image, (0.0, 8.0), 0.4)


@DATASETS.register("mini_actions")
class MiniActions(RenderedDataset):
    """Mini world: 12 human actions by a stick figure (running, jumping, juggling, swimming, ...)."""

    name = "mini_actions"
    templates = ("a photo of a person {}.",)
    KINDS = tuple(POSES)
    CLASSNAMES = KINDS

    def render(self, kind, rng):
        return render_action(kind, rng)
