"""How a prompt ``[K, d]`` becomes the 1D signal the DMP diffuses, and back.

* **Normalisation**: each of the K*d prompt values is standardised with the repository's
  per-dimension mean and std (stored in the checkpoint), so the diffusion sees roughly N(0, 1) data.
* **Signal layout** (no VAE): the flattened, normalised vector (row-major: token k, then dimension)
  is zero-padded to ``channels * length`` values and reshaped to ``[channels, length]``: channel c
  holds the contiguous chunk ``c*length ... (c+1)*length - 1``. ``length`` is the U-Net preset's
  signal length (16 for ``paper``, matching the 16x8 VAE latent of Table 17 and its attention at
  lengths 16, 8, 4; 8 for ``small``), so e.g. a 768-d prompt is a 48 x 16 signal.
* **With the VAE** (K*d >= 2048 by default): the normalised vector is one channel of length
  K*d (zero-padded to a multiple of the VAE's down-sampling factor times the U-Net's), encoded to a
  ``[8, K*d/128]`` latent (16 x 8 for K*d = 2048), which is standardised again per dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SignalLayout:
    numel: int
    channels: int
    length: int

    @classmethod
    def for_length(cls, numel: int, length: int) -> SignalLayout:
        return cls(numel, math.ceil(numel / length), length)

    def to_signal(self, flat: torch.Tensor) -> torch.Tensor:
        """[N, numel] -> [N, channels, length] (zero padding at the end)."""
        pad = self.channels * self.length - self.numel
        return torch.nn.functional.pad(flat, (0, pad)).reshape(-1, self.channels, self.length)

    def from_signal(self, signal: torch.Tensor) -> torch.Tensor:
        """[N, channels, length] -> [N, numel]."""
        return signal.reshape(signal.shape[0], -1)[:, : self.numel]


class Standardizer(torch.nn.Module):
    """Per-dimension mean/std, stored as buffers so they travel in the checkpoint."""

    def __init__(self, numel: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(numel))
        self.register_buffer("std", torch.ones(numel))

    @torch.no_grad()
    def fit(self, flat: torch.Tensor, min_std: float = 1e-4, per_dimension: bool = True) -> Standardizer:
        """Mean per dimension; std per dimension, or (``per_dimension=False``) one std for all, which keeps
        the geometry between points (whitening N points in N - 1 dimensions would put every pair at the
        same distance)."""
        self.mean.copy_(flat.mean(0))
        std = flat.std(0) if flat.shape[0] > 1 else torch.ones_like(self.std)
        if not per_dimension and flat.shape[0] > 1:
            std = torch.full_like(std, float((flat - flat.mean(0)).pow(2).mean().sqrt()))
        self.std.copy_(std.clamp_min(max(min_std, 1e-3 * float(std.max()))))
        return self

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return (flat - self.mean) / self.std

    def inverse(self, flat: torch.Tensor) -> torch.Tensor:
        return flat * self.std + self.mean


class PrincipalSubspace(torch.nn.Module):
    """The repository's principal subspace: standardised prompts [N, numel] -> coordinates [N, dims] on
    the top ``dims`` principal directions of the training prompts, divided by one global scale so the
    coordinates have unit variance on average (the geometry between prompts is kept; no whitening).

    Why: a repository of N prompts spans at most N - 1 directions, so a DMP over K*d values (1536 for
    the mini CLIP) spends its capacity on directions with no training signal. Diffusing in the span
    (``DMP(subspace=dims)``) makes denoising the training prompts a ``dims``-dimensional problem;
    samples are decoded back into prompt space. Directions beyond N - 1 are zero rows (their
    coordinates are always 0)."""

    def __init__(self, numel: int, dims: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(numel))
        self.register_buffer("basis", torch.zeros(dims, numel))
        self.register_buffer("scale", torch.ones(()))

    @torch.no_grad()
    def fit(self, flat: torch.Tensor) -> PrincipalSubspace:
        self.mean.copy_(flat.mean(0))
        centred = (flat - self.mean).double()
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        k = min(self.basis.shape[0], vh.shape[0], max(flat.shape[0] - 1, 1))
        self.basis.zero_()
        self.basis[:k] = vh[:k].to(self.basis)
        coords = (flat - self.mean) @ self.basis.T
        self.scale.copy_(coords[:, :k].pow(2).mean().sqrt().clamp_min(1e-8))
        return self

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return (flat - self.mean) @ self.basis.T / self.scale

    def inverse(self, coords: torch.Tensor) -> torch.Tensor:
        return coords * self.scale @ self.basis + self.mean
