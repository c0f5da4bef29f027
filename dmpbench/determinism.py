"""Bit-identical CPU builds (mini CLIP image tower, mini face-ID): a fixed number of torch threads,
deterministic kernels, and the global RNG state forked, all restored afterwards."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def deterministic_cpu(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads and ``torch.use_deterministic_algorithms(True)`` inside a
    forked RNG; the caller's thread count, determinism flag and RNG state are restored on exit."""
    before, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(deterministic)
