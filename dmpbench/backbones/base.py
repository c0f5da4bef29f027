"""The backbone interface every CLIP-like model implements (open_clip ViT-B/16, the mini CLIP, plugins).

Tasks and methods only ever talk to a backbone through this interface, so the same protocol and method
code runs in the paper world (open_clip) and in the mini world. All weights are frozen: the only tensors
that may receive gradients are the context vectors a prompt learner passes in.

Conventions
-----------
* Features returned by ``encode_*`` are *not* L2-normalised; callers normalise (CLIP style).
* ``ctx_dim`` is the width of the text model's token-embedding space (512 for ViT-B/16, 384 for MiniLM):
  learned context vectors live there.
* Context tensors are either ``[K, ctx_dim]`` (one unified context shared by all classes) or
  ``[C, K, ctx_dim]`` (class-specific context, CoOp's CSC), and are inserted in place of the K placeholder
  tokens of ``"X X X X {classname}."`` (CoOp's construction).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

import torch
from PIL import Image


class Backbone(ABC):
    #: registry name of the backbone family ("mini", "openclip", ...)
    family: str = ""
    #: "mini" or "paper": which world this backbone belongs to (shown in the run header)
    world: str = "paper"

    def __init__(self) -> None:
        self.device = torch.device("cpu")

    # -- identity -----------------------------------------------------------------------------
    @property
    @abstractmethod
    def name(self) -> str:
        """Human-readable identity, e.g. ``"ViT-B-16/openai"`` or ``"mini-clip"``."""

    @property
    @abstractmethod
    def cache_key(self) -> str:
        """Identifies the weights exactly (model, pretrained tag, checkpoint hash) for the feature cache."""

    @property
    @abstractmethod
    def embed_dim(self) -> int:
        """Width of the joint image-text embedding space."""

    @property
    @abstractmethod
    def ctx_dim(self) -> int:
        """Width of the text model's token-embedding space (where context vectors live)."""

    @property
    @abstractmethod
    def logit_scale(self) -> float:
        """Multiplier applied to cosine similarities (CLIP's exp(logit_scale), 100 for OpenAI CLIP)."""

    # -- devices ------------------------------------------------------------------------------
    @abstractmethod
    def to(self, device: torch.device | str) -> "Backbone":
        """Move the weights; returns self."""

    # -- images -------------------------------------------------------------------------------
    @abstractmethod
    def image_transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """The evaluation transform: PIL RGB image -> float tensor ``[3, H, W]``."""

    @property
    def transform_key(self) -> str:
        """Identifies the image transform for the feature cache (override when it can change)."""
        return repr(self.image_transform())

    @abstractmethod
    def encode_image(self, images: torch.Tensor, visual_prompts: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``[B, 3, H, W]`` -> ``[B, embed_dim]``.

        ``visual_prompts`` is the extension point for deep vision prompts (VPT / MaPLe / PromptSRC):
        one ``[n_tokens, width]`` tensor per transformer layer. Backbones that cannot take them raise
        ``DmpbenchError``.
        """

    def visual_prompt_geometry(self) -> tuple[int, int]:
        """``(layers, width)`` of the vision transformer ``encode_image``'s visual prompts go into: at most
        ``layers`` tensors of ``[n, width]``. Backbones without one raise ``DmpbenchError``."""
        from dmpbench.errors import DmpbenchError

        raise DmpbenchError(f"backbone {self.name} takes no visual prompts")

    # -- text ---------------------------------------------------------------------------------
    @abstractmethod
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Plain prompts -> ``[N, embed_dim]``."""

    @abstractmethod
    def token_embeddings(self, text: str) -> torch.Tensor:
        """Token embeddings ``[n_tokens, ctx_dim]`` of ``text``'s own tokens (no start/end tokens).

        CoOp initialises its K context vectors from ``token_embeddings("a photo of a")``.
        """

    def vocabulary_embeddings(self) -> torch.Tensor:
        """The text model's whole token-embedding table ``[vocabulary, ctx_dim]`` (frozen; row i is token id i),
        for methods that discretise prompts into tokens (DMP A.5.1's GPT-2 baseline)."""
        from dmpbench.errors import DmpbenchError

        raise DmpbenchError(f"backbone {self.name} does not expose its token-embedding table")

    @abstractmethod
    def encode_with_context(
        self,
        ctx: torch.Tensor,
        classnames: Sequence[str],
        class_token_position: str = "end",
        text_prompts: Sequence[torch.Tensor] | None = None,
        batch_size: int = 256,
    ) -> torch.Tensor:
        """CoOp's soft-prompt text encoding -> ``[C, embed_dim]``, differentiable with respect to ``ctx``.

        ``ctx`` is ``[K, ctx_dim]`` (unified) or ``[C, K, ctx_dim]`` (class-specific).
        ``class_token_position`` is ``"end"``, ``"middle"`` or ``"front"`` as in CoOp.
        ``text_prompts`` is the extension point for deep text prompts (MaPLe / PromptSRC): one
        ``[n_tokens, ctx_dim]`` tensor per transformer layer after the first.
        Classes are processed ``batch_size`` at a time so 1,000 classes fit in memory.
        """
