"""How each everyday object of ``mini_objects`` is drawn: one function per class, in the canvas's unit frame.

Each function picks its own drawing variant (e.g. a round or a pine tree, a mug with or without a saucer) and
plausible colours from the seed; the pose, background, style and noise are decided by the caller.
"""

from __future__ import annotations

import math

import numpy as np

from dmpbench.data.mini.canvas import Canvas
from dmpbench.data.mini.canvas import jitter as J


def house(c: Canvas, r):
    wall = J(r, "cream", "tan", "white", "red", "yellow")
    c.rect(-0.7, -0.1, 0.7, 0.9, wall)
    if r.random() < 0.5:
        c.rect(0.35, -0.75, 0.52, -0.3, J(r, "brown", "dark"))
    c.poly([(-0.88, -0.05), (0, -0.85), (0.88, -0.05)], J(r, "red", "brown", "dark", "grey"))
    c.rect(-0.15, 0.4, 0.15, 0.9, J(r, "brown", "dark"))
    for x in ((-0.55, 0.3) if r.random() < 0.6 else (0.3,)):
        c.rect(x, 0.1, x + 0.25, 0.35, J(r, "sky"))


def tree(c, r):
    c.rect(-0.12, 0.2, 0.12, 0.95, J(r, "brown"))
    if r.random() < 0.5:
        c.ellipse(0, -0.25, 0.65, 0.6, J(r, "green", "dark green"))
    else:
        g = J(r, "dark green", "green")
        for y, w in ((0.35, 0.7), (-0.05, 0.55), (-0.42, 0.4)):
            c.poly([(-w, y), (0, y - 0.55), (w, y)], g)


def cup(c, r):
    col = J(r, "white", "red", "blue", "yellow", "green")
    if r.random() < 0.4:
        c.ellipse(0, 0.65, 0.85, 0.13, J(r, "white", "cream"))
    c.ring(0.5, 0.0, 0.25, 0.25, col, 0.1)
    c.poly([(-0.5, -0.5), (0.5, -0.5), (0.42, 0.6), (-0.42, 0.6)], col)


def umbrella(c, r):
    c.line([(0, -0.1), (0, 0.65)], J(r, "dark", "brown"), 0.07)
    c.ring(-0.12, 0.65, 0.12, 0.12, J(r, "dark", "brown"), 0.07, 0, 180)
    col = J(r, "red", "blue", "purple", "yellow", "black", "green")
    c.ellipse(0, -0.05, 0.9, 0.7, col, 180, 360, n=24)
    if r.random() < 0.5:
        for x in (-0.45, 0.45):
            c.line([(0, -0.75), (x, -0.05)], J(r, "dark"), 0.03)


def key(c, r):
    col = J(r, "gold", "silver", "grey")
    c.ring(-0.55, 0, 0.28, 0.28, col, 0.14)
    c.rect(-0.28, -0.07, 0.88, 0.07, col)
    c.rect(0.55, 0.07, 0.65, 0.32, col)
    c.rect(0.75, 0.07, 0.86, 0.25, col)


def bell(c, r):
    col = J(r, "gold", "yellow", "silver", "orange")
    c.ring(0, -0.82, 0.12, 0.12, col, 0.06)
    c.circle(0, 0.55, 0.14, J(r, "dark", "brown"))
    c.poly([(-0.15, -0.72), (0.15, -0.72), (0.3, -0.5), (0.38, 0.15), (0.72, 0.5), (-0.72, 0.5), (-0.38, 0.15),
            (-0.3, -0.5)], col)


def fish(c, r):
    col = J(r, "orange", "blue", "yellow", "teal", "silver", "red")
    c.poly([(0.4, 0), (0.92, -0.42), (0.92, 0.42)], col)
    c.poly([(-0.2, -0.3), (0.15, -0.55), (0.25, -0.25)], col)
    c.ellipse(-0.1, 0, 0.6, 0.35, col)
    c.circle(-0.42, -0.08, 0.07, (20, 20, 20), n=8)


def bird(c, r):
    col = J(r, "blue", "red", "brown", "yellow", "dark", "grey")
    c.line([(-0.05, 0.35), (-0.1, 0.75)], J(r, "orange"), 0.05)
    c.line([(0.15, 0.35), (0.15, 0.75)], J(r, "orange"), 0.05)
    c.poly([(0.4, 0.0), (0.92, -0.25), (0.9, 0.15)], col)
    c.ellipse(0.05, 0.1, 0.5, 0.3, col)
    c.circle(-0.48, -0.22, 0.23, col)
    c.poly([(-0.68, -0.28), (-0.95, -0.18), (-0.68, -0.1)], J(r, "orange", "yellow"))
    c.poly([(-0.2, 0.0), (0.35, -0.1), (0.1, 0.25)], J(r, "dark", "white", "grey"))
    c.circle(-0.52, -0.28, 0.05, (15, 15, 15), n=8)


def chair(c, r):
    col = J(r, "brown", "red", "blue", "dark", "white")
    c.rect(-0.5, 0.1, 0.5, 0.25, col)
    c.rect(0.36, -0.85, 0.5, 0.1, col)
    c.rect(-0.5, 0.25, -0.38, 0.92, col)
    c.rect(0.38, 0.25, 0.5, 0.92, col)
    if r.random() < 0.5:
        c.rect(0.36, -0.55, 0.5, -0.45, J(r, "dark"))


def lamp(c, r):
    c.ellipse(0, 0.78, 0.45, 0.12, J(r, "dark", "grey", "brown"))
    c.rect(-0.05, -0.35, 0.05, 0.75, J(r, "dark", "grey", "gold"))
    c.poly([(-0.33, -0.85), (0.33, -0.85), (0.6, -0.3), (-0.6, -0.3)], J(r, "cream", "yellow", "red", "white", "green"))


def clock(c, r):
    c.circle(0, 0, 0.9, J(r, "dark", "red", "blue", "brown"))
    c.circle(0, 0, 0.75, J(r, "white", "cream"))
    for k in range(12):
        a = 2 * math.pi * k / 12
        c.line([(0.6 * math.cos(a), 0.6 * math.sin(a)), (0.72 * math.cos(a), 0.72 * math.sin(a))], (30, 30, 30), 0.05)
    for length, w in ((0.4, 0.08), (0.6, 0.05)):
        a = r.uniform(0, 2 * math.pi)
        c.line([(0, 0), (length * math.cos(a), length * math.sin(a))], (20, 20, 20), w)


def table(c, r):
    col = J(r, "brown", "tan", "white", "dark")
    c.rect(-0.92, -0.3, 0.92, -0.12, col)
    for x in ((-0.82, 0.7) if r.random() < 0.6 else (-0.82, -0.35, 0.23, 0.7)):
        c.rect(x, -0.12, x + 0.12, 0.8, col)


def bottle(c, r):
    col = J(r, "green", "brown", "blue", "white", "teal")
    c.rect(-0.1, -0.95, 0.1, -0.8, J(r, "red", "gold", "dark"))
    c.rect(-0.1, -0.8, 0.1, -0.35, col)
    c.poly([(-0.1, -0.4), (0.1, -0.4), (0.32, -0.15), (0.32, 0.9), (-0.32, 0.9), (-0.32, -0.15)], col)
    if r.random() < 0.6:
        c.rect(-0.32, 0.15, 0.32, 0.5, J(r, "white", "cream", "yellow", "red"))


def mushroom(c, r):
    c.poly([(-0.2, -0.1), (0.2, -0.1), (0.25, 0.8), (-0.25, 0.8)], J(r, "cream", "white"))
    cap = J(r, "red", "brown", "orange", "tan")
    c.ellipse(0, -0.05, 0.85, 0.65, cap, 180, 360, n=24)
    if r.random() < 0.6:
        for x, y in ((-0.45, -0.25), (0.1, -0.45), (0.45, -0.2)):
            c.circle(x, y, 0.1, J(r, "white"), n=8)


def apple(c, r):
    col = J(r, "red", "green", "yellow")
    c.line([(0, -0.45), (0.05, -0.85)], J(r, "brown"), 0.07)
    c.ellipse(-0.22, 0.1, 0.52, 0.62, col)
    c.ellipse(0.22, 0.1, 0.52, 0.62, col)
    if r.random() < 0.6:
        c.ellipse(0.25, -0.7, 0.2, 0.09, J(r, "green"))


def banana(c, r):
    t = np.linspace(math.radians(25), math.radians(155), 14)
    outer = np.stack([0.9 * np.cos(t), -0.55 + 0.9 * np.sin(t)], 1)
    inner = np.stack([0.8 * np.cos(t[::-1]), -0.35 + 0.55 * np.sin(t[::-1])], 1)
    c.poly(np.vstack([outer, inner]), J(r, "yellow", "yellow", "green"))
    c.circle(outer[0, 0], outer[0, 1], 0.06, (60, 40, 20), n=6)


def candle(c, r):
    c.poly([(0, -0.95), (0.14, -0.6), (0, -0.45), (-0.14, -0.6)], J(r, "orange", "yellow"))
    c.line([(0, -0.45), (0, -0.32)], (20, 20, 20), 0.04)
    c.rect(-0.22, -0.32, 0.22, 0.85, J(r, "white", "red", "cream", "blue", "pink"))
    if r.random() < 0.4:
        c.ellipse(0, 0.85, 0.5, 0.1, J(r, "gold", "silver"))


def book(c, r):
    col = J(r, "red", "blue", "green", "brown", "navy", "purple")
    if r.random() < 0.6:
        c.rect(-0.62, -0.82, 0.62, 0.82, col)
        c.rect(-0.62, -0.82, -0.46, 0.82, tuple(int(0.6 * v) for v in col))
        c.rect(0.5, -0.76, 0.62, 0.76, J(r, "white"))
        c.rect(-0.25, -0.5, 0.35, -0.3, J(r, "gold", "white"))
    else:  # open book
        c.poly([(-0.9, -0.5), (0, -0.4), (0, 0.6), (-0.9, 0.5)], J(r, "white", "cream"))
        c.poly([(0.9, -0.5), (0, -0.4), (0, 0.6), (0.9, 0.5)], J(r, "white", "cream"))
        for y in (-0.2, 0.0, 0.2):
            c.line([(-0.75, y), (-0.15, y + 0.07)], (90, 90, 90), 0.03)
            c.line([(0.15, y + 0.07), (0.75, y)], (90, 90, 90), 0.03)


def envelope(c, r):
    col = J(r, "white", "cream", "tan")
    c.rect(-0.88, -0.55, 0.88, 0.55, col)
    ink = J(r, "dark", "brown", "grey")
    c.line([(-0.88, -0.55), (0, 0.1), (0.88, -0.55)], ink, 0.05)
    if r.random() < 0.5:
        c.rect(0.5, -0.45, 0.75, -0.2, J(r, "red", "blue"))


def hammer(c, r):
    c.rect(-0.08, -0.45, 0.08, 0.92, J(r, "brown", "tan", "red", "dark"))
    c.poly([(-0.55, -0.75), (0.45, -0.75), (0.45, -0.45), (-0.55, -0.45)], J(r, "grey", "silver", "dark"))
    c.poly([(0.45, -0.75), (0.7, -0.92), (0.6, -0.6)], J(r, "grey", "silver"))


def scissors(c, r):
    col = J(r, "red", "blue", "black", "orange", "green")
    blade = J(r, "silver", "grey")
    c.poly([(-0.25, 0.25), (0.45, -0.9), (0.3, -0.92), (-0.15, 0.2)], blade)
    c.poly([(0.25, 0.25), (-0.45, -0.9), (-0.3, -0.92), (0.15, 0.2)], blade)
    c.ring(-0.32, 0.55, 0.22, 0.26, col, 0.1)
    c.ring(0.32, 0.55, 0.22, 0.26, col, 0.1)


def spoon(c, r):
    col = J(r, "silver", "grey", "brown", "white")
    c.ellipse(0, -0.5, 0.3, 0.42, col)
    c.poly([(-0.05, -0.1), (0.05, -0.1), (0.09, 0.92), (-0.09, 0.92)], col)


def fork(c, r):
    col = J(r, "silver", "grey", "white")
    for x in (-0.26, -0.09, 0.09, 0.26):
        c.rect(x - 0.04, -0.92, x + 0.04, -0.4, col)
    c.poly([(-0.3, -0.42), (0.3, -0.42), (0.08, -0.05), (-0.08, -0.05)], col)
    c.rect(-0.07, -0.1, 0.07, 0.92, col)


def kite(c, r):
    t = np.linspace(0, 1, 10)
    tail = np.stack([0.12 * np.sin(t * 9), 0.5 + 0.45 * t], 1)
    c.line(tail, J(r, "dark"), 0.03)
    a, b = J(r, "red", "blue", "yellow", "green", "purple"), J(r, "yellow", "white", "orange", "sky")
    c.poly([(0, -0.92), (0.5, -0.25), (0, -0.25)], a)
    c.poly([(0, -0.92), (-0.5, -0.25), (0, -0.25)], b)
    c.poly([(0, 0.5), (0.5, -0.25), (0, -0.25)], b)
    c.poly([(0, 0.5), (-0.5, -0.25), (0, -0.25)], a)
    for y in (0.65, 0.85):
        c.poly([(-0.1, y - 0.05), (0.1, y + 0.05), (0.1, y - 0.05), (-0.1, y + 0.05)], a)


def balloon(c, r):
    t = np.linspace(0, 1, 10)
    c.line(np.stack([0.08 * np.sin(t * 8), 0.35 + 0.6 * t], 1), J(r, "dark", "grey"), 0.03)
    col = J(r, "red", "blue", "yellow", "pink", "green", "purple", "orange")
    c.poly([(0, 0.28), (0.08, 0.4), (-0.08, 0.4)], col)
    c.ellipse(0, -0.3, 0.5, 0.62, col)
    c.ellipse(-0.2, -0.55, 0.08, 0.14, (250, 250, 250), n=8)


def ladder(c, r):
    col = J(r, "brown", "silver", "tan", "grey")
    c.rect(-0.48, -0.95, -0.36, 0.95, col)
    c.rect(0.36, -0.95, 0.48, 0.95, col)
    for y in np.linspace(-0.75, 0.75, int(r.integers(4, 7))):
        c.rect(-0.4, y - 0.05, 0.4, y + 0.05, col)


def door(c, r):
    col = J(r, "brown", "red", "blue", "green", "white")
    c.rect(-0.55, -0.95, 0.55, 0.95, col)
    dark = tuple(int(0.7 * v) for v in col)
    c.rect(-0.4, -0.8, 0.4, -0.1, dark)
    c.rect(-0.4, 0.05, 0.4, 0.8, dark)
    c.circle(0.36, 0.0, 0.07, J(r, "gold", "silver"), n=8)


def window(c, r):
    frame = J(r, "white", "brown", "dark", "blue")
    c.rect(-0.75, -0.75, 0.75, 0.75, frame)
    c.rect(-0.62, -0.62, 0.62, 0.62, J(r, "sky"))
    c.rect(-0.05, -0.62, 0.05, 0.62, frame)
    c.rect(-0.62, -0.05, 0.62, 0.05, frame)
    if r.random() < 0.4:
        c.rect(-0.88, 0.75, 0.88, 0.88, frame)


def cat(c, r):
    col = J(r, "orange", "grey", "dark", "white", "brown")
    c.poly([(-0.6, -0.2), (-0.5, -0.85), (-0.15, -0.45)], col)
    c.poly([(0.6, -0.2), (0.5, -0.85), (0.15, -0.45)], col)
    c.ellipse(0, 0.1, 0.62, 0.55, col)
    eye = J(r, "green", "yellow")
    c.ellipse(-0.25, -0.05, 0.1, 0.12, eye, n=8)
    c.ellipse(0.25, -0.05, 0.1, 0.12, eye, n=8)
    c.poly([(-0.07, 0.15), (0.07, 0.15), (0, 0.25)], J(r, "pink"))
    for s in (-1, 1):
        for dy in (-0.05, 0.08):
            c.line([(s * 0.15, 0.3), (s * 0.85, 0.3 + dy)], (30, 30, 30), 0.025)


def dog(c, r):
    col = J(r, "brown", "tan", "white", "dark", "cream")
    ear = J(r, "brown", "dark", "tan")
    c.ellipse(-0.55, 0.05, 0.2, 0.45, ear)
    c.ellipse(0.55, 0.05, 0.2, 0.45, ear)
    c.ellipse(0, -0.05, 0.48, 0.58, col)
    c.ellipse(0, 0.35, 0.3, 0.22, J(r, "cream", "white"))
    c.ellipse(0, 0.23, 0.12, 0.08, (20, 20, 20), n=8)
    c.circle(-0.2, -0.15, 0.07, (20, 20, 20), n=8)
    c.circle(0.2, -0.15, 0.07, (20, 20, 20), n=8)
    if r.random() < 0.4:
        c.ellipse(0, 0.62, 0.1, 0.12, J(r, "red", "pink"), n=8)


def snowman(c, r):
    white = J(r, "white", amount=12)
    for y, rad in ((0.52, 0.42), (-0.05, 0.32), (-0.52, 0.24)):
        c.circle(0, y, rad, white)
    c.poly([(0, -0.5), (0.3, -0.45), (0, -0.42)], J(r, "orange"))
    c.circle(-0.09, -0.6, 0.04, (20, 20, 20), n=6)
    c.circle(0.09, -0.6, 0.04, (20, 20, 20), n=6)
    if r.random() < 0.5:
        c.rect(-0.2, -1.0, 0.2, -0.72, J(r, "dark"))
        c.rect(-0.3, -0.76, 0.3, -0.7, J(r, "dark"))
    c.line([(-0.3, -0.05), (-0.75, -0.35)], J(r, "brown"), 0.05)
    c.line([(0.3, -0.05), (0.75, -0.35)], J(r, "brown"), 0.05)


def bucket(c, r):
    col = J(r, "red", "blue", "silver", "yellow", "green")
    c.ring(0, -0.4, 0.55, 0.5, J(r, "dark", "grey"), 0.05, 180, 360)
    c.poly([(-0.62, -0.4), (0.62, -0.4), (0.45, 0.8), (-0.45, 0.8)], col)
    c.ellipse(0, -0.4, 0.62, 0.12, tuple(int(0.6 * v) for v in col))


def teapot(c, r):
    col = J(r, "white", "blue", "red", "brown", "green", "cream")
    c.poly([(0.45, 0.1), (0.92, -0.4), (0.98, -0.32), (0.55, 0.35)], col)
    c.ring(-0.6, 0.15, 0.25, 0.25, col, 0.09)
    c.ellipse(0, 0.2, 0.6, 0.5, col)
    c.ellipse(0, -0.28, 0.35, 0.15, col, 180, 360)
    c.circle(0, -0.46, 0.08, col, n=8)


def guitar(c, r):
    col = J(r, "brown", "orange", "red", "tan", "dark")
    c.rect(-0.07, -0.95, 0.07, -0.2, J(r, "dark", "brown"))
    c.rect(-0.12, -1.0, 0.12, -0.85, J(r, "dark", "brown"))
    c.ellipse(0, 0.45, 0.45, 0.42, col)
    c.ellipse(0, -0.02, 0.35, 0.33, col)
    c.circle(0, 0.12, 0.12, (25, 20, 15), n=10)


def pencil(c, r):
    col = J(r, "yellow", "red", "blue", "green")
    c.rect(-0.9, -0.13, 0.5, 0.13, col)
    c.rect(-0.9, -0.13, -0.72, 0.13, J(r, "pink"))
    c.poly([(0.5, -0.13), (0.92, 0), (0.5, 0.13)], J(r, "tan"))
    c.poly([(0.78, -0.045), (0.92, 0), (0.78, 0.045)], (30, 30, 30))


def sun(c, r):
    col = J(r, "yellow", "orange", "gold")
    n = int(r.integers(8, 13))
    for k in range(n):
        a = 2 * math.pi * k / n
        c.poly([(0.5 * math.cos(a - 0.2), 0.5 * math.sin(a - 0.2)), (0.92 * math.cos(a), 0.92 * math.sin(a)),
                (0.5 * math.cos(a + 0.2), 0.5 * math.sin(a + 0.2))], col)
    c.circle(0, 0, 0.5, col)


def cloud(c, r):
    col = J(r, "white", "silver", "grey", amount=15)
    c.ellipse(0, 0.25, 0.85, 0.28, col)
    for x, y, rad in ((-0.45, 0.1, 0.3), (0.0, -0.12, 0.42), (0.45, 0.08, 0.32)):
        c.circle(x, y, rad, col)


def crown(c, r):
    col = J(r, "gold", "yellow", "silver")
    c.poly([(-0.75, 0.5), (-0.75, -0.45), (-0.38, 0.0), (0, -0.65), (0.38, 0.0), (0.75, -0.45), (0.75, 0.5)], col)
    for x, y in ((-0.75, -0.5), (0, -0.7), (0.75, -0.5)):
        c.circle(x, y, 0.09, J(r, "red", "blue", "green"), n=8)
    c.rect(-0.75, 0.3, 0.75, 0.5, tuple(int(0.75 * v) for v in col))


def shoe(c, r):
    col = J(r, "brown", "dark", "red", "blue", "white")
    c.poly([(-0.85, -0.5), (-0.3, -0.5), (-0.1, 0.0), (0.6, 0.05), (0.9, 0.3), (0.9, 0.45), (-0.85, 0.45)], col)
    c.rect(-0.88, 0.45, 0.92, 0.6, J(r, "dark", "white", "tan"))
    if r.random() < 0.5:
        for x in (-0.25, -0.05):
            c.line([(x, -0.2), (x + 0.2, -0.05)], J(r, "white"), 0.04)


def hat(c, r):
    col = J(r, "dark", "brown", "navy", "red", "grey")
    c.ellipse(0, 0.5, 0.9, 0.16, col)
    if r.random() < 0.5:
        c.rect(-0.45, -0.6, 0.45, 0.5, col)
    else:
        c.ellipse(0, 0.5, 0.5, 0.75, col, 180, 360)
    c.rect(-0.46, 0.25, 0.46, 0.4, J(r, "red", "white", "gold", "black"))


def shirt(c, r):
    col = J(r, "white", "blue", "red", "green", "yellow", "grey", "purple")
    c.poly([(-0.35, -0.8), (-0.9, -0.45), (-0.7, -0.1), (-0.5, -0.25), (-0.5, 0.9), (0.5, 0.9), (0.5, -0.25),
            (0.7, -0.1), (0.9, -0.45), (0.35, -0.8), (0.15, -0.65), (-0.15, -0.65)], col)


def anchor(c, r):
    col = J(r, "dark", "grey", "navy", "silver")
    c.ring(0, -0.75, 0.15, 0.15, col, 0.08)
    c.rect(-0.07, -0.6, 0.07, 0.8, col)
    c.rect(-0.4, -0.42, 0.4, -0.3, col)
    c.ring(0, 0.25, 0.7, 0.55, col, 0.12, 10, 170)
    c.poly([(-0.8, 0.35), (-0.68, 0.1), (-0.55, 0.35)], col)
    c.poly([(0.8, 0.35), (0.68, 0.1), (0.55, 0.35)], col)


def spider(c, r):
    col = J(r, "dark", "black", "brown")
    for s in (-1, 1):
        for k, dy in enumerate((-0.35, -0.1, 0.15, 0.4)):
            c.line([(0, 0.05), (s * 0.5, dy - 0.3), (s * 0.9, dy + 0.1 * k)], col, 0.05)
    c.ellipse(0, 0.3, 0.3, 0.36, col)
    c.circle(0, -0.18, 0.2, col)


def butterfly(c, r):
    a, b = J(r, "orange", "blue", "yellow", "purple", "red", "white"), J(r, "dark", "black", "yellow", "white")
    for s in (-1, 1):
        c.ellipse(s * 0.45, -0.3, 0.42, 0.38, a)
        c.ellipse(s * 0.35, 0.35, 0.3, 0.3, a)
        c.circle(s * 0.5, -0.35, 0.12, b, n=8)
        c.line([(0, -0.55), (s * 0.25, -0.92)], (20, 20, 20), 0.03)
    c.ellipse(0, 0, 0.08, 0.6, (30, 25, 20), n=10)


def carrot(c, r):
    g = J(r, "green", "dark green")
    for dx in (-0.2, 0, 0.2):
        c.poly([(-0.06, -0.5), (dx * 2, -0.95), (0.06, -0.5)], g)
    c.poly([(-0.28, -0.55), (0.28, -0.55), (0.03, 0.95), (-0.03, 0.95)], J(r, "orange"))
    for y in (-0.2, 0.2):
        c.line([(-0.1, y), (0.05, y + 0.03)], (150, 70, 10), 0.03)


def tent(c, r):
    col = J(r, "orange", "green", "blue", "red", "yellow", "tan")
    c.poly([(-0.92, 0.7), (0, -0.8), (0.92, 0.7)], col)
    c.poly([(-0.3, 0.7), (0, 0.05), (0.3, 0.7)], tuple(int(0.4 * v) for v in col))
    c.line([(0, -0.8), (0, -0.95)], J(r, "dark"), 0.04)


def glove(c, r):
    col = J(r, "red", "brown", "blue", "white", "black")
    for k, x in enumerate((-0.42, -0.15, 0.12, 0.38)):
        top = -0.85 if k in (1, 2) else -0.72
        c.ellipse(x, (top - 0.05) / 2, 0.13, (-0.05 - top) / 2 + 0.05, col, n=12)
    c.poly([(-0.55, -0.1), (-0.9, -0.35), (-0.95, -0.2), (-0.6, 0.25)], col)
    c.poly([(-0.55, -0.15), (0.52, -0.15), (0.45, 0.6), (-0.45, 0.6)], col)
    c.rect(-0.5, 0.6, 0.5, 0.85, J(r, "white", "cream", "grey"))


OBJECTS = {f.__name__: f for f in (
    house, tree, cup, umbrella, key, bell, fish, bird, chair, lamp, clock, table, bottle, mushroom, apple, banana,
    candle, book, envelope, hammer, scissors, spoon, fork, kite, balloon, ladder, door, window, cat, dog, snowman,
    bucket, teapot, guitar, pencil, sun, cloud, crown, shoe, hat, shirt, anchor, spider, butterfly, carrot, tent,
    glove,
)}
