"""What the DMPs over learned-token repositories share (DMPSlider, DMPIdentity, DMPMulti; DMP sections 3.2-3.3,
A.6, Table 17): the DMP trained directly in prompt space on ``[subjects x snapshots]`` token repositories,
each subject conditioned on one text (a concept name, or "identity-c"), and the answer to a request.

* **DMP**: ``dmpbench.dmp.DMP`` without autoencoder (Table 17's DMPMulti column: x = 768 x 1; mini world 384 x 1),
  ``preset`` paper / small, trained on every snapshot with its subject's condition (the run's CLIP text
  embedding of the condition text, one token); AdamW, 20% null conditioning, EMA (the library's recipe).
  Paper world: Table 17's batch 320 (lr: ours, 1e-4; the paper's 1e-6 is for 100k iterations); mini
  world: 1,500 steps of batch 128 at 1e-3 (batch 256 until the image-synthesis set had to fit its 30-minute
  budget; 128 is 200-370 passes over the 520-920-prompt mini repositories).
* **Sampling**: ``num_prompts`` prompts per subject with DDIM (``sample_steps``, ``guidance``) from the run's
  seed; image row r of a request uses sample r mod ``num_prompts``. Options: ``negative: true`` samples with the
  subject as the *negative* condition and the empty positive (``DMP.negate(None, c)``: DMP 4.2's negative
  sliders, Figure 19); ``negative_text: "identity-24"`` the subject positive and that text negative (Figure
  23); ``compose: {"identity-2": 2.0}`` adds terms to equation 3 (identity composition, Figure 26); a request
  for "identity-c" beyond the trained identities samples a novel identity.
* **Answer**: a slider request (plain prompts) gets the sample appended and scaled by the strength, as a
  prompt slider; a subject request (prompts with ``{}``) gets the sample in the subject's place.
* **Audit** ``repository_fidelity``: per subject, the share of samples whose nearest repository token is the
  subject's own (``nearest_same``) and their mean distance to the subject's repository mean over the
  repository's own spread around it (``spread_ratio``; 1 = as far as a repository token is on average).
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod

import torch

from dmpbench.backbones.synthesis.base import PLACEHOLDER, SynthesisBackbone
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.baselines.prompt_slider import slider_prompt
from dmpbench.cachefiles import try_load, write_text
from dmpbench.dmp import PRESETS
from dmpbench.dmp.model import DMP
from dmpbench.dmp.sampling import SAMPLERS
from dmpbench.errors import DmpbenchError
from dmpbench.locking import artefact_lock

DMP_DEFAULTS = {"repo_seed": 1, "preset": "auto", "dmp_steps": 3000, "dmp_batch_size": 320, "dmp_lr": 1e-4,
                "num_prompts": 10, "guidance": 4.5, "sample_steps": 50, "sampler": "ddim", "negative": False,
                "negative_text": "", "compose": {}}
#: the text-conditioned sampling options (not for the concat-conditioned DMPVariation)
SLIDER_OPTIONS = ("negative", "negative_text", "compose")
DMP_MINI = {"dmp_steps": 1500, "dmp_batch_size": 128, "dmp_lr": 1e-3}
DMP_RANGES = {"repo_seed": ">=0", "preset": ("auto", *PRESETS), "dmp_steps": ">=1", "dmp_batch_size": ">=1", "dmp_lr": ">0",
              "num_prompts": ">=1", "guidance": ">=0", "sample_steps": ">=1", "sampler": tuple(SAMPLERS)}
DMP_KEYS = ("repo_seed", "preset", "dmp_steps", "dmp_batch_size", "dmp_lr")


def sub_config(config: dict, prefix: str) -> dict:
    """The settings of a repository recipe kept under ``prefix`` (``slider_steps`` -> ``steps``)."""
    return {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}


def prefixed(config: dict, prefix: str) -> dict:
    return {f"{prefix}{k}": v for k, v in config.items()}


class TokenDMP(GenerationMethod):
    """A DMP over token repositories; subclasses say which repositories (``repositories``)."""

    #: ``prompt_repository``: serves ``storage_latency`` (``serve`` one request, ``footprint`` of what it keeps)
    capabilities = ("generation", "prompt_repository")

    @abstractmethod
    def repositories(self, data: GenerationData) -> list[tuple[list[str], list[str], torch.Tensor, dict]]:
        """``[(subject names, condition texts, repository [S, snapshots, K, d], recipe stats), ...]``."""

    def preset(self) -> str:
        return ("small" if self.backbone.world == "mini" else "paper") if self.config["preset"] == "auto" else self.config["preset"]

    def condition(self, text: str) -> torch.Tensor:
        with torch.no_grad():
            return self.backbone.encode_text([text]).float().cpu()  # [1, D]

    def fit(self, data: GenerationData) -> None:
        cfg = self.config
        parts = self.repositories(data)
        names = [n for p in parts for n in p[0]]
        texts = [t for p in parts for t in p[1]]
        if len(set(texts)) != len(texts):
            raise DmpbenchError(f"{self.name}: two repository subjects share a condition text")
        shapes = {tuple(p[2].shape[2:]) for p in parts}
        if len(shapes) != 1:
            raise DmpbenchError(f"{self.name}: the repositories' tokens differ in shape ({sorted(shapes)})")
        repos = [p[2] for p in parts]
        conds = {t: self.condition(t) for t in texts}
        digest = hashlib.sha256(b"".join(r.float().numpy().tobytes() for r in repos)).hexdigest()
        key = {"synthesis": data.synthesis.cache_key, "backbone": self.backbone.cache_key, "repositories": digest,
               "conditions": texts, "dmp": {k: cfg[k] for k in DMP_KEYS}, "preset": self.preset()}
        directory = self.ctx.artifact_dir(self.name, key)
        with artefact_lock(directory / self.name):  # concurrent runs: one trains it, the others load it
            dmp = None
            if (directory / "done").exists():  # a corrupt checkpoint is retrained
                dmp = try_load(f"cached {self.name} {directory}", lambda: DMP.load(directory, self.ctx.device))
            reused = dmp is not None
            if dmp is None:
                dmp = DMP(shapes.pop(), cond_dim=next(iter(conds.values())).shape[1], preset=self.preset(), device=self.ctx.device)
                prompts = torch.cat([r.flatten(0, 1) for r in repos])
                rows = [conds[t] for r, p in zip(repos, parts) for t in p[1] for _ in range(r.shape[1])]
                dmp.fit(prompts, rows, steps=int(cfg["dmp_steps"]), batch_size=int(cfg["dmp_batch_size"]), lr=float(cfg["dmp_lr"]),
                        seed=int(cfg["repo_seed"]), progress=self.ctx.progress, checkpoint_dir=directory)
                write_text(directory / "done", "ok\n")
        self.dmp, self.conds, self.directory, self.parts = dmp, conds, directory, parts
        self.text_of = dict(zip(names, texts))
        self.samples = {name: self.sample(self.text_of[name], i) for i, name in enumerate(names)}
        self.ctx.audit["dmp"] = {"reused": reused, "repositories": {p[1][0]: list(p[2].shape[:2]) for p in parts},
                                 "repository_recipes": [p[3] for p in parts], **dmp.history}
        self.ctx.audit["repository_fidelity"] = {
            k: v for r, p in zip(repos, parts) for k, v in fidelity(r, [self.samples[n] for n in p[0]], p[0]).items()}

    def sample(self, text: str, offset: int) -> torch.Tensor:
        """``num_prompts`` prompts for a condition text: plain guidance, or the options of section 3 / Figures 19, 23, 26:
        ``negative`` (the text as the negative condition, empty positive), ``negative_text`` (the text positive, that
        text negative: DMP.negate), ``compose`` ({other text: weight}: equation 3 with the text at ``guidance``)."""
        cfg = self.config
        seed, n, steps = self.ctx.seed * 1000 + offset, int(cfg["num_prompts"]), int(cfg["sample_steps"])
        cond = self.conds[text] if text in self.conds else self.condition(text)
        g, kw = float(cfg["guidance"]), dict(num_prompts=n, steps=steps, sampler=cfg["sampler"], seed=seed)
        if cfg["negative"]:
            out = self.dmp.negate(None, cond, strength=g, **kw)
        elif cfg["negative_text"]:
            out = self.dmp.negate(cond, self.condition(cfg["negative_text"]), strength=g, **kw)
        elif cfg["compose"]:
            out = self.dmp.compose([(cond, g)] + [(self.condition(t), float(w)) for t, w in cfg["compose"].items()], **kw)
        else:
            out = self.dmp.sample(cond, guidance=g, **kw)
        return out.cpu()

    def novel(self, concept: str) -> bool:
        """A subject the DMP was not trained on that it can still be asked for: "identity-c" with c beyond the
        trained ones (DMP 3.3: "Novel identities can be sampled by specifying a new identity")."""
        return concept.startswith("identity-") and concept.removeprefix("identity-").isdigit()

    def serve(self, text: str) -> torch.Tensor:
        """One request as a user makes it: the text embedded, one prompt sampled (DDIM, guidance)."""
        cfg = self.config
        return self.dmp.sample(self.condition(text), num_prompts=1, guidance=float(cfg["guidance"]), steps=int(cfg["sample_steps"]),
                               sampler=cfg["sampler"], seed=self.ctx.seed)

    def request_texts(self) -> list[str]:
        return list(self.text_of.values())

    def footprint(self, directory=None) -> dict[str, int]:
        """Bytes on disk of what sampling loads (the checkpoint's weights and configuration; not the training
        state) and in memory (the sampled U-Net's parameters and buffers, the normalisation statistics)."""
        disk = sum((self.directory / f).stat().st_size for f in ("dmp.safetensors", "config.json"))
        modules = [self.dmp.ema_unet, self.dmp.prompt_norm, self.dmp.latent_norm]
        memory = sum(t.numel() * t.element_size() for m in modules for t in [*m.parameters(), *m.buffers()])
        return {"disk_bytes": int(disk), "memory_bytes": int(memory)}

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        if request.concept not in self.samples and self.novel(request.concept):
            self.samples[request.concept] = self.sample(request.concept, len(self.samples))
        if request.concept not in self.samples:
            raise DmpbenchError(f"{self.name} was not trained on {request.concept!r} (nor is it a novel \"identity-c\")")
        samples = self.samples[request.concept]
        rows = (torch.arange(request.n) % len(samples)).repeat(len(request.prompts))
        texts = [p.format(PLACEHOLDER) if "{}" in p else slider_prompt(p) for p in request.prompts for _ in range(request.n)]
        return PromptEmbeddings(texts, request.strength * samples[rows])


def fidelity(repo: torch.Tensor, samples: list[torch.Tensor], names: list[str]) -> dict[str, dict[str, float]]:
    """Per subject: ``nearest_same`` (share of samples whose nearest repository token is the subject's own) and
    ``spread_ratio`` (mean sample distance to the subject's repository mean / the repository's own)."""
    flat = repo.flatten(2)  # [S, snapshots, K*d]
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


class TokenRetrieval:
    """Stylus top-1 over token repositories (DMP Tables 1 and 5): every repository subject is an entry with its
    stored prompts (all its snapshots) and a text description (its condition text, embedded with the run's CLIP);
    a request gets the entry whose description is nearest (cosine) to the request's text, and image row r of a
    request uses the entry's stored prompt r mod its count (as a DMP's samples)."""

    def __init__(self, backbone, parts: list[tuple[list[str], list[str], torch.Tensor, dict]]):
        self.backbone = backbone
        self.names = [n for p in parts for n in p[0]]
        self.texts = [t for p in parts for t in p[1]]
        self.prompts = [r[i] for p in parts for r in [p[2]] for i in range(r.shape[0])]  # [snapshots, K, d] each
        self.keys = self.embed(self.texts)

    def embed(self, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            e = self.backbone.encode_text(list(texts)).float().cpu()
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def retrieve(self, text: str) -> tuple[str, torch.Tensor]:
        """The nearest entry's name and stored prompts for a request text."""
        i = int((self.embed([text]) @ self.keys.T).argmax())
        return self.names[i], self.prompts[i]

    def footprint(self, directory) -> dict[str, int]:
        """Bytes on disk (the entries' prompts, descriptions and description embeddings, as Stylus stores them:
        written to ``directory``) and in memory (the same tensors)."""
        import json

        from safetensors.torch import save_file

        from dmpbench.cachefiles import atomic_path, write_text

        tensors = {**{f"prompt/{n}": p.contiguous() for n, p in zip(self.names, self.prompts)}, "keys": self.keys.contiguous()}
        with atomic_path(directory / "repository.safetensors") as tmp:
            save_file(tensors, str(tmp))
        write_text(directory / "descriptions.json", json.dumps(dict(zip(self.names, self.texts))))
        disk = sum(f.stat().st_size for f in (directory / "repository.safetensors", directory / "descriptions.json"))
        return {"disk_bytes": disk, "memory_bytes": sum(t.numel() * t.element_size() for t in tensors.values())}
