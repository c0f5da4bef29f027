"""Identity (DMP Table 5 and Table 16; DreamBooth's metrics): images of a learned subject in context prompts.

Per subject set (unit) and seed:

* **Subjects** (``data/identity_subjects.py``): ``subjects`` people (default ``DEFAULT_SUBJECTS``: paper world 20,
  DMPMulti's identity repository; mini world 10, the variation task's subjects), each with ``train_images`` images to learn from and the rest as reference. The method is
  fitted on the training images (``GenerationData.images`` / ``labels``, the subject names as classnames).
* **Requests.** For every subject, each context prompt (``{}`` = the subject) with ``images_per_prompt``
  images, seeds ``seed·10⁶ + (100·subject + prompt)·10³ + j``.
* **face_id** ↑: mean pairwise cosine of Face-ID embeddings of the subject's generated images and its
  *reference* images (the paper: "Face ID similarity to groundtruth"); **dino** ↓ and **clip_i** ↓: the same
  with DINO and CLIP image features against the *training* images (DMP Table 5 reads them as overfitting:
  lower is better); ``audit["face_id_real"]`` gives the Face-ID of real images of the same and of another
  person, the scale to read a generated number against; **clip_t** ↑: cosine of each image and its prompt with the subject written as its class
  noun ("a photo of a smiling man"; DreamBooth's prompt fidelity). Means over subjects. In the mini world
  Face-ID and DINO are the named stand-ins (``metrics/standins.py``).

Protocol choices: the mini context prompts are five captions the mini SD can render (``MINI_PROMPTS``); the
paper world uses ``PAPER_PROMPTS`` (the paper does not list Table 5's prompts); ``images_per_prompt`` 2 (mini)
/ 4 (paper).
"""

from __future__ import annotations

import torch

from dmpbench.baselines.generation import GenerationData, GenerationMethod
from dmpbench.context import RunContext
from dmpbench.data.identity_subjects import DEFAULT_SUBJECTS, DEFAULT_TRAIN_IMAGES, subjects_for
from dmpbench.metrics.extractors import ClipImageFeatures
from dmpbench.metrics.similarity import clip_t, mean_pairwise_cosine
from dmpbench.metrics.standins import metric_network
from dmpbench.registry import TASKS
from dmpbench.tasks import generation as gen
from dmpbench.tasks.base import Metrics

UNITS = {"mini": "mini_face_identities", "paper": "identities"}


def face_id_calibration(network, subjects) -> dict[str, float]:
    """What Face-ID reads on *real* images: a subject's reference vs its own training images (``same_person``)
    and vs the next subject's (``other_person``): the scale a generated image's Face-ID is read against."""
    with torch.no_grad():
        ref = [network.features(subjects.of(i, "reference")) for i in range(len(subjects.names))]
        train = [network.features(subjects.of(i)) for i in range(len(subjects.names))]
    n = len(ref)
    same = sum(mean_pairwise_cosine(ref[i], train[i]) for i in range(n)) / n
    other = sum(mean_pairwise_cosine(ref[i], train[(i + 1) % n]) for i in range(n)) / n if n > 1 else float("nan")
    return {"same_person": round(same, 5), "other_person": round(other, 5)}
MINI_PROMPTS = ("a photo of a {}", "a photo of a smiling {}", "a photo of a {} with glasses", "a photo of a {} wearing a hat",
                "a photo of an old {}")
PAPER_PROMPTS = ("a photo of {}", "a close-up photo of {} smiling", "a photo of {} in a park", "a photo of {} wearing sunglasses",
                 "a portrait of {} at the beach")


@TASKS.register("identity", "identity: Face-ID, DINO, CLIP-I and CLIP-T of learned subjects (DMP Tables 5, 16)")
class Identity(gen.SynthesisTask):
    """Identity: Face-ID to the subject, DINO / CLIP-I to its training images, CLIP-T to the prompt (DMP Tables 5, 16)."""

    name = "identity"
    metrics = ("face_id", "dino", "clip_i", "clip_t")
    published_tables = (("diffusion_meta_prompts", "5"), ("diffusion_meta_prompts", "16"))
    default_config = {"synthesis": "auto", "subjects": 0, "train_images": DEFAULT_TRAIN_IMAGES, "images_per_prompt": 0, "subjects_root": "",
                      "guidance": None, "steps": None, "scheduler": None}
    ranges = {"subjects": ">=0", "train_images": ">=1", "images_per_prompt": ">=0"}

    unit_names = UNITS
    unit_kind = "subject set"

    def run(self, unit: str, method: GenerationMethod, ctx: RunContext) -> Metrics:
        cfg = self.config
        synthesis = gen.synthesis_for(self.world, cfg["synthesis"])
        subjects = subjects_for(self.world.name, cfg["subjects"] or DEFAULT_SUBJECTS[self.world.name], cfg["train_images"], synthesis.image_size,
                                cfg["subjects_root"] or None, self.world.data_root)
        per_prompt = cfg["images_per_prompt"] or (2 if self.world.name == "mini" else 4)
        prompts = MINI_PROMPTS if self.world.name == "mini" else PAPER_PROMPTS
        sampling = self.sampling()
        gen.record_synthesis(ctx, synthesis, **sampling)
        clip = ClipImageFeatures(self.world.backbone)
        face, dino = metric_network("face_id", self.world.name, self.world.backbone), metric_network("dino", self.world.name, self.world.backbone)
        with ctx.phase("fit"):
            method.fit(GenerationData(synthesis, unit, list(subjects.names), images=subjects.train, labels=subjects.train_labels,
                                      extra={"subject_words": dict(subjects.words)}))
        rows = {m: [] for m in self.metrics}
        for i, name in enumerate(ctx.bar(subjects.names, desc="subjects")):
            images = gen.render_prompts(method, synthesis, prompts, name, i, per_prompt, ctx, sampling)
            texts = [p.format(subjects.words[name]) for p in prompts for _ in range(per_prompt)]
            with ctx.phase("evaluate"), torch.no_grad():
                rows["face_id"].append(mean_pairwise_cosine(face.network.features(images), face.network.features(subjects.of(i, "reference"))))
                rows["dino"].append(mean_pairwise_cosine(dino.network.features(images), dino.network.features(subjects.of(i))))
                gen_clip = clip.features(images)
                rows["clip_i"].append(mean_pairwise_cosine(gen_clip, clip.features(subjects.of(i))))
                rows["clip_t"].append(clip_t(gen_clip, self.world.backbone.encode_text(texts).float().cpu()))
        ctx.audit["face_id_real"] = face_id_calibration(face.network, subjects)
        gen.record_extractors(ctx, {"face_id": face.name, "dino": dino.name, "clip_i": clip.name, "clip_t": clip.name})
        ctx.audit["per_subject"] = {name: {m: round(float(rows[m][i]), 5) for m in self.metrics} for i, name in enumerate(subjects.names)}
        ctx.audit["images"] = {"subjects": len(subjects.names), "train_images": cfg["train_images"], "prompts": list(prompts),
                               "images_per_prompt": per_prompt}
        return {unit: {m: float(sum(v) / len(v)) for m, v in rows.items()}}
