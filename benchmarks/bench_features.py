"""Feature-extraction throughput and the pay-off of the image-feature cache, measured in one run.

    HF_HUB_OFFLINE=1 python benchmarks/bench_features.py                      # CPU: small counts
    HF_HUB_OFFLINE=1 python benchmarks/bench_features.py --n-images 4096 --n-classes 1000   # CUDA: bf16

Images are random JPEGs written to a temp folder (so decoding is part of the cost, as with real data);
the backbone is open_clip ViT-B-16 with random weights (nothing downloaded). "Evaluating a prompt set" means
what dmpbench does for every generated prompt: encode the class prompts with learned context vectors
(``encode_with_context``), then classify every image. It is timed once recomputing the image features and
once reading them from the cache.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from dmpbench.backbones.feature_cache import image_features
from dmpbench.backbones.openclip import OpenClipBackbone
from dmpbench.data.base import ClassificationDataset, Item


class JpegFolder(ClassificationDataset):
    name = "bench_jpegs"

    def __init__(self, folder: str, n: int, n_classes: int, size: int = 256):
        self.folder, self.n_classes = folder, n_classes
        rng = np.random.default_rng(0)
        for i in range(n):
            path = os.path.join(folder, f"{i:06d}.jpg")
            if not os.path.exists(path):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
        self.items = [Item(f"{i:06d}.jpg", i % n_classes) for i in range(n)]

    @property
    def classnames(self):
        return [f"class {i}" for i in range(self.n_classes)]

    def split(self, which):
        return list(self.items)

    def load_image(self, item):
        with Image.open(os.path.join(self.folder, item.key)) as img:
            return img.convert("RGB")


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> None:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="ViT-B-16")
    p.add_argument("--n-images", type=int, default=1024 if cuda else 32)
    p.add_argument("--n-classes", type=int, default=1000 if cuda else 50)
    p.add_argument("--batch-size", type=int, default=256 if cuda else 16)
    p.add_argument("--num-workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--precision", default="bf16" if cuda else "fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if cuda else "cpu"

    bb, t_build = timed(lambda: OpenClipBackbone(args.model, pretrained=None, device=device))
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "images")
        os.makedirs(folder)
        ds = JpegFolder(folder, args.n_images, args.n_classes)
        items = ds.split("test")
        cache = os.path.join(tmp, "cache")
        kw = dict(precision=args.precision, batch_size=args.batch_size, num_workers=args.num_workers, progress=False)
        image_features(bb, ds, items[: args.batch_size], cache_dir=None, **kw)  # warm-up (threads, kernels)

        labels = torch.tensor([it.label for it in items])
        ctx = torch.randn(4, bb.ctx_dim, device=bb.device) * 0.02

        def evaluate(img_feats):
            amp = cuda and args.precision == "bf16"
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                text = bb.encode_with_context(ctx, ds.classnames)
            img = torch.nn.functional.normalize(img_feats.to(bb.device), dim=-1)
            text = torch.nn.functional.normalize(text, dim=-1)
            return ((img @ text.T).argmax(-1).cpu() == labels).float().mean().item()

        feats, t_miss = timed(lambda: image_features(bb, ds, items, cache_dir=cache, **kw))
        _, t_hit = timed(lambda: image_features(bb, ds, items, cache_dir=cache, **kw))
        _, t_text = timed(lambda: evaluate(feats))
        t_recompute = t_miss + t_text
        t_cached = t_hit + t_text

    print(f"device={device} model={args.model} (random weights) precision={args.precision} "
          f"images={args.n_images} classes={args.n_classes} batch={args.batch_size} workers={args.num_workers} "
          f"threads={torch.get_num_threads()}")
    print(f"build backbone            {t_build:8.2f} s")
    print(f"extract (cache miss)      {t_miss:8.2f} s   -> {args.n_images / t_miss:8.1f} images/s")
    print(f"load (cache hit)          {t_hit:8.3f} s   -> {args.n_images / t_hit:8.0f} images/s")
    print(f"prompt set: text + logits {t_text:8.2f} s   ({args.n_classes} classes)")
    print(f"evaluate a prompt set: recompute {t_recompute:.2f} s, from cache {t_cached:.2f} s "
          f"-> speed-up x{t_recompute / t_cached:.1f}")


if __name__ == "__main__":
    main()
