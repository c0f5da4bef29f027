"""The on-disk image-feature cache: hits touch no image, any key part change misses, bad files are rebuilt."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dmpbench.backbones.base import Backbone
from dmpbench.backbones.feature_cache import cache_key, image_features
from dmpbench.data.base import ClassificationDataset, Item
from dmpbench.errors import DmpbenchError


class ToTensor:
    """PIL -> [3, 6, 6] float (picklable, for DataLoader workers)."""

    def __init__(self, size: int = 6):
        self.size = size

    def __call__(self, img: Image.Image) -> torch.Tensor:
        arr = np.asarray(img.resize((self.size, self.size)), dtype=np.float32) / 255.0
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous()

    def __repr__(self) -> str:
        return f"ToTensor({self.size})"


class TinyBackbone(Backbone):
    family = "tiny"
    world = "mini"

    def __init__(self, key: str = "tiny-v1", size: int = 6):
        super().__init__()
        self.key, self.size = key, size
        gen = torch.Generator().manual_seed(0)
        self.weight = torch.randn(3 * size * size, 5, generator=gen)
        self.calls = 0

    name = property(lambda self: "tiny")
    cache_key = property(lambda self: self.key)
    embed_dim = property(lambda self: 5)
    ctx_dim = property(lambda self: 5)
    logit_scale = property(lambda self: 100.0)

    def to(self, device):
        return self

    def image_transform(self):
        return ToTensor(self.size)

    def encode_image(self, images, visual_prompts=None):
        self.calls += 1
        return images.flatten(1) @ self.weight

    def encode_text(self, texts):
        raise NotImplementedError

    def token_embeddings(self, text):
        raise NotImplementedError

    def encode_with_context(self, ctx, classnames, class_token_position="end", text_prompts=None, batch_size=256):
        raise NotImplementedError


class ColourDataset(ClassificationDataset):
    """In-memory images; counts loads; can be told to refuse loading or to fail on some keys."""

    name = "colours"

    def __init__(self, n: int = 10, fingerprint: str = "colours-v1", broken=(), refuse: bool = False):
        self.n, self._fp, self.broken, self.refuse = n, fingerprint, set(broken), refuse
        self.loads = 0

    @property
    def classnames(self):
        return ["red", "green"]

    def split(self, which):
        return [Item(f"colours/{which}/{i}", i % 2) for i in range(self.n)]

    def load_image(self, item):
        if self.refuse:
            raise AssertionError(f"image {item.key} touched on a cache hit")
        if item.key in self.broken:
            raise DmpbenchError(f"colours: cannot decode image /data/{item.key}.jpg")
        self.loads += 1
        i = int(item.key.rsplit("/", 1)[1])
        return Image.new("RGB", (9, 9), (20 * i % 256, 255 - 20 * i % 256, 7 * i % 256))

    @property
    def fingerprint(self):
        return self._fp


def _direct(bb, ds, items):
    t = bb.image_transform()
    return bb.encode_image(torch.stack([t(ds.load_image(it)) for it in items]))


def _files(d):
    return sorted(p for p in os.listdir(d)) if os.path.isdir(d) else []


def test_miss_then_hit_touches_no_image(tmp_path):
    bb, ds = TinyBackbone(), ColourDataset()
    items = ds.split("test")
    feats = image_features(bb, ds, items, cache_dir=tmp_path, batch_size=4, num_workers=0, progress=False)
    assert feats.shape == (10, 5) and feats.dtype == torch.float32 and feats.device.type == "cpu"
    torch.testing.assert_close(feats, _direct(TinyBackbone(), ColourDataset(), items))
    assert len(_files(tmp_path)) == 1 and _files(tmp_path)[0].startswith("colours-")
    bb.calls = 0
    again = image_features(bb, ColourDataset(refuse=True), items, cache_dir=tmp_path, num_workers=0, progress=False)
    assert torch.equal(again, feats) and bb.calls == 0


def test_workers(tmp_path):
    bb, ds = TinyBackbone(), ColourDataset(n=7)
    items = ds.split("train")
    feats = image_features(bb, ds, items, cache_dir=None, batch_size=2, num_workers=2, progress=False)
    torch.testing.assert_close(feats, _direct(bb, ds, items))


@pytest.mark.parametrize("change", ["backbone", "dataset_name", "fingerprint", "items", "transform", "precision"])
def test_any_key_part_change_misses(tmp_path, change, monkeypatch):
    bb, ds = TinyBackbone(), ColourDataset()
    items = ds.split("test")
    image_features(bb, ds, items, cache_dir=tmp_path, num_workers=0, progress=False)
    base_key = cache_key(bb, ds, items, "fp32")
    precision = "fp32"
    if change == "backbone":
        bb = TinyBackbone(key="tiny-v2")
    elif change == "dataset_name":
        ds = ColourDataset()
        ds.name = "colours2"
    elif change == "fingerprint":
        ds = ColourDataset(fingerprint="colours-v2")
    elif change == "items":
        items = items[:-1]
    elif change == "transform":
        bb = TinyBackbone(size=5)
    else:
        precision = "bf16"  # only differs on CUDA: pretend the backbone lives there for the key
        monkeypatch.setattr("dmpbench.backbones.feature_cache.effective_precision", lambda p, d: p)
    assert cache_key(bb, ds, items, precision) != base_key
    loads = ds.loads
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="CUDA is not available")  # the faked bf16 on a CPU
        image_features(bb, ds, items, cache_dir=tmp_path, precision=precision, num_workers=0, progress=False)
    assert ds.loads > loads and len(_files(tmp_path)) == 2


def test_corrupted_or_mismatching_file_is_rebuilt(tmp_path):
    bb, ds = TinyBackbone(), ColourDataset()
    items = ds.split("test")
    feats = image_features(bb, ds, items, cache_dir=tmp_path, num_workers=0, progress=False)
    (name,) = _files(tmp_path)
    path = tmp_path / name
    good = path.read_bytes()
    # flipped bytes inside the feature data: checksum mismatch
    bad = bytearray(good)
    bad[-3] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.warns(UserWarning, match="recomputing"):
        again = image_features(bb, ds, items, cache_dir=tmp_path, num_workers=0, progress=False)
    torch.testing.assert_close(again, feats)
    # truncated file: unreadable
    path.write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="unreadable"):
        image_features(bb, ds, items, cache_dir=tmp_path, num_workers=0, progress=False)
    # another key's (valid) file under this name: key mismatch
    other = ds.split("train")
    image_features(bb, ds, other, cache_dir=tmp_path, num_workers=0, progress=False)
    other_name = [f for f in _files(tmp_path) if f != name][0]
    (tmp_path / name).write_bytes((tmp_path / other_name).read_bytes())
    with pytest.warns(UserWarning, match="does not match"):
        again = image_features(bb, ds, items, cache_dir=tmp_path, num_workers=0, progress=False)
    torch.testing.assert_close(again, feats)
    # rebuilt files are valid again, and no temp files are left behind
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image_features(bb, ColourDataset(refuse=True), items, cache_dir=tmp_path, num_workers=0, progress=False)
    assert not [f for f in _files(tmp_path) if f.startswith(".tmp")]


def test_bad_images_stop_or_skip_and_count(tmp_path):
    bb = TinyBackbone()
    ds = ColourDataset(broken={"colours/test/3", "colours/test/6"})
    items = ds.split("test")
    with pytest.raises(DmpbenchError) as err:
        image_features(bb, ds, items, cache_dir=tmp_path, num_workers=0, progress=False)
    assert "/data/colours/test/3.jpg" in str(err.value) and "\n" not in str(err.value)
    assert _files(tmp_path) == []
    with pytest.warns(UserWarning, match="skipped 2 of 10"):
        feats, kept = image_features(
            bb, ds, items, cache_dir=tmp_path, num_workers=0, progress=False, skip_bad_images=True, return_items=True
        )
    assert feats.shape == (8, 5) and [it.key for it in kept] == [it.key for it in items if it.key not in ds.broken]
    torch.testing.assert_close(feats, _direct(bb, ColourDataset(), kept))
    # the skip is cached too: a strict caller still hears about the bad files, without decoding anything
    with pytest.raises(DmpbenchError, match="2 image"):
        image_features(bb, ColourDataset(refuse=True), items, cache_dir=tmp_path, num_workers=0, progress=False)
    with pytest.warns(UserWarning, match="skipped 2"):
        again = image_features(
            bb, ColourDataset(refuse=True), items, cache_dir=tmp_path, num_workers=0, progress=False,
            skip_bad_images=True,
        )
    assert torch.equal(again, feats)


def test_unknown_precision(tmp_path):
    bb, ds = TinyBackbone(), ColourDataset()
    with pytest.raises(DmpbenchError, match="precision"):
        image_features(bb, ds, ds.split("test"), cache_dir=tmp_path, precision="int8", progress=False)
