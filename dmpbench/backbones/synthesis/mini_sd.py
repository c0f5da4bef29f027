"""Mini SD: the mini world's latent diffusion model, built from diffusers parts as Stable Diffusion is.

* ``AutoencoderKL``: 32x32 RGB <-> 8x8x4 latents (three encoder blocks, two downsamplings); its
  ``scaling_factor`` is set from the trained latents' standard deviation, as SD's 0.18215 was.
* ``UNet2DConditionModel`` on 8x8x4 latents, cross-attending to the *token hidden states* of the mini
  CLIP's text tower (all-MiniLM-L6-v2, frozen), padded to ``MAX_TOKENS`` with BERT's attention mask, so a
  prompt learned for classification and one learned for generation live in one text space, as in the paper.
* ``DDIMScheduler`` with SD's scaled-linear betas (0.00085 .. 0.012, 1000 steps).

It runs through diffusers' own ``StableDiffusionPipeline`` (MiniLM in the text-encoder slot) via the
same ``DiffusersSynthesis`` the paper-world checkpoints use. Weights: ``mini_sd/vae.safetensors`` and
``mini_sd/unet.safetensors``, configuration, training record and sha256 in ``mini_sd/mini_sd.json``
(built by ``dmpbench mini build-sd``, ``mini_sd_build.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from dmpbench.backbones.mini import MiniLMTextTower, sha256_file
from dmpbench.backbones.synthesis.base import Recipe
from dmpbench.backbones.synthesis.diffusers_backbone import DiffusersSynthesis
from dmpbench.backbones.synthesis.prompt import TextEncoderSlot
from dmpbench.errors import DmpbenchError

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "mini_sd"
CONFIG_FILE = "mini_sd.json"
WEIGHTS = {"vae": "vae.safetensors", "unet": "unet.safetensors"}
MAX_TOKENS = 24  # MiniLM tokens per prompt (captions of the mini world are short)
IMAGE_SIZE = 32
MINI_RECIPE = Recipe(guidance_scale=3.0, steps=25, scheduler="ddim")

VAE_CONFIG = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 3,
                  up_block_types=["UpDecoderBlock2D"] * 3, block_out_channels=[16, 32, 32], layers_per_block=1,
                  latent_channels=4, norm_num_groups=8, sample_size=IMAGE_SIZE)
UNET_CONFIG = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=[64, 96, 128],
                   down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                   up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
                   cross_attention_dim=384, attention_head_dim=8, norm_num_groups=16)
SCHEDULER_CONFIG = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                        clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")


def build_components(vae_config: dict | None = None, unet_config: dict | None = None, seed: int = 0):
    """Freshly initialised ``(vae, unet, scheduler)`` (deterministic in ``seed``)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = AutoencoderKL(**(vae_config or VAE_CONFIG))
        unet = UNet2DConditionModel(**(unet_config or UNET_CONFIG))
    return vae, unet, DDIMScheduler(**SCHEDULER_CONFIG)


def assemble(vae, unet, scheduler, text: MiniLMTextTower, name: str, cache_key: str, recipe: Recipe = MINI_RECIPE,
             batch_size: int = 256) -> DiffusersSynthesis:
    """The diffusers ``StableDiffusionPipeline`` with MiniLM as its text encoder, as a synthesis backbone."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text.model, tokenizer=text.tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    slot = TextEncoderSlot(text.tokenizer, text.model, MAX_TOKENS, attention_mask=True)
    return DiffusersSynthesis(pipe, [slot], name, cache_key, recipe, world="mini", image_size=IMAGE_SIZE,
                              batch_size=batch_size)


def load_mini_sd(device: str | torch.device = "cpu", checkpoint_dir: str | os.PathLike | None = None,
                 text: MiniLMTextTower | None = None) -> DiffusersSynthesis:
    """The shipped mini SD (weights checked against their sha256)."""
    from safetensors.torch import load_file

    folder = Path(checkpoint_dir or CHECKPOINT_DIR)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file() or not all((folder / f).is_file() for f in WEIGHTS.values()):
        raise DmpbenchError(f"mini SD weights are missing in {folder}; rebuild them with `dmpbench mini build-sd`")
    config = json.loads(config_path.read_text())
    for part, filename in WEIGHTS.items():
        if sha256_file(folder / filename) != config["sha256"][part]:
            raise DmpbenchError(f"{folder / filename} does not match the sha256 in {config_path}; rebuild with `dmpbench mini build-sd`")
    vae, unet, scheduler = build_components(config["vae"], config["unet"])
    vae.load_state_dict(load_file(str(folder / WEIGHTS["vae"])))
    unet.load_state_dict(load_file(str(folder / WEIGHTS["unet"])))
    vae.register_to_config(scaling_factor=float(config["scaling_factor"]))
    recipe = Recipe(**config.get("recipe", MINI_RECIPE.__dict__))
    key = f"mini-sd/{config['sha256']['unet'][:12]}-{config['sha256']['vae'][:12]}"
    return assemble(vae, unet, scheduler, text or MiniLMTextTower(), "mini-sd", key, recipe).to(device)
