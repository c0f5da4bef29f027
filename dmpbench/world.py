"""A world: the backbone and dataset objects a run uses (the paper world of open_clip + CoOp-layout data,
or the built-in mini world). Tasks and methods see only this, so their code is the same in both."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dmpbench.backbones.base import Backbone
from dmpbench.data.base import ClassificationDataset


@dataclass
class World:
    name: str  # "mini" or "paper"
    backbone: Backbone
    load_dataset: Callable[[str], ClassificationDataset]
    #: per-task defaults: {"base2new": [...], "cross_dataset": {"source":..., "targets": [...]}, ...}
    suite: dict[str, Any]
    data_root: Path | None = None
    _datasets: dict[str, ClassificationDataset] = field(default_factory=dict)

    def dataset(self, name: str) -> ClassificationDataset:
        if name not in self._datasets:
            self._datasets[name] = self.load_dataset(name)
        return self._datasets[name]
