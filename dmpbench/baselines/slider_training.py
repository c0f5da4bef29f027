"""What prompt sliders and concept sliders share: the guided target they regress and the loop that trains them.

**Guided target** (Concept Sliders' "enhance" action; DMP section 3.3):
``eps*(x_t) = eps(x_t, neutral_p) + eta * (eps(x_t, positive_p) - eps(x_t, negative_p))`` for a preserved
attribute p, computed with the frozen model. The slider (a token appended to ``target_p`` or a LoRA used with
it) is trained so that the model's prediction on ``target_p`` matches it (MSE).

**Where x_t comes from.** Concept Sliders denoise fresh noise with the target prompt to a random timestep at
every step. Here (cost, a choice written here): ``pool_images`` latents per target prompt are generated once
with the frozen model and the pipeline's own sampler, and each of ``pool_size`` training samples is one of
them noised to a uniform random timestep of the training schedule; the targets of the whole pool are computed
once (the frozen model does not change), so a training step is one forward and backward pass. The pool,
its timesteps and noise come from ``seed`` alone, so every concept of a run sees the same x_t and the
``eps(x_t, neutral_p)`` of a prompt shared by several concepts is computed once.

**Snapshots** (DMP 3.3): the slider's repository is its state every ``snapshot_every`` steps over the last
``snapshot_span`` steps (the paper: the last 200 steps every 5 of 3,000 = 40 prompts per concept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from dmpbench.cachefiles import cached_tensors
from dmpbench.data.slider_concepts import SliderConcept
from dmpbench.errors import DmpbenchError


@dataclass
class GuidedPool:
    latents: torch.Tensor  # [N, C, h, w] noised latents x_t
    timesteps: torch.Tensor  # [N]
    preserved: torch.Tensor  # [N] index p of the preserved attribute (which target prompt)
    targets: dict[str, torch.Tensor]  # concept name -> [N, C, h, w] guided targets

    def __len__(self) -> int:
        return len(self.timesteps)


def snapshot_steps(steps: int, every: int, span: int) -> list[int]:
    """The optimiser steps (1-based) whose state is kept: every ``every`` over the last ``span`` steps."""
    if span > steps:
        raise DmpbenchError(f"slider snapshots span the last {span} steps but training has only {steps}")
    return list(range(steps - span + every, steps + 1, every))


def cached_pool(synthesis, concepts: Sequence[SliderConcept], cfg: dict, seed: int, ctx) -> GuidedPool:
    """``guided_pool`` under the cache (prompt and concept sliders of one seed share it)."""
    key = {"synthesis": synthesis.cache_key, "concepts": concept_key(concepts), "seed": seed,
           "pool": {k: cfg[k] for k in ("pool_size", "pool_images", "eta")}}

    def build():
        with ctx.bar(total=len(concepts), desc="slider targets") as bar:
            pool = guided_pool(synthesis, concepts, cfg["pool_size"], cfg["pool_images"], cfg["eta"], seed, bar)
        tensors = {"latents": pool.latents, "timesteps": pool.timesteps, "preserved": pool.preserved,
                   **{f"target/{k}": v for k, v in pool.targets.items()}}
        return tensors, {"pool_size": len(pool)}

    t, _ = cached_tensors(ctx, "slider_pool", key, build)
    if any(f"target/{c.name}" not in t for c in concepts):
        raise DmpbenchError("cached slider pool lacks a concept's targets")
    return GuidedPool(t["latents"], t["timesteps"], t["preserved"], {c.name: t[f"target/{c.name}"] for c in concepts})


@torch.no_grad()
def guided_pool(synthesis, concepts: Sequence[SliderConcept], pool_size: int, pool_images: int, eta: float,
                seed: int, bar=None) -> GuidedPool:
    n_p = {len(c.target) for c in concepts} | {len(c.positive) for c in concepts} | {len(c.negative) for c in concepts}
    if len(n_p) != 1:
        raise DmpbenchError("every slider concept needs one target, positive, negative and neutral prompt per preserved attribute")
    n_pres = n_p.pop()
    gen = torch.Generator().manual_seed(seed)
    preserved = torch.arange(pool_size) % n_pres
    pick = torch.randint(0, pool_images, (pool_size,), generator=gen)
    timesteps = torch.randint(0, synthesis.train_timesteps, (pool_size,), generator=gen)
    # every concept's x_t for preserved attribute p starts from its target prompt's images: one pool of x_t for the
    # run, so the concepts must share their target prompts (the mini world's and Concept Sliders' "person")
    first = concepts[0]
    if any(c.target != first.target for c in concepts):
        raise DmpbenchError("the slider concepts of one run must share their target prompts (one pool of x_t)")
    x0_by_text: dict[str, torch.Tensor] = {}
    for i, text in enumerate(sorted(set(first.target))):
        seeds = [seed * 100_000 + i * 1_000 + j for j in range(pool_images)]
        x0_by_text[text] = synthesis.sample_latents(synthesis.encode([text]), seeds)
    x0 = torch.stack([x0_by_text[first.target[int(p)]][int(k)] for p, k in zip(preserved, pick)])
    noise = torch.randn(x0.shape, generator=gen)
    x_t = synthesis.add_noise(x0, noise, timesteps)
    eps_memo: dict[tuple[str, int], torch.Tensor] = {}

    def eps(texts: tuple[str, ...]) -> torch.Tensor:
        out = torch.empty_like(x_t)
        for p, text in enumerate(texts):
            rows = (preserved == p).nonzero().flatten()
            if (text, p) not in eps_memo:
                cond = synthesis.encode([text])
                parts = [synthesis.predict_noise(x_t[r], timesteps[r], cond.repeat(len(r))).float().cpu() for r in rows.split(64)]
                eps_memo[(text, p)] = torch.cat(parts)
            out[rows] = eps_memo[(text, p)]
        return out

    targets = {}
    for c in concepts:
        targets[c.name] = eps(c.neutral) + eta * (eps(c.positive) - eps(c.negative))
        if bar is not None:
            bar.update(1)
    return GuidedPool(x_t, timesteps, preserved, targets)


def concept_seed(seed: int, concept: SliderConcept) -> int:
    """The seed of a concept's sample stream: the run's seed and the concept's name (not its position in the set)."""
    import zlib

    return seed * 1_000_003 + zlib.crc32(concept.name.encode()) % 1_000_003


def batches(n: int, batch_size: int, steps: int, seed: int) -> list[torch.Tensor]:
    """The sample indices of each step (a fixed function of the seed)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, n, (batch_size,), generator=gen) for _ in range(steps)]


def concept_key(concepts: Sequence[SliderConcept]) -> list[dict]:
    """Everything about the concepts that determines a slider (for cache keys)."""
    from dataclasses import asdict

    return [asdict(c) for c in concepts]
