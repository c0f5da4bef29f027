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
    learned: Path | None = None  # a file with learned tokens for the prompt's <*> (textual inversion, a slider)
    strength: float = 1.0  # the learned tokens are scaled by this (a prompt slider's strength)


def _check(req: GenerateRequest) -> None:
    from dmpbench.backbones.synthesis import PLACEHOLDER

    if not req.prompt.strip():
        raise DmpbenchError("--prompt is empty")
    if PLACEHOLDER in req.prompt and req.learned is None:
        raise DmpbenchError(f"--prompt contains {PLACEHOLDER}, which only learned tokens fill (--learned FILE)")
    if req.learned is not None and PLACEHOLDER not in req.prompt:
        raise DmpbenchError(f"--learned is given but --prompt has no {PLACEHOLDER} to put the tokens in")
    if req.learned is not None:
        load_learned(req.learned)
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


def load_learned(path: Path):
    """``[K, d]`` learned tokens from a file: safetensors or a torch file holding one tensor (``[d]`` or ``[K, d]``),
    or a mapping with exactly one (diffusers' ``learned_embeds`` format: ``{token: tensor}``)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DmpbenchError(f"--learned file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged or foreign files raise many types
        raise DmpbenchError(f"--learned file {path} is unreadable ({type(exc).__name__})") from exc
    if isinstance(obj, dict):
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
        if len(tensors) != 1:
            raise DmpbenchError(f"--learned file {path} holds {len(tensors)} tensors; expected one ([d] or [K, d])")
        obj = tensors[0]
    if not isinstance(obj, torch.Tensor) or obj.dim() not in (1, 2) or obj.numel() == 0:
        raise DmpbenchError(f"--learned file {path} must hold one tensor of shape [d] or [K, d]")
    return obj.float().reshape(-1, obj.shape[-1])


def generate(req: GenerateRequest, say: Callable[[str], None] = print) -> Path:
    _check(req)
    import torch
    from PIL import Image

    from dmpbench.backbones.synthesis import load_synthesis, to_uint8
    from dmpbench.runner.environment import choose_device

    device = choose_device(req.device)
    model = load_synthesis(req.backbone, device=device)
    learned = None
    if req.learned is not None:
        learned = load_learned(req.learned) * float(req.strength)
        if learned.shape[-1] != model.ctx_dim:
            raise DmpbenchError(f"the learned tokens in {req.learned} are {learned.shape[-1]} wide but {model.name}'s text encoder "
                                f"takes {model.ctx_dim}-wide tokens")
    with torch.no_grad():
        cond = model.encode([req.prompt], learned)
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
