"""LPIPS (Zhang et al. 2018) from the ``lpips`` package with the AlexNet trunk, as Concept Sliders uses it:
the distance between the edited and the unedited image generated from the same seed and prompt (lower =
the edit preserved more of the image).

The package ships its learned linear layers (``weights/v0.1/alex.pth``) in the wheel; the AlexNet trunk's
ImageNet weights come from torchvision's hub cache (``alexnet-owt-7be5be79.pth``) and are never downloaded
here: when they are missing, constructing ``Lpips()`` fails with one line. ``Lpips(pretrained_trunk=False)``
builds a random trunk with the real linear layers (tests only; its ``name`` says so).

``FeatureLpips`` is the stand-in where no trained trunk exists offline (the mini world): LPIPS's
computation (``lpips.normalize_tensor`` unit-normalises each position's channel vector; squared
differences summed over channels; ``lpips.lpips.spatial_average``) on the layers of another network, with
no learned linear weights (the package's "baseline" mode, ``lpips=False``), averaged over layers (the
baseline sums them; the mean keeps the scale in [0, 4] whatever the number of layers). Its ``name``
says which network and that it is a stand-in; its numbers are not comparable with LPIPS's.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

from dmpbench.metrics.extractors import torch_hub_checkpoint

ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"


class PairedDistance:
    """A distance between paired images ``[N, 3, H, W]`` in ``[0, 1]``, computed ``batch_size`` pairs at a
    time by ``_batch`` (one value per pair); the one loop both LPIPS variants share."""

    @torch.no_grad()
    def distances(self, a: torch.Tensor, b: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """``[N]`` distances of the pairs (0 for identical images)."""
        if a.shape != b.shape:
            raise ValueError(f"LPIPS compares paired images of one shape, got {list(a.shape)} and {list(b.shape)}")
        return torch.cat([self._batch(a[i : i + batch_size].float(), b[i : i + batch_size].float()).flatten().cpu()
                          for i in range(0, len(a), batch_size)])

    def _batch(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> float:
        """Mean distance of the pairs."""
        return float(self.distances(a, b).mean())


class Lpips(PairedDistance):
    def __init__(self, pretrained_trunk: bool = True, device: str | torch.device = "cpu"):
        import lpips

        if pretrained_trunk:
            torch_hub_checkpoint(ALEXNET_WEIGHTS, "LPIPS's AlexNet trunk (torchvision ImageNet)",
                                 "python -c \"import torchvision; torchvision.models.alexnet(weights='IMAGENET1K_V1')\"")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's deprecation of alexnet(pretrained=...) inside lpips
            self.net = lpips.LPIPS(net="alex", version="0.1", pnet_rand=not pretrained_trunk, verbose=False)
        self.net.eval().requires_grad_(False).to(device)
        self.device = torch.device(device)
        self.name = "lpips 0.1 alex" + ("" if pretrained_trunk else ", random AlexNet trunk (test only)")

    def _batch(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.net(a.to(self.device) * 2 - 1, b.to(self.device) * 2 - 1)  # lpips takes images in [-1, 1]


class FeatureLpips(PairedDistance):
    """LPIPS-style distance (no learned weights) on the layers ``layers(images)`` returns (``[N, C, H, W]``
    each; images ``[N, 3, H, W]`` in ``[0, 1]``)."""

    def __init__(self, layers: Callable[[torch.Tensor], list[torch.Tensor]], name: str):
        self.layers, self.name = layers, name

    def _batch(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        import lpips
        from lpips.lpips import spatial_average

        per_layer = [spatial_average(((lpips.normalize_tensor(x) - lpips.normalize_tensor(y)) ** 2).sum(1, keepdim=True))
                     for x, y in zip(self.layers(a), self.layers(b))]
        return torch.stack(per_layer).mean(0)
