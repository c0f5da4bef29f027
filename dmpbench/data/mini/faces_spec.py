"""Mini faces, the specification: identities, graded attributes, per-image variation, the bad-input rules
and the captions. The drawing is in ``faces_render``; the datasets are in ``faces``.

An **identity** is a pure function of ``(seed, index)``: gender, face geometry (width, height, jaw, eye
spacing and size, nose, mouth width, ear size, eyebrow weight), skin tone, hair style, hair colour, eye
colour, hat colour, and a ``look``: the attribute strengths this person usually shows (long hair, a beard,
glasses, ...), which the identity-level images use and which callers may pass on or override.

An **attribute** is switched on and graded by a strength in [0, 1]; 0 leaves the face unchanged and every
attribute changes the pixels of its own region monotonically with its strength (tested). Attributes are
always given explicitly to the renderer (nothing is merged in behind the caller's back).

Per-image **variation** (``Pose``, ``Expression``, ``Lighting``, ``Background``) never changes who the
person is or which attributes they show.

**Bad input** (``DmpbenchError``, one line): an unknown attribute (close names suggested), a strength that
is not a number in [0, 1], an identity index outside ``[0, N_IDENTITIES)`` or not an integer, a variation
value outside its documented range, an image size outside [16, 256], and these impossible combinations:

- ``bald`` > 0 together with ``hair_length`` > 0 (a bald head has no long hair);
- ``pale`` > 0 together with ``tan`` > 0 (skin is made lighter or darker, not both);
- ``hat`` > 0 together with ``bald`` > 0 (a hat hides the scalp, so baldness would be invisible and
  its caption a lie).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from dmpbench.errors import DmpbenchError

#: identities in the mini world's roster (indices 0 .. N_IDENTITIES-1)
N_IDENTITIES = 1000
#: the smallest and largest image side the renderer accepts
MIN_SIZE, MAX_SIZE = 16, 256
#: strength from which an attribute is named in a caption
CAPTION_THRESHOLD = 0.5


@dataclass(frozen=True)
class Attribute:
    """A graded attribute: what it changes, and its words in captions and class names."""

    name: str
    description: str
    #: caption words when on, e.g. "smiling" / "with glasses"
    positive: str
    #: words for "off" (a slider's negative prompt), e.g. "not smiling" / "without glasses"
    negative: str
    #: where the pixels change, as (x0, y0, x1, y1) fractions of a neutral, centred face image (measured on
    #: 20 identities at strength 1; tested)
    region: tuple[float, float, float, float]
    #: "adjective" (before the noun) or "with" (after it)
    kind: str = "with"


ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in (
    Attribute("age", "grey hair and wrinkles on the forehead and cheeks", "old", "young",
              (0.25, 0.1875, 0.75, 0.4688), "adjective"),
    Attribute("smiling", "mouth corners rise, the mouth widens and opens to show teeth", "smiling", "not smiling",
              (0.4062, 0.625, 0.5938, 0.7188), "adjective"),
    Attribute("surprised", "raised eyebrows, wide-open eyes and an open round mouth", "surprised", "calm",
              (0.375, 0.4375, 0.625, 0.7188), "adjective"),
    Attribute("hair_length", "hair falls from the ears down to the shoulders", "with long hair", "with short hair",
              (0.2188, 0.5938, 0.7812, 1)),
    Attribute("bald", "the hairline recedes until the scalp is bare", "bald", "with hair",
              (0.25, 0.1875, 0.75, 0.5), "adjective"),
    Attribute("chubby", "a wider, rounder face and neck", "chubby", "slim",
              (0.1562, 0.1562, 0.8438, 1), "adjective"),
    Attribute("glasses", "dark round glasses with tinted lenses", "with glasses", "without glasses",
              (0.3125, 0.4375, 0.6875, 0.5938)),
    Attribute("beard", "a full beard over the jaw and chin", "with a beard", "clean-shaven",
              (0.2812, 0.625, 0.7188, 0.8438)),
    Attribute("moustache", "a moustache above the mouth", "with a moustache", "without a moustache",
              (0.4062, 0.5938, 0.5938, 0.6562)),
    Attribute("hat", "a wide-brimmed hat on the head", "wearing a hat", "without a hat",
              (0.1875, 0.1562, 0.8125, 0.4062)),
    Attribute("lipstick", "red lipstick on the lips", "wearing red lipstick", "without lipstick",
              (0.4375, 0.625, 0.5625, 0.6875)),
    Attribute("pale", "lighter, paler skin", "pale", "not pale", (0.25, 0.4062, 0.75, 1), "adjective"),
    Attribute("tan", "darker, tanned skin", "tanned", "not tanned", (0.2188, 0.4062, 0.7812, 1), "adjective"),
)}

#: pairs that cannot both be > 0 (documented in the module docstring)
EXCLUSIVE: tuple[tuple[str, str, str], ...] = (
    ("bald", "hair_length", "a bald head has no long hair"),
    ("pale", "tan", "skin is made lighter or darker, not both"),
    ("hat", "bald", "a hat hides the scalp, so baldness would be invisible"),
)

HAIR_STYLES = ("short", "fringe", "side part", "curly", "spiky", "quiff")
HAIR_COLOURS = {
    "black": (28, 22, 22), "dark brown": (72, 46, 30), "brown": (120, 78, 45),
    "blond": (226, 194, 118), "red": (172, 72, 36),
}
EYE_COLOURS = {
    "brown": (92, 56, 30), "blue": (70, 125, 200), "green": (70, 145, 90), "hazel": (145, 112, 52),
    "grey": (120, 130, 140),
}
#: light to dark; a skin tone is a point on this polyline
SKIN_PALETTE = np.array(
    [(255, 226, 200), (241, 196, 162), (224, 172, 130), (198, 136, 98), (142, 88, 58), (96, 60, 42)], dtype=np.float64)
HAT_COLOURS = ((150, 30, 40), (30, 60, 130), (40, 100, 55), (60, 50, 45), (200, 170, 90))


@dataclass(frozen=True)
class Identity:
    """One person. Everything here is fixed for the identity; nothing in it is shown in captions except
    ``gender`` (as "man"/"woman") and the hair colour word."""

    index: int
    seed: int
    gender: str  # "man" or "woman"
    face_width: float  # half-width of the head, in head units
    face_height: float  # half-height of the head
    jaw: float  # 1 = round jaw, smaller = narrower chin
    eye_spacing: float  # half the distance between the eye centres
    eye_size: float
    eye_height: float  # vertical offset of the eyes from the head centre
    nose_length: float
    nose_width: float
    mouth_width: float  # half-width
    ear_size: float
    brow_weight: float
    skin_tone: float  # 0 light .. 1 dark on SKIN_PALETTE
    hair_style: str
    hair_colour: str
    hair_volume: float
    hairline: float  # fraction of the half-height above the centre where the hair starts
    eye_colour: str
    hat_colour: tuple[int, int, int]
    #: the attribute strengths this person usually shows (used by the identity-level images)
    look: Mapping[str, float] = field(default_factory=dict)

    @property
    def skin_rgb(self) -> np.ndarray:
        t = self.skin_tone * (len(SKIN_PALETTE) - 1)
        i = min(int(t), len(SKIN_PALETTE) - 2)
        return SKIN_PALETTE[i] + (t - i) * (SKIN_PALETTE[i + 1] - SKIN_PALETTE[i])

    @property
    def traits(self) -> dict[str, str]:
        """The visible traits a caption may use (never the index)."""
        return {"gender": self.gender, "hair_colour": self.hair_colour}


def check_identity_index(index, n: int = N_IDENTITIES) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise DmpbenchError(f"mini faces: identity must be an integer in [0, {n}), got {index!r}")
    if not 0 <= int(index) < n:
        raise DmpbenchError(f"mini faces: unknown identity {int(index)} (identities are 0..{n - 1})")
    return int(index)


def identity(index: int, seed: int = 0) -> Identity:
    """The identity ``index`` of the roster drawn from ``seed`` (a pure function of both)."""
    index = check_identity_index(index)
    rng = np.random.default_rng([int(seed), 0xFACE, index])
    gender = "woman" if rng.random() < 0.5 else "man"
    woman = gender == "woman"
    look: dict[str, float] = {}
    if woman:
        if rng.random() < 0.75:
            look["hair_length"] = round(float(rng.uniform(0.35, 1.0)), 3)
        if rng.random() < 0.3:
            look["lipstick"] = round(float(rng.uniform(0.5, 1.0)), 3)
    else:
        if rng.random() < 0.15:
            look["bald"] = round(float(rng.uniform(0.6, 1.0)), 3)
        elif rng.random() < 0.1:
            look["hair_length"] = round(float(rng.uniform(0.35, 0.8)), 3)
        if rng.random() < 0.3:
            look["beard"] = round(float(rng.uniform(0.5, 1.0)), 3)
        elif rng.random() < 0.2:
            look["moustache"] = round(float(rng.uniform(0.5, 1.0)), 3)
    if rng.random() < 0.25:
        look["glasses"] = 1.0
    if rng.random() < 0.3:
        look["age"] = round(float(rng.uniform(0.5, 1.0)), 3)
    if rng.random() < 0.15:
        look["chubby"] = round(float(rng.uniform(0.4, 0.9)), 3)
    return Identity(
        index=index, seed=int(seed), gender=gender,
        face_width=float(rng.uniform(0.82, 0.98) if woman else rng.uniform(0.88, 1.05)),
        face_height=float(rng.uniform(1.15, 1.35)),
        jaw=float(rng.uniform(0.55, 0.8) if woman else rng.uniform(0.7, 0.95)),
        eye_spacing=float(rng.uniform(0.34, 0.46)),
        eye_size=float(rng.uniform(0.14, 0.19)),
        eye_height=float(rng.uniform(-0.2, -0.05)),
        nose_length=float(rng.uniform(0.26, 0.42)),
        nose_width=float(rng.uniform(0.08, 0.15)),
        mouth_width=float(rng.uniform(0.24, 0.38)),
        ear_size=float(rng.uniform(0.8, 1.3)),
        brow_weight=float(rng.uniform(0.035, 0.055) if woman else rng.uniform(0.055, 0.085)),
        skin_tone=float(rng.random()),
        hair_style=HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))],
        hair_colour=list(HAIR_COLOURS)[int(rng.integers(len(HAIR_COLOURS)))],
        hair_volume=float(rng.uniform(1.03, 1.16)),
        hairline=float(rng.uniform(0.3, 0.5)),
        eye_colour=list(EYE_COLOURS)[int(rng.integers(len(EYE_COLOURS)))],
        hat_colour=HAT_COLOURS[int(rng.integers(len(HAT_COLOURS)))],
        look=look,
    )


# -- per-image variation ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Pose:
    yaw: float = 0.0  # -1 (turned left) .. 1 (turned right)
    roll: float = 0.0  # degrees, -20 .. 20
    dx: float = 0.0  # offset as a fraction of the image side, -0.15 .. 0.15
    dy: float = 0.0
    scale: float = 1.0  # 0.8 .. 1.2


@dataclass(frozen=True)
class Expression:
    mouth: float = 0.0  # -1 slight frown .. 1 slight smile (a small change; ``smiling`` is the attribute)
    brows: float = 0.0  # -1 lowered .. 1 raised (small)
    eyes_open: float = 1.0  # 0.6 .. 1


@dataclass(frozen=True)
class Lighting:
    brightness: float = 1.0  # 0.6 .. 1.4
    gradient: float = 0.0  # 0 .. 0.5: strength of the directional light
    angle: float = 0.0  # radians: where the light comes from


@dataclass(frozen=True)
class Background:
    colour: tuple[int, int, int] = (150, 150, 150)
    colour2: tuple[int, int, int] | None = None  # a linear gradient towards this colour, if given
    angle: float = 0.0  # radians
    shirt: tuple[int, int, int] = (70, 90, 120)


_RANGES = {
    "yaw": (-1.0, 1.0), "roll": (-20.0, 20.0), "dx": (-0.15, 0.15), "dy": (-0.15, 0.15), "scale": (0.8, 1.2),
    "mouth": (-1.0, 1.0), "brows": (-1.0, 1.0), "eyes_open": (0.6, 1.0),
    "brightness": (0.6, 1.4), "gradient": (0.0, 0.5),
}


def sample_variation(rng: np.random.Generator) -> tuple[Pose, Expression, Lighting, Background]:
    """A random pose, expression, lighting and background (the per-image nuisance)."""
    pose = Pose(float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-8, 8)), float(rng.uniform(-0.05, 0.05)),
                float(rng.uniform(-0.04, 0.04)), float(rng.uniform(0.92, 1.08)))
    expression = Expression(float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.6, 0.6)), float(rng.uniform(0.75, 1.0)))
    lighting = Lighting(float(rng.uniform(0.8, 1.15)), float(rng.uniform(0.0, 0.3)), float(rng.uniform(0, 2 * math.pi)))
    c1 = tuple(int(v) for v in rng.integers(30, 226, 3))
    c2 = tuple(int(v) for v in rng.integers(30, 226, 3)) if rng.random() < 0.5 else None
    shirt = tuple(int(v) for v in rng.integers(20, 236, 3))
    background = Background(c1, c2, float(rng.uniform(0, 2 * math.pi)), shirt)
    return pose, expression, lighting, background


def _check_range(what: str, name: str, value) -> None:
    lo, hi = _RANGES[name]
    try:
        ok = math.isfinite(float(value)) and lo <= float(value) <= hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DmpbenchError(f"mini faces: {what}.{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")


def check_variation(pose: Pose, expression: Expression, lighting: Lighting, background: Background, size) -> None:
    for what, obj, names in (("pose", pose, ("yaw", "roll", "dx", "dy", "scale")),
                             ("expression", expression, ("mouth", "brows", "eyes_open")),
                             ("lighting", lighting, ("brightness", "gradient"))):
        for name in names:
            _check_range(what, name, getattr(obj, name))
    for name in ("colour", "shirt") + (("colour2",) if background.colour2 is not None else ()):
        c = getattr(background, name)
        if len(c) != 3 or not all(isinstance(v, (int, np.integer)) and 0 <= v <= 255 for v in c):
            raise DmpbenchError(f"mini faces: background.{name} must be three integers in [0, 255], got {c!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise DmpbenchError(f"mini faces: size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")


# -- attributes: validation and captions --------------------------------------------------------------
def check_attributes(attributes: Mapping[str, float] | None) -> dict[str, float]:
    """The attributes as ``{name: strength}`` with every rule of the module docstring checked."""
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        kind = type(attributes).__name__
        raise DmpbenchError(f"mini faces: attributes must be a mapping name -> strength, got {kind}")
    out: dict[str, float] = {}
    for name, value in attributes.items():
        if name not in ATTRIBUTES:
            close = difflib.get_close_matches(str(name), list(ATTRIBUTES), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(ATTRIBUTES)})"
            raise DmpbenchError(f"mini faces: unknown attribute {name!r}{hint}")
        try:
            s = float(value)
        except (TypeError, ValueError):
            s = math.nan
        if isinstance(value, bool) or not math.isfinite(s) or not 0.0 <= s <= 1.0:
            raise DmpbenchError(f"mini faces: strength of {name!r} must be a number in [0, 1], got {value!r}")
        out[name] = s
    for a, b, why in EXCLUSIVE:
        if out.get(a, 0.0) > 0 and out.get(b, 0.0) > 0:
            raise DmpbenchError(f"mini faces: impossible combination {a}={out[a]:g} with {b}={out[b]:g} ({why})")
    return out


def switch(attributes: Mapping[str, float] | None, name: str, strength: float) -> dict[str, float]:
    """``attributes`` with ``name`` set to ``strength`` and, when the strength is > 0, the attributes it
    excludes (``EXCLUSIVE``) switched off: a slider on a person's own look (``{**ident.look}``) never
    raises an impossible combination, e.g. ``bald`` on someone with long hair shortens the hair first."""
    out = check_attributes(attributes)
    value = check_attributes({name: strength})[name]  # unknown name or bad strength: the usual errors
    if value > 0:
        for a, b, _ in EXCLUSIVE:
            if name in (a, b):
                out.pop(b if name == a else a, None)
    out[name] = value
    return out


_WITH_ORDER = ("glasses", "beard", "moustache", "hair_length", "lipstick", "hat")
_ADJ_ORDER = ("smiling", "surprised", "chubby", "pale", "tan", "bald", "age")


def caption(attributes: Mapping[str, float] | None, traits: Mapping[str, str] | None = None) -> str:
    """A natural caption naming the attributes at strength >= CAPTION_THRESHOLD, e.g. "a photo of a smiling
    old man with glasses and a beard". ``traits`` (``Identity.traits``) adds "man"/"woman" and the hair
    colour of long hair; the identity itself is never named."""
    attrs = check_attributes(attributes)
    on = {k for k, v in attrs.items() if v >= CAPTION_THRESHOLD}
    traits = dict(traits or {})
    noun = traits.get("gender", "person")
    if noun not in ("man", "woman", "person"):
        raise DmpbenchError(f"mini faces: gender must be 'man' or 'woman', got {noun!r}")
    adjectives = [ATTRIBUTES[a].positive for a in _ADJ_ORDER if a in on]
    withs = []
    for a in _WITH_ORDER:
        if a not in on:
            continue
        if a == "hair_length" and traits.get("hair_colour"):
            colour = "grey" if "age" in on else traits["hair_colour"]
            withs.append(f"with long {colour} hair")
        else:
            withs.append(ATTRIBUTES[a].positive)
    words = " ".join(adjectives + [noun])
    article = "an" if words[0] in "aeiou" else "a"
    text = f"a photo of {article} {words}"
    if withs:
        # "with glasses, a beard and long hair" reads better than repeating "with"
        parts = [w.removeprefix("with ") if i and w.startswith("with ") else w for i, w in enumerate(withs)]
        text += " " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])
    return text
