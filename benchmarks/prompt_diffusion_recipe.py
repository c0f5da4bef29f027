"""Does Prompt Diffusion's diffusion reproduce what it was trained on? The check its records' Δ rows rely on (README
"Standards": the generator reproducing its own training data), run before a mini recipe is committed:

    python benchmarks/prompt_diffusion_recipe.py --datasets mini_shapes mini_objects \
        --settings denoiser=mlp "denoiser=transformer width=128 layers=4" --cache-dir DIR

For each dataset (its base classes, 16 shots, seed 1, as base2new trains) and setting (space-separated
``key=value`` of ``prompt_diffusion``), the fit (cached under ``--cache-dir``, so a rerun only reads it) and its
``training_fidelity``: each over-fitted training image classified with the CoOp prompt (``learner``), with its
over-fitted prompt (``overfit``) and with one prompt the trained diffusion samples for it (``sampled``). A recipe
reproduces its training data when ``sampled`` is close to ``overfit`` on every dataset; a diffusion that has not
learned the image-to-prompt mapping samples offsets of other images, and ``sampled`` falls below ``learner``.
The table goes to ``leaderboards/ablations/prompt_diffusion_recipe.md`` (the committed one: the command above).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tabulate import tabulate


def fidelity(world, dataset: str, settings: dict, cache: Path) -> dict:
    from dmpbench.baselines.base import TrainingPool
    from dmpbench.context import RunContext
    from dmpbench.registry import METHODS
    from dmpbench.tasks.common import fewshot_data

    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=cache, progress=False)
    data = fewshot_data(world, ctx, dataset, 16, "base")
    method = METHODS.get("prompt_diffusion")(world.backbone, dict(settings), ctx)
    method.fit(data, TrainingPool([dataset], lambda name, seed: data, 1))
    return ctx.audit["prompt_diffusion"]


def parse(setting: str) -> dict:
    import yaml

    from dmpbench.registry import METHODS

    defaults = METHODS.get("prompt_diffusion").default_config
    out = {}
    for item in setting.split():
        key, _, value = item.partition("=")
        if key not in defaults or not value:
            raise SystemExit(f"prompt_diffusion_recipe: {item!r} is not key=value of a prompt_diffusion setting")
        out[key] = yaml.safe_load(value)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mini_shapes", "mini_objects"])
    parser.add_argument("--settings", nargs="+", default=["overfit_lr=1.0"])
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("leaderboards/ablations/prompt_diffusion_recipe.md"))
    args = parser.parse_args()
    settings = [(s, parse(s)) for s in args.settings]
    from dmpbench.runner.worlds import make_world

    world = make_world("mini", None, None, torch.device("cpu"))
    rows = []
    for name, cfg in settings:
        for dataset in args.datasets:
            a = fidelity(world, dataset, cfg, args.cache_dir)
            f = a["training_fidelity"]
            rows.append([name, dataset, f["images"], f"{a['offset_scale']:.3f}", f"{a['final_loss']:.3f}", f"{f['learner_acc']:.2f}",
                         f"{f['overfit_acc']:.2f}", f"{f['sampled_acc']:.2f}", f"{f['sampled_acc'] - f['learner_acc']:+.2f}"])
            print(rows[-1], file=sys.stderr, flush=True)
    table = tabulate(rows, headers=["setting", "dataset (base, seed 1)", "images", "offset rms", "final loss", "learner", "overfit",
                                    "sampled", "sampled - learner"], tablefmt="github", disable_numparse=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# Prompt Diffusion: does the diffusion reproduce its training data? (mini world)\n\n"
                        "Accuracy (%) of each over-fitted training image with the CoOp prompt, its over-fitted prompt and one "
                        "prompt sampled for it by the trained diffusion (`benchmarks/prompt_diffusion_recipe.py`).\n\n" + table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
