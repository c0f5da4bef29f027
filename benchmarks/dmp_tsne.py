"""Diffusion Meta-Prompts Figure 9 on the mini world: t-SNE of repository versus DMP-sampled prompts per
dataset, and the share of sampled prompts whose 5 nearest neighbours carry their own label.

    python benchmarks/dmp_tsne.py [--cache-dir DIR] [--samples 16] [--out leaderboards/figures/dmp_tsne.png]

The base2new ``dmp_coop`` of the committed recipe (mini defaults) is fitted through the method's own code
(repository and DMP reused from ``--cache-dir`` when they are there, else trained: ~25 min on one thread),
then for each of the eleven training label sets (base classes) ``--samples`` prompts are drawn with the
test-time sampler (DDIM 50, guidance 4.5) from seed 1.

Nearest-neighbour share (the paper's "fraction of a prompt's 5 nearest neighbours that share the same
class label between real and generated prompts", 70.7% on its eleven datasets): for every sampled prompt,
its 5 nearest *repository* prompts (Euclidean, flattened K x d), and the fraction of them whose label set
(dataset) is the one the prompt was sampled for; averaged per dataset and overall. Our reading of the
sentence; the figure shows the same prompts (scikit-learn ``TSNE``, perplexity 15, PCA init, seed 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tabulate import tabulate


def fitted_dmp(cache_dir: Path | None, with_world: bool = False):
    """The base2new ``dmp_coop`` of the mini defaults, fitted (its training label sets in ``train_sets``);
    with ``with_world``, also the world and run context it was fitted in."""
    from dmpbench.context import PhaseTimer, RunContext
    from dmpbench.runner.run import RunRequest, default_cache_dir, resolve
    from dmpbench.runner.worlds import make_world
    from dmpbench.tasks import common

    req = RunRequest(task="base2new", method="dmp_coop", progress=False, cache_dir=cache_dir)
    task_cls, method_cls, config = resolve(req)
    device = torch.device("cpu")
    world = make_world("mini", None, None, device)
    task = task_cls(config["task"], world)
    ctx = RunContext(device=device, precision="fp32", seed=1, cache_dir=(cache_dir or default_cache_dir()).expanduser(),
                     progress=True, timer=PhaseTimer(device))
    method = method_cls(world.backbone, config["method"], ctx)
    names = task.units(None)
    pool = common.training_pool(world, ctx, names, int(task.config["shots"]), "base")
    method.fit(pool.get(names[0]), pool)
    return (method, world, ctx) if with_world else method


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("leaderboards/figures/dmp_tsne.png"))
    parser.add_argument("--table", type=Path, default=Path("leaderboards/ablations/tsne_neighbours.md"))
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.manifold import TSNE

    method = fitted_dmp(args.cache_dir)
    method.config["num_prompts"] = args.samples
    real, fake, real_labels, fake_labels = [], [], [], []
    for i, d in enumerate(method.train_sets):
        repo = method.repository(d).flatten(1)
        sampled = method.generate(d.classnames, d.dataset, seed=1).flatten(1).cpu()
        real.append(repo)
        fake.append(sampled)
        real_labels += [i] * repo.shape[0]
        fake_labels += [i] * sampled.shape[0]
    real_t, fake_t = torch.cat(real), torch.cat(fake)
    real_l, fake_l = torch.tensor(real_labels), torch.tensor(fake_labels)
    neighbours = torch.cdist(fake_t, real_t).topk(5, largest=False).indices  # [S, 5] repository prompts
    same = (real_l[neighbours] == fake_l[:, None]).float().mean(1)
    names = [d.dataset for d in method.train_sets]
    rows = [[n, f"{100 * same[fake_l == i].mean():.1f}"] for i, n in enumerate(names)]
    rows.append(["mean", f"{100 * same.mean():.1f}"])
    table = tabulate(rows, headers=["label set", "5-NN share with own label (%)"], tablefmt="github")
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(
        "# DMP prompts versus the repository: 5-nearest-neighbour label agreement (DMP Figure 9's statistic)\n\n"
        f"Mini world, base2new `dmp_coop` (committed recipe), {args.samples} prompts sampled per training label set "
        "(seed 1, DDIM 50, guidance 4.5); for each, its 5 nearest repository prompts and the share of them from its own "
        "label set. Published: 70.7% (the paper's eleven datasets, ViT-B/16). Command: `python benchmarks/dmp_tsne.py`; "
        f"figure: `{args.out}`.\n\n{table}\n")
    print(table)
    points = TSNE(n_components=2, perplexity=15, init="pca", random_state=0).fit_transform(torch.cat([real_t, fake_t]).numpy())
    n_real = real_t.shape[0]
    cols = 4
    fig, axes = plt.subplots(int(np.ceil(len(names) / cols)), cols, figsize=(4 * cols, 3.6 * np.ceil(len(names) / cols)))
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.axis("off")
            continue
        ax.scatter(points[:n_real][:, 0], points[:n_real][:, 1], s=4, c="lightgrey")
        r, f = points[:n_real][real_l.numpy() == i], points[n_real:][fake_l.numpy() == i]
        ax.scatter(r[:, 0], r[:, 1], s=14, c="tab:blue", label="repository")
        ax.scatter(f[:, 0], f[:, 1], s=14, c="tab:orange", label="DMP samples")
        ax.set_title(f"{names[i]} (5-NN {100 * same[fake_l == i].mean():.0f}%)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("t-SNE of repository (blue) and DMP-sampled (orange) prompts, base classes; grey: all label sets")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out} and {args.table}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
