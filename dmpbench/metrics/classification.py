"""Classification metrics: top-1 accuracy (in %) of prompted CLIP classifiers and the harmonic mean."""

from __future__ import annotations

import torch


def harmonic_mean(base: float, new: float) -> float:
    """HM = 2·B·N / (B + N) (CoCoOp), 0 when both are 0."""
    return 0.0 if base + new == 0 else 2.0 * base * new / (base + new)


def similarities(image_features: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
    """``[P, N, C]`` cosine similarity of every test image to every class under each of P prompt sets: the one rule by
    which every classifier here is applied (the logit scale does not change the arg-max, so it is left out).

    ``image_features`` [N, D] (any norm), or [P, N, D] when each prompt set has its own image features (a generated
    prompt that also prompts the image tower: ``dmp_maple``); ``class_embeddings`` L2-normalised, [P, C, D] (one
    classifier per prompt set) or [P, N, C, D] (every image its own: CoCoOp, Prompt Diffusion)."""
    feats = image_features.float()
    feats = feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    emb = class_embeddings.float().to(feats.device)
    if feats.dim() == 3 and feats.shape[0] != emb.shape[0]:
        raise ValueError(f"{feats.shape[0]} image feature sets for {emb.shape[0]} prompt sets")
    if emb.dim() == 4:
        return torch.einsum("nd,pncd->pnc" if feats.dim() == 2 else "pnd,pncd->pnc", feats, emb)
    return torch.stack([(feats[p] if feats.dim() == 3 else feats) @ emb[p].T for p in range(emb.shape[0])])


def predictions(image_features: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
    """``[P, N]`` predicted class index of every test image under each prompt set (``similarities``' arg-max)."""
    return similarities(image_features, class_embeddings).argmax(dim=-1)


def prompt_set_accuracies(image_features: torch.Tensor, class_embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Top-1 accuracy in % of each of P prompt sets (``predictions``; ``class_embeddings`` [P, C, D])."""
    pred = predictions(image_features, class_embeddings)
    return (pred == labels.to(pred.device)).float().mean(dim=1) * 100.0


def per_image_accuracies(image_features: torch.Tensor, class_embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Top-1 accuracy in % of each of P prompt sets when every image has its own classifier (image-conditioned
    prompts: CoCoOp, Prompt Diffusion): ``class_embeddings`` [P, N, C, D]; ``image_features`` [N, D], or [P, N, D]
    when each prompt set has its own (Prompt Diffusion over MaPLe: the prompt drives the tower)."""
    if class_embeddings.dim() != 4:
        raise ValueError(f"per-image class embeddings are [P, N, C, D], not {list(class_embeddings.shape)}")
    return prompt_set_accuracies(image_features, class_embeddings, labels)


def accuracy(image_features: torch.Tensor, class_embeddings: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean top-1 accuracy (%) over the P prompt sets (DMP reports the mean over sampled prompts)."""
    if labels.numel() == 0:
        raise ValueError("no test images to evaluate")
    return float(prompt_set_accuracies(image_features, class_embeddings, labels).mean())
