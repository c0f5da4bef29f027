"""What a task and a method get from the runner: device, precision, seed, progress bars, timers and
places to keep artefacts. Built by ``dmpbench.runner``; defined here, low in the stack, so that tasks and
methods can use it without importing the runner."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from tqdm.auto import tqdm


def stable_hash(obj: Any, length: int = 12) -> str:
    """A short, machine-independent hash of a JSON-able object (dict keys sorted)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass
class PhaseTimer:
    """Wall-clock and CUDA-synchronised seconds per phase (fit / sample / evaluate / ...)."""

    device: torch.device
    wall: dict[str, float] = field(default_factory=dict)
    cuda: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        on_cuda = self.device.type == "cuda"
        if on_cuda:
            torch.cuda.synchronize(self.device)
            start_evt = torch.cuda.Event(enable_timing=True)
            end_evt = torch.cuda.Event(enable_timing=True)
            start_evt.record()
        start = time.perf_counter()
        try:
            yield
        finally:
            if on_cuda:
                end_evt.record()
                torch.cuda.synchronize(self.device)
                self.cuda[name] = self.cuda.get(name, 0.0) + start_evt.elapsed_time(end_evt) / 1000.0
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - start

    def as_dict(self) -> dict[str, dict[str, float]]:
        out = {"wall_s": {k: round(v, 4) for k, v in self.wall.items()}}
        if self.cuda:
            out["cuda_s"] = {k: round(v, 4) for k, v in self.cuda.items()}
        return out


@dataclass
class RunContext:
    device: torch.device
    precision: str  # "bf16" or "fp32"
    seed: int
    cache_dir: Path  # shared, reusable artefacts (feature cache, prompt repositories, trained DMPs)
    progress: bool = True
    timer: PhaseTimer | None = None
    audit: dict[str, Any] = field(default_factory=dict)  # protocol details that go into the run record
    data_parallel: bool = False  # train with DDP over the torchrun process group (runner --data-parallel)

    def __post_init__(self) -> None:
        if self.timer is None:
            self.timer = PhaseTimer(self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA when precision is bf16; a no-op otherwise (fp32 on CPU)."""
        if self.device.type == "cuda" and self.precision == "bf16":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def bar(self, iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
        kwargs.setdefault("leave", False)
        kwargs.setdefault("file", sys.stderr)
        kwargs.setdefault("dynamic_ncols", True)
        if not sys.stderr.isatty():  # logs (CI, nohup): an update every 30 s instead of every 0.1 s
            kwargs.setdefault("mininterval", 30.0)
        return tqdm(iterable, disable=not self.progress, **kwargs)

    def phase(self, name: str) -> contextlib.AbstractContextManager:
        assert self.timer is not None
        return self.timer.phase(name)

    def artifact_dir(self, kind: str, key: Any, create: bool = True) -> Path:
        """A directory for a reusable artefact identified by ``key`` (hashed); ``create=False``: its path only
        (to look for an artefact without leaving an empty directory behind)."""
        path = self.cache_dir / kind / stable_hash(key)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def generator(self, offset: int = 0, seed: int | None = None) -> torch.Generator:
        """A CPU generator seeded from the run's seed (or ``seed``) and an offset naming its use."""
        g = torch.Generator(device="cpu")
        g.manual_seed((self.seed if seed is None else seed) * 1000 + offset)
        return g
