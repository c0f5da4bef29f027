"""Storage and latency (DMP Table 1): what a prompt generator keeps and how long a request takes, against
Stylus retrieval over the same repositories, measured on the same device in one run.

Per unit (the slider and identity repositories of the world) and seed:

* Both the method and the ``reference`` (default ``stylus_top1``) are fitted on the same data: the world's
  slider concepts and the identity task's default subjects (``DEFAULT_SUBJECTS``, 5 training images each), so they hold the same
  repositories (DMPMulti's: 13 mini concepts + 10 identities x 40 prompts in the mini world).
* **disk_mb**: bytes on disk of what serving needs (a DMP: its checkpoint's weights and configuration;
  Stylus: every stored prompt, the entries' descriptions and their text embeddings), in MB (10⁶ bytes).
* **memory_mb**: bytes of the tensors held to serve (a DMP: the sampled U-Net and normalisation statistics;
  Stylus: the prompts and description embeddings). The text encoder both use to embed a request is shared
  and counted for neither.
* **latency_s**: seconds per request (the text embedded, then one DMP prompt sampled with the method's DDIM
  steps and guidance, or the nearest entry retrieved), mean over every concept and subject, ``repeats``
  passes after one warm-up pass, wall clock on the run's device (CUDA synchronised).
* **\\*_gain**: 100 · (1 - method / reference), the paper's "91% ↓" (storage) and "92% ↓" (time); the reference's
  own numbers are in ``audit["reference"]``.
"""

from __future__ import annotations

import time

import torch

from dmpbench.baselines.generation import GenerationData, GenerationMethod
from dmpbench.context import RunContext
from dmpbench.data.identity_subjects import DEFAULT_SUBJECTS, DEFAULT_TRAIN_IMAGES, subjects_for
from dmpbench.data.slider_concepts import concepts_for
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS, TASKS
from dmpbench.tasks import generation as gen
from dmpbench.tasks.base import Metrics

UNITS = {"mini": "mini_repositories", "paper": "repositories"}


@TASKS.register("storage_latency", "storage and latency of a prompt generator vs Stylus retrieval over the same repositories (DMP Table 1)")
class StorageLatency(gen.SynthesisTask):
    """Storage and latency of a prompt generator against Stylus retrieval over the same repositories (DMP Table 1)."""

    name = "storage_latency"
    capability = "prompt_repository"
    metrics = ("disk_mb", "memory_mb", "latency_s", "disk_gain", "memory_gain", "latency_gain")
    published_tables = (("diffusion_meta_prompts", "1"),)
    default_config = {"synthesis": "auto", "reference": "stylus_top1", "repeats": 3, "subjects_root": ""}
    ranges = {"repeats": ">=1"}

    @classmethod
    def validate_config(cls, config) -> None:
        ref = config["reference"]
        if ref not in METHODS.names() or "prompt_repository" not in getattr(METHODS.get(ref), "capabilities", ()):
            raise DmpbenchError(f"task storage_latency: reference {ref!r} is not a method that keeps a prompt repository")

    unit_names = UNITS
    unit_kind = "unit"

    def run(self, unit: str, method: GenerationMethod, ctx: RunContext) -> Metrics:
        cfg = self.config
        synthesis = gen.synthesis_for(self.world, cfg["synthesis"])
        subjects = subjects_for(self.world.name, DEFAULT_SUBJECTS[self.world.name], DEFAULT_TRAIN_IMAGES, synthesis.image_size, cfg["subjects_root"] or None,
                                self.world.data_root)
        data = GenerationData(synthesis, unit, list(subjects.names), images=subjects.train, labels=subjects.train_labels,
                              extra={"concepts": concepts_for(self.world.name), "subject_words": dict(subjects.words)})
        ref_cls = METHODS.get(cfg["reference"])
        reference = method if ref_cls is type(method) else ref_cls(self.world.backbone, {}, ctx)
        with ctx.phase("fit"):
            method.fit(data)
            if reference is not method and hasattr(method, "parts") and hasattr(reference, "fit_on_repositories"):
                reference.fit_on_repositories(method.parts)  # exactly the method's repositories
            elif reference is not method:
                reference.fit(data)
        out = {}
        for role, m in (("method", method), ("reference", reference)):
            if role == "reference" and reference is method:  # the reference itself: one measurement, gains 0
                out[role] = out["method"]
                continue
            with ctx.phase(f"measure_{role}"):
                size = m.footprint(ctx.artifact_dir("storage_latency", {"method": m.name, "unit": unit, "seed": ctx.seed}))
                out[role] = {"disk_mb": size["disk_bytes"] / 1e6, "memory_mb": size["memory_bytes"] / 1e6,
                             "latency_s": self._latency(m, ctx)}
        ours, ref = out["method"], out["reference"]
        gains = {f"{k.split('_')[0]}_gain": 100.0 * (1 - ours[k] / ref[k]) if ref[k] > 0 else 0.0 for k in ("disk_mb", "memory_mb", "latency_s")}
        ctx.audit["reference"] = {"method": reference.name, **{k: round(v, 6) for k, v in ref.items()}}
        ctx.audit["requests"] = {"texts": len(method.request_texts()), "repeats": cfg["repeats"], "device": str(ctx.device)}
        return {unit: {**ours, **gains}}

    def _latency(self, method, ctx: RunContext) -> float:
        texts = method.request_texts()
        sync = torch.cuda.synchronize if ctx.device.type == "cuda" else (lambda: None)
        with torch.no_grad():
            for t in texts:  # warm-up (lazy initialisation, caches)
                method.serve(t)
            sync()
            start = time.perf_counter()
            for _ in range(self.config["repeats"]):
                for t in texts:
                    method.serve(t)
            sync()
        return (time.perf_counter() - start) / (self.config["repeats"] * len(texts))
