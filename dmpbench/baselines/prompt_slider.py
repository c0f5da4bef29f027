"""Prompt Sliders (Sridhar & Vasconcelos, ECCVW 2024): one learned token per concept, appended to the prompt
and scaled by the slider strength (DMP section 3.3: "S by alpha S").

Recipe (the authors' ``textual_inversion.py`` run on Concept Sliders' prompt settings): a token initialised
from the concept's word (``initializer_token``), AdamW (betas 0.9 / 0.999, weight decay 0.01), constant
learning rate, batch 1; the DMP paper trains 3,000 steps on SD-XL and keeps the last 200 steps every 5
(40 prompts per concept) as the slider repository. The loss is the guided target of
``slider_training.py`` (eta = 4, Concept Sliders' guidance) on the target prompt with the token appended.
Mini world: 300 steps at batch 1 (batch 1, the recipe's: batch 2 until the image-synthesis set had to fit its 30-minute budget) and learning rate 5e-3 (the repository: the last 200 steps every 5).

All concepts of a run train together as one stacked parameter ``[C, K, d]`` with the per-concept losses
summed: AdamW is element-wise, so each concept's token follows exactly the trajectory it would alone
(each concept draws its own samples from a stream seeded by the run's seed and its name). Cached per (synthesis weights, concepts, recipe, seed);
``audit["prompt_slider"]`` holds the loss at the start and end of training.
"""

from __future__ import annotations

from typing import Any

import torch

from dmpbench.backbones.synthesis.base import PLACEHOLDER, SynthesisBackbone
from dmpbench.baselines import slider_training as st
from dmpbench.cachefiles import cached_tensors
from dmpbench.baselines.token_training import loss_stats, train_tokens, word_init
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.data.slider_concepts import SliderConcept
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS

SLIDER_DEFAULTS: dict[str, Any] = {
    "steps": 3000, "batch_size": 1, "lr": 5e-4, "eta": 4.0, "pool_size": 3000, "pool_images": 64,
    "snapshot_every": 5, "snapshot_span": 200,
}
SLIDER_MINI: dict[str, Any] = {"steps": 300, "batch_size": 1, "lr": 5e-3, "pool_size": 256, "pool_images": 32}
SLIDER_RANGES = {"steps": ">=1", "batch_size": ">=1", "lr": ">0", "eta": ">0", "pool_size": ">=1", "pool_images": ">=1",
                 "snapshot_every": ">=1", "snapshot_span": ">=1", "tokens": ">=1"}


def check_snapshots(name: str, config: dict) -> None:
    """The repository schedule must keep at least one snapshot inside the training run (before any work)."""
    if config["snapshot_span"] > config["steps"]:
        raise DmpbenchError(f"method '{name}': snapshot_span ({config['snapshot_span']}) is longer than training ({config['steps']} steps)")
    if config["snapshot_every"] > config["snapshot_span"]:
        raise DmpbenchError(f"method '{name}': snapshot_every ({config['snapshot_every']}) is longer than snapshot_span ({config['snapshot_span']}): no snapshot would be kept")


def slider_prompt(plain: str) -> str:
    """Where a prompt slider's token goes: appended to the prompt (Prompt Sliders)."""
    return f"{plain} {PLACEHOLDER}"


def train_prompt_sliders(synthesis: SynthesisBackbone, concepts: list[SliderConcept], cfg: dict, seed: int, ctx,
                         ) -> tuple[dict[str, torch.Tensor], dict]:
    """``({"repository": [C, S, K, d]}, stats)``: the snapshots of every concept's token (concept order)."""
    keep = st.snapshot_steps(cfg["steps"], cfg["snapshot_every"], cfg["snapshot_span"])
    key = {"synthesis": synthesis.cache_key, "concepts": st.concept_key(concepts), "seed": seed,
           "recipe": {k: cfg[k] for k in (*SLIDER_DEFAULTS, "tokens")}}

    def build():
        pool = st.cached_pool(synthesis, concepts, cfg, seed, ctx)
        init = torch.stack([word_init(synthesis, c.init_word, cfg["tokens"]) for c in concepts])
        targets = torch.stack([pool.targets[c.name] for c in concepts])  # [C, N, ...]
        streams = torch.stack([torch.stack(st.batches(len(pool), cfg["batch_size"], cfg["steps"], st.concept_seed(seed, c)))
                               for c in concepts], 1)  # [steps, C, b]: each concept's own samples

        def batch(step, idx):
            flat = idx.flatten()
            texts = [slider_prompt(concepts[ci].target[int(pool.preserved[j])]) for ci, row in enumerate(idx) for j in row]
            rows = torch.arange(len(concepts)).repeat_interleave(idx.shape[1])
            return texts, pool.latents[flat], pool.timesteps[flat], targets[rows, flat]

        snaps, losses = train_tokens(synthesis, init, streams, batch, cfg["lr"], keep,
                                     lambda it: ctx.bar(it, desc="prompt sliders"))
        stats = {"optimizer_steps": cfg["steps"], "snapshots": snaps.shape[1], **loss_stats(losses, [c.name for c in concepts])}
        return {"repository": snaps}, stats

    return cached_tensors(ctx, "prompt_slider", key, build)


def concepts_of(data: GenerationData) -> list[SliderConcept]:
    concepts = data.extra.get("concepts")
    if not concepts:
        raise DmpbenchError("slider methods need the task's slider concepts (run them with --task slider)")
    return list(concepts)


@METHODS.register("prompt_slider")
class PromptSlider(GenerationMethod):
    """Prompt Sliders: a learned token per concept, appended to the prompt and scaled by the slider strength."""

    name = "prompt_slider"
    default_config = {**SLIDER_DEFAULTS, "tokens": 1}
    world_defaults = {"mini": SLIDER_MINI}
    ranges = SLIDER_RANGES

    @classmethod
    def validate_config(cls, config: dict) -> None:
        check_snapshots(cls.name, config)

    def fit(self, data: GenerationData) -> None:
        self.concepts = {c.name: c for c in concepts_of(data)}
        tensors, stats = train_prompt_sliders(data.synthesis, list(self.concepts.values()), self.config, self.ctx.seed, self.ctx)
        self.tokens = {name: tensors["repository"][i, -1] for i, name in enumerate(self.concepts)}  # the final step
        self.ctx.audit["prompt_slider"] = stats

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        token = self.tokens[request.concept]
        texts = [slider_prompt(p) for p in request.prompts for _ in range(request.n)]
        return PromptEmbeddings(texts, request.strength * token)
