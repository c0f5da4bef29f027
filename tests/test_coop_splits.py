"""splits.py (K-shot sampling, base/new) on CoOp readers, and the on-disk few-shot cache."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import Counter

import pytest

import dmpbench.data.coop  # noqa: F401
from dmpbench.data.base import Item
from dmpbench.data.coop import cached_few_shot
from dmpbench.data.coop.fewshot_cache import fewshot_path
from dmpbench.data.splits import base_new, few_shot
from dmpbench.registry import DATASETS

try:
    from fake_coop_tree import make_tree
except ImportError:
    from tests.fake_coop_tree import make_tree


@pytest.fixture()
def root(tmp_path):
    make_tree(tmp_path, ["oxford_pets", "imagenet"])
    return tmp_path


def _items(per_class):
    return [Item(f"d/{y}/{i}.jpg", y) for y, n in enumerate(per_class) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 5, 10, 37, 47, 101, 397])
def test_base_new_rule(n):
    base, new = base_new(n)
    assert base.labels == tuple(range(math.ceil(n / 2)))
    assert new.labels == tuple(range(math.ceil(n / 2), n))
    items = _items([1] * n)
    assert [it.label for it in new.select(items)] == list(range(len(new.labels)))  # relabelled from 0
    assert len(base.select(items)) + len(new.select(items)) == n


def test_base_new_names():
    base, new = base_new(5)
    names = ["a", "b", "c", "d", "e"]
    assert base.names(names) == ["a", "b", "c"] and new.names(names) == ["d", "e"]


def test_k_shot_counts_and_determinism():
    items = _items([20, 16, 30])
    a = few_shot(items, 16, seed=1)
    assert Counter(it.label for it in a) == {0: 16, 1: 16, 2: 16}
    assert len(set(a)) == len(a)  # without replacement when a class has >= K images
    assert few_shot(items, 16, seed=1) == a  # same seed, same draw
    assert few_shot(items, 16, seed=2) != a
    assert few_shot(items, 0, seed=1) == items


def test_k_shot_with_replacement():
    items = _items([3, 20])
    with pytest.warns(UserWarning, match="with replacement"):
        drawn = few_shot(items, 8, seed=1)
    small = [it for it in drawn if it.label == 0]
    assert len(small) == 8 and len(set(small)) <= 3  # repeats: sampled with replacement
    assert set(small) <= {it for it in items if it.label == 0}


def test_few_shot_then_base_new_on_a_reader(root):
    ds = DATASETS.get("oxford_pets")(data_root=str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shots = few_shot(ds.split("train"), 2, seed=1)
    base, new = base_new(len(ds.classnames))
    assert base.names(ds.classnames) == ["abyssinian", "american bulldog"]
    assert Counter(it.label for it in base.select(shots)) == {0: 2, 1: 2}
    assert Counter(it.label for it in new.select(shots)) == {0: 2}


def test_cached_few_shot_roundtrip(root, tmp_path):
    ds = DATASETS.get("oxford_pets")(data_root=str(root))
    first = cached_few_shot(ds, 2, seed=1)
    path = fewshot_path(ds, 2, 1, None)
    assert path.startswith(str(root / "oxford_pets" / "split_fewshot"))  # CoOp's place
    assert os.path.isfile(path)
    assert Counter(it.label for it in first["train"]) == {0: 2, 1: 2, 2: 2}
    # min(K, 4) = 2 per class from val, which has 1 image per class: drawn with replacement
    assert len(first["val"]) == 6 and len(set(first["val"])) == 3
    assert cached_few_shot(ds, 2, seed=1) == first
    # the file is what is used: edit it (to another valid selection) and the edit is returned
    raw = json.loads(open(path).read())
    raw["train"] = raw["train"][::-1]
    open(path, "w").write(json.dumps(raw))
    assert cached_few_shot(ds, 2, seed=1)["train"] == first["train"][::-1]
    # stale (points to an item the split does not have) or garbage -> redrawn
    raw["train"][0][0] = "oxford_pets/images/nope.jpg"
    open(path, "w").write(json.dumps(raw))
    assert cached_few_shot(ds, 2, seed=1) == first
    open(path, "w").write("{garbage")
    assert cached_few_shot(ds, 2, seed=1) == first
    # explicit cache dir
    other = cached_few_shot(ds, 2, seed=1, cache_dir=tmp_path / "fs")
    assert other == first and (tmp_path / "fs" / "oxford_pets" / "dmpbench-shot_2-seed_1.json").is_file()


def test_cached_few_shot_imagenet_keeps_val_whole(root):
    ds = DATASETS.get("imagenet")(data_root=str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = cached_few_shot(ds, 2, seed=3)
    assert len(out["train"]) == 6 and out["val"] == ds.split("test")


def test_cached_few_shot_read_only_location(root, tmp_path):
    ds = DATASETS.get("oxford_pets")(data_root=str(root))
    blocker = tmp_path / "ro"
    blocker.write_text("a file where a folder should be")
    out = cached_few_shot(ds, 1, seed=1, cache_dir=blocker)  # cannot write: still returns the draw
    assert len(out["train"]) == 3
