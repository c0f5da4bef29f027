"""The synthesis-backbone interface: prompt embeddings in, images out (Stable Diffusion 1.x, SDXL, mini SD).

A prompt reaches the image model the way a soft prompt reaches CLIP on the classification side: its text is
tokenised, the token embeddings (the text encoder's *input* space, ``ctx_dim`` wide) of placeholder tokens
are replaced by learned vectors, and the text encoder runs on the result. The encoder's output (the
``Conditioning``) is handed to a diffusers pipeline as ``prompt_embeds`` (and SDXL's pooled embeddings),
with a per-image seed, a guidance scale and a diffusers scheduler.

Conventions
-----------
* A prompt text marks where learned tokens go with ``PLACEHOLDER`` (``"<*>"``), at most once, e.g.
  ``"a photo of <*> smiling"``; ``learned`` is ``[K, ctx_dim]`` (shared by every text) or
  ``[B, K, ctx_dim]`` (one per text). Texts without the marker are plain prompts.
* ``generate`` returns float images ``[N, 3, H, W]`` in ``[0, 1]`` on the CPU; image ``i`` depends only on
  its own conditioning and ``seeds[i]`` (one ``torch.Generator`` per image), not on the batch it is in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

PLACEHOLDER = "<*>"


@dataclass(frozen=True)
class Recipe:
    """Sampling defaults of a model family (the papers' settings)."""

    guidance_scale: float
    steps: int
    scheduler: str = "ddim"


@dataclass
class Conditioning:
    """What the text encoder(s) give the denoiser: ``prompt_embeds [B, L, D]`` and, for SDXL,
    ``pooled [B, P]``."""

    prompt_embeds: torch.Tensor
    pooled: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.prompt_embeds.shape[0]

    def repeat(self, n: int) -> "Conditioning":
        """The same conditioning for ``n`` images (a batch of one expanded)."""
        if len(self) == n:
            return self
        if len(self) != 1:
            raise ValueError(f"cannot expand a conditioning of {len(self)} prompts to {n} images")
        pe = self.prompt_embeds.expand(n, -1, -1)
        return Conditioning(pe, None if self.pooled is None else self.pooled.expand(n, -1))

    def index(self, rows) -> "Conditioning":
        return Conditioning(self.prompt_embeds[rows], None if self.pooled is None else self.pooled[rows])

    @staticmethod
    def cat(parts: Sequence["Conditioning"]) -> "Conditioning":
        pooled = None if parts[0].pooled is None else torch.cat([p.pooled for p in parts])
        return Conditioning(torch.cat([p.prompt_embeds for p in parts]), pooled)


class SynthesisBackbone(ABC):
    #: "mini" or "paper"
    world: str = "paper"
    #: sampling defaults (guidance scale, steps, scheduler)
    recipe: Recipe = Recipe(7.5, 50)

    @property
    @abstractmethod
    def name(self) -> str:
        """Human-readable identity (``"mini-sd"``, ``"sd1:SG161222/Realistic_Vision_V4.0_noVAE"``)."""

    @property
    @abstractmethod
    def cache_key(self) -> str:
        """Identifies the weights exactly (for caches of generated images)."""

    @property
    @abstractmethod
    def ctx_dim(self) -> int:
        """Width of the text encoder's token-embedding space, where learned tokens live."""

    @property
    @abstractmethod
    def image_size(self) -> int:
        """Side of the generated images in pixels."""

    @abstractmethod
    def to(self, device: torch.device | str) -> "SynthesisBackbone":
        """Move the weights; returns self."""

    @abstractmethod
    def token_embeddings(self, text: str) -> torch.Tensor:
        """``[n_tokens, ctx_dim]``: the input embeddings of ``text``'s own tokens (no start/end tokens);
        textual inversion and sliders initialise learned tokens from these."""

    @abstractmethod
    def encode(self, texts: Sequence[str], learned: torch.Tensor | None = None) -> Conditioning:
        """Prompt texts (with ``PLACEHOLDER`` where ``learned`` goes) -> conditioning; differentiable
        with respect to ``learned``."""

    @abstractmethod
    def unconditional(self, n: int) -> Conditioning:
        """The negative / unconditional conditioning classifier-free guidance uses, for ``n`` images."""

    @abstractmethod
    def generate(self, cond: Conditioning, seeds: Sequence[int], guidance_scale: float | None = None,
                 steps: int | None = None, scheduler: str | None = None,
                 negative: Conditioning | None = None) -> torch.Tensor:
        """``[N, 3, H, W]`` images in ``[0, 1]`` (CPU, float32), one per seed."""


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[N, 3, H, W]`` in ``[0, 1]`` -> ``[N, H, W, 3]`` uint8 (what a PNG holds)."""
    return (images.clamp(0, 1).permute(0, 2, 3, 1).mul(255).round().to(torch.uint8).cpu().numpy())
