"""``dmpbench generate``: render one prompt to a PNG (mini SD by default, or a paper-world checkpoint), for a
person who wants to look. Everything is checked before the model is loaded; the PNG is written atomically."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dmpbench.errors import DmpbenchError


@dataclass
class GenerateRequest:
    prompt: str
    out: Path
    seed: int = 0
    backbone: str = "mini"
    n: int = 1
    guidance: float | None = None
    steps: int | None = None
    scheduler: str | None = None
    device: str | None = None


def _check(req: GenerateRequest) -> None:
    from dmpbench.backbones.synthesis import PLACEHOLDER

    if not req.prompt.strip():
        raise DmpbenchError("--prompt is empty")
    if PLACEHOLDER in req.prompt:
        raise DmpbenchError(f"--prompt contains {PLACEHOLDER}, which only learned prompts fill")
    if req.seed < 0:
        raise DmpbenchError(f"invalid seed {req.seed}: seeds are non-negative integers")
    if not 1 <= req.n <= 64:
        raise DmpbenchError(f"--n must be between 1 and 64, got {req.n}")
    if req.steps is not None and req.steps < 1:
        raise DmpbenchError(f"--steps must be positive, got {req.steps}")
    if req.guidance is not None and req.guidance < 0:
        raise DmpbenchError(f"--guidance must be non-negative, got {req.guidance}")
    if req.out.suffix.lower() != ".png":
        raise DmpbenchError(f"--out must name a .png file, got {req.out}")
    parent = req.out.parent if str(req.out.parent) else Path(".")
    if not parent.is_dir():
        raise DmpbenchError(f"the directory of --out does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise DmpbenchError(f"the directory of --out is not writable: {parent}")
    if req.scheduler is not None:
        from dmpbench.backbones.synthesis.diffusers_backbone import scheduler_class

        scheduler_class(req.scheduler)


def generate(req: GenerateRequest, say: Callable[[str], None] = print) -> Path:
    _check(req)
    import torch
    from PIL import Image

    from dmpbench.backbones.synthesis import load_synthesis, to_uint8
    from dmpbench.runner.environment import choose_device

    device = choose_device(req.device)
    model = load_synthesis(req.backbone, device=device)
    with torch.no_grad():
        cond = model.encode([req.prompt])
        images = model.generate(cond, [req.seed + i for i in range(req.n)], guidance_scale=req.guidance,
                                steps=req.steps, scheduler=req.scheduler)
    arrays = to_uint8(images)
    grid = arrays[0] if len(arrays) == 1 else _grid(arrays)
    fd, tmp = tempfile.mkstemp(dir=req.out.parent if str(req.out.parent) else ".", prefix=".gen-", suffix=".png")
    os.close(fd)
    try:
        Image.fromarray(grid).save(tmp, format="PNG")
        os.replace(tmp, req.out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    r = model.recipe
    say(f"wrote {req.out} ({model.name}, seed {req.seed}, guidance {req.guidance if req.guidance is not None else r.guidance_scale}, "
        f"{req.steps or r.steps} {req.scheduler or r.scheduler} steps, {grid.shape[1]}x{grid.shape[0]})")
    return req.out


def _grid(arrays):
    """Images side by side in rows of at most 8."""
    import numpy as np

    n, h, w, c = arrays.shape
    cols = min(8, n)
    rows = -(-n // cols)
    grid = np.full((rows * h, cols * w, c), 255, dtype=np.uint8)
    for i, a in enumerate(arrays):
        grid[(i // cols) * h : (i // cols + 1) * h, (i % cols) * w : (i % cols + 1) * w] = a
    return grid
