"""Prompt Diffusion over CoOp (Du et al., the second seed paper; DMP Table 8's "Prompt Diffusion*" row):
every test image gets its own prompt, sampled by a diffusion transformer conditioned on the image.

1. The base prompt V: CoOp, trained (or loaded from the cache) with the CoOp recipe of the world.
2. Per-sample over-fitting (section 4.1): from V, ``overfit_steps`` gradient steps (SGD, ``overfit_lr``) on
   each training image's own cross-entropy give its over-fitted prompt V*_i (all images at once: the
   summed loss gives each its own gradient). Paper: 5 iterations (Figure 5); the learning rate is not
   given: ours is the value whose over-fitted prompts classify their own image correctly in the mini
   world (``audit["prompt_diffusion"]["overfit_acc"]``, before vs after).
3. Diffusion transformer (section 4.2): GPT-2 blocks (``transformers``' ``GPT2Model``; paper: 12 layers,
   16 heads; ours ``layers``/``heads``/``width``) over [meta-net(image feature), time token, the K noisy
   prompt tokens]; the meta-net is CoCoOp's (Linear-ReLU-Linear); it predicts the clean prompt (the
   paper's "simplified variational lower bound ... predict the denoised over-fitted prompts") with
   T = 100 diffusion steps (paper: 100). We diffuse the over-fitting offset V*_i - V, divided by one
   global scale (the offsets are small next to V; a fixed re-parametrisation), and add V back.
   Deviation, documented: the paper also back-propagates the classification loss of the diffused prompt
   through the text encoder during training; we train the transformer with the diffusion loss alone
   (the cross-entropy term needs a text-encoder pass per training image and step, beyond a CPU).
4. Test time: for each test image, DPM-Solver-2 (diffusers ``DPMSolverSinglestepScheduler``, order 2;
   the paper's alternative to AMED) in ``sample_steps`` = 5 steps from noise seeded by the run's seed;
   the image is classified with its own prompt. ``audit["prompt_diffusion"]["seconds_per_image"]`` is the
   added time per test image (sampling and text encoding; paper: +0.045 s on an A100).

Base learner: ``coop`` (the leaderboards' Δ rows). Treecut is refused (one classifier per treecut).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, TrainingPool, normalize
from dmpbench.baselines.coop import COOP_DEFAULTS, COOP_MINI, COOP_RANGES, CoOp
from dmpbench.cachefiles import atomic_path, try_load, write_json
from dmpbench.errors import DmpbenchError
from dmpbench.locking import artefact_lock
from dmpbench.methods.repository import optimise
from dmpbench.registry import METHODS


def _timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal (frequency-based, as the paper encodes t) embedding ``[B, dim]`` of float timesteps."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


class PromptDenoiser(nn.Module):
    """[meta-net(image), time, K prompt tokens] -> GPT-2 blocks -> the clean prompt's K tokens."""

    def __init__(self, prompt_shape: tuple[int, int], feat_dim: int, width: int, layers: int, heads: int):
        super().__init__()
        from transformers import GPT2Config, GPT2Model

        k, d = prompt_shape
        self.config_dict = {"prompt_shape": [k, d], "feat_dim": feat_dim, "width": width, "layers": layers, "heads": heads}
        self.width = width
        hidden = max(1, feat_dim // 16)  # CoCoOp's meta-net: D -> D/16 -> ReLU -> out
        self.meta_net = nn.Sequential(nn.Linear(feat_dim, hidden), nn.ReLU(), nn.Linear(hidden, width))
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.proj_in = nn.Linear(d, width)
        self.proj_out = nn.Linear(width, d)
        self.gpt = GPT2Model(GPT2Config(n_embd=width, n_layer=layers, n_head=heads, n_positions=k + 2, vocab_size=1,
                                        bos_token_id=None, eos_token_id=None))

    def forward(self, x: torch.Tensor, t: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([self.meta_net(feats)[:, None], self.time(_timestep_embedding(t, self.width))[:, None], self.proj_in(x)], 1)
        return self.proj_out(self.gpt(inputs_embeds=tokens).last_hidden_state[:, 2:])


@METHODS.register("prompt_diffusion")
class PromptDiffusionCoOp(ClassificationMethod):
    """Prompt Diffusion over CoOp: a per-image prompt sampled by a diffusion transformer"""

    name = "prompt_diffusion"
    base_learner = "coop"
    per_image = True
    default_config = {
        **{f"coop_{k}": v for k, v in COOP_DEFAULTS.items() if k != "csc"},
        "overfit_steps": 5, "overfit_lr": 1.0, "max_overfit_prompts": 20000,
        "timesteps": 100, "train_steps": 2000, "batch_size": 64, "lr": 1e-3, "width": 128, "layers": 4, "heads": 4,
        "sample_steps": 5, "num_prompts": 1,
    }
    ranges = {**{f"coop_{k}": v for k, v in COOP_RANGES.items()}, "overfit_steps": ">=0", "overfit_lr": ">0",
              "max_overfit_prompts": ">=1", "timesteps": ">=2", "train_steps": ">=1", "batch_size": ">=1", "lr": ">0",
              "width": ">=2", "layers": ">=1", "heads": ">=1", "sample_steps": ">=1", "num_prompts": ">=1"}
    world_defaults = {"mini": {f"coop_{k}": v for k, v in COOP_MINI.items()}}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        if config["width"] % config["heads"] or config["width"] % 2:
            raise DmpbenchError(f"method 'prompt_diffusion': width {config['width']} must be even and a multiple of heads {config['heads']}")

    # -- fit --------------------------------------------------------------------------------------
    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        coop_cfg = {k.removeprefix("coop_"): v for k, v in self.config.items() if k.startswith("coop_")}
        coop = CoOp(self.backbone, {**coop_cfg, "csc": False, "convergence_check": False}, self.ctx)
        coop.fit(data, pool)  # CoOp's own cached fit when the recipe matches
        self.base = coop.context.float()
        key = {"backbone": self.backbone.cache_key, "dataset": data.dataset, "split": data.split, "seed": self.ctx.seed,
               "data_seed": data.seed, "shots": data.shots, "classes": data.classnames,
               "config": {k: v for k, v in self.config.items() if k not in ("sample_steps", "num_prompts")}}
        directory = self.ctx.artifact_dir("prompt_diffusion", key)
        with artefact_lock(directory / "prompt_diffusion"):
            if (directory / "done").exists() and try_load(f"cached prompt diffusion {directory}", lambda: self._load(directory)):
                self.ctx.audit["prompt_diffusion"] = {"reused": True, **json.loads((directory / "history.json").read_text())}
            else:
                self._train(directory, data)
        self.ctx.audit["optimizer_steps"] = {"coop": self.ctx.audit.get("optimizer_steps"), "overfit_per_image": int(self.config["overfit_steps"]),
                                             "diffusion": int(self.config["train_steps"])}

    def overfit(self, data: FewShotData) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Per-sample over-fitted prompts ``[N, K, d]`` from the base prompt, the image features they belong
        to and how well the base and the over-fitted prompts classify their own images."""
        n_classes, gen = len(data.classnames), self.ctx.generator(offset=211)
        keep = torch.arange(data.labels.numel())
        cap = max(1, int(self.config["max_overfit_prompts"]) // n_classes)
        if keep.numel() > cap:  # a seeded subset so that images x classes stays within the text-encoder budget
            keep = torch.randperm(keep.numel(), generator=gen)[:cap].sort().values
        feats = normalize(data.features[keep].float()).to(self.ctx.device)
        labels = data.labels[keep].to(self.ctx.device)
        n, (k, d) = feats.shape[0], self.base.shape
        prompts = torch.nn.Parameter(self.base.to(self.ctx.device).expand(n, k, d).clone())
        opt = torch.optim.SGD([prompts], lr=float(self.config["overfit_lr"]))
        names = list(data.classnames) * n

        def own_logits() -> torch.Tensor:
            text = self.backbone.encode_with_context(prompts.repeat_interleave(n_classes, 0), names, self.config["coop_class_token_position"])
            text = normalize(text.float()).view(n, n_classes, -1)
            return self.backbone.logit_scale * torch.einsum("nd,ncd->nc", feats, text)

        accs = []
        for step in range(int(self.config["overfit_steps"]) + 1):
            logits = own_logits()
            accs.append(float((logits.argmax(1) == labels).float().mean() * 100))
            if step == int(self.config["overfit_steps"]):
                break
            loss = F.cross_entropy(logits, labels, reduction="sum")  # summed: each prompt gets its own image's gradient
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return prompts.detach().cpu(), feats.cpu(), {"overfit_images": n, "overfit_acc": [round(accs[0], 2), round(accs[-1], 2)]}

    def _train(self, directory: Path, data: FewShotData) -> None:
        from diffusers import DDPMScheduler

        start = time.perf_counter()
        overfitted, feats, stats = self.overfit(data)
        offsets = overfitted - self.base
        scale = float(offsets.pow(2).mean().sqrt().clamp_min(1e-8))
        x0 = offsets / scale
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.ctx.seed)
            self.model = PromptDenoiser(tuple(self.base.shape), feats.shape[1], int(self.config["width"]),
                                        int(self.config["layers"]), int(self.config["heads"]))
        noise_schedule = DDPMScheduler(num_train_timesteps=int(self.config["timesteps"]))
        opt = torch.optim.AdamW(self.model.parameters(), lr=float(self.config["lr"]), weight_decay=1e-4)
        gen = self.ctx.generator(offset=223)
        bs = int(self.config["batch_size"])

        def step_loss() -> torch.Tensor:
            idx = torch.randint(0, x0.shape[0], (bs,), generator=gen)
            t = torch.randint(0, int(self.config["timesteps"]), (bs,), generator=gen)
            noise = torch.randn(x0[idx].shape, generator=gen)
            return F.mse_loss(self.model(noise_schedule.add_noise(x0[idx], noise, t), t, feats[idx]), x0[idx])

        loss = optimise(self.ctx, self.model, opt, int(self.config["train_steps"]), f"prompt diffusion {data.dataset}", step_loss)
        self.scale = scale
        history = {**stats, "offset_scale": scale, "final_loss": round(float(loss), 4),
                   "train_seconds": round(time.perf_counter() - start, 1)}
        with atomic_path(directory / "denoiser.safetensors") as tmp:
            save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(tmp))
        write_json(directory / "history.json", {**history, "model": self.model.config_dict})
        write_json(directory / "done", {"ok": True})
        self.ctx.audit["prompt_diffusion"] = {"reused": False, **history}

    def _load(self, directory: Path) -> bool:
        meta = json.loads((directory / "history.json").read_text())
        cfg = meta["model"]
        self.model = PromptDenoiser(tuple(cfg["prompt_shape"]), cfg["feat_dim"], cfg["width"], cfg["layers"], cfg["heads"])
        self.model.load_state_dict(load_file(str(directory / "denoiser.safetensors")))
        self.model.eval()
        self.scale = float(meta["offset_scale"])
        return True

    # -- test time --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_prompts(self, image_features: torch.Tensor, seed: int) -> torch.Tensor:
        """``[P, N, K, d]``: ``num_prompts`` prompts for each image, DPM-Solver-2 in ``sample_steps`` steps."""
        from diffusers import DPMSolverSinglestepScheduler

        feats = normalize(image_features.float().cpu())
        sampler = DPMSolverSinglestepScheduler(num_train_timesteps=int(self.config["timesteps"]), solver_order=2,
                                               prediction_type="sample", lower_order_final=True)
        sampler.set_timesteps(int(self.config["sample_steps"]))
        gen = torch.Generator().manual_seed(int(seed) * 1000 + 227)
        out = []
        for _ in range(int(self.config["num_prompts"])):
            x = torch.randn((feats.shape[0], *self.base.shape), generator=gen)
            for t in sampler.timesteps:
                pred = self.model(x, t.expand(feats.shape[0]), feats)
                x = sampler.step(pred, t, x).prev_sample
            out.append(self.base + self.scale * x)
            sampler.set_timesteps(int(self.config["sample_steps"]))  # a fresh solver state for the next draw
        return torch.stack(out)

    def image_class_embeddings(self, labels: LabelSet, image_features: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        prompts = self.sample_prompts(image_features, self.ctx.seed)
        p, n, k, d = prompts.shape
        names, c = list(labels.classnames), len(labels.classnames)
        emb = torch.stack([
            normalize(self.backbone.encode_with_context(prompts[i].repeat_interleave(c, 0).to(self.ctx.device), names * n,
                                                        self.config["coop_class_token_position"]).float()).view(n, c, -1)
            for i in range(p)])
        self.ctx.audit.setdefault("prompt_diffusion", {}).setdefault("seconds_per_image", {})[labels.dataset] = \
            round((time.perf_counter() - start) / max(1, n), 5)
        return emb

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        """The base CoOp prompt's classifier (what the diffused prompts start from); tasks that score per
        image use ``image_class_embeddings``."""
        emb = self.backbone.encode_with_context(self.base.to(self.ctx.device), list(labels.classnames), self.config["coop_class_token_position"])
        return normalize(emb.float()).unsqueeze(0)
