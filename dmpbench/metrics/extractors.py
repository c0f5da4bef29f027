"""Feature extractors of the generation metrics, each with the ``name`` a record stores beside the number.

Every extractor is an ``nn.Module`` taking float images ``[N, 3, H, W]`` in ``[0, 1]`` and returning
``[N, num_features]`` (so torchmetrics' ``FrechetInceptionDistance`` can use any of them as its feature
network). Weights are never downloaded: a network whose weights are not on disk fails with one line naming
the file and how to fetch it; ``pretrained=False``/``None`` builds random weights (tests only; the name
says so).

* ``ClipImageFeatures``: the run's CLIP backbone (open_clip or the mini CLIP), through its own transform.
* ``DinoFeatures``: DINO ViT-S/16 (timm ``vit_small_patch16_224.dino``), the CLS embedding; images resized
  to 224 (bicubic, antialiased) and ImageNet-normalised, as timm's config for these weights says.
* ``FaceNetFeatures``: facenet-pytorch ``InceptionResnetV1(pretrained="vggface2")`` on faces aligned by
  facenet-pytorch's ``MTCNN`` (160 px crops, its fixed standardisation). Protocol choice: an image in which
  MTCNN finds no face is embedded whole (resized to 160) rather than dropped, so every image counts; the
  number of such images is kept in ``no_face`` for the record.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from dmpbench.errors import DmpbenchError


def torch_hub_checkpoint(filename: str, what: str, fetch: str) -> Path:
    """A weight file in torch's hub cache (``$TORCH_HOME/hub/checkpoints``), or a one-line error."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        raise DmpbenchError(f"{what} weights are not on disk ({path} is missing); on a networked machine run "
                            f"{fetch} and copy the file there")
    return path


class FeatureExtractor(nn.Module):
    name: str = ""
    num_features: int = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Features of many images, ``batch_size`` at a time, on the CPU."""
        return torch.cat([self(images[i : i + batch_size]).float().cpu() for i in range(0, len(images), batch_size)])


class ClipImageFeatures(FeatureExtractor):
    """The CLIP backbone's image tower (features not normalised; metrics normalise)."""

    def __init__(self, backbone, name: str | None = None):
        super().__init__()
        self.backbone = backbone
        self.transform = backbone.image_transform()
        self.num_features = int(backbone.embed_dim)
        self.name = name or f"CLIP image tower ({backbone.name})"

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms.functional import to_pil_image

        batch = torch.stack([self.transform(to_pil_image(img.clamp(0, 1).cpu())) for img in images])
        return self.backbone.encode_image(batch).float()


class DinoFeatures(FeatureExtractor):
    MODEL = "vit_small_patch16_224.dino"
    HUB_ID = "timm/vit_small_patch16_224.dino"

    def __init__(self, pretrained: bool | str = True):
        super().__init__()
        import timm

        if pretrained:
            path = pretrained if isinstance(pretrained, str) else self._cached()
            self.net = timm.create_model(self.MODEL, pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": str(path)})
            self.name = "DINO ViT-S/16 (timm vit_small_patch16_224.dino)"
        else:
            self.net = timm.create_model(self.MODEL, pretrained=False, num_classes=0)
            self.name = "DINO ViT-S/16 architecture, random weights (test only)"
        self.net.eval().requires_grad_(False)
        cfg = self.net.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)
        self.size = int(cfg["input_size"][-1])
        self.num_features = int(self.net.num_features)

    def _cached(self) -> str:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(self.HUB_ID, filename)
            if isinstance(found, str) and os.path.isfile(found):
                return found
        raise DmpbenchError(f"DINO ViT-S/16 weights ({self.HUB_ID}) are not in the local Hugging Face cache; on a "
                            f"networked machine run  python -c \"import timm; timm.create_model('{self.MODEL}', "
                            f"pretrained=True)\"  and copy the cache (HF_HOME) here")

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        dev = self.mean.device
        x = F.interpolate(images.float().to(dev), size=(self.size, self.size), mode="bicubic", antialias=True, align_corners=False)
        return self.net((x.clamp(0, 1) - self.mean) / self.std)


class FaceNetFeatures(FeatureExtractor):
    WEIGHTS = "20180402-114759-vggface2.pt"
    SIZE = 160

    def __init__(self, pretrained: str | None = "vggface2", align: bool = True):
        super().__init__()
        from facenet_pytorch import MTCNN, InceptionResnetV1
        from facenet_pytorch.models.inception_resnet_v1 import get_torch_home

        if pretrained:
            if pretrained != "vggface2":
                raise DmpbenchError(f"Face-ID uses facenet-pytorch's vggface2 weights, not {pretrained!r}")
            path = Path(get_torch_home()) / "checkpoints" / self.WEIGHTS
            if not path.is_file():
                raise DmpbenchError(f"FaceNet VGGFace2 weights are not on disk ({path} is missing); on a networked machine "
                                    "run  python -c \"from facenet_pytorch import InceptionResnetV1; "
                                    "InceptionResnetV1(pretrained='vggface2')\"  and copy the file there")
            self.name = "facenet-pytorch InceptionResnetV1 (vggface2)"
        else:
            self.name = "facenet-pytorch InceptionResnetV1, random weights (test only)"
        self.net = InceptionResnetV1(pretrained=pretrained or None, classify=False).eval().requires_grad_(False)
        self.align = align
        if align:
            self.name += " + MTCNN alignment"
            self.mtcnn = MTCNN(image_size=self.SIZE, margin=0, post_process=True, device="cpu")
        self.num_features = 512
        self.no_face = 0

    def _faces(self, images: torch.Tensor) -> torch.Tensor:
        from facenet_pytorch import fixed_image_standardization

        whole = F.interpolate(images.float(), size=(self.SIZE, self.SIZE), mode="bilinear", antialias=True, align_corners=False)
        whole = fixed_image_standardization(whole.clamp(0, 1) * 255)
        if not self.align:
            return whole
        arrays = (images.clamp(0, 1).permute(0, 2, 3, 1) * 255).round().byte().cpu().numpy()
        out = []
        for i, arr in enumerate(arrays):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                face = self.mtcnn(arr)
            if face is None:
                self.no_face += 1
                face = whole[i]
            out.append(face)
        return torch.stack(out)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        dev = next(self.net.parameters()).device
        return self.net(self._faces(images.cpu()).to(dev))
