"""Similarity metrics of generated images, on features (one definition each; extractors in ``extractors.py``).

* CLIP score (Concept Sliders, Hessel et al.): ``100 · max(cos(image, text), 0)`` per image-text pair,
  averaged over pairs. torchmetrics' ``CLIPScore`` computes the same per-pair ``100 · cos`` and clamps the
  *mean* at 0 instead; the two agree whenever no pair has a negative cosine (cross-checked in the tests).
* CLIP-T (DreamBooth): mean cosine of each generated image and its prompt (the DMP paper prints it as a
  cosine in Table 5 and ×100 in Table 6; the leaderboard scales, the record keeps the cosine).
* CLIP-I, DINO, Face-ID (DreamBooth; DMP Tables 5, 6): mean pairwise cosine of generated and reference
  image features, with CLIP image features, DINO ViT-S/16 CLS features, or FaceNet (VGGFace2) embeddings
  of aligned faces respectively: ``mean_{i,j} cos(gen_i, ref_j)`` over all pairs.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def _pairs(image_feats: torch.Tensor, text_feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = image_feats.float(), text_feats.float().to(image_feats.device)
    if b.shape[0] == 1:
        b = b.expand(a.shape[0], -1)
    if a.shape != b.shape:
        raise ValueError(f"paired features must have the same shape (or one text row), got {list(a.shape)} and {list(b.shape)}")
    return a, b


def paired_cosine(image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
    """``[N]`` cosines of row i with row i (a single text row is paired with every image)."""
    a, b = _pairs(image_feats, text_feats)
    return F.cosine_similarity(a, b, dim=-1, eps=1e-12)


def clip_score(image_feats: torch.Tensor, text_feats: torch.Tensor) -> float:
    """Mean over pairs of ``100 · max(cos, 0)``."""
    return float((100.0 * paired_cosine(image_feats, text_feats)).clamp_min(0).mean())


def clip_t(image_feats: torch.Tensor, text_feats: torch.Tensor) -> float:
    """Mean cosine of each generated image and its prompt (a cosine in [-1, 1])."""
    return float(paired_cosine(image_feats, text_feats).mean())


def mean_pairwise_cosine(generated: torch.Tensor, reference: torch.Tensor) -> float:
    """``mean_{i,j} cos(generated_i, reference_j)``: CLIP-I, DINO and Face-ID similarity."""
    if generated.shape[0] == 0 or reference.shape[0] == 0:
        raise ValueError("need at least one generated and one reference image")
    a = F.normalize(generated.float(), dim=-1, eps=1e-12)
    b = F.normalize(reference.float().to(a.device), dim=-1, eps=1e-12)
    return float((a @ b.T).mean())


clip_i = mean_pairwise_cosine
dino_similarity = mean_pairwise_cosine
face_id_similarity = mean_pairwise_cosine
