"""A synthesis backbone over a diffusers text-to-image pipeline (SD 1.x, SDXL, and the mini SD).

The pipeline's own ``encode_prompt`` is bypassed: ``encode`` builds ``prompt_embeds`` (and SDXL's pooled
embeddings) itself with learned tokens spliced in (``prompt.py``), reading each text encoder exactly as the
pipeline does (SD 1.x: last hidden state; SDXL: penultimate hidden states of both encoders concatenated,
pooled = the second encoder's projected embedding). The pipeline then only denoises and decodes.
SDXL's ``ctx_dim`` is the two encoders' widths side by side (768 + 1280): a learned token's first 768
values enter the first encoder, the rest the second, as textual inversion for SDXL keeps one embedding
per encoder.
"""

from __future__ import annotations

from typing import Sequence

import torch

from dmpbench.backbones.synthesis.base import Conditioning, Recipe, SynthesisBackbone
from dmpbench.backbones.synthesis.prompt import TextEncoderSlot, check_learned
from dmpbench.errors import DmpbenchError

#: short names for diffusers schedulers (any other diffusers scheduler class name works too)
SCHEDULERS = {
    "ddim": "DDIMScheduler", "pndm": "PNDMScheduler", "ddpm": "DDPMScheduler", "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler", "dpm++": "DPMSolverMultistepScheduler", "lms": "LMSDiscreteScheduler",
}


def scheduler_class(name: str):
    import diffusers

    cls_name = SCHEDULERS.get(name, name)
    cls = getattr(diffusers, cls_name, None)
    if cls is None or not cls_name.endswith("Scheduler"):
        raise DmpbenchError(f"unknown scheduler {name!r} (short names: {', '.join(SCHEDULERS)}; or a diffusers scheduler class name)")
    return cls


class DiffusersSynthesis(SynthesisBackbone):
    """Prompt embeddings -> images through a diffusers pipeline whose text encoders are ``slots``."""

    def __init__(self, pipeline, slots: Sequence[TextEncoderSlot], name: str, cache_key: str, recipe: Recipe,
                 world: str = "paper", zero_negative: bool = False, image_size: int | None = None,
                 batch_size: int = 8):
        self.pipeline = pipeline
        self.slots = list(slots)
        self._name, self._cache_key = name, cache_key
        self.recipe = recipe
        self.world = world
        #: SDXL's ``force_zeros_for_empty_prompt``: the unconditional embedding is zeros, not the encoded ""
        self.zero_negative = zero_negative
        scale = int(getattr(pipeline, "vae_scale_factor", 8))
        self._image_size = int(image_size or pipeline.unet.config.sample_size * scale)
        self.batch_size = batch_size
        self._schedulers: dict[str, object] = {}
        self._uncond: Conditioning | None = None
        for module in self._modules():
            module.eval().requires_grad_(False)
        pipeline.set_progress_bar_config(disable=True)

    def _modules(self):
        mods = [self.pipeline.unet, self.pipeline.vae] + [s.model for s in self.slots]
        return [m for m in mods if m is not None]

    # identity
    @property
    def name(self) -> str:
        return self._name

    @property
    def cache_key(self) -> str:
        return self._cache_key

    @property
    def ctx_dim(self) -> int:
        return sum(s.width for s in self.slots)

    @property
    def image_size(self) -> int:
        return self._image_size

    @property
    def device(self) -> torch.device:
        return self.pipeline.unet.device

    def to(self, device):
        self.pipeline.to(torch.device(device))
        self._uncond = None
        return self

    def untrained_copy(self, seed: int = 0) -> "DiffusersSynthesis":
        """The same pipeline with its denoiser (UNet) freshly initialised from ``seed``: the floor a trained
        model's FID is read against. Text encoders, VAE and scheduler are shared with ``self``."""
        import copy

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = type(self.pipeline.unet).from_config(self.pipeline.unet.config)
        pipe = copy.copy(self.pipeline)
        pipe.register_modules(unet=unet.to(device=self.device, dtype=self.pipeline.unet.dtype))
        return DiffusersSynthesis(pipe, self.slots, f"{self.name} (untrained UNet, seed {seed})",
                                  f"{self.cache_key}:untrained{seed}", self.recipe, self.world, self.zero_negative,
                                  self.image_size, self.batch_size)

    # text
    def _split(self, learned: torch.Tensor | None) -> list[torch.Tensor | None]:
        if learned is None:
            return [None] * len(self.slots)
        return list(torch.split(learned, [s.width for s in self.slots], dim=-1))

    def token_embeddings(self, text: str) -> torch.Tensor:
        parts = [s.token_embeddings(text) for s in self.slots]
        if len({p.shape[0] for p in parts}) > 1:
            raise DmpbenchError(f"the text encoders tokenise {text!r} into different numbers of tokens")
        return torch.cat(parts, dim=-1)

    def encode(self, texts: Sequence[str], learned: torch.Tensor | None = None) -> Conditioning:
        texts = list(texts)
        if not texts:
            raise DmpbenchError("no prompts to encode")
        check_learned(learned, len(texts), self.ctx_dim)
        hidden, pooled = [], None
        for slot, part in zip(self.slots, self._split(learned)):
            h, p = slot.encode(texts, part)
            hidden.append(h)
            pooled = p if p is not None else pooled
        dtype = self.pipeline.unet.dtype
        return Conditioning(torch.cat(hidden, dim=-1).to(dtype), None if pooled is None else pooled.to(dtype))

    def unconditional(self, n: int) -> Conditioning:
        if self._uncond is None:
            with torch.no_grad():
                empty = self.encode([""])
            if self.zero_negative:
                empty = Conditioning(torch.zeros_like(empty.prompt_embeds),
                                     None if empty.pooled is None else torch.zeros_like(empty.pooled))
            self._uncond = empty
        return self._uncond.repeat(n)

    # images
    def _scheduler(self, name: str):
        if name not in self._schedulers:
            self._schedulers[name] = scheduler_class(name).from_config(self.pipeline.scheduler.config)
        return self._schedulers[name]

    @torch.no_grad()
    def generate(self, cond: Conditioning, seeds: Sequence[int], guidance_scale: float | None = None,
                 steps: int | None = None, scheduler: str | None = None,
                 negative: Conditioning | None = None) -> torch.Tensor:
        return self._run(cond, seeds, guidance_scale, steps, scheduler, negative, "pt").float().cpu().clamp(0, 1)

    @torch.no_grad()
    def sample_latents(self, cond: Conditioning, seeds: Sequence[int], guidance_scale: float | None = None,
                       steps: int | None = None, scheduler: str | None = None,
                       negative: Conditioning | None = None) -> torch.Tensor:
        """The denoised latents ``generate`` would decode (scaled as the UNet sees them), on the CPU."""
        return self._run(cond, seeds, guidance_scale, steps, scheduler, negative, "latent").float().cpu()

    def _run(self, cond, seeds, guidance_scale, steps, scheduler, negative, output_type) -> torch.Tensor:
        seeds = [int(s) for s in seeds]
        cond = cond.repeat(len(seeds))
        negative = self.unconditional(len(seeds)) if negative is None else negative.repeat(len(seeds))
        self.pipeline.scheduler = self._scheduler(scheduler or self.recipe.scheduler)
        guidance = self.recipe.guidance_scale if guidance_scale is None else float(guidance_scale)
        n_steps = int(steps or self.recipe.steps)
        outs = []
        for i in range(0, len(seeds), self.batch_size):
            rows = slice(i, i + self.batch_size)
            c, u = cond.index(rows), negative.index(rows)
            kwargs = dict(prompt_embeds=c.prompt_embeds.to(self.device), negative_prompt_embeds=u.prompt_embeds.to(self.device))
            if c.pooled is not None:
                kwargs.update(pooled_prompt_embeds=c.pooled.to(self.device), negative_pooled_prompt_embeds=u.pooled.to(self.device))
            generators = [torch.Generator(device="cpu").manual_seed(s) for s in seeds[rows]]
            out = self.pipeline(**kwargs, guidance_scale=guidance, num_inference_steps=n_steps, generator=generators,
                                height=self.image_size, width=self.image_size, output_type=output_type)
            outs.append(out.images)
        return torch.cat(outs)

    # training hooks (textual inversion, sliders): the pipeline's own denoiser and noise schedule
    @property
    def train_timesteps(self) -> int:
        return int(self.pipeline.scheduler.config.num_train_timesteps)

    def add_noise(self, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``x_t`` of the forward process (the schedule the UNet was trained with)."""
        return self._scheduler("ddpm").add_noise(latents, noise, timesteps)

    def predict_noise(self, latents: torch.Tensor, timesteps: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """The UNet's noise prediction for ``x_t`` at ``timesteps`` under ``cond`` (differentiable; SDXL gets its
        micro-conditioning: original and target size = the image size, crop (0, 0), as the pipeline sets them)."""
        unet = self.pipeline.unet
        kwargs = {}
        if cond.pooled is not None:
            s = self.image_size
            time_ids = torch.tensor([[s, s, 0, 0, s, s]], dtype=unet.dtype, device=self.device).expand(len(latents), -1)
            kwargs["added_cond_kwargs"] = {"text_embeds": cond.pooled.to(self.device), "time_ids": time_ids}
        return unet(latents.to(device=self.device, dtype=unet.dtype), timesteps.to(self.device),
                    encoder_hidden_states=cond.prompt_embeds.to(self.device), **kwargs).sample

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``[N, 3, H, W]`` in ``[0, 1]`` -> the latents the UNet denoises (the VAE posterior mean, scaled)."""
        vae = self.pipeline.vae
        dist = vae.encode((images * 2 - 1).to(device=self.device, dtype=vae.dtype)).latent_dist
        return (dist.mean * vae.config.scaling_factor).float()
