"""Device, precision, seeding and the facts about the machine that go into a run record."""

from __future__ import annotations

import os
import platform
import random
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from dmpbench.errors import DmpbenchError

PACKAGES = ("dmpbench", "torch", "torchvision", "open_clip_torch", "diffusers", "transformers", "numpy", "pandas")


def choose_device(requested: str | None) -> torch.device:
    """CUDA when present, else CPU; ``--device`` overrides (``cpu``, ``cuda``, ``cuda:1``)."""
    if not requested or requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise DmpbenchError(f"invalid --device {requested!r} (use cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DmpbenchError(f"--device {requested} asked for CUDA but torch sees no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise DmpbenchError(f"unsupported --device {requested!r} (use cpu, cuda or cuda:N)")
    return device


def choose_precision(device: torch.device, requested: str | None) -> str:
    """bf16 autocast on CUDA, fp32 on CPU, unless ``--precision`` says otherwise."""
    if requested in (None, "auto"):
        return "bf16" if device.type == "cuda" else "fp32"
    if requested not in ("bf16", "fp32"):
        raise DmpbenchError(f"invalid --precision {requested!r} (use auto, bf16 or fp32)")
    if requested == "bf16" and device.type != "cuda":
        raise DmpbenchError("--precision bf16 needs a CUDA device; CPU runs use fp32")
    return requested


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (CPU and CUDA) generators; on CPU the same command gives the same metrics."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def peak_gpu_memory_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
