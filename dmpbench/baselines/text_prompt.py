"""The plain prompt (the zero-shot analogue for generation): the request's text, nothing learned.

On the slider task the request names a concept and gives the plain prompts; the text prompt is the same
prompt with the attribute written in words (the concept's ``(plain, edited)`` evaluation pairs), what a user
without a slider would type. Its strength is ignored (text has no scale). On the identity task a subject is
written as its class noun ("a photo of a smiling man"): the floor with no knowledge of the person."""

from __future__ import annotations

from dmpbench.backbones.synthesis.base import SynthesisBackbone
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.registry import METHODS


@METHODS.register("text_prompt")
class TextPrompt(GenerationMethod):
    """The plain text prompt for the synthesis model (no learning)."""

    name = "text_prompt"

    def fit(self, data: GenerationData) -> None:
        self.edited = {(c.name, plain): edited for c in data.extra.get("concepts", ()) for plain, edited in c.eval_prompts}
        self.words = dict(data.extra.get("subject_words", {}))  # identity task: a subject is written as its class noun

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        edited, words = getattr(self, "edited", {}), getattr(self, "words", {})
        texts = [edited[(request.concept, p)] if (request.concept, p) in edited
                 else p.format(words.get(request.concept, request.concept)) if request.concept is not None else p for p in request.prompts]
        return PromptEmbeddings([t for t in texts for _ in range(request.n)])
