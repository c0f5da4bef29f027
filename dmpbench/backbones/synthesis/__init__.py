"""Synthesis backbones: prompt embeddings -> images (``base.py`` has the interface).

``load_synthesis(spec)`` picks one by name: ``mini`` / ``mini-sd`` (the built-in mini latent diffusion
model), a paper preset (``sd-rv4``, ``sd15``, ``sdxl``), ``sd1:SOURCE`` / ``sdxl:SOURCE``, or a diffusers
folder / cached Hugging Face repo id.
"""

from __future__ import annotations

import torch

from dmpbench.backbones.synthesis.base import PLACEHOLDER, Conditioning, Recipe, SynthesisBackbone, to_uint8

MINI_NAMES = ("mini", "mini-sd")


def load_synthesis(spec: str = "mini", device: str | torch.device = "cpu", **kwargs) -> SynthesisBackbone:
    if spec in MINI_NAMES:
        from dmpbench.backbones.synthesis.mini_sd import load_mini_sd

        return load_mini_sd(device=device, **kwargs)
    from dmpbench.backbones.synthesis.stable_diffusion import load_paper_synthesis

    return load_paper_synthesis(spec, device=device, **kwargs)


__all__ = ["PLACEHOLDER", "Conditioning", "Recipe", "SynthesisBackbone", "load_synthesis", "to_uint8"]
