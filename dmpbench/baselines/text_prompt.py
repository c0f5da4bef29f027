"""The plain prompt (the zero-shot analogue for generation): the request's text, nothing learned."""

from __future__ import annotations

from dmpbench.backbones.synthesis.base import SynthesisBackbone
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.registry import METHODS


@METHODS.register("text_prompt")
class TextPrompt(GenerationMethod):
    """The plain text prompt for the synthesis model (no learning)."""

    name = "text_prompt"

    def fit(self, data: GenerationData) -> None:
        pass

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        texts = [p.format(request.concept) if request.concept is not None else p for p in request.prompts]
        return PromptEmbeddings([t for t in texts for _ in range(request.n)])
