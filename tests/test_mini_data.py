"""The mini world's datasets: determinism, class counts, split sizes, suite wiring."""

import hashlib

import numpy as np
import pytest

from dmpbench.data.base import Item
from dmpbench.data.mini import MINI_DATASETS, MINI_SUITE
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS

# sha256 (first 16 hex digits) of every 97th image of a split plus all its labels. A change here means the
# generated pixels changed: bump dmpbench.data.mini.base.DATA_VERSION and rebuild the mini CLIP.
HASHES = {
    "mini_mnist": {"train": "fa334bd529d76778", "val": "876787a6a7c2dd45", "test": "699fe665e0d5083f"},
    "mini_digits": {"train": "ca36db06f0bae66b", "val": "1a9c3a13b26c0c0a", "test": "0a7e4c0aef627e2a"},
    "mini_mnist_c": {"train": "02556845e6ef7cf3", "val": "9e82ba425e9636c1", "test": "f0746b91b0f4aed4"},
    "mini_shapes": {"train": "1665837374227879", "val": "c79fc407125b9db8", "test": "4b58ffb665cf71d1"},
    "mini_patterns": {"train": "7039accf54f3d8ab", "val": "899639f900ab1bdc", "test": "23e09a93d8e0384e"},
    "mini_letters": {"train": "4d4f9768d0658870", "val": "96245e098dff8421", "test": "877f87e007d99e01"},
    "mini_union": {"train": "d733803278e0e449", "val": "349c8b79569eb617", "test": "d5862c8169115c18"},
    "mini_faces": {"train": "0db03e5e89670f8e", "val": "2347241c214062c6", "test": "d05460929a5aeb66"},
}

SIZES = {  # (classes, train, val, test)
    "mini_mnist": (10, 3000, 500, 1500),
    "mini_digits": (10, 597, 200, 1000),
    "mini_mnist_c": (10, 3000, 500, 1500),
    "mini_shapes": (12, 2400, 600, 1200),
    "mini_patterns": (10, 2000, 500, 1000),
    "mini_letters": (12, 2400, 600, 1200),
    "mini_union": (44, 9800, 2200, 4900),
    "mini_faces": (11, 2200, 550, 1100),
}


@pytest.mark.parametrize("name", sorted(MINI_DATASETS))
def test_deterministic_bytes(name):
    ds = DATASETS.get(name)()
    for split, expected in HASHES[name].items():
        x, y = ds.arrays(split)
        assert hashlib.sha256(x[::97].tobytes() + y.tobytes()).hexdigest()[:16] == expected, split


@pytest.mark.parametrize("name", sorted(MINI_DATASETS))
def test_sizes_and_images(name):
    ds = DATASETS.get(name)()
    assert ds.world == "mini" and ds.name == name and ds.templates
    n_classes, *sizes = SIZES[name]
    assert len(ds.classnames) == n_classes >= 10
    assert len(set(ds.classnames)) == n_classes
    for split, size in zip(("train", "val", "test"), sizes):
        items = ds.split(split)
        assert len(items) == size
        counts = np.bincount([it.label for it in items], minlength=n_classes)
        assert counts.min() > 0
        if split == "test":
            assert counts.min() >= 100
    item = ds.split("test")[7]
    image = ds.load_image(item)
    assert image.mode == "RGB" and image.size == (32, 32)
    assert np.array_equal(np.asarray(image), ds.arrays("test")[0][7])
    assert item.key == f"{name}/test/7"


def test_bad_key_and_split():
    ds = DATASETS.get("mini_shapes")()
    with pytest.raises(DmpbenchError):
        ds.load_image(Item("mini_shapes/test/999999", 0))
    with pytest.raises(DmpbenchError):
        ds.split("dev")


def test_suite_wiring():
    names = set(MINI_DATASETS)
    assert set(MINI_SUITE["base2new"]) <= names
    cross = MINI_SUITE["cross_dataset"]
    assert len(cross["targets"]) >= 3
    source = set(MINI_DATASETS[cross["source"]].CLASSNAMES)
    for target in cross["targets"]:
        assert not source & set(MINI_DATASETS[target].CLASSNAMES)
    shift = MINI_SUITE["domain_shift"]
    assert len(shift["targets"]) >= 2
    for target in shift["targets"]:
        assert MINI_DATASETS[target].CLASSNAMES == MINI_DATASETS[shift["source"]].CLASSNAMES
    a, b = MINI_SUITE["composition"]
    assert not set(MINI_DATASETS[a].CLASSNAMES) & set(MINI_DATASETS[b].CLASSNAMES)
    assert MINI_SUITE["treecut"] == {"dataset": "mini_union", "tree": "mini"}


def test_union_names_unique():
    union = MINI_DATASETS["mini_union"]
    assert len(set(union.CLASSNAMES)) == len(union.CLASSNAMES) == 44


def test_cache_lock_is_reentrant():
    # mini_union builds its parts while holding the cache lock (a plain Lock deadlocked here)
    from dmpbench.data.mini import base

    with base._LOCK:
        assert base._LOCK.acquire(timeout=1)
        base._LOCK.release()
