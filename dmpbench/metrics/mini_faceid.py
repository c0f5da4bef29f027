"""The mini face-ID network: the mini world's stand-in for FaceNet (InceptionResnetV1, VGGFace2).

A small CNN (``make_face_net``: three stages of 3x3 conv + BatchNorm + ReLU with max-pooling, 32 -> 16 -> 8
-> 4 px, then a linear embedding of the 4x4 map with BatchNorm; output L2-normalised) trained by
metric learning on the *train* identities of ``mini_face_identities`` (``mini_faceid_build.py``). Its
weights ship in ``dmpbench/backbones/mini_faceid/`` with their configuration, verification accuracy and
sha256; ``load_mini_faceid`` checks the sha256 before anything is loaded.

``MiniFaceIdFeatures`` is a ``FeatureExtractor`` (float images ``[N, 3, H, W]`` in ``[0, 1]`` ->
``[N, D]`` unit vectors). Images of another size (the mini SD renders 64 px faces) are resized to 32 px
(bilinear, antialiased) first; the mini faces are already aligned crops, so there is no detector step.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dmpbench.backbones.mini import sha256_file
from dmpbench.errors import DmpbenchError
from dmpbench.metrics.extractors import FeatureExtractor

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "backbones" / "mini_faceid"
WEIGHTS_FILE = "faceid.safetensors"
CONFIG_FILE = "faceid.json"
ARCH = "dmpbench mini face-ID CNN v1"
NET_DEFAULTS = {"image_size": 32, "widths": [24, 48, 96], "embed_dim": 128}
STANDIN_FOR = "FaceNet vggface2"


def make_face_net(cfg: dict) -> nn.Module:
    """The architecture (``cfg``: ``image_size``, ``widths`` of the three stages, ``embed_dim``)."""
    return MiniFaceNet(int(cfg["image_size"]), [int(w) for w in cfg["widths"]], int(cfg["embed_dim"]))


def _conv(i: int, o: int) -> list[nn.Module]:
    return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]


class MiniFaceNet(nn.Module):
    """``[N, 3, S, S]`` images in ``[0, 1]`` -> ``[N, embed_dim]`` unit-length embeddings."""

    def __init__(self, image_size: int = 32, widths=(24, 48, 96), embed_dim: int = 128):
        super().__init__()
        a, b, c = widths
        self.image_size = image_size
        self.stages = nn.ModuleList([
            nn.Sequential(*_conv(3, a), nn.MaxPool2d(2)),
            nn.Sequential(*_conv(a, b), *_conv(b, b), nn.MaxPool2d(2)),
            nn.Sequential(*_conv(b, c), *_conv(c, c), nn.MaxPool2d(2)),
        ])
        side = image_size // 8
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(c * side * side, embed_dim), nn.BatchNorm1d(embed_dim))

    def stage_outputs(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The feature map after each stage (``[N, C, H, W]``), e.g. for an LPIPS-style distance."""
        x, out = images * 2 - 1, []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.embed(self.stage_outputs(images)[-1]), dim=-1)


def random_face_net(seed: int = 0, cfg: dict | None = None) -> nn.Module:
    """The architecture with its initial weights from ``seed`` (the reference of the verification table)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_face_net(cfg or NET_DEFAULTS).eval().requires_grad_(False)


def load_mini_faceid(checkpoint_dir: str | os.PathLike | None = None) -> tuple[nn.Module, dict]:
    """The shipped network (eval mode, frozen) and its configuration, after checking the sha256."""
    folder = Path(checkpoint_dir or CHECKPOINT_DIR)
    weights, config_path = folder / WEIGHTS_FILE, folder / CONFIG_FILE
    rebuild = "rebuild them with `dmpbench mini build-faceid`"
    if not weights.is_file() or not config_path.is_file():
        raise DmpbenchError(f"mini face-ID weights are missing in {folder}; {rebuild}")
    try:
        config = json.loads(config_path.read_text())
        model = config["model"]
        if model.get("arch") != ARCH:
            raise KeyError("arch")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DmpbenchError(f"{config_path} is not a mini face-ID configuration; {rebuild}") from None
    if sha256_file(weights) != config.get("sha256"):
        raise DmpbenchError(f"{weights} does not match the sha256 in {config_path}; {rebuild}")
    from safetensors.torch import load_file

    net = make_face_net(model)
    net.load_state_dict(load_file(str(weights)))
    return net.eval().requires_grad_(False), config


def to_net_size(images: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Float images ``[N, 3, H, W]`` in [0, 1] at ``size`` px (bilinear, antialiased when shrinking)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise DmpbenchError(f"face-ID expects images [N, 3, H, W], got {list(images.shape)}")
    x = images.float().clamp(0, 1)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def uint8_to_float(images: np.ndarray) -> torch.Tensor:
    """``uint8 [..., H, W, 3]`` arrays -> float ``[..., 3, H, W]`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div(255)
    return x.movedim(-1, -3)


@torch.no_grad()
def embed_grid(net: nn.Module, images: np.ndarray, batch_size: int = 500) -> torch.Tensor:
    """Embeddings ``[k, n, D]`` of identity images ``uint8 [k, n, H, W, 3]``."""
    k, n = images.shape[:2]
    flat = images.reshape(k * n, *images.shape[2:])
    out = [net(to_net_size(uint8_to_float(flat[i : i + batch_size]))) for i in range(0, len(flat), batch_size)]
    return torch.cat(out).view(k, n, -1)


class MiniFaceIdFeatures(FeatureExtractor):
    """The shipped mini face-ID network as a feature extractor (``pretrained=False``: random weights, tests)."""

    def __init__(self, pretrained: bool = True, checkpoint_dir: str | os.PathLike | None = None):
        super().__init__()
        if pretrained:
            self.net, self.config = load_mini_faceid(checkpoint_dir)
            self.name = f"mini-faceid CNN {self.config['sha256'][:8]} (stand-in for {STANDIN_FOR})"
        else:
            self.net, self.config = random_face_net(0), {"model": dict(NET_DEFAULTS, arch=ARCH)}
            self.name = f"mini-faceid CNN, random weights (test only; stand-in for {STANDIN_FOR})"
        self.size = int(self.config["model"]["image_size"])
        self.num_features = int(self.config["model"]["embed_dim"])

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        dev = next(self.net.parameters()).device
        return self.net(to_net_size(images, self.size).to(dev))
