"""Variation (DMP Table 6, Table 13): prompts that vary an unseen subject, against its textual inversion.

Per subject set (unit) and seed:

* **Subjects**: ``subjects`` people none of the variation repository's identities (mini world: the first of the
  mini faces' test split; the DMPVariation repository is built on train-split people), each with
  ``train_images`` images; the method is fitted on them (a textual inversion per subject, the run's seed).
* **Requests**: each of the 28 context prompts (``{}`` = the subject), ``images_per_prompt`` images, seeds
  ``seed·10⁶ + (100·subject + prompt)·10³ + j``.
* **face_id** (↓ here: diversity, Table 6): mean pairwise Face-ID cosine of the subject's generated images and its
  reference images; **clip_t** ↑: cosine of each image and its prompt with the subject as its class noun
  (the record keeps the cosine; Table 6 prints it x 100). Means over subjects.

Prompts: the paper's 28 (Table 13, DreamBooth's; "sks" is the subject) in the paper world; the mini world's
own 28 (``MINI_PROMPTS``: the 13 mini-face attributes and 15 pairs of them in the mini SD's caption language,
which has no styles or scenes to render), listed beside the paper's.
"""

from __future__ import annotations

import torch

from dmpbench.baselines.generation import GenerationData, GenerationMethod
from dmpbench.context import RunContext
from dmpbench.data.identity_subjects import DEFAULT_TRAIN_IMAGES, subjects_for
from dmpbench.metrics.extractors import ClipImageFeatures
from dmpbench.metrics.similarity import clip_t, mean_pairwise_cosine
from dmpbench.metrics.standins import metric_network
from dmpbench.registry import TASKS
from dmpbench.tasks import generation as gen
from dmpbench.tasks.base import Metrics
from dmpbench.tasks.identity import face_id_calibration

UNITS = {"mini": "mini_face_identities", "paper": "identities"}
#: DMP Table 13 (from DreamBooth), "sks" written as {}
PAPER_PROMPTS = (
    "a {} on the beach", "{} flower arrangement", "{} stained glass window", "{} as a witcher", "A cubism painting of {} person",
    "A {} as a knight in plate armor", "Greek sculpture of {}", "{} in the style of Archer", "Watercolor painting of {}",
    "a photo of {}", "A photo of two {} on a boat", "{} Funko Pop", "{} latte art", "Manga drawing of {}",
    "Pointillism painting of {}", "Ukiyo-e painting of {}", "{} as a knight in plate", "Banksy art of {}",
    "{} piloting a fighter jet", "Fauvism painting of {}", "Cave mural depicting {}", "{} by Andy Warhol",
    "Colorful graffiti of {}", "{} as Ziggy Stardust", "{} in a comic book", "a sand sculpture of {}", "{} in a Santa hat",
    "{} as a wizard",
)
_ADJ = {"smiling": "smiling", "surprised": "surprised", "chubby": "chubby", "pale": "pale", "tan": "tanned", "bald": "bald", "age": "old"}
_WITH = {"glasses": "with glasses", "beard": "with a beard", "moustache": "with a moustache", "hair_length": "with long hair",
         "lipstick": "wearing red lipstick", "hat": "wearing a hat"}
_PAIRS = (("smiling", "glasses"), ("age", "glasses"), ("chubby", "beard"), ("smiling", "hat"), ("surprised", "glasses"),
          ("age", "beard"), ("smiling", "hair_length"), ("pale", "lipstick"), ("tan", "hat"), ("bald", "glasses"),
          ("chubby", "smiling"), ("age", "moustache"), ("surprised", "hat"), ("smiling", "lipstick"), ("tan", "hair_length"))


def _mini_prompt(attrs: tuple[str, ...]) -> str:
    adjectives = [_ADJ[a] for a in attrs if a in _ADJ]
    withs = [_WITH[a] for a in attrs if a in _WITH]
    words = " ".join(adjectives + ["{}"])
    article = "an" if words[0] in "aeiou" else "a"
    return " ".join([f"a photo of {article} {words}"] + withs)


#: the mini world's 28: each mini-face attribute alone, then 15 pairs
MINI_PROMPTS = tuple(_mini_prompt((a,)) for a in (*_ADJ, *_WITH)) + tuple(_mini_prompt(p) for p in _PAIRS)


@TASKS.register("variation", "variation: Face-ID (diversity) and CLIP-T over 28 prompts for unseen subjects (DMP Tables 6, 13)")
class Variation(gen.SynthesisTask):
    """Variation: Face-ID (lower = more varied) and CLIP-T over 28 context prompts for unseen subjects (DMP Tables 6, 13)."""

    name = "variation"
    metrics = ("face_id", "clip_t")
    published_tables = (("diffusion_meta_prompts", "6"),)
    # 10 subjects: in the mini world the identity task's (``DEFAULT_SUBJECTS``), so one textual inversion serves both tasks
    default_config = {"synthesis": "auto", "subjects": 10, "train_images": DEFAULT_TRAIN_IMAGES, "images_per_prompt": 1, "subjects_root": "",
                      "guidance": None, "steps": None, "scheduler": None}
    ranges = {"subjects": ">=1", "train_images": ">=1", "images_per_prompt": ">=1"}

    unit_names = UNITS
    unit_kind = "subject set"

    def run(self, unit: str, method: GenerationMethod, ctx: RunContext) -> Metrics:
        cfg = self.config
        synthesis = gen.synthesis_for(self.world, cfg["synthesis"])
        subjects = subjects_for(self.world.name, cfg["subjects"], cfg["train_images"], synthesis.image_size,
                                cfg["subjects_root"] or None, self.world.data_root)
        prompts = MINI_PROMPTS if self.world.name == "mini" else PAPER_PROMPTS
        per_prompt = cfg["images_per_prompt"]
        sampling = self.sampling()
        gen.record_synthesis(ctx, synthesis, **sampling)
        clip = ClipImageFeatures(self.world.backbone)
        face = metric_network("face_id", self.world.name, self.world.backbone)
        with ctx.phase("fit"):
            method.fit(GenerationData(synthesis, unit, list(subjects.names), images=subjects.train, labels=subjects.train_labels,
                                      extra={"subject_words": dict(subjects.words)}))
        face_ids, clip_ts, per_subject = [], [], {}
        for i, name in enumerate(ctx.bar(subjects.names, desc="subjects")):
            images = gen.render_prompts(method, synthesis, prompts, name, i, per_prompt, ctx, sampling)
            texts = [p.format(subjects.words[name]) for p in prompts for _ in range(per_prompt)]
            with ctx.phase("evaluate"), torch.no_grad():
                face_ids.append(mean_pairwise_cosine(face.network.features(images), face.network.features(subjects.of(i, "reference"))))
                clip_ts.append(clip_t(clip.features(images), self.world.backbone.encode_text(texts).float().cpu()))
            per_subject[name] = {"face_id": round(face_ids[-1], 5), "clip_t": round(clip_ts[-1], 5)}
        ctx.audit["face_id_real"] = face_id_calibration(face.network, subjects)
        gen.record_extractors(ctx, {"face_id": face.name, "clip_t": clip.name})
        ctx.audit["per_subject"] = per_subject
        ctx.audit["images"] = {"subjects": len(subjects.names), "prompts": list(prompts), "images_per_prompt": per_prompt}
        return {unit: {"face_id": sum(face_ids) / len(face_ids), "clip_t": sum(clip_ts) / len(clip_ts)}}
