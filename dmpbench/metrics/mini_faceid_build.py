"""``dmpbench mini build-faceid``: train the mini face-ID network by metric learning (CosFace).

* Data: the *train* identities of ``mini_face_identities(seed=0, size=32)`` (600 people x 20 images; pose,
  expression, lighting, background and shirt vary per image). The val identities (100) only choose a
  threshold; the test identities (300) are only scored. The three sets of people are disjoint.
* Loss: CosFace (large-margin cosine loss, Wang et al. 2018) from ``pytorch-metric-learning``
  (``losses.CosFaceLoss``: a learned class-centre matrix, cosine logits, margin ``m`` subtracted from the
  true class, scale ``s``), one class per training identity. The class centres are thrown away after
  training; only the embedding network ships.
* Augmentation: horizontal flip, small affine (rotation, scale, shift), brightness / contrast jitter.
* Evaluation (``verification.py``): balanced genuine / impostor pairs on the test identities, accuracy at
  the best threshold and the threshold; the val-fitted threshold read on test; the same for the randomly
  initialised network of the same architecture; and a pinned subset (the first 50 test identities) that the
  tests recompute.
* Reproducibility: seed, ``threads`` CPU threads and deterministic kernels inside the build (restored
  afterwards), so a rebuild on the same software gives the same sha256.
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

from dmpbench.backbones.mini import sha256_file
from dmpbench.determinism import deterministic_cpu
from dmpbench.metrics import verification
from dmpbench.metrics.mini_faceid import (
    ARCH, CHECKPOINT_DIR, CONFIG_FILE, NET_DEFAULTS, WEIGHTS_FILE, embed_grid, make_face_net, random_face_net,
    uint8_to_float,
)

DEFAULTS = {
    "epochs": 16,
    "batch_size": 128,
    "lr": 3e-3,
    "weight_decay": 5e-4,
    "warmup": 0.1,
    "margin": 0.35,
    "scale": 30.0,
    "threads": 1,
    "data_seed": 0,  # the mini-faces world seed (which people exist and how the split falls)
    "pairs_per_identity": 10,
    "pinned_identities": 50,
    **NET_DEFAULTS,
}
NET_KEYS = tuple(NET_DEFAULTS)


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(8)
    scale = 0.93 + torch.rand(n, generator=g) * 0.14
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * 0.08
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), padding_mode="border", align_corners=False)
    contrast = 0.8 + torch.rand(n, 1, 1, 1, generator=g) * 0.4
    bright = (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * 0.08
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + bright).clamp(0, 1)


def evaluate(net, faces, ids, per_identity: int, seed: int = 0) -> dict:
    """Verification of ``net`` on the identities ``ids`` (balanced pairs from ``seed``)."""
    images, _ = faces.arrays(ids)
    return verification.verify(embed_grid(net, images), per_identity, seed)


def build_mini_faceid(seed: int = 0, out_dir: str | os.PathLike | None = None, epochs: int | None = None,
                      log: Callable[[str], None] = print, **overrides) -> dict:
    """Train from ``seed``, write weights + configuration JSON to ``out_dir``; returns the configuration."""
    hp = dict(DEFAULTS, **overrides)
    if epochs is not None:
        hp["epochs"] = epochs
    with deterministic_cpu(hp["threads"]):
        return _build(seed, Path(out_dir or CHECKPOINT_DIR), hp, log)


def _build(seed: int, out: Path, hp: dict, log: Callable[[str], None]) -> dict:
    from pytorch_metric_learning import losses
    from safetensors.torch import save_file

    from dmpbench.data.mini.faces import mini_face_identities

    start = time.time()
    faces = mini_face_identities(hp["data_seed"], hp["image_size"])
    train_ids = faces.split("train")
    arrays, _ = faces.arrays(train_ids)
    k, n = arrays.shape[:2]
    images = uint8_to_float(arrays.reshape(k * n, *arrays.shape[2:]))
    labels = torch.arange(k).repeat_interleave(n)
    data_seconds = time.time() - start

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = make_face_net(hp)
    loss_fn = losses.CosFaceLoss(num_classes=k, embedding_size=hp["embed_dim"], margin=hp["margin"], scale=hp["scale"])
    n_params = sum(p.numel() for p in net.parameters())
    decay = [p for p in net.parameters() if p.dim() >= 2] + list(loss_fn.parameters())
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=hp["lr"])
    steps_per_epoch = math.ceil(len(labels) / hp["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=hp["lr"], total_steps=hp["epochs"] * steps_per_epoch,
                                                pct_start=hp["warmup"])
    log(f"mini face-ID build: {len(labels)} images of {k} training identities ({data_seconds:.0f}s to draw), "
        f"CNN {n_params / 1e3:.0f}k parameters, CosFace m={hp['margin']} s={hp['scale']}, {hp['epochs']} epochs, seed {seed}")
    history = []
    for epoch in range(hp["epochs"]):
        net.train()
        order = torch.randperm(len(labels), generator=g)
        running = 0.0
        for i in range(0, len(order), hp["batch_size"]):
            idx = order[i : i + hp["batch_size"]]
            loss = loss_fn(net(_augment(images[idx], g)), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach()) * len(idx)
        history.append(round(running / len(labels), 4))
        log(f"  epoch {epoch + 1}/{hp['epochs']}: loss {history[-1]:.3f}, {time.time() - start:.0f}s")
    train_seconds = time.time() - start
    net.eval().requires_grad_(False)

    per = hp["pairs_per_identity"]
    untrained = random_face_net(seed, hp)
    test_ids, val_ids = faces.split("test"), faces.split("val")
    val = evaluate(net, faces, val_ids, per)
    test = evaluate(net, faces, test_ids, per)
    test_images, _ = faces.arrays(test_ids)
    pairs = verification.verification_pairs(len(test_ids), n, per, 0)
    scores = verification.pair_scores(embed_grid(net, test_images), pairs)
    test["accuracy_at_val_threshold"] = round(verification.accuracy_at(scores, pairs[:, 4], val["threshold"]), 2)
    random_test = evaluate(untrained, faces, test_ids, per)
    pinned_ids = test_ids[: hp["pinned_identities"]]
    pinned = {"identities": f"the first {len(pinned_ids)} test identities (sorted)", "pairs_per_identity": per,
              "pair_seed": 0, "trained": evaluate(net, faces, pinned_ids, per),
              "random_init": evaluate(untrained, faces, pinned_ids, per)}
    log(f"  verification on {len(test_ids)} held-out identities ({test['pairs']} pairs): trained {test['accuracy']:.2f}% "
        f"(threshold {test['threshold']:.3f}; val threshold {val['threshold']:.3f} -> {test['accuracy_at_val_threshold']:.2f}%), "
        f"random init {random_test['accuracy']:.2f}% (threshold {random_test['threshold']:.3f})")

    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_FILE
    tmp = weights.with_suffix(".tmp")
    save_file({k_: v.detach().contiguous() for k_, v in net.state_dict().items()}, str(tmp))
    os.replace(tmp, weights)
    os.chmod(weights, 0o644)
    config = {
        "model": {"arch": ARCH, **{k_: hp[k_] for k_ in NET_KEYS}, "parameters": n_params,
                  "input": "float RGB in [0, 1], mapped to [-1, 1]; other sizes resized to image_size",
                  "output": "L2-normalised embedding"},
        "training": {"seed": seed, **{k_: v for k_, v in hp.items() if k_ not in NET_KEYS},
                     "data": f"mini_face_identities(seed={hp['data_seed']}, size={hp['image_size']}), train identities",
                     "identities": k, "images": len(labels),
                     "loss": "pytorch-metric-learning CosFaceLoss (large-margin cosine, one class per identity)",
                     "optimizer": "AdamW, one-cycle schedule",
                     "augment": "hflip, affine (rot 8deg, scale 0.93-1.07, shift 4%), contrast 0.8-1.2, brightness +-0.08",
                     "loss_per_epoch": history},
        "verification": {"protocol": "balanced genuine/impostor pairs per identity, cosine, accuracy at the best threshold",
                         "test": test, "val": val, "random_init_test": random_test, "pinned_subset": pinned},
        "build_seconds": round(time.time() - start, 1),
        "train_seconds": round(train_seconds, 1),
        "versions": {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads()},
        "sha256": sha256_file(weights),
    }
    tmp = out / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config, indent=1) + "\n")
    os.replace(tmp, out / CONFIG_FILE)
    log(f"mini face-ID build: wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) in {config['build_seconds']}s")
    return config
