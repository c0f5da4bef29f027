"""Benchmark the DMP core: sampling latency/throughput (eager vs the optimised path) and training speed.

    HF_HUB_OFFLINE=1 python benchmarks/bench_dmp.py                 # CUDA if available, full counts
    HF_HUB_OFFLINE=1 python benchmarks/bench_dmp.py --quick         # CPU-sized counts

Sampling uses the ``paper`` preset (Table 17, ~33M parameters) on DMPMulti-shaped prompts
(K x d = 1 x 768, CLIP ViT-L text conditions), 50 DDIM steps with guidance 4.5. The weights are
random (speed does not depend on training); the zero-initialised output layer is perturbed so that
the eager/optimised difference is measured on non-trivial outputs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dmpbench.dmp import DMP


def timed(fn, iters, sync):
    times = []
    out = None
    for _ in range(iters):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small counts (CPU)")
    ap.add_argument("--iters", type=int, default=None, help="timed repetitions per measurement")
    ap.add_argument("--batch", type=int, default=None, help="prompts per batch for throughput")
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps")
    ap.add_argument("--train-steps", type=int, default=None)
    ap.add_argument("--train-batch", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--no-fast", action="store_true", help="skip the optimised path (torch.compile)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    quick = a.quick or a.device == "cpu"
    iters = a.iters or (2 if quick else 10)
    batch = a.batch or (16 if quick else 256)
    train_steps = a.train_steps or (5 if quick else 50)
    train_batch = a.train_batch or (64 if quick else 320)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    print(f"device={dev} torch={torch.__version__} threads={torch.get_num_threads()}")

    dmp = DMP((1, 768), cond_dim=768, preset="paper", device=dev)
    with torch.no_grad():
        torch.nn.init.normal_(dmp.ema_unet.conv_out.weight, std=0.02)
    print(f"paper preset: {dmp.num_parameters()['unet'] / 1e6:.2f}M U-Net parameters, signal "
          f"{dmp.layout.channels}x{dmp.layout.length}")
    cond = torch.randn(8, 768, generator=torch.Generator().manual_seed(0))
    runs = {}
    for fast in ([False] if a.no_fast else [False, True]):
        name = "fast" if fast else "eager"
        if fast:
            t0 = time.perf_counter()
            dmp.sample(cond, num_prompts=1, steps=2, fast=True)
            dmp.sample(cond, num_prompts=batch, steps=2, fast=True)
            print(f"[{name}] warm-up/compile: {time.perf_counter() - t0:.1f}s")
        lat, one = timed(lambda: dmp.sample(cond, num_prompts=1, steps=a.steps, fast=fast), iters, sync)
        tb, many = timed(lambda: dmp.sample(cond, num_prompts=batch, steps=a.steps, fast=fast), iters, sync)
        runs[name] = (lat, batch / tb, one, many)
        print(f"[{name}] latency 1 prompt ({a.steps} DDIM steps, guidance): {lat * 1e3:.1f} ms; "
              f"throughput (batch {batch}): {batch / tb:.1f} prompts/s")
    if "fast" in runs:
        e, f = runs["eager"], runs["fast"]
        diff = max((e[2] - f[2]).abs().max().item(), (e[3] - f[3]).abs().max().item())
        scale = e[3].abs().max().item()
        print(f"fast/eager: latency speed-up x{e[0] / f[0]:.2f}, throughput x{f[1] / e[1]:.2f}, "
              f"max |diff| {diff:.3g} (max |x| {scale:.3g})")

    for preset in ("small", "paper"):
        m = DMP((1, 768), cond_dim=768, preset=preset, device=dev)
        g = torch.Generator().manual_seed(0)
        prompts = torch.randn(512, 1, 768, generator=g)
        conds = [torch.randn(8, 768, generator=g) for _ in range(16)]
        conds = [conds[i % 16] for i in range(512)]
        m.fit(prompts, conds, steps=1, batch_size=train_batch, progress=False)  # warm-up
        sync()
        t0 = time.perf_counter()
        m.fit(prompts, conds, steps=1 + train_steps, batch_size=train_batch, progress=False)
        sync()
        dt = time.perf_counter() - t0
        print(f"training {preset}: {train_steps * train_batch / dt:.1f} samples/s "
              f"(batch {train_batch}, {train_steps} steps, {m.num_parameters()['unet'] / 1e6:.2f}M params)")


if __name__ == "__main__":
    main()
