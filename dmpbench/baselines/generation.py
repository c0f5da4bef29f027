"""The plugin interface of a generation method (textual inversion, sliders, DMPMulti, DreamDistribution, ...).

Like a classification method, a generation method is fitted on what a task gives it and answers the task's
requests; it never renders or scores images itself. The request is "prompt embeddings for these prompts":
the answer is a ``PromptEmbeddings`` (prompt texts with the ``<*>`` placeholder where learned tokens go,
and the learned tokens as a tensor in the synthesis backbone's token-embedding space), which the task
hands to the synthesis backbone (``encode`` then ``generate``). A plain prompt is texts with no learned
tokens; a learned subject token is ``"a photo of <*>"`` with ``[K, ctx_dim]``; a generator of prompts
(DMP) answers ``[P, K, ctx_dim]``, one row per image.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch

from dmpbench.backbones.synthesis.base import PLACEHOLDER, SynthesisBackbone
from dmpbench.baselines.base import Method


@dataclass
class GenerationData:
    """What a task gives a generation method to fit on."""

    synthesis: SynthesisBackbone  # the image model whose text space the prompts live in
    dataset: str  # the unit (dataset / subject set / concept set) being evaluated
    classnames: list[str] = field(default_factory=list)  # caption classes, concepts or identities of the unit
    template: str = "a photo of a {}."  # how a class name becomes a prompt
    images: torch.Tensor | None = None  # reference images [N, 3, H, W] in [0, 1] (subjects), if any
    labels: torch.Tensor | None = None  # which class / subject each reference image shows
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific material (attribute pairs, repositories)


@dataclass(frozen=True)
class GenerationRequest:
    """Render these prompts (``{}`` is where the requested concept goes), ``n`` images each."""

    prompts: tuple[str, ...]
    concept: str | None = None  # class / subject / attribute the prompts are about
    n: int = 1
    strength: float = 1.0  # slider strength; methods without one ignore it


@dataclass
class PromptEmbeddings:
    """The answer: one text per image row, and the learned tokens spliced at each text's ``<*>``."""

    texts: list[str]
    learned: torch.Tensor | None = None  # None, [K, ctx_dim] (shared) or [len(texts), K, ctx_dim]

    def __post_init__(self) -> None:
        marked = [PLACEHOLDER in t for t in self.texts]
        if self.learned is None and any(marked):
            raise ValueError(f"texts carry {PLACEHOLDER} but no learned tokens are given")
        if self.learned is not None and not all(marked):
            raise ValueError(f"learned tokens are given but a text has no {PLACEHOLDER}")


class GenerationMethod(Method):
    capabilities = ("generation",)

    @abstractmethod
    def fit(self, data: GenerationData) -> None:
        """Learn from what the task gives (may do nothing, as ``text_prompt``)."""

    @abstractmethod
    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        """Prompt embeddings for ``request``: ``request.n`` rows per prompt, prompt-major."""

    def denoiser(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> contextlib.AbstractContextManager:
        """A context in which the synthesis model's denoiser is changed for ``request`` (a concept slider's
        LoRA at the request's strength); the unchanged model by default. The task renders inside it."""
        return contextlib.nullcontext()
