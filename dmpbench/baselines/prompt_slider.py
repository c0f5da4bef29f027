"""Prompt Sliders (Sridhar & Vasconcelos, ECCVW 2024): one learned token per concept, appended to the prompt
and scaled by the slider strength (DMP section 3.3: "S by alpha S").

Recipe (the authors' ``textual_inversion.py`` run on Concept Sliders' prompt settings): a token initialised
from the concept's word (``initializer_token``), AdamW (betas 0.9 / 0.999, weight decay 0.01), constant
learning rate, batch 1; the DMP paper trains 3,000 steps on SD-XL and keeps the last 200 steps every 5
(40 prompts per concept) as the slider repository. The loss is the guided target of
``slider_training.py`` (eta = 4, Concept Sliders' guidance) on the target prompt with the token appended.
Mini world: 300 steps at batch 2 and learning rate 5e-3 (the repository: the last 200 steps every 5).

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
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.data.slider_concepts import SliderConcept
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS

SLIDER_DEFAULTS: dict[str, Any] = {
    "steps": 3000, "batch_size": 1, "lr": 5e-4, "eta": 4.0, "pool_size": 3000, "pool_images": 64,
    "snapshot_every": 5, "snapshot_span": 200,
}
SLIDER_MINI: dict[str, Any] = {"steps": 300, "batch_size": 2, "lr": 5e-3, "pool_size": 256, "pool_images": 32}
SLIDER_RANGES = {"steps": ">=1", "batch_size": ">=1", "lr": ">0", "eta": ">0", "pool_size": ">=1", "pool_images": ">=1",
                 "snapshot_every": ">=1", "snapshot_span": ">=1", "tokens": ">=1"}


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
        k = cfg["tokens"]
        init = []
        for c in concepts:
            emb = synthesis.token_embeddings(c.init_word).float()
            init.append(emb.mean(0, keepdim=True).expand(k, -1))  # a multi-piece word: the mean of its pieces
        tokens = torch.nn.Parameter(torch.stack(init).clone())
        opt = torch.optim.AdamW([tokens], lr=cfg["lr"], betas=(0.9, 0.999), weight_decay=1e-2)
        targets = torch.stack([pool.targets[c.name] for c in concepts])  # [C, N, ...]
        b, snaps, losses = cfg["batch_size"], [], []
        streams = torch.stack([torch.stack(st.batches(len(pool), b, cfg["steps"], st.concept_seed(seed, c))) for c in concepts], 1)
        for step, idx in enumerate(ctx.bar(streams, desc="prompt sliders"), start=1):  # idx [C, b]: concept c's own samples
            flat = idx.flatten()
            texts = [slider_prompt(concepts[ci].target[int(pool.preserved[j])]) for ci, row in enumerate(idx) for j in row]
            learned = tokens.repeat_interleave(b, 0)
            pred = synthesis.predict_noise(pool.latents[flat], pool.timesteps[flat], synthesis.encode(texts, learned)).float()
            target = targets[torch.arange(len(concepts)).repeat_interleave(b), flat].to(pred.device)
            per_concept = ((pred - target) ** 2).flatten(1).mean(1).view(len(concepts), b).mean(1)
            loss = per_concept.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(per_concept.detach().cpu())
            if step in keep:
                snaps.append(tokens.detach().cpu().clone())
        losses = torch.stack(losses)
        window = max(1, min(20, len(losses) // 10))
        stats = {"optimizer_steps": cfg["steps"], "snapshots": len(snaps),
                 "loss_first": {c.name: round(float(losses[:window, i].mean()), 5) for i, c in enumerate(concepts)},
                 "loss_last": {c.name: round(float(losses[-window:, i].mean()), 5) for i, c in enumerate(concepts)}}
        return {"repository": torch.stack(snaps, 1)}, stats

    return st.cached_tensors(ctx, "prompt_slider", key, build)


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

    def fit(self, data: GenerationData) -> None:
        self.concepts = {c.name: c for c in concepts_of(data)}
        tensors, stats = train_prompt_sliders(data.synthesis, list(self.concepts.values()), self.config, self.ctx.seed, self.ctx)
        self.tokens = {name: tensors["repository"][i, -1] for i, name in enumerate(self.concepts)}  # the final step
        self.ctx.audit["prompt_slider"] = stats

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        token = self.tokens[request.concept]
        texts = [slider_prompt(p) for p in request.prompts for _ in range(request.n)]
        return PromptEmbeddings(texts, request.strength * token)
