"""Sliders (DMP Table 2 and Table 15; Concept Sliders' evaluation): how strongly a slider puts its attribute
into an image, and how much of the rest of the image it keeps.

Per concept set (unit) and seed:

* **Requests.** For each concept and each of its 5 evaluation prompts (``data/slider_concepts.py``; A.9.2),
  ``images_per_prompt`` images with seeds ``seed·10⁶ + (100·concept + prompt)·10³ + j`` are rendered twice
  from the same seeds: *edited*, the method's answer for the concept at slider strength ``strength`` on the
  plain prompt (a prompt slider's token appended, a concept slider's LoRA active, the attribute in words
  for ``text_prompt``), and *unedited*, the plain prompt alone (the same image for every method: cached).
* **clip_score**: CLIP score (100 · max(cos, 0), ``metrics/similarity.py``) of each edited image and the
  concept's ``score_text`` (Table 2: "CLIP-scores are computed between the images ... and the attribute
  names"); **clip_gain**: the same minus the unedited images' (how much of the score the slider added).
* **lpips**: LPIPS between each edited image and its unedited twin (Concept Sliders' "edited vs
  unedited image from the same seed and prompt"); in the mini world the named LPIPS stand-in
  (``metrics/standins.py``).
* Means over concepts × prompts × images; per-concept values in ``audit["per_concept"]``.

Protocol choices (the paper leaves them open): slider strength 1 (the strength sliders are trained at;
``strength`` changes it); ``images_per_prompt`` 2 in the mini world (13 concepts × 5 prompts × 2 = 130
edited images; 3 before the 30-minute budget of the image-synthesis set), 5 in the paper world; sampling with the synthesis model's recipe unless set.
"""

from __future__ import annotations

import torch

from dmpbench.cachefiles import cached_tensors
from dmpbench.baselines.generation import GenerationData, GenerationMethod
from dmpbench.context import RunContext
from dmpbench.data.slider_concepts import PAPER_CONCEPTS, concepts_for, mini_concepts, unknown_concept
from dmpbench.errors import DmpbenchError
from dmpbench.metrics.extractors import ClipImageFeatures
from dmpbench.metrics.similarity import clip_score
from dmpbench.metrics.standins import metric_network
from dmpbench.registry import TASKS
from dmpbench.tasks import generation as gen
from dmpbench.tasks.base import Metrics

#: the concept set of each world (the unit a record is keyed by)
UNITS = {"mini": "mini_faces", "paper": "person_attributes"}


@TASKS.register("slider", "sliders: CLIP score of the attribute and LPIPS to the unedited image (DMP Tables 2, 15)")
class Slider(gen.SynthesisTask):
    """Sliders: CLIP score of the attribute and LPIPS between edited and unedited images (DMP Tables 2, 15)."""

    name = "slider"
    metrics = ("clip_score", "lpips", "clip_gain")
    published_tables = (("diffusion_meta_prompts", "2"), ("diffusion_meta_prompts", "15"))
    default_config = {"synthesis": "auto", "concepts": [], "images_per_prompt": 0, "strength": 1.0,
                      "guidance": None, "steps": None, "scheduler": None}
    ranges = {"images_per_prompt": ">=0", "strength": ">0"}

    @classmethod
    def validate_config(cls, config) -> None:
        names = config.get("concepts", [])
        if any(not isinstance(c, str) for c in names):
            raise DmpbenchError("task slider: concepts must be a list of concept names")
        known = [c.name for c in mini_concepts()] + [n for n in PAPER_CONCEPTS if n not in {c.name for c in mini_concepts()}]
        for name in names:  # a name of neither world: refused before any work (the world's own set is checked in run)
            if name not in known:
                raise unknown_concept(name, known)

    unit_names = UNITS
    unit_kind = "concept set"

    def concepts(self):
        return concepts_for(self.world.name, list(self.config["concepts"]) or None)

    def run(self, unit: str, method: GenerationMethod, ctx: RunContext) -> Metrics:
        cfg = self.config
        concepts = self.concepts()  # unknown names: one line, before any model is loaded
        per_prompt = cfg["images_per_prompt"] or (2 if self.world.name == "mini" else 5)
        sampling = self.sampling()
        synthesis = gen.synthesis_for(self.world, cfg["synthesis"])
        gen.record_synthesis(ctx, synthesis, **sampling)
        clip = ClipImageFeatures(self.world.backbone)
        lpips = metric_network("lpips", self.world.name, self.world.backbone)
        with ctx.phase("fit"):
            method.fit(GenerationData(synthesis, unit, [c.name for c in concepts], extra={"concepts": concepts}))
        per_concept, scores, gains, dists = {}, [], [], []
        for i, concept in enumerate(ctx.bar(concepts, desc="slider concepts")):
            plains = [plain for plain, _ in concept.eval_prompts]
            edited = gen.render_prompts(method, synthesis, plains, concept.name, i, per_prompt, ctx, sampling, float(cfg["strength"]))
            unedited = self._unedited(synthesis, plains, i, per_prompt, ctx, sampling)
            with ctx.phase("evaluate"), torch.no_grad():
                text = self.world.backbone.encode_text([concept.score_text]).float().cpu()
                score = clip_score(clip.features(edited), text)
                gain = score - clip_score(clip.features(unedited), text)
                dist = float(lpips.network.distances(edited, unedited).mean())
            per_concept[concept.name] = {"clip_score": round(score, 4), "clip_gain": round(gain, 4), "lpips": round(dist, 5)}
            scores.append(score), gains.append(gain), dists.append(dist)
        gen.record_extractors(ctx, {"clip_score": clip.name, "lpips": lpips.name})
        ctx.audit["per_concept"] = per_concept
        ctx.audit["images"] = {"concepts": len(concepts), "prompts_per_concept": len(concepts[0].eval_prompts),
                               "images_per_prompt": per_prompt, "strength": float(cfg["strength"]),
                               "score_texts": {c.name: c.score_text for c in concepts}}
        mean = lambda xs: float(sum(xs) / len(xs))  # noqa: E731
        return {unit: {"clip_score": mean(scores), "lpips": mean(dists), "clip_gain": mean(gains)}}

    def _unedited(self, synthesis, plains: list[str], group: int, per_prompt: int, ctx: RunContext, sampling: dict) -> torch.Tensor:
        """The plain prompts' images, seeds as ``render_prompts`` gives them (the same for every method of a seed: cached)."""
        seeds = gen.prompt_seeds(ctx.seed, group, len(plains), per_prompt)
        key = {"synthesis": synthesis.cache_key, "prompts": plains, "seeds": seeds, "sampling": sampling}

        def build():
            texts = [p for p in plains for _ in range(per_prompt)]
            with ctx.phase("generate"), torch.no_grad():
                images = synthesis.generate(synthesis.encode(texts), seeds, guidance_scale=sampling["guidance"],
                                            steps=sampling["steps"], scheduler=sampling["scheduler"])
            return {"images": images}, {"n": len(seeds)}

        return cached_tensors(ctx, "slider_unedited", key, build)[0]["images"]
