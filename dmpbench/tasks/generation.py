"""Pieces every generation protocol shares: which synthesis model a run uses, real images of a dataset as
tensors, rendering a method's answer to a request, zero-shot accuracy of the run's CLIP on images, and
what the record says about the networks behind each number."""

from __future__ import annotations

from typing import Sequence

import torch

from dmpbench.backbones.synthesis import SynthesisBackbone, load_synthesis
from dmpbench.baselines.base import normalize
from dmpbench.baselines.generation import GenerationMethod, GenerationRequest
from dmpbench.context import RunContext
from dmpbench.errors import DmpbenchError
from dmpbench.metrics.classification import accuracy
from dmpbench.metrics.extractors import ClipImageFeatures
from dmpbench.tasks.base import Task
from dmpbench.world import World

#: the synthesis model of each world when the task's ``synthesis`` setting is "auto"
DEFAULT_SYNTHESIS = {"mini": "mini-sd", "paper": "sd-rv4"}

_LOADED: dict[tuple[str, str], SynthesisBackbone] = {}


def synthesis_for(world: World, spec: str = "auto") -> SynthesisBackbone:
    """The run's synthesis backbone (loaded once per process and spec), on the CLIP backbone's device."""
    spec = DEFAULT_SYNTHESIS[world.name] if spec in (None, "auto") else str(spec)
    key = (spec, str(world.backbone.device))
    if key not in _LOADED:
        _LOADED[key] = load_synthesis(spec, device=world.backbone.device)
    return _LOADED[key]


def real_images(world: World, dataset: str, split: str, per_class: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``per_class`` images of each class of a split, ``[N, 3, size, size]`` in ``[0, 1]``
    (resized and centre-cropped to the generated images' size), and their labels."""
    from torchvision import transforms as T

    ds = world.dataset(dataset)
    counts: dict[int, int] = {}
    chosen = []
    for item in ds.split(split):
        if counts.get(item.label, 0) < per_class:
            counts[item.label] = counts.get(item.label, 0) + 1
            chosen.append(item)
    tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor()])
    images = torch.stack([tf(ds.load_image(it).convert("RGB")) for it in chosen])
    return images, torch.tensor([it.label for it in chosen], dtype=torch.long)


def image_seeds(run_seed: int, group: int, n: int) -> list[int]:
    """Seeds of the ``n`` images of one group (class / prompt) in a run: distinct across groups and runs."""
    return [run_seed * 1_000_000 + group * 1_000 + j for j in range(n)]


def render(method: GenerationMethod, synthesis: SynthesisBackbone, request: GenerationRequest, seeds: Sequence[int],
           ctx: RunContext, guidance: float | None = None, steps: int | None = None, scheduler: str | None = None,
           ) -> torch.Tensor:
    """Ask the method for prompt embeddings and render them, one image per seed."""
    with ctx.phase("sample"), torch.no_grad():
        answer = method.prompt_embeddings(request, synthesis)
        if len(answer.texts) != len(seeds):
            raise ValueError(f"{method.name} answered {len(answer.texts)} prompts for {len(seeds)} images")
        cond = synthesis.encode(answer.texts, answer.learned)
    with ctx.phase("generate"), method.denoiser(request, synthesis):
        return synthesis.generate(cond, seeds, guidance_scale=guidance, steps=steps, scheduler=scheduler)


def zero_shot_accuracy(clip: ClipImageFeatures, image_feats: torch.Tensor, labels: torch.Tensor,
                       classnames: Sequence[str], template: str) -> float:
    """Top-1 (%) of the run's CLIP with the hand prompt on image features."""
    with torch.no_grad():
        text = normalize(clip.backbone.encode_text([template.format(c) for c in classnames]).float())
    return accuracy(image_feats, text.unsqueeze(0).cpu(), labels)


def record_synthesis(ctx: RunContext, synthesis: SynthesisBackbone, guidance, steps, scheduler) -> None:
    ctx.audit["synthesis"] = {
        "name": synthesis.name, "weights": synthesis.cache_key, "image_size": synthesis.image_size,
        "guidance_scale": synthesis.recipe.guidance_scale if guidance is None else guidance,
        "steps": synthesis.recipe.steps if steps is None else steps,
        "scheduler": scheduler or synthesis.recipe.scheduler,
    }


def record_extractors(ctx: RunContext, extractors: dict[str, str]) -> None:
    """Which network computed each metric (mini stand-ins are named, never passed off as paper networks)."""
    ctx.audit.setdefault("extractors", {}).update(extractors)


class SynthesisTask(Task):
    """What the image-synthesis tasks share: the synthesis weights in the record key, the sampling settings, and
    (``unit_names`` set) one fixed unit per world that ``--dataset`` may only repeat."""

    capability = "generation"
    #: world -> the task's one unit (the concept / subject / repository set), e.g. {"mini": "mini_faces"}
    unit_names: dict[str, str] = {}
    #: what the unit is, in the error for another ``--dataset``
    unit_kind = "unit"

    def model_identity(self) -> dict[str, str]:
        return {"synthesis": synthesis_for(self.world, self.config["synthesis"]).cache_key}

    def units(self, datasets: list[str] | None) -> list[str]:
        unit = self.unit_names[self.world.name]
        for d in datasets or []:
            if d != unit:
                raise DmpbenchError(f"task {self.name}: the {self.world.name} world's {self.unit_kind} is {unit!r}, not {d!r}")
        return [unit]

    def sampling(self) -> dict:
        """The ``render`` settings: the synthesis model's recipe unless the task sets them."""
        return {k: self.config[k] for k in ("guidance", "steps", "scheduler")}


def prompt_seeds(run_seed: int, group: int, n_prompts: int, per_prompt: int) -> list[int]:
    """Seeds of ``per_prompt`` images of each of ``n_prompts`` prompts of one concept / subject, prompt-major:
    ``image_seeds(seed, 100·group + prompt)``."""
    return [s for j in range(n_prompts) for s in image_seeds(run_seed, 100 * group + j, per_prompt)]


def render_prompts(method: GenerationMethod, synthesis: SynthesisBackbone, prompts, concept: str, group: int, per_prompt: int,
                   ctx: RunContext, sampling: dict, strength: float = 1.0) -> torch.Tensor:
    """``per_prompt`` images of each prompt for one concept / subject, prompt-major, seeds ``image_seeds(seed, 100·group +
    prompt)``: one request for all the prompts (the denoiser renders them in one batch; the images are those of one
    request per prompt, the seeds being the same)."""
    seeds = prompt_seeds(ctx.seed, group, len(prompts), per_prompt)
    request = GenerationRequest(tuple(prompts), concept=concept, n=per_prompt, strength=strength)
    return render(method, synthesis, request, seeds, ctx, **sampling)
