"""Which network computes each generation metric, per world: the one place that maps (role, world) to a
network. The paper world uses the papers' networks; the mini world, which has no offline weights for them,
uses stand-ins trained or built here, and every stand-in's ``name`` says so ("stand-in for ..."), so a
record's ``audit.extractors`` (and the leaderboard that prints it) never passes a mini number off as a
paper number.

| role | paper world | mini world (stand-in) |
|---|---|---|
| ``face_id`` | facenet-pytorch InceptionResnetV1 (VGGFace2) + MTCNN | mini face-ID CNN (``mini_faceid.py``) |
| ``dino`` | DINO ViT-S/16 CLS embedding | mini CLIP image tower: class token after ``ln_post``, before the projection (128-d) |
| ``lpips`` | LPIPS 0.1, AlexNet trunk + learned linear layers | ``FeatureLpips`` on the mini CLIP ViT's 4 block outputs (patch tokens as a 4x4 map), no learned weights |
| ``fid`` | torchmetrics' Inception-v3 (pool3, 2048-d) | mini CLIP image tower, projected (384-d) |
| ``clip`` | the run's CLIP image tower | the run's CLIP image tower (the mini CLIP) |

Protocol choice: the DINO stand-in is the *pre-projection* class token because DINO's number is the
CLS embedding before any head, while FID's stand-in keeps the projected feature (as the committed
``generation_quality`` records do), so the two roles do not read the same vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from dmpbench.errors import DmpbenchError
from dmpbench.metrics.distribution import INCEPTION_NAME
from dmpbench.metrics.extractors import ClipImageFeatures, FeatureExtractor
from dmpbench.metrics.lpips_distance import FeatureLpips

ROLES = ("face_id", "dino", "lpips", "fid", "clip")
PAPER_NETWORKS = {
    "face_id": "facenet-pytorch InceptionResnetV1 (vggface2) + MTCNN alignment",
    "dino": "DINO ViT-S/16 (timm vit_small_patch16_224.dino)",
    "lpips": "lpips 0.1 alex",
    "fid": INCEPTION_NAME,
    "clip": "the run's CLIP image tower",
}
MINI_STANDINS = {
    "face_id": "mini-faceid CNN (CosFace on mini-face train identities)",
    "dino": "mini CLIP image tower, class token before the projection (128-d)",
    "lpips": "LPIPS-style distance (no learned weights) on the mini CLIP ViT's 4 block outputs",
    "fid": "mini CLIP image tower, projected (384-d)",
    "clip": "the run's CLIP image tower (the mini CLIP)",
}


@dataclass(frozen=True)
class MetricNetwork:
    """A metric's network: ``name`` (goes into ``audit.extractors``), the paper network it stands in for
    (``None`` when it is the paper network itself), and the network: a ``FeatureExtractor``, an LPIPS-like
    object (``distances(a, b)``), or ``"inception"`` (torchmetrics' own, for ``frechet_distance``)."""

    role: str
    name: str
    standin_for: str | None
    network: object


def _mini_clip(backbone):
    if backbone is None:
        from dmpbench.backbones.mini import MiniCLIP

        backbone = MiniCLIP()
    if getattr(backbone, "world", None) != "mini" or not hasattr(backbone, "image"):
        raise DmpbenchError(f"the mini-world stand-ins need the mini CLIP backbone, not {getattr(backbone, 'name', backbone)!r}")
    return backbone


def _tower_input(backbone, images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> the mini CLIP's input (32 px, its mean/std), on its device."""
    from dmpbench.backbones.mini import IMAGE_MEAN, IMAGE_SIZE, IMAGE_STD

    x = images.float().clamp(0, 1)
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).to(backbone.device)


def mini_clip_layers(backbone):
    """``images -> [N, width, 4, 4]`` per ViT block (patch tokens; open_clip's ``forward_intermediates``)."""

    @torch.no_grad()
    def layers(images: torch.Tensor) -> list[torch.Tensor]:
        out = backbone.image.forward_intermediates(_tower_input(backbone, images), intermediates_only=True, output_fmt="NCHW")
        return [t.float().cpu() for t in out["image_intermediates"]]

    return layers


class MiniClipClassToken(FeatureExtractor):
    """The mini CLIP image tower's pooled class token after ``ln_post``, before the projection."""

    def __init__(self, backbone, standin_for: str):
        super().__init__()
        self.backbone = backbone
        self.num_features = int(backbone.image.transformer.width)
        sha = str(backbone.config.get("sha256", "untrained"))[:8]
        self.name = f"mini-clip {sha} image tower class token, pre-projection ({self.num_features}-d) (stand-in for {standin_for})"

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        v = self.backbone.image
        x = v.transformer(v._embeds(_tower_input(self.backbone, images)))  # open_clip VisionTransformer.forward
        pooled, _ = v._pool(x)  # ... without ``@ proj``
        return pooled.float()


def metric_network(role: str, world: str, backbone=None, pretrained: bool = True) -> MetricNetwork:
    """The network of ``role`` in ``world`` (``"mini"`` or ``"paper"``). ``backbone``: the run's CLIP
    (needed for ``clip`` and, in the mini world, for the mini-CLIP stand-ins; loaded when omitted there).
    ``pretrained=False`` gives random weights where a class supports it (tests only; names say so)."""
    if role not in ROLES:
        raise DmpbenchError(f"unknown metric role {role!r} (choose from {', '.join(ROLES)})")
    if world not in ("mini", "paper"):
        raise DmpbenchError(f"unknown world {world!r} (mini or paper)")
    if world == "paper":
        if role == "face_id":
            from dmpbench.metrics.extractors import FaceNetFeatures

            net = FaceNetFeatures("vggface2" if pretrained else None)
        elif role == "dino":
            from dmpbench.metrics.extractors import DinoFeatures

            net = DinoFeatures(pretrained)
        elif role == "lpips":
            from dmpbench.metrics.lpips_distance import Lpips

            net = Lpips(pretrained_trunk=pretrained)
        elif role == "fid":
            return MetricNetwork(role, INCEPTION_NAME, None, "inception")
        else:
            if backbone is None:
                raise DmpbenchError("the clip role needs the run's CLIP backbone")
            net = ClipImageFeatures(backbone)
        return MetricNetwork(role, net.name, None, net)

    paper = PAPER_NETWORKS[role]
    if role == "face_id":
        from dmpbench.metrics.mini_faceid import MiniFaceIdFeatures

        net = MiniFaceIdFeatures(pretrained)
        return MetricNetwork(role, net.name, paper, net)
    clip = _mini_clip(backbone)
    if role == "dino":
        net = MiniClipClassToken(clip, "DINO ViT-S/16")
    elif role == "lpips":
        sha = str(clip.config.get("sha256", "untrained"))[:8]
        net = FeatureLpips(mini_clip_layers(clip), f"LPIPS-style distance, no learned weights, on mini-clip {sha} "
                                                   f"ViT block outputs (stand-in for {paper})")
    elif role == "fid":
        net = ClipImageFeatures(clip)
        net.name = fid_standin_name(net)
    else:
        net = ClipImageFeatures(clip)
        paper = "the paper world's CLIP image tower"
    return MetricNetwork(role, net.name, paper, net)


def fid_standin_name(clip: ClipImageFeatures) -> str:
    """The record name of FID computed on a CLIP image tower instead of Inception."""
    return clip.name + " (FID stand-in for Inception)"
