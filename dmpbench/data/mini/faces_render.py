"""Mini faces, the drawing: a face drawn with Pillow polygons at 4x the output size, then downsampled
with LANCZOS (32x32 by default; ``size=64`` for the image-synthesis issues).

Every shape is a polygon in *head units* (the head centre at the origin, x right, y down, one unit about a
fifth of the image side) mapped through the pose (scale, roll, offset; yaw shifts the inner features and
the ears). Overlays (glasses, beard, hat, wrinkles, ...) are drawn with an alpha equal to their strength
on an ``ImageDraw(..., "RGBA")`` canvas, so each attribute changes its region monotonically.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw

from dmpbench.data.mini.faces_spec import (
    EYE_COLOURS, HAIR_COLOURS, Background, Expression, Identity, Lighting, Pose, check_attributes, check_variation,
)
from dmpbench.data.mini.faces_spec import identity as make_identity

SS = 4  # supersampling factor
UNIT = 0.23  # one head unit, as a fraction of the image side
CENTRE_Y = 0.53  # head centre, as a fraction of the image side
_T = np.linspace(0, 2 * math.pi, 40, endpoint=False)


def _lerp(a, b, t: float) -> np.ndarray:
    return np.asarray(a, dtype=np.float64) + (np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)) * t


def _rgba(c, alpha: float = 1.0) -> tuple[int, int, int, int]:
    r, g, b = (min(max(int(round(float(v))), 0), 255) for v in c)
    return r, g, b, int(round(255 * min(max(alpha, 0.0), 1.0)))


def _ellipse(cx: float, cy: float, rx: float, ry: float, t: np.ndarray = _T) -> np.ndarray:
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


class _Canvas:
    """Draws head-unit polygons on a supersampled RGB image through the pose."""

    def __init__(self, image: Image.Image, pose: Pose):
        self.big = image.size[0]
        self.draw = ImageDraw.Draw(image, "RGBA")
        self.u = UNIT * self.big * pose.scale
        self.cx = self.big * (0.5 + pose.dx)
        self.cy = self.big * (CENTRE_Y + pose.dy)
        r = math.radians(pose.roll)
        self.rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])

    def px(self, pts: np.ndarray) -> list[float]:
        p = (np.asarray(pts, dtype=np.float64) @ self.rot.T) * self.u + (self.cx, self.cy)
        return p.ravel().tolist()

    def poly(self, pts, fill, alpha: float = 1.0) -> None:
        if alpha > 0:
            self.draw.polygon(self.px(pts), fill=_rgba(fill, alpha))

    def ring(self, pts, outline, width: float, fill=None, fill_alpha: float = 0.0, alpha: float = 1.0) -> None:
        if alpha > 0:
            self.draw.polygon(self.px(pts), fill=_rgba(fill, fill_alpha) if fill is not None else None,
                              outline=_rgba(outline, alpha), width=max(1, int(round(width * self.u))))

    def line(self, pts, fill, width: float, alpha: float = 1.0) -> None:
        if alpha > 0:
            self.draw.line(self.px(pts), fill=_rgba(fill, alpha), width=max(1, int(round(width * self.u))),
                           joint="curve")


def _background(big: int, bg: Background) -> Image.Image:
    c1 = np.asarray(bg.colour, dtype=np.float64)
    if bg.colour2 is None:
        arr = np.broadcast_to(c1, (big, big, 3))
    else:
        t = np.linspace(-1, 1, big)
        ramp = (math.cos(bg.angle) * t[None, :] + math.sin(bg.angle) * t[:, None]) * 0.5 + 0.5
        arr = c1 + ramp[..., None] * (np.asarray(bg.colour2, dtype=np.float64) - c1)
    return Image.fromarray(np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8)), "RGB")


def _hair_rgb(ident: Identity, age: float) -> np.ndarray:
    return _lerp(HAIR_COLOURS[ident.hair_colour], (212, 212, 210), age)


def _luma(c) -> float:
    return 0.299 * float(c[0]) + 0.587 * float(c[1]) + 0.114 * float(c[2])


def _facial_hair_rgb(hair: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Beard and moustache: darker than the hair, and darker still where they would vanish on the skin."""
    colour = hair * np.array([0.65, 0.55, 0.5])
    if abs(_luma(colour) - _luma(skin)) < 50:
        colour = _lerp(colour, (18, 14, 12), 0.7)
    return colour


def _skin_rgb(ident: Identity, a: Mapping[str, float]) -> np.ndarray:
    skin = ident.skin_rgb
    skin = skin + (255 - skin) * 0.65 * a.get("pale", 0.0)
    return skin * (1 - np.array([0.3, 0.42, 0.55]) * a.get("tan", 0.0))


def _cap_outline(ident: Identity, w: float, h: float) -> np.ndarray:
    """The outer hair outline around the top of the head, shaped by the hair style."""
    t = np.linspace(math.pi, 2 * math.pi, 41)
    r = np.full_like(t, ident.hair_volume)
    top = np.clip(-np.sin(t), 0, 1)  # 1 at the crown
    if ident.hair_style == "curly":
        r = r + 0.05 + 0.04 * np.abs(np.sin(9 * t))
    elif ident.hair_style == "spiky":
        r = r + 0.14 * top * np.abs(((t * 14 / math.pi) % 2) - 1)
    elif ident.hair_style == "quiff":
        r = r + 0.16 * np.exp(-((t - 1.35 * math.pi) ** 2) / 0.08)
    return np.stack([w * r * np.cos(t), h * r * np.sin(t)], axis=1)


def _hairline(ident: Identity, x: np.ndarray, h: float) -> np.ndarray:
    y = -h * ident.hairline
    if ident.hair_style == "fringe":
        return np.full_like(x, -h * 0.36)
    if ident.hair_style == "side part":
        return y + 0.18 * x
    if ident.hair_style == "curly":
        return y + 0.03 * np.sin(14 * x)
    return y + 0.12 * x**2


def render_face(identity: Identity, attributes: Mapping[str, float] | None = None, pose: Pose | None = None,
                expression: Expression | None = None, lighting: Lighting | None = None,
                background: Background | None = None, size: int = 32) -> np.ndarray:
    """The face of ``identity`` (an ``Identity``, or an index into seed 0's roster) with exactly the given
    attribute strengths: ``uint8 [size, size, 3]``."""
    if not isinstance(identity, Identity):
        identity = make_identity(identity)
    a = check_attributes(attributes)
    pose, expression = pose or Pose(), expression or Expression()
    lighting, background = lighting or Lighting(), background or Background()
    check_variation(pose, expression, lighting, background, size)
    g = a.get
    big = int(size) * SS
    image = _background(big, background)
    cv = _Canvas(image, pose)
    yaw = pose.yaw
    shift = 0.22 * yaw  # inner features move with the turn

    skin = _skin_rgb(identity, a)
    shade = skin * 0.78
    hair = _hair_rgb(identity, g("age", 0.0))
    chub = g("chubby", 0.0)
    w = identity.face_width * (1 + 0.3 * chub) * (1 - 0.06 * abs(yaw))
    h = identity.face_height * (1 + 0.04 * chub)
    jaw = identity.jaw + (1 - identity.jaw) * 0.8 * chub
    bald = g("bald", 0.0)

    # shoulders and long hair behind them
    cv.poly(_ellipse(0, h + 1.25, 2.1, 0.9), background.shirt)
    length = g("hair_length", 0.0)
    if length > 0:
        bottom = 0.1 + 1.9 * length
        back = np.array([(-w * 1.1, -0.4 * h), (w * 1.1, -0.4 * h), (w * 1.22, bottom - 0.15), (w * 1.1, bottom),
                         (-w * 1.1, bottom), (-w * 1.22, bottom - 0.15)])
        cv.poly(back, hair)
    # neck
    neck = 0.38 * (1 + 0.5 * chub)
    cv.poly([(-neck, 0.4 * h), (neck, 0.4 * h), (neck * 1.1, h + 0.7), (-neck * 1.1, h + 0.7)], shade)
    # hair volume behind the head (recedes to nothing as ``bald`` grows)
    cap = _cap_outline(identity, w, h)
    cut = -0.05 * h + bald * (cap[:, 1].min() + 0.05 * h)
    keep = cap[cap[:, 1] <= cut]
    if bald < 1 and len(keep) >= 3:
        cv.poly(keep, hair)
    # ears (the far ear shrinks with the turn)
    for side in (-1, 1):
        ew = 0.13 * identity.ear_size * max(0.2, 1 - 0.7 * side * yaw)
        cv.poly(_ellipse(side * (w * 0.97) + 0.05 * side, 0.05, ew, 0.24 * identity.ear_size), skin * 0.92)
    # head: an ellipse whose lower half narrows towards the chin
    t = _T
    x, y = np.cos(t) * w, np.sin(t) * h
    lower = np.clip(y / h, 0, 1)
    x = x * (1 - (1 - jaw) * lower**2)
    head = np.stack([x, y], axis=1)
    cv.poly(head, skin)
    ex = identity.eye_spacing * (1 + 0.1 * chub)
    ey = identity.eye_height
    sur = g("surprised", 0.0)
    smile = g("smiling", 0.0)
    age = g("age", 0.0)
    # wrinkles (under the forehead hair): forehead lines, eye corners and smile lines
    wr = skin * 0.5
    for k, yy in enumerate((-0.5, -0.64, -0.78)):
        xx = np.linspace(-0.4 + 0.05 * k, 0.4 - 0.05 * k, 7) + shift
        cv.line(np.stack([xx, yy - 0.04 * np.cos(xx * 2)], axis=1), wr, 0.05, alpha=0.9 * age)
    for side in (-1, 1):
        cv.line([(side * 0.16 + shift, 0.28), (side * (identity.mouth_width + 0.08) + shift, 0.62)], wr, 0.05,
                alpha=0.9 * age)
        cv.line([(side * (ex + identity.eye_size * 1.3) + shift, ey - 0.05),
                 (side * (ex + identity.eye_size * 1.7) + shift, ey + 0.05)], wr, 0.045, alpha=0.9 * age)
    # hair on the forehead, above the hairline; the hairline climbs to the crown as ``bald`` grows
    xs = np.linspace(-w, w, 31)
    line = _hairline(identity, xs, h) * (1 - bald) - h * 1.02 * bald
    inside = (xs / w) ** 2 + (line / h) ** 2 < 1
    if inside.sum() >= 2:
        xs, line = xs[inside], line[inside]
        tl = math.atan2(line[0] / h, xs[0] / w) % (2 * math.pi)
        tr = math.atan2(line[-1] / h, xs[-1] / w) % (2 * math.pi)
        arc_t = np.linspace(tl, tr if tr > tl else tr + 2 * math.pi, 24)
        arc = np.stack([np.cos(arc_t) * w * 1.01, np.sin(arc_t) * h * 1.01], axis=1)
        if arc[:, 1].mean() < 0:  # the arc over the top, not around the chin
            cv.poly(np.concatenate([arc, np.stack([xs, line], axis=1)[::-1]]), hair)

    # chubby cheeks
    for side in (-1, 1):
        cv.poly(_ellipse(side * w * 0.62 + shift, 0.3, 0.24, 0.18), skin * 0.9 + np.array([25, 0, 0]), alpha=0.5 * chub)
    # eyes
    open_ = expression.eyes_open * (1 + 0.8 * sur)
    er = identity.eye_size
    for side in (-1, 1):
        cxe = side * ex + shift
        ry = er * 0.55 * open_
        cv.poly(_ellipse(cxe, ey, er, ry), (246, 244, 238))
        ir = min(er * 0.55, ry * 1.05)
        cv.poly(_ellipse(cxe + 0.3 * shift, ey, ir, min(ir, ry)), EYE_COLOURS[identity.eye_colour])
        cv.poly(_ellipse(cxe + 0.3 * shift, ey, ir * 0.45, min(ir, ry) * 0.45), (15, 12, 12))
    # eyebrows (raised when surprised)
    by = ey - er * 0.9 - 0.06 - 0.2 * sur - 0.04 * expression.brows
    brow = _lerp(hair, (40, 35, 30), 0.3) if identity.hair_colour != "blond" else hair * 0.8
    for side in (-1, 1):
        xx = side * ex + np.linspace(-er * 1.2, er * 1.2, 5) + shift
        cv.line(np.stack([xx, by - 0.05 * np.cos((xx - side * ex - shift) / er)], axis=1), brow, identity.brow_weight)
    # nose
    nl, nw = identity.nose_length, identity.nose_width
    cv.poly([(shift * 1.2, ey + 0.1), (-nw + shift * 1.3, ey + 0.1 + nl), (nw + shift * 1.3, ey + 0.1 + nl)], shade,
            alpha=0.7)
    # beard over jaw and chin, then the moustache
    beard = g("beard", 0.0)
    if beard > 0:
        lower_head = head[head[:, 1] > 0.3 * h] * np.array([1.03, 1.04])
        order = np.argsort(np.arctan2(lower_head[:, 1], lower_head[:, 0]))
        cv.poly(np.concatenate([lower_head[order], [(-w * 0.75, 0.3 * h)]]), _facial_hair_rgb(hair, skin), alpha=beard)
    my = ey + 0.1 + nl + 0.22
    mw = identity.mouth_width * (1 + 0.35 * smile + 0.1 * chub)
    mou = g("moustache", 0.0)
    if mou > 0:
        xx = np.linspace(-mw * 1.1, mw * 1.1, 11)
        top = my - 0.17 - 0.06 * np.cos(xx / mw * 1.2)
        cv.poly(np.concatenate([np.stack([xx, top], 1), np.stack([xx[::-1], top[::-1] + 0.15], 1)]) + [shift, 0],
                _facial_hair_rgb(hair, skin), alpha=mou)
    # mouth: the corners rise with ``smiling`` (and slightly with the expression); it opens to show teeth
    curve = 0.03 + 0.2 * smile + 0.05 * expression.mouth
    xx = np.linspace(-mw, mw, 15)
    q = (xx / mw) ** 2
    opening = 0.02 + 0.16 * smile
    upper = my - curve * q
    lower_lip = my + (opening + 0.07) * (1 - q) - curve * q
    lip = _lerp(skin * np.array([0.85, 0.6, 0.6]), (200, 20, 48), g("lipstick", 0.0))
    upper_lip = upper - (0.05 + 0.04 * g("lipstick", 0.0)) * (1 - q)
    cv.poly(np.concatenate([np.stack([xx, upper_lip], 1), np.stack([xx[::-1], lower_lip[::-1]], 1)])
            + [shift, 0], lip)
    inner_low = my + opening * (1 - q) - curve * q
    cv.poly(np.concatenate([np.stack([xx, upper], 1), np.stack([xx[::-1], inner_low[::-1]], 1)]) + [shift, 0],
            (250, 250, 245), alpha=min(1.0, 3 * smile))
    if sur > 0:  # the open, round mouth of surprise
        cv.poly(_ellipse(shift, my + 0.02, mw * 0.5 * sur + 0.02, 0.2 * sur + 0.02), (70, 20, 25), alpha=sur)
    # glasses
    gl = g("glasses", 0.0)
    if gl > 0:
        gr = er * 1.55
        for side in (-1, 1):
            cv.ring(_ellipse(side * ex + shift, ey, gr, gr * 0.85), (25, 25, 30), 0.07, fill=(170, 200, 235),
                    fill_alpha=0.35 * gl, alpha=gl)
            cv.line([(side * (ex + gr) + shift, ey - 0.05), (side * (w * 0.98), ey - 0.02)], (25, 25, 30), 0.05,
                    alpha=gl)
        cv.line([(-ex + gr + shift, ey - 0.04), (ex - gr + shift, ey - 0.04)], (25, 25, 30), 0.06, alpha=gl)
    # hat: brim and crown on top of the head
    hat = g("hat", 0.0)
    if hat > 0:
        brim_y = -h * 0.62
        crown = np.array([(-w * 0.88, brim_y), (-w * 0.8, brim_y - 0.75), (w * 0.8, brim_y - 0.75), (w * 0.88, brim_y)])
        cv.poly(crown, identity.hat_colour, alpha=hat)
        cv.poly(_ellipse(0, brim_y + 0.02, w * 1.5, 0.13), np.asarray(identity.hat_colour) * 0.75, alpha=hat)

    small = image.resize((size, size), Image.LANCZOS)
    arr = np.asarray(small, dtype=np.float64)
    # lighting: overall brightness times a directional gradient
    tt = np.linspace(-1, 1, size)
    ramp = math.cos(lighting.angle) * tt[None, :] + math.sin(lighting.angle) * tt[:, None]
    arr = arr * (lighting.brightness * (1 + lighting.gradient * ramp))[..., None]
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)
