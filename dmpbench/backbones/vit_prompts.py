"""Deep prompts inside open_clip transformers: the one implementation shared by every backbone.

Both the paper world's ``OpenClipBackbone`` (ViT-B/16) and the mini CLIP (a small open_clip
``VisionTransformer``) encode images with visual prompts through :func:`encode_image`, so VPT / MaPLe /
PromptSRC-style learners see exactly the same insertion rule in both worlds:

* tensor 0 (``[n, width]``, or ``[B, n, width]`` per image) is appended to the patch tokens after the
  positional embedding (and patch dropout) and before ``ln_pre`` (MaPLe's placement; VPT's shallow prompts);
* tensor ``j >= 1`` replaces those ``n`` tokens at the input of vision layer ``j`` (VPT-deep / MaPLe);
* the prompt tokens are dropped before pooling, so the class token (or the patch mean) is pooled as usual.

No prompts, an empty list, or prompts with zero tokens give the plain ``VisionTransformer.forward``.
:func:`run_blocks` is the layer loop with an injection hook; the text side of ``OpenClipBackbone`` uses it
for deep text prompts too.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from dmpbench.errors import DmpbenchError


def run_blocks(transformer: nn.Module, x: torch.Tensor, attn_mask, inject: Callable | None, n_deep: int) -> torch.Tensor:
    """open_clip ``Transformer.forward`` with ``inject(x, layer)`` applied (batch-first) before layers 1..n_deep."""
    if inject is None or n_deep == 0:
        return transformer(x, attn_mask=attn_mask) if attn_mask is not None else transformer(x)
    batch_first = getattr(transformer, "batch_first", True)
    blocks = transformer.resblocks
    if n_deep > len(blocks) - 1:
        raise DmpbenchError(f"{n_deep} deep prompts given but the transformer has only {len(blocks) - 1} layers after the first")
    if not batch_first:
        x = x.transpose(0, 1)
    for i, blk in enumerate(blocks):
        if 1 <= i <= n_deep:
            x = inject(x, i) if batch_first else inject(x.transpose(0, 1), i).transpose(0, 1)
        x = blk(x, attn_mask=attn_mask)
    if not batch_first:
        x = x.transpose(0, 1)
    return x


def check_visual_prompts(visual: nn.Module, prompts: Sequence[torch.Tensor] | None, batch: int,
                         model: str = "this model") -> list[torch.Tensor]:
    """Validate visual prompts for ``visual``; returns them as a list, empty when they insert nothing."""
    prompts = list(prompts or [])
    if not prompts:
        return []
    from open_clip.transformer import VisionTransformer

    if not isinstance(visual, VisionTransformer) or getattr(visual, "attn_pool", None) is not None:
        raise DmpbenchError(f"visual prompts are not supported yet for {model} ({type(visual).__name__}); only plain ViTs")
    width, layers = visual.transformer.width, len(visual.transformer.resblocks)
    for i, p in enumerate(prompts):
        if not isinstance(p, torch.Tensor) or p.dim() not in (2, 3) or p.shape[-1] != width:
            shape = list(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
            raise DmpbenchError(f"visual prompt {i} must be [n, {width}] or [batch, n, {width}] for {model}, got {shape}")
        if p.dim() == 3 and p.shape[0] != batch:
            raise DmpbenchError(f"visual prompt {i} has {p.shape[0]} rows for a batch of {batch} images")
    n = prompts[0].shape[-2]
    if any(p.shape[-2] != n for p in prompts):
        raise DmpbenchError("all visual prompts must have the same number of tokens")
    if len(prompts) > layers:
        raise DmpbenchError(f"{len(prompts)} visual prompts given but {model}'s vision transformer has {layers} layers")
    return [] if n == 0 else prompts


def prompt_geometry(visual: nn.Module, model: str = "this model") -> tuple[int, int]:
    """``(layers, width)`` of the vision transformer visual prompts go into (a plain ViT only)."""
    from open_clip.transformer import VisionTransformer

    if not isinstance(visual, VisionTransformer) or getattr(visual, "attn_pool", None) is not None:
        raise DmpbenchError(f"visual prompts are not supported yet for {model} ({type(visual).__name__}); only plain ViTs")
    return len(visual.transformer.resblocks), int(visual.transformer.width)


def _batch_prompt(p: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    p = p.to(device=like.device, dtype=like.dtype)
    return p.unsqueeze(0).expand(like.shape[0], -1, -1) if p.dim() == 2 else p


def encode_image(visual: nn.Module, images: torch.Tensor, prompts: Sequence[torch.Tensor] | None = None,
                 model: str = "this model") -> torch.Tensor:
    """``visual(images)``, with visual prompts inserted as the module docstring says when there are any."""
    prompts = check_visual_prompts(visual, prompts, images.shape[0], model)
    if not prompts:
        return visual(images)
    v, n = visual, prompts[0].shape[-2]
    # open_clip VisionTransformer._embeds, with the prompt tokens appended before ln_pre (MaPLe's placement)
    x = v.conv1(images)
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = v.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)
    x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
    x = v.patch_dropout(x)
    x = torch.cat([x, _batch_prompt(prompts[0], x)], dim=1)
    x = v.ln_pre(x)

    def inject(h: torch.Tensor, layer: int) -> torch.Tensor:
        return torch.cat([h[:, :-n], _batch_prompt(prompts[layer], h)], dim=1)

    x = run_blocks(v.transformer, x, None, inject, len(prompts) - 1)
    x = x[:, :-n]  # drop the prompt tokens before pooling
    pooled, _ = v._pool(x)
    if v.proj is not None:
        pooled = pooled @ v.proj
    return pooled
