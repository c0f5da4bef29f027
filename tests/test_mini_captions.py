"""Captions of rendered mini images (data/mini/captions.py): the facts are replayed from the renderers' own
draws (the re-drawn images are the datasets' images bit for bit), colours / sizes / backgrounds are right,
and the captions stay short and never name anyone."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dmpbench.data.mini.canvas import BIG, C, Canvas, background
from dmpbench.data.mini.captions import COLOUR_WORDS, caption, colour_name, object_facts, shape_facts, size_word
from dmpbench.data.mini.objects import MiniObjects
from dmpbench.data.mini.render import MiniShapes

PER_CLASS = 3


@pytest.fixture(scope="module")
def objects():
    return object_facts("train", PER_CLASS)


@pytest.fixture(scope="module")
def shapes():
    return shape_facts("train", 20)


def _rendered_prefix(ds, n):
    """The first ``n`` images of the train split drawn exactly as the dataset draws them (no recording)."""
    rng, labels = ds.split_stream("train")
    return np.stack([ds.render(ds.KINDS[y], rng) for y in labels[:n]]), labels[:n]


def test_replay_redraws_the_dataset_images(objects, shapes):
    x, y, facts = objects
    assert len(x) == PER_CLASS * 47 and [f["label"] for f in facts] == y.tolist()
    ref, ref_y = _rendered_prefix(MiniObjects(), len(x))
    assert np.array_equal(x, ref) and np.array_equal(y, ref_y)  # recording draws nothing and takes nothing from rng
    sx, sy, _ = shapes
    ref, ref_y = _rendered_prefix(MiniShapes(), len(sx))
    assert np.array_equal(sx, ref) and np.array_equal(sy, ref_y)


def test_replay_prefix_is_the_pinned_dataset():
    """The renderer the replay shares is the pinned one: mini_shapes' train arrays (hash pinned in test_mini_data)."""
    x, y, _ = shape_facts("train")
    ax, ay = MiniShapes().arrays("train")
    assert np.array_equal(x, ax) and np.array_equal(y, ay)


def test_colour_names():
    expected = {"red": "red", "green": "green", "dark green": "green", "brown": "brown", "yellow": "yellow",
                "blue": "blue", "grey": "grey", "dark": "black", "white": "white", "orange": "orange", "pink": "pink",
                "purple": "purple", "sky": "blue", "navy": "blue", "black": "black", "gold": "yellow", "silver": "grey",
                "teal": "teal", "tan": "beige", "cream": "beige"}
    assert {name: colour_name(C[name]) for name in expected} == expected
    assert set(expected.values()) <= set(COLOUR_WORDS)
    assert size_word(0.31, 0.30, 0.46) == "small" and size_word(0.38, 0.30, 0.46) is None and size_word(0.45, 0.30, 0.46) == "large"


def test_main_colour_is_the_most_visible_part():
    c = Canvas.on(background(np.random.default_rng(0), (255, 255, 255)))
    c.record_parts()
    c.rect(-0.9, -0.9, 0.9, 0.9, C["red"])  # big red part...
    c.rect(-0.95, -0.95, 0.95, 0.5, C["blue"])  # ...mostly painted over by blue
    c.circle(0.5, 0.7, 0.1, C["green"])
    (red, n_red), (blue, n_blue), (green, n_green) = c.visible_parts()
    assert (red, blue, green) == (C["red"], C["blue"], C["green"]) and n_blue > n_red > n_green > 0
    assert n_red + n_blue + n_green <= BIG * BIG
    from dmpbench.data.mini.captions import main_colour

    assert main_colour(c.visible_parts()) == "blue"


def test_object_facts_match_the_pixels(objects):
    x, _, facts = objects
    # background: the image's border (objects rarely reach it) is named as the recorded background colour
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)  # [N, 128, 3]
    agree = [colour_name(np.median(b, axis=0)) == f["background_colour"] for b, f in zip(border, facts)]
    assert np.mean(agree) > 0.9  # (facts shifted by one image: 13%)
    # colour: the main colour's parts cover more of the object than any other colour
    for f in facts:
        assert f["colour"] in COLOUR_WORDS and f["background_colour"] in COLOUR_WORDS
        visible = {}
        for colour, n in f["parts"]:
            visible[colour_name(colour)] = visible.get(colour_name(colour), 0) + n
        assert visible[f["colour"]] == max(visible.values())
    # size: "large" objects cover more pixels than "small" ones, and the words follow the drawn scale
    area = {"small": [], "large": []}
    for f in facts:
        if f["size"]:
            area[f["size"]].append(sum(n for _, n in f["parts"]))
        assert f["size"] == ("small" if f["scale"] < 0.30 + 0.16 / 3 else "large" if f["scale"] > 0.46 - 0.16 / 3 else None)
    assert area["small"] and area["large"] and np.mean(area["large"]) > 1.3 * np.mean(area["small"])


def test_shape_facts_match_the_pixels(shapes):
    x, _, facts = shapes
    for img, f in zip(x, facts):
        # nearly every pixel is near the recorded foreground or background colour (up to gradient and noise),
        # and some pixels are nearer the foreground
        px = img.reshape(-1, 3).astype(float)
        d_fg = np.linalg.norm(px - np.array(f["foreground"]), axis=1)
        d_bg = np.linalg.norm(px - np.array(f["background"]), axis=1)
        assert (np.minimum(d_fg, d_bg) < 80).mean() > 0.8 and (d_fg < d_bg).sum() >= 5
        assert f["colour"] == colour_name(f["foreground"]) and f["background_colour"] == colour_name(f["background"])


def test_captions_are_short_and_describe_only_the_image(objects, shapes):
    rng = np.random.default_rng(0)
    names = set(MiniObjects.CLASSNAMES) | set(MiniShapes.CLASSNAMES)
    allowed = {"a", "an", "photo", "of", "on", "plain", "background", "small", "large", "outlined", *COLOUR_WORDS}
    allowed |= {w for n in names for w in n.split()}
    captions = [caption(f, rng) for f in objects[2] + shapes[2]]
    for text in captions:
        assert set(re.findall(r"[a-z]+", text)) <= allowed, text
        assert not re.search(r"\d", text) and text.endswith(".")
    assert caption(objects[2][2], rng, 1, 1, 1).startswith(f"a photo of a {objects[2][2]['size'] or ''}".rstrip())
    full = caption(dict(objects[2][2], size="small", colour="red", background_colour="blue"), rng, 1, 1, 1)
    assert full == "a photo of a small red cup on a plain blue background."
    assert caption(dict(objects[2][3], size=None, colour="orange"), rng, 1, 1, 0) == "a photo of an orange umbrella."
    assert len(set(captions)) > len(captions) / 2
