"""Mini faces: determinism, identities that can be told apart, attributes that change their region
monotonically, captions without identities, bad input, identity-disjoint splits, class counts."""

import re

import numpy as np
import pytest

from dmpbench.data.mini.faces import (
    FACE_CLASSES, GENDERED, IDENTITY_SPLIT_SIZES, PER_CLASS, MiniFaceIdentities, MiniFaces, identity_images,
    identity_split,
)
from dmpbench.data.mini.faces_render import render_face
from dmpbench.data.mini.faces_spec import (
    ATTRIBUTES, CAPTION_THRESHOLD, EXCLUSIVE, N_IDENTITIES, Background, Lighting, Pose, caption, identity,
    sample_variation, switch,
)
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS

SPLITS = ("train", "val", "test")


def test_same_seed_same_pixels_other_seed_other_people():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    a = render_face(identity(17), {"smiling": 0.7, "glasses": 0.4}, *sample_variation(rng_a))
    b = render_face(identity(17), {"smiling": 0.7, "glasses": 0.4}, *sample_variation(rng_b))
    assert a.dtype == np.uint8 and a.shape == (32, 32, 3)
    assert np.array_equal(a, b)
    x1, c1 = identity_images(3, n=4)
    x2, c2 = identity_images(3, n=4)
    assert np.array_equal(x1, x2) and c1 == c2
    assert identity(3, seed=0) == identity(3, seed=0) != identity(3, seed=1)
    assert not np.array_equal(identity_images(3, n=2, seed=1)[0], x1[:2])
    # the images of one identity differ from each other (pose, expression, lighting, background vary)
    assert len({im.tobytes() for im in x1}) == 4


def test_size_argument():
    big = render_face(identity(0), {"beard": 1.0}, size=64)
    assert big.shape == (64, 64, 3)
    small = render_face(identity(0), {"beard": 1.0}, size=32)
    # the same drawing at two sizes: the 64x64 image averaged down resembles the 32x32 one
    pooled = big.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    assert np.abs(pooled - small).mean() < 8


def test_identities_are_consistent_across_images():
    """Leave-one-out nearest-centroid identification in pixel space (face crop, per-image mean removed)
    over 30 test identities x 20 images: far above chance (1/30), and same-identity images are closer."""
    ds = MiniFaceIdentities()
    ids = ds.split("test")[:30]
    x, labels = ds.arrays(ids)
    assert x.shape == (30, 20, 32, 32, 3) and list(labels) == list(ids)
    f = x[:, :, 6:26, 8:24].reshape(30, 20, -1).astype(np.float64)
    f -= f.mean(-1, keepdims=True)
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    flat = f.reshape(600, -1)
    lab = np.repeat(np.arange(30), 20)
    d = 2 - 2 * flat @ flat.T  # squared distance of unit vectors
    same, off = lab[:, None] == lab[None], ~np.eye(600, dtype=bool)
    assert d[same & off].mean() < 0.75 * d[~same].mean()
    centroids = f.sum(1)
    hits = 0
    for k in range(600):
        c = centroids.copy()
        c[lab[k]] -= flat[k]
        c /= np.where(np.arange(30) == lab[k], 19, 20)[:, None]
        hits += int(np.argmin(((c - flat[k]) ** 2).sum(-1)) == lab[k])
    assert hits / 600 > 0.4


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_attribute_changes_its_region_monotonically(name):
    x0, y0, x1, y1 = (int(round(v * 32)) for v in ATTRIBUTES[name].region)
    inside = np.zeros((32, 32), dtype=bool)
    inside[y0:y1, x0:x1] = True
    strengths = (0.0, 0.25, 0.5, 0.75, 1.0)
    for index in (0, 5, 10, 15):
        ident = identity(index)
        images = [render_face(ident, {name: s}).astype(np.float64) for s in strengths]
        assert np.array_equal(images[0], render_face(ident, {}).astype(np.float64))  # strength 0 = off
        change = [np.abs(im - images[0]).mean(-1) for im in images]
        in_region = [c[inside].mean() for c in change]
        assert all(b > a for a, b in zip(in_region, in_region[1:])), (index, in_region)
        assert in_region[-1] > 3.0  # visible: >3 grey levels on average over the region
        assert in_region[-1] > 3 * change[-1][~inside].mean()  # and local


def test_caption_words():
    man = {"gender": "man", "hair_colour": "brown"}
    assert caption({"smiling": 0.8, "age": 0.9, "glasses": 1.0, "beard": 0.7}, man) == (
        "a photo of a smiling old man with glasses and a beard")
    assert caption({"smiling": CAPTION_THRESHOLD - 0.01}, man) == "a photo of a man"
    assert caption({"hair_length": 0.9, "hat": 0.6}, {"gender": "woman", "hair_colour": "red"}) == (
        "a photo of a woman with long red hair and wearing a hat")
    assert caption({"age": 0.7, "hair_length": 0.9}, {"gender": "woman", "hair_colour": "red"}).endswith("grey hair")
    assert caption({}) == "a photo of a person"
    for a in ATTRIBUTES.values():
        assert a.positive and a.negative and a.description and a.positive != a.negative


def test_captions_never_name_the_identity():
    ds = MiniFaceIdentities()
    captions = [c for i in (0, 7, 123, 999) for c in ds.captions(i)] + [p.caption for p in MiniFaces().plan("val")]
    for text in captions:
        assert not re.search(r"\d|identity|person \w+ \d", text), text
        assert text.startswith("a photo of a")
    assert len(set(captions)) > 20  # they describe what varies


def _one_line_error(call, *needles):
    with pytest.raises(DmpbenchError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("mini faces:"), msg
    for needle in needles:
        assert needle in msg, msg


def test_bad_input_is_one_line():
    ident = identity(1)
    _one_line_error(lambda: render_face(ident, {"smilling": 0.5}), "unknown attribute", "smiling")
    _one_line_error(lambda: render_face(ident, {"beards": 0.5}), "beard")
    _one_line_error(lambda: render_face(ident, {"xyzzy": 0.5}), "known: age")
    for bad in (1.5, -0.1, float("nan"), "much", True, None):
        _one_line_error(lambda: render_face(ident, {"smiling": bad}), "[0, 1]")
    for bad in (-1, N_IDENTITIES, 2.5, "7", None):
        _one_line_error(lambda: identity(bad), "identit")
    _one_line_error(lambda: identity_images(N_IDENTITIES), "unknown identity")
    _one_line_error(lambda: MiniFaceIdentities().images(-3), "unknown identity")
    for a, b, _ in EXCLUSIVE:
        _one_line_error(lambda: render_face(ident, {a: 0.3, b: 0.2}), "impossible combination", a, b)
        render_face(ident, {a: 0.3, b: 0.0})  # either alone is fine
    _one_line_error(lambda: caption({"bald": 1.0, "hair_length": 1.0}), "impossible")
    _one_line_error(lambda: render_face(ident, pose=Pose(yaw=2.0)), "pose.yaw")
    _one_line_error(lambda: render_face(ident, pose=Pose(roll=45)), "pose.roll")
    _one_line_error(lambda: render_face(ident, lighting=Lighting(brightness=3)), "lighting.brightness")
    _one_line_error(lambda: render_face(ident, background=Background(colour=(300, 0, 0))), "background.colour")
    _one_line_error(lambda: render_face(ident, size=8), "size")
    _one_line_error(lambda: render_face(ident, ["smiling"]), "mapping")
    _one_line_error(lambda: identity_images(0, n=0), "positive integer")
    with pytest.raises(DmpbenchError):
        identity_split("dev")


def test_switch_turns_off_what_an_attribute_excludes():
    look = {"hair_length": 0.8, "beard": 0.6}
    assert switch(look, "bald", 0.7) == {"beard": 0.6, "bald": 0.7}
    assert switch(look, "bald", 0.0) == {"hair_length": 0.8, "beard": 0.6, "bald": 0.0}
    assert switch({"bald": 1.0}, "hat", 0.5) == {"hat": 0.5}
    assert look == {"hair_length": 0.8, "beard": 0.6}  # not modified in place
    _one_line_error(lambda: switch(look, "balding", 0.5), "bald")
    _one_line_error(lambda: switch(look, "bald", 2), "[0, 1]")
    # every identity's own look is valid, and any slider can be put on it
    for i in range(0, N_IDENTITIES, 37):
        ident = identity(i)
        for name in ATTRIBUTES:
            render = switch(ident.look, name, 1.0)
            assert render[name] == 1.0
    assert np.array_equal(render_face(12, {"hat": 1.0}), render_face(identity(12), {"hat": 1.0}))


def test_identity_splits_are_disjoint():
    parts = {s: set(identity_split(s)) for s in SPLITS}
    for s in SPLITS:
        assert len(parts[s]) == IDENTITY_SPLIT_SIZES[s]
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"] and not parts["val"] & parts["test"]
    assert set().union(*parts.values()) == set(range(N_IDENTITIES))
    assert MiniFaceIdentities().split("test") == identity_split("test")


def test_mini_faces_plan_classes_and_splits():
    ds = DATASETS.get("mini_faces")()
    assert ds.world == "mini" and len(ds.classnames) == len(FACE_CLASSES) >= 10
    assert all(not re.search(r"\d", c) for c in ds.classnames)
    n = len(FACE_CLASSES)
    people = {}
    for which in SPLITS:
        plan = ds.plan(which)
        assert len(plan) == PER_CLASS[which] * n
        people[which] = {p.identity.index for p in plan}
        assert people[which] <= set(identity_split(which))
        for j, p in enumerate(plan):
            _, dominant, gender = FACE_CLASSES[j % n]
            attrs = p.attributes
            assert attrs[dominant] >= 0.6 and all(v <= 0.15 for k, v in attrs.items() if k != dominant)
            assert gender is None or p.identity.gender == gender
            assert all(GENDERED[k] == p.identity.gender for k in attrs if k in GENDERED)
            assert not any(attrs.get(a, 0) > 0 and attrs.get(b, 0) > 0 for a, b, _ in EXCLUSIVE)
    assert len(people["test"]) > 150  # many different people, none seen in training
    assert not people["train"] & people["test"] and not people["train"] & people["val"]
    # labels interleave classes; a fresh instance plans and draws the same images
    again = MiniFaces().plan("val")
    assert [p.attributes for p in again[:30]] == [p.attributes for p in ds.plan("val")[:30]]
    assert np.array_equal(again[4].render(), ds.plan("val")[4].render())
