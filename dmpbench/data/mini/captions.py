"""Captions for the rendered mini images the mini SD trains on: ``mini_objects`` and ``mini_shapes`` images
with their colour, size and background ("a photo of a small red cup on a plain blue background.").

The facts are not guessed from pixels: ``object_facts`` / ``shape_facts`` *replay* a split's random stream
(``RenderedDataset.split_stream``) through the same renderer with a ``record`` dict, so each image is
re-drawn bit for bit (tested against the dataset's arrays) and the facts are the draws that made it:

* **colour**: objects: the named colour (``colour_name``) covering most visible pixels of the object
  (parts summed by name; the distractor blob is not part of the object); shapes: the foreground colour;
* **size**: the pose's scale within the renderer's range: the lowest third "small", the top third
  "large", the middle third unnamed (a caption says only what is clearly visible);
* **background**: the renderer's solid background colour, named ("plain" background: both renderers
  draw a solid colour; their lighting gradients cover the whole image, not the background).

Captions never name a person or anything outside the image; they stay well under ``MAX_TOKENS``.
"""

from __future__ import annotations

import colorsys
from collections import defaultdict
from typing import Sequence

import numpy as np

from dmpbench.data.mini.objects import MiniObjects, SOURCE_PARAMS, render_object
from dmpbench.data.mini.render import SHAPE_SCALE, MiniShapes, render_shape

#: the colour words captions use
COLOUR_WORDS = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown", "beige",
                "white", "grey", "black")


def colour_name(rgb: Sequence[float]) -> str:
    """A plain colour word for an RGB colour (0..255), by hue, saturation and value."""
    h, s, v = colorsys.rgb_to_hsv(*(min(max(float(c), 0.0), 255.0) / 255.0 for c in rgb))
    hue = h * 360.0
    if v < 0.25:
        return "black"
    if s < 0.22 or (s < 0.3 and v < 0.45):
        return "white" if v > 0.82 else "grey" if v > 0.35 else "black"
    if hue < 15 or hue >= 340:
        return "brown" if v < 0.45 else "pink" if s < 0.45 else "red"
    if hue < 45:
        if v < 0.62:
            return "brown"
        return "beige" if s < 0.5 else "orange"
    if hue < 70:
        if v < 0.5:
            return "brown" if hue < 55 else "green"
        return "beige" if s < 0.35 or (s < 0.45 and v < 0.7) else "yellow"
    if hue < 165:
        return "green"
    if hue < 190:
        return "teal"
    if hue < 250:
        return "blue"
    if hue < 295:
        return "purple"
    return "purple" if v < 0.5 else "pink"


def size_word(scale: float, low: float, high: float) -> str | None:
    """"small" in the lowest third of ``[low, high]``, "large" in the top third, else ``None``."""
    third = (high - low) / 3
    return "small" if scale < low + third else "large" if scale > high - third else None


def _replay(ds, render, split: str, per_class: int | None):
    rng, labels = ds.split_stream(split)
    n = len(labels) if per_class is None else min(len(labels), per_class * len(ds.KINDS))
    images, facts = [], []
    for y in labels[:n]:  # the stream is sequential: the first n images need only the first n draws
        record: dict = {}
        images.append(render(ds.KINDS[y], rng, record))
        facts.append(dict(record, label=int(y), name=ds.CLASSNAMES[y]))
    return np.stack(images), labels[:n].copy(), facts


def main_colour(parts: Sequence[tuple[Sequence[int], int]]) -> str:
    """The colour word covering most visible pixels, parts of the same word summed."""
    area: dict[str, int] = defaultdict(int)
    for colour, pixels in parts:
        area[colour_name(colour)] += pixels
    return max(area.items(), key=lambda kv: kv[1])[0]


def object_facts(split: str = "train", per_class: int | None = None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """The first ``per_class`` images per class of a ``mini_objects`` split (all by default), re-drawn from
    the split's stream, their labels, and per image ``{name, colour, size, background, ...}``."""
    ds = MiniObjects()
    images, labels, facts = _replay(ds, lambda kind, rng, rec: render_object(kind, rng, SOURCE_PARAMS, rec), split, per_class)
    for f in facts:
        f.update(colour=main_colour(f["parts"]), size=size_word(f["scale"], *SOURCE_PARAMS["scale"]),
                 background_colour=colour_name(f["background"]), background_kind="plain")
    return images, labels, facts


def shape_facts(split: str = "train", per_class: int | None = None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """As ``object_facts`` for ``mini_shapes`` (colour = the drawn foreground colour)."""
    ds = MiniShapes()
    images, labels, facts = _replay(ds, render_shape, split, per_class)
    for f in facts:
        f.update(colour=colour_name(f["foreground"]), size=size_word(f["scale"], *SHAPE_SCALE),
                 background_colour=colour_name(f["background"]), background_kind="plain")
    return images, labels, facts


def _article(words: str) -> str:
    return "an" if words[0] in "aeiou" else "a"


def caption(facts: dict, rng: np.random.Generator, p_colour: float = 0.8, p_size: float = 0.8,
            p_background: float = 0.6) -> str:
    """A short caption from an image's facts, each fact said with its probability (so the model also sees
    partial descriptions), e.g. "a photo of a small red cup on a plain blue background."."""
    said_colour, said_size, said_bg = (rng.random() < p for p in (p_colour, p_size, p_background))
    words = [facts["size"]] if said_size and facts["size"] else []
    if said_colour:
        words.append(facts["colour"])
    if facts.get("outline"):
        words.append("outlined")
    words = " ".join(words + [facts["name"]])
    text = f"a photo of {_article(words)} {words}"
    if said_bg:
        text += f" on a {facts['background_kind']} {facts['background_colour']} background"
    return text + "."
