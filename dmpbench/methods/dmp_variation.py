"""DMPVariation (Diffusion Meta-Prompts section 3.2, Table 6): a DMP conditioned by concatenation on a subject's
textual-inversion prompt that samples variation prompts of that subject.

* **Repository** (``repo_subjects`` people, ``repo_seed``): the textual inversions of identities the evaluated
  subjects are not among (mini world: the first ``repo_subjects`` = 15 identities of the mini faces' *train*
  split, 5 images each; the paper: 3,000 CelebA identities), steps 200-400 every 5 (40 prompts per identity);
  each snapshot's condition is its identity's final TI prompt (the end of training), concatenated with the
  noise (``DMP(concat_shape=...)``, Figure 2). Paper world: ``method.subjects_root`` holds those people.
* **DMP**: no autoencoder, no text condition (the concat input is the condition; 20% of training rows see a
  zero concat, so classifier-free guidance contrasts the subject with none); ``preset`` paper / small.
* **Use**: the unit's subjects get their own textual inversion (the run's seed; the same cached training the
  ``textual_inversion`` method uses), and ``num_prompts`` variation prompts are sampled conditioned on each
  (DDIM 50, guidance 4.5); image row r of a request uses sample r mod ``num_prompts`` in the subject's place.
* **Audit**: the repository, the DMP's training, and per subject the mean distance of the samples to the
  subject's TI prompt over the repository's mean snapshot-to-final distance (``variation_ratio``: 1 = the
  samples vary the prompt as much as TI's own snapshots vary around its final prompt).
"""

from __future__ import annotations

import hashlib

import torch

from dmpbench.backbones.synthesis.base import PLACEHOLDER, SynthesisBackbone
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.baselines.textual_inversion import TI_DEFAULTS, TI_MINI, TI_RANGES, check_ti_snapshots, subjects_of, train_textual_inversion
from dmpbench.cachefiles import try_load, write_text
from dmpbench.data.identity_subjects import subjects_for
from dmpbench.dmp.model import DMP
from dmpbench.errors import DmpbenchError
from dmpbench.locking import artefact_lock
from dmpbench.methods.token_dmp import SLIDER_OPTIONS, DMP_DEFAULTS, DMP_KEYS, DMP_MINI, DMP_RANGES, prefixed, sub_config
from dmpbench.registry import METHODS


@METHODS.register("dmp_variation")
class DMPVariation(GenerationMethod):
    """DMPVariation: a diffusion model samples variation prompts of a subject from its textual-inversion prompt."""

    name = "dmp_variation"
    base_learner = "textual_inversion"
    default_config = {**prefixed(TI_DEFAULTS, "ti_"), **{k: v for k, v in DMP_DEFAULTS.items() if k not in SLIDER_OPTIONS},
                      "repo_subjects": 3000, "repo_images": 5, "subjects_root": ""}
    world_defaults = {"mini": {**prefixed(TI_MINI, "ti_"), **DMP_MINI, "repo_subjects": 15}}
    ranges = {**prefixed(TI_RANGES, "ti_"), **{k: v for k, v in DMP_RANGES.items() if k not in SLIDER_OPTIONS}, "repo_subjects": ">=1",
              "repo_images": ">=1"}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        check_ti_snapshots(cls.name, sub_config(config, "ti_"))

    def preset(self) -> str:
        return ("small" if self.backbone.world == "mini" else "paper") if self.config["preset"] == "auto" else self.config["preset"]

    def repository(self, synthesis) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """``(snapshots [S, 40, K, d], final prompts [S, K, d], stats)`` of the repository's identities."""
        cfg = self.config
        if self.backbone.world == "mini":
            from dmpbench.data.identity_subjects import mini_subjects

            people = mini_subjects(int(cfg["repo_subjects"]), int(cfg["repo_images"]), synthesis.image_size, split="train")
        elif cfg["subjects_root"]:
            people = subjects_for("paper", int(cfg["repo_subjects"]), int(cfg["repo_images"]), synthesis.image_size, cfg["subjects_root"])
        else:
            raise DmpbenchError("dmp_variation in the paper world needs method.subjects_root=DIR (its repository's people)")
        tensors, stats = train_textual_inversion(synthesis, people.names, people.train, people.train_labels, sub_config(cfg, "ti_"),
                                                 int(cfg["repo_seed"]), self.ctx, self.backbone.world)
        return tensors["repository"], tensors["final"], stats

    def fit(self, data: GenerationData) -> None:
        cfg = self.config
        names, images, labels = subjects_of(data)
        repo, finals, stats = self.repository(data.synthesis)
        s, n = repo.shape[:2]
        digest = hashlib.sha256(repo.float().numpy().tobytes() + finals.float().numpy().tobytes()).hexdigest()
        key = {"synthesis": data.synthesis.cache_key, "repository": digest, "dmp": {k: cfg[k] for k in DMP_KEYS}, "preset": self.preset()}
        directory = self.ctx.artifact_dir(self.name, key)
        with artefact_lock(directory / self.name):  # concurrent runs: one trains it, the others load it
            dmp = try_load(f"cached {self.name} {directory}", lambda: DMP.load(directory, self.ctx.device)) if (directory / "done").exists() else None
            reused = dmp is not None
            if dmp is None:
                shape = tuple(repo.shape[2:])
                dmp = DMP(shape, cond_dim=self.backbone.embed_dim, preset=self.preset(), concat_shape=shape, device=self.ctx.device)
                dmp.fit(repo.flatten(0, 1), None, concat=finals.repeat_interleave(n, 0), steps=int(cfg["dmp_steps"]),
                        batch_size=int(cfg["dmp_batch_size"]), lr=float(cfg["dmp_lr"]), seed=int(cfg["repo_seed"]),
                        progress=self.ctx.progress, checkpoint_dir=directory)
                write_text(directory / "done", "ok\n")
        own, own_stats = train_textual_inversion(data.synthesis, names, images, labels, sub_config(cfg, "ti_"), self.ctx.seed, self.ctx,
                                                 self.backbone.world)
        self.samples = {}
        spread = (repo - finals[:, None]).flatten(2).norm(dim=-1).mean().clamp_min(1e-12)
        ratios = {}
        for i, name in enumerate(names):
            out = dmp.sample(None, num_prompts=int(cfg["num_prompts"]), guidance=float(cfg["guidance"]), steps=int(cfg["sample_steps"]),
                             sampler=cfg["sampler"], seed=self.ctx.seed * 1000 + i, concat=own["final"][i])
            self.samples[name] = out.cpu()
            ratios[name] = round(float((out.cpu() - own["final"][i]).flatten(1).norm(dim=-1).mean() / spread), 4)
        self.ctx.audit["dmp"] = {"reused": reused, "repository": [s, n], "repository_recipe": stats, **dmp.history}
        self.ctx.audit["textual_inversion"] = own_stats
        self.ctx.audit["variation_ratio"] = ratios

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        if request.concept not in self.samples:
            raise DmpbenchError(f"{self.name} has no prompts for subject {request.concept!r}")
        samples = self.samples[request.concept]
        rows = (torch.arange(request.n) % len(samples)).repeat(len(request.prompts))
        return PromptEmbeddings([p.format(PLACEHOLDER) for p in request.prompts for _ in range(request.n)], samples[rows])
