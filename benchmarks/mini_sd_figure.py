"""A grid of mini SD images for people to look at: rows = prompts (faces with attributes, shapes, objects with
colour / size / background captions), columns = seeds 0..7.

    python benchmarks/mini_sd_figure.py --out leaderboards/figures/mini_sd_faces.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

PROMPTS = [
    "a photo of a person.",
    "a photo of a smiling person.",
    "a photo of a person with glasses.",
    "a photo of a bearded man.",
    "a photo of an old person.",
    "a photo of a person wearing a hat.",
    "a photo of a woman wearing lipstick.",
    "a photo of a bald man.",
    "a photo of a circle.",
    "a photo of a triangle.",
    "a photo of a small red star on a plain blue background.",
    "a photo of a cup.",
    "a photo of a yellow umbrella.",
    "a photo of a large green tree on a plain white background.",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("leaderboards/figures/mini_sd_faces.png"))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--scale", type=int, default=3, help="pixel upscaling for viewing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from dmpbench.backbones.synthesis import load_synthesis, to_uint8

    sd = load_synthesis("mini")
    rows = []
    with torch.no_grad():
        for prompt in PROMPTS:
            rows.append(to_uint8(sd.generate(sd.encode([prompt]), list(range(args.seeds)))))
    tile, label_w = 32 * args.scale, 8 + 6 * max(len(p) for p in PROMPTS)
    canvas = Image.new("RGB", (label_w + tile * args.seeds, tile * len(PROMPTS)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (prompt, imgs) in enumerate(zip(PROMPTS, rows)):
        draw.text((4, r * tile + tile // 2 - 6), prompt, fill="black")
        for c, arr in enumerate(imgs):
            canvas.paste(Image.fromarray(np.asarray(arr)).resize((tile, tile), Image.NEAREST), (label_w + c * tile, r * tile))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out)
    print(f"wrote {args.out} ({sd.name}, guidance {sd.recipe.guidance_scale}, {sd.recipe.steps} DDIM steps)")


if __name__ == "__main__":
    main()
