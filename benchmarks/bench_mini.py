"""Mini-world timings: encoding a mini dataset's test split, and evaluating one prompt set on cached features.

    HF_HUB_OFFLINE=1 python benchmarks/bench_mini.py [--dataset mini_union] [--repeats 5]

The second number is what every prompt-evaluation step in a task costs once image features are cached
(the feature cache stores exactly these tensors); it must stay under one second on a laptop CPU.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mini_union")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()

    from dmpbench.backbones.mini import MiniCLIP, images_to_tensor
    from dmpbench.registry import DATASETS
    import dmpbench.data.mini  # noqa: F401  (registers the mini datasets)

    t0 = time.perf_counter()
    backbone = MiniCLIP()
    t_load = time.perf_counter() - t0
    ds = DATASETS.get(args.dataset)()
    t0 = time.perf_counter()
    items = ds.split("test")
    t_data = time.perf_counter() - t0
    transform = backbone.image_transform()

    with torch.inference_mode():
        # 1. encode the test split through the public path (PIL image -> transform -> encode_image)
        t0 = time.perf_counter()
        feats = []
        for i in range(0, len(items), args.batch_size):
            batch = torch.stack([transform(ds.load_image(it)) for it in items[i : i + args.batch_size]])
            feats.append(backbone.encode_image(batch))
        feats = torch.cat(feats)
        t_encode = time.perf_counter() - t0
        # 1b. the same through the array fast path
        t0 = time.perf_counter()
        x, y = ds.arrays("test")
        fast = torch.cat([backbone.encode_image(images_to_tensor(x[i : i + args.batch_size]))
                          for i in range(0, len(y), args.batch_size)])
        t_fast = time.perf_counter() - t0
        assert torch.allclose(fast, feats, atol=1e-5)

        # 2. evaluate one prompt set from cached features: encode C prompts, cosine logits, top-1
        image = F.normalize(feats, dim=-1)
        labels = torch.tensor([it.label for it in items])
        times = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            text = F.normalize(backbone.encode_text([ds.templates[0].format(c) for c in ds.classnames]), dim=-1)
            acc = (backbone.logit_scale * image @ text.T).argmax(-1).eq(labels).float().mean().item() * 100
            times.append(time.perf_counter() - t0)

    print(f"threads: {torch.get_num_threads()}   backbone load: {t_load:.2f}s   dataset generation: {t_data:.2f}s")
    print(f"encode {args.dataset} test split ({len(items)} images): {t_encode:.2f}s via PIL+transform, "
          f"{t_fast:.2f}s via arrays ({len(items) / t_encode:.0f} / {len(items) / t_fast:.0f} images/s)")
    print(f"evaluate one prompt set ({len(ds.classnames)} classes) from cached features: "
          f"median {sorted(times)[len(times) // 2] * 1000:.0f} ms, best {min(times) * 1000:.0f} ms "
          f"(zero-shot top-1 {acc:.1f}%)")


if __name__ == "__main__":
    main()
