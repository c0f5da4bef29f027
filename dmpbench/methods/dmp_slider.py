"""DMPSlider (Diffusion Meta-Prompts section 3.3, A.6, Table 15): a DMP trained on the prompt-slider
repository, conditioned on the concept name, that samples slider prompts.

* **Repository**: the prompt sliders of ``repo_seed`` (``baselines/prompt_slider.py``, the same cached
  training as ``prompt_slider`` with that seed): the last ``snapshot_span`` steps every ``snapshot_every``
  (40 prompts per concept; paper: 20 concepts on SD-XL, mini: the 13 mini-face attributes).
* **Condition**: the run's CLIP text embedding of the concept name in words ("age", "hair length"), one
  token (section 3.3: "we use the concept name as the text condition").
* **DMP**: ``dmpbench.dmp.DMP`` directly in prompt space (no autoencoder, Table 17's DMPMulti column: x =
  768 x 1; the mini world: 384 x 1), ``preset`` paper / small; ``num_prompts`` prompts sampled per concept
  with DDIM (``sample_steps``, ``guidance``) from the run's seed; image row r of a request uses sample
  r mod ``num_prompts``, appended to the plain prompt and scaled by the strength as a prompt slider is.
* **Negation** (Figure 19): ``negative: true`` samples with the concept as the *negative* condition and the
  empty positive (``DMP.negate(None, concept)``, section 4.2's "setting the positive prompt to empty text").
* **Audit** ``repository_fidelity``: per concept, the share of sampled prompts whose nearest repository
  prompt belongs to that concept, and the mean distance of the samples to the concept's repository mean over
  the repository's own spread around it (1 = as far as a repository prompt is on average).

Cached per (synthesis weights, concepts, repository recipe, DMP recipe).
"""

from __future__ import annotations

import torch

from dmpbench.backbones.synthesis.base import SynthesisBackbone
from dmpbench.baselines import slider_training as st
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.baselines.prompt_slider import SLIDER_DEFAULTS, SLIDER_MINI, SLIDER_RANGES, check_snapshots, concepts_of, slider_prompt, train_prompt_sliders
from dmpbench.cachefiles import try_load, write_text
from dmpbench.dmp import PRESETS
from dmpbench.dmp.model import DMP
from dmpbench.dmp.sampling import SAMPLERS
from dmpbench.registry import METHODS

DMP_DEFAULTS = {"repo_seed": 1, "preset": "auto", "dmp_steps": 3000, "dmp_batch_size": 320, "dmp_lr": 1e-4,
                "num_prompts": 10, "guidance": 4.5, "sample_steps": 50, "sampler": "ddim", "negative": False}
DMP_RANGES = {"repo_seed": ">=0", "preset": ("auto", *PRESETS), "dmp_steps": ">=1", "dmp_batch_size": ">=1", "dmp_lr": ">0",
              "num_prompts": ">=1", "guidance": ">=0", "sample_steps": ">=1", "sampler": tuple(SAMPLERS)}


@METHODS.register("dmp_slider")
class DMPSlider(GenerationMethod):
    """DMPSlider: a diffusion model samples prompt sliders from the concept name."""

    name = "dmp_slider"
    base_learner = "prompt_slider"
    default_config = {**SLIDER_DEFAULTS, "tokens": 1, **DMP_DEFAULTS}
    world_defaults = {"mini": {**SLIDER_MINI, "dmp_steps": 1500, "dmp_batch_size": 256, "dmp_lr": 1e-3}}
    ranges = {**SLIDER_RANGES, **DMP_RANGES}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        check_snapshots(cls.name, config)

    def preset(self) -> str:
        return ("small" if self.backbone.world == "mini" else "paper") if self.config["preset"] == "auto" else self.config["preset"]

    def condition(self, concept) -> torch.Tensor:
        with torch.no_grad():
            return self.backbone.encode_text([concept.condition]).float().cpu()  # [1, D]

    def fit(self, data: GenerationData) -> None:
        concepts = concepts_of(data)
        cfg = self.config
        tensors, stats = train_prompt_sliders(data.synthesis, concepts, cfg, int(cfg["repo_seed"]), self.ctx)
        repo = tensors["repository"]  # [C, S, K, d]
        c, s = repo.shape[:2]
        conds = [self.condition(x) for x in concepts]
        key = {"synthesis": data.synthesis.cache_key, "concepts": st.concept_key(concepts), "repository": stats,
               "backbone": self.backbone.cache_key, "recipe": {k: cfg[k] for k in (*SLIDER_DEFAULTS, "tokens", "repo_seed", "dmp_steps", "dmp_batch_size", "dmp_lr")},
               "preset": self.preset()}
        directory = self.ctx.artifact_dir("dmp_slider", key)
        dmp = None
        if (directory / "done").exists():  # a corrupt checkpoint is retrained
            dmp = try_load(f"cached DMPSlider {directory}", lambda: DMP.load(directory, self.ctx.device))
        reused = dmp is not None
        if dmp is None:
            dmp = DMP(tuple(repo.shape[2:]), cond_dim=conds[0].shape[1], preset=self.preset(), device=self.ctx.device)
            dmp.fit(repo.flatten(0, 1), [conds[i] for i in range(c) for _ in range(s)], steps=int(cfg["dmp_steps"]),
                    batch_size=int(cfg["dmp_batch_size"]), lr=float(cfg["dmp_lr"]), seed=int(cfg["repo_seed"]),
                    progress=self.ctx.progress, checkpoint_dir=directory)
            write_text(directory / "done", "ok\n")
        self.samples = {}
        for i, concept in enumerate(concepts):
            seed = self.ctx.seed * 1000 + i
            n, steps = int(cfg["num_prompts"]), int(cfg["sample_steps"])
            if cfg["negative"]:
                out = dmp.negate(None, conds[i], strength=float(cfg["guidance"]), num_prompts=n, steps=steps, sampler=cfg["sampler"], seed=seed)
            else:
                out = dmp.sample(conds[i], num_prompts=n, guidance=float(cfg["guidance"]), steps=steps, sampler=cfg["sampler"], seed=seed)
            self.samples[concept.name] = out.cpu()
        self.ctx.audit["dmp"] = {"reused": reused, "repository": [c, s], "repository_recipe": stats, **dmp.history}
        self.ctx.audit["repository_fidelity"] = fidelity(repo, [self.samples[x.name] for x in concepts], [x.name for x in concepts])

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        samples = self.samples[request.concept]
        rows = torch.arange(request.n) % len(samples)
        texts = [slider_prompt(p) for p in request.prompts for _ in range(request.n)]
        learned = samples[rows.repeat(len(request.prompts))]
        return PromptEmbeddings(texts, request.strength * learned)


def fidelity(repo: torch.Tensor, samples: list[torch.Tensor], names: list[str]) -> dict[str, dict[str, float]]:
    """Per concept: ``nearest_same`` (share of samples whose nearest repository prompt is the concept's own) and
    ``spread_ratio`` (mean sample distance to the concept's repository mean / the repository's own)."""
    flat = repo.flatten(2)  # [C, S, K*d]
    bank, owner = flat.flatten(0, 1), torch.arange(flat.shape[0]).repeat_interleave(flat.shape[1])
    out = {}
    for i, (name, x) in enumerate(zip(names, samples)):
        x = x.flatten(1).float()
        nearest = owner[torch.cdist(x, bank).argmin(1)]
        mean = flat[i].mean(0)
        spread = (flat[i] - mean).norm(dim=1).mean().clamp_min(1e-12)
        out[name] = {"nearest_same": round(float((nearest == i).float().mean()), 4),
                     "spread_ratio": round(float((x - mean).norm(dim=1).mean() / spread), 4)}
    return out
