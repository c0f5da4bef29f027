"""Diffusion Meta-Prompts Table 10 on the mini world: classification accuracy of CoOp prompts passed through
the DMP's prompt autoencoder versus the prompts themselves, per dataset.

    python benchmarks/dmp_autoencoder.py [--cache-dir DIR] [--vae-steps 2000]

The mini DMP diffuses in the repository's principal subspace (lossless), so it needs no autoencoder; the
paper-world DMP goes through one when K x d >= 2048 (ViT-B/16: 4 x 512). This study trains that autoencoder
(``dmpbench.dmp.DMP(use_vae=True)``, the ``small`` preset's ``VAE1D``, ``--vae-steps`` steps, the DMP's own
``fit``) on the base2new repository of the mini defaults (11 datasets x 16 prompts), then scores each
dataset's repository prompts and their reconstructions on that dataset's base test images (mean accuracy
over the prompts). Table: ``leaderboards/ablations/autoencoder.md`` beside the paper's cells.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dmp_tsne import fitted_dmp  # noqa: E402

from dmpbench.dmp.model import DMP  # noqa: E402
from dmpbench.leaderboard.published import load_published  # noqa: E402
from dmpbench.metrics.classification import accuracy  # noqa: E402
from dmpbench.tasks import common  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--vae-steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("leaderboards/ablations/autoencoder.md"))
    args = parser.parse_args()
    method, world, ctx = fitted_dmp(args.cache_dir, with_world=True)
    repos = [method.repository(d) for d in method.train_sets]
    prompts = torch.cat(repos)
    conds = [method.condition(d.classnames, d.dataset) for d in method.train_sets for _ in range(repos[0].shape[0])]
    dmp = DMP(tuple(prompts.shape[1:]), cond_dim=conds[0].shape[1], preset="small", use_vae=True)
    history = dmp.fit(prompts, conds, steps=1, batch_size=8, lr=1e-4, seed=0, progress=True, vae_steps=args.vae_steps)
    recon = dmp.reconstruct(prompts).cpu()
    rows, offset = [], 0
    for d, repo in zip(method.train_sets, repos):
        labelset, feats, labels = common.split_test_set(world, ctx, d.dataset, "base")
        with torch.no_grad():
            orig = accuracy(feats, method._embed(repo, labelset.classnames), labels)
            rec = accuracy(feats, method._embed(recon[offset: offset + repo.shape[0]], labelset.classnames), labels)
        offset += repo.shape[0]
        rows.append([d.dataset, f"{orig:.2f}", f"{rec:.2f}", f"{rec - orig:+.2f}"])
    diffs = [float(r[3]) for r in rows]
    rows.append(["average", f"{sum(float(r[1]) for r in rows) / len(rows):.2f}", f"{sum(float(r[2]) for r in rows) / len(rows):.2f}",
                 f"{sum(diffs) / len(diffs):+.2f}"])
    pub = load_published()
    pub = pub[(pub["paper"] == "diffusion_meta_prompts") & (pub["table"].astype(str) == "10") & (pub["dataset"] == "average")]
    cells = {r.method: r.value for r in pub.itertuples() if not math.isnan(r.value)}
    table = tabulate(rows, headers=["label set (base classes)", "repository prompts", "through the autoencoder", "Δ"], tablefmt="github")
    text = ("# DMP ablation: the prompt autoencoder's reconstruction (Diffusion Meta-Prompts Table 10)\n\n"
            f"Mini world: `VAE1D` (small preset) trained {args.vae_steps} steps by `DMP(use_vae=True).fit` on the base2new "
            f"repository (11 datasets x {repos[0].shape[0]} CoOp prompts, K x d = {prompts.shape[1]} x {prompts.shape[2]}); "
            f"relative reconstruction error {history.get('vae_relative_error', float('nan')):.4f}. Accuracy on each dataset's "
            "base test images, mean over its prompts. Published average (ViT-B/16, CoOp prompts): "
            f"{cells.get('coop', float('nan')):.1f} originals vs {cells.get('coop_vae_recon', float('nan')):.1f} reconstructed. "
            "Command: `python benchmarks/dmp_autoencoder.py`.\n\n" + table + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
