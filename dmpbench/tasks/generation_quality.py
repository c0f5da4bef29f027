"""Generation quality of a synthesis model driven by a method's prompts (the foundation check of the
image-synthesis half; no paper table, the numbers are what later tables stand on).

Per caption dataset (unit) and seed:

* **Caption classes.** Each class name under the dataset's hand template (``"a photo of a {}."``) is a
  request; ``per_class`` images are generated per class with seeds ``seed·10⁶ + class·10³ + j``.
* **gen_acc / real_acc / acc_ratio.** Zero-shot top-1 (%) of the run's CLIP (hand prompt) on the generated
  images, labelled by the class they were prompted with, and on ``real_per_class`` real test images per
  class; ``acc_ratio`` = 100 · gen / real (the issue's goal: ≥ 70).
* **clip_score.** CLIP score (100 · max(cos, 0)) of each generated image and its prompt.
* **attr_sep.** Attribute control: for each (attribute prompt, neutral prompt) pair, ``attribute_images``
  images from each prompt with the same seeds; the CLIP score against the attribute prompt of the first set
  minus that of the second (> 0: the attribute is rendered). Mean over pairs.
* **fid / density / coverage.** Generated images of all classes against the real test images, in the
  feature space of ``fid_features``: ``"clip"`` (the run's CLIP image tower: the mini world's stand-in for
  Inception, named in the record) or ``"inception"`` (torchmetrics' Inception-v3; paper world default).
  Density and coverage use k = 5 in the same space (real set as the reference manifold).
* **fid_untrained.** The same FID for the same pipeline with a freshly initialised UNet (seed 0): the floor
  the trained number is read against (mini world by default; ``untrained_reference``).

The synthesis model is ``synthesis`` (``auto``: mini SD in the mini world, SD Realistic Vision v4 in the
paper world; or any spec ``load_synthesis`` takes); sampling uses its recipe unless ``guidance`` /
``steps`` / ``scheduler`` are set.
"""

from __future__ import annotations

import torch

from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest
from dmpbench.context import RunContext
from dmpbench.errors import DmpbenchError
from dmpbench.metrics.distribution import INCEPTION_NAME, density_coverage, fid_from_features, frechet_distance
from dmpbench.metrics.extractors import ClipImageFeatures
from dmpbench.metrics.similarity import clip_score
from dmpbench.metrics.standins import fid_standin_name
from dmpbench.registry import TASKS
from dmpbench.tasks import generation as gen
from dmpbench.tasks.base import Metrics, Task

DEFAULT_UNITS = {"mini": ["mini_faces", "mini_shapes"], "paper": ["caltech101"]}
#: (attribute prompt, neutral prompt) pairs of the attribute-control check
ATTRIBUTE_PAIRS = (("a photo of a smiling person.", "a photo of a person."),)


@TASKS.register("generation_quality", "text-to-image quality: zero-shot accuracy on generated images, CLIP score, attribute control, FID")
class GenerationQuality(Task):
    """Text-to-image quality of a synthesis model driven by a method's prompts (zero-shot accuracy on generated images, CLIP score, attribute control, FID, density/coverage)."""

    name = "generation_quality"
    capability = "generation"
    metrics = ("gen_acc", "real_acc", "acc_ratio", "clip_score", "attr_sep", "fid", "fid_untrained", "density", "coverage")
    default_config = {
        "synthesis": "auto", "per_class": 16, "real_per_class": 50, "attribute_images": 16,
        "guidance": None, "steps": None, "scheduler": None, "fid_features": "auto", "untrained_reference": "auto",
    }

    def model_identity(self) -> dict[str, str]:
        return {"synthesis": gen.synthesis_for(self.world, self.config["synthesis"]).cache_key}

    def units(self, datasets: list[str] | None) -> list[str]:
        return list(datasets or self.world.suite.get("generation_quality", DEFAULT_UNITS[self.world.name]))

    def _check(self) -> None:
        for key in ("per_class", "real_per_class", "attribute_images"):
            if not isinstance(self.config[key], int) or self.config[key] < 1:
                raise DmpbenchError(f"task generation_quality: {key} must be a positive integer, got {self.config[key]!r}")
        if self.config["fid_features"] not in ("auto", "clip", "inception"):
            raise DmpbenchError(f"task generation_quality: fid_features must be auto, clip or inception, not {self.config['fid_features']!r}")
        if self.config["untrained_reference"] not in ("auto", True, False):
            raise DmpbenchError("task generation_quality: untrained_reference must be auto, true or false")

    def run(self, unit: str, method: GenerationMethod, ctx: RunContext) -> Metrics:
        self._check()
        cfg = self.config
        sampling = dict(guidance=cfg["guidance"], steps=cfg["steps"], scheduler=cfg["scheduler"])
        synthesis = gen.synthesis_for(self.world, cfg["synthesis"])
        gen.record_synthesis(ctx, synthesis, **sampling)
        ds = self.world.dataset(unit)
        template = ds.templates[0]
        clip = ClipImageFeatures(self.world.backbone)
        with ctx.phase("fit"):
            method.fit(GenerationData(synthesis, unit, list(ds.classnames), template))

        def images_for(model, per_class: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
            images, labels, prompts = [], [], []
            for c, name in enumerate(ds.classnames):
                request = GenerationRequest((template,), concept=name, n=per_class)
                images.append(gen.render(method, model, request, gen.image_seeds(ctx.seed, c, per_class), ctx, **sampling))
                labels += [c] * per_class
                prompts += [template.format(name)] * per_class
            return torch.cat(images), torch.tensor(labels), prompts

        fake, fake_labels, prompts = images_for(synthesis, cfg["per_class"])
        with ctx.phase("evaluate"):
            real, real_labels = gen.real_images(self.world, unit, "test", cfg["real_per_class"], synthesis.image_size)
            fake_feats, real_feats = clip.features(fake), clip.features(real)
            with torch.no_grad():
                prompt_feats = self.world.backbone.encode_text(prompts).float().cpu()
            out = {
                "gen_acc": gen.zero_shot_accuracy(clip, fake_feats, fake_labels, ds.classnames, template),
                "real_acc": gen.zero_shot_accuracy(clip, real_feats, real_labels, ds.classnames, template),
                "clip_score": clip_score(fake_feats, prompt_feats),
            }
            out["acc_ratio"] = 100.0 * out["gen_acc"] / out["real_acc"] if out["real_acc"] > 0 else 0.0
        out["attr_sep"] = self._attribute_separation(method, synthesis, clip, ctx, sampling)

        use_clip = cfg["fid_features"] == "clip" or (cfg["fid_features"] == "auto" and self.world.name == "mini")
        with ctx.phase("evaluate"):
            if use_clip:
                out["fid"] = fid_from_features(real_feats, fake_feats)
                space = fid_standin_name(clip)  # the mini world's stand-in, named (metrics/standins.py)
            else:
                out["fid"] = frechet_distance(real, fake, "inception")
                space = INCEPTION_NAME
            out.update(density_coverage(real_feats, fake_feats))
        untrained = cfg["untrained_reference"] is True or (cfg["untrained_reference"] == "auto" and self.world.name == "mini")
        if untrained and hasattr(synthesis, "untrained_copy"):
            floor, _, _ = images_for(synthesis.untrained_copy(0), cfg["per_class"])
            with ctx.phase("evaluate"):
                out["fid_untrained"] = (fid_from_features(real_feats, clip.features(floor)) if use_clip
                                        else frechet_distance(real, floor, "inception"))
        gen.record_extractors(ctx, {"zero_shot": clip.name, "clip_score": clip.name, "attr_sep": clip.name, "fid": space,
                                    "density_coverage": clip.name + " (k=5)"})
        ctx.audit["images"] = {"generated": int(len(fake)), "real": int(len(real)), "classes": len(ds.classnames),
                               "template": template, "attribute_pairs": [list(p) for p in ATTRIBUTE_PAIRS]}
        return {unit: out}

    def _attribute_separation(self, method, synthesis, clip, ctx, sampling) -> float:
        n = self.config["attribute_images"]
        seps = []
        for k, (attr, neutral) in enumerate(ATTRIBUTE_PAIRS):
            seeds = gen.image_seeds(ctx.seed, 900 + k, n)  # the same seeds for both prompts
            with_attr = gen.render(method, synthesis, GenerationRequest((attr,), n=n), seeds, ctx, **sampling)
            without = gen.render(method, synthesis, GenerationRequest((neutral,), n=n), seeds, ctx, **sampling)
            with ctx.phase("evaluate"), torch.no_grad():
                text = self.world.backbone.encode_text([attr]).float().cpu()
                seps.append(clip_score(clip.features(with_attr), text) - clip_score(clip.features(without), text))
        return float(sum(seps) / len(seps))
