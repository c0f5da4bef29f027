"""The task interface: a task owns a protocol (data, splits, seeds, metrics) and knows nothing about how a
method works inside; it talks to the method only through the method's interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from dmpbench.baselines.base import Method
from dmpbench.config import check_keys
from dmpbench.context import RunContext
from dmpbench.world import World

Metrics = dict[str, dict[str, float]]  # evaluated dataset -> metric -> value (accuracies in %)


class Task(ABC):
    name: ClassVar[str] = ""
    #: the method capability this task needs (see ``Method.capabilities``)
    capability: ClassVar[str] = "classification"
    #: leaderboard column order
    metrics: ClassVar[tuple[str, ...]] = ()
    #: published tables shown beside this task's leaderboard: (paper id, table)
    published_tables: ClassVar[tuple[tuple[str, str], ...]] = ()
    default_config: ClassVar[dict[str, Any]] = {}
    #: bounds of settings (rule format in ``dmpbench.config``); types come from ``default_config``
    ranges: ClassVar[dict[str, Any]] = {"shots": ">=1"}
    #: whether the protocol can score methods whose classifier depends on the image (``per_image``)
    per_image_methods: ClassVar[bool] = True

    def __init__(self, config: dict[str, Any], world: World):
        self.config = check_keys("task", self.name, config, self.default_config, self.ranges)
        self.world = world

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Checks of the resolved settings that need no model or data (run before any work); raise
        ``DmpbenchError``. Types and ranges are already checked."""

    def model_identity(self) -> dict[str, str]:
        """Weights the task runs besides the CLIP backbone (e.g. the synthesis model), as cache keys: they
        go into every record's key and ``models`` field, so a record made with other weights is rerun,
        never skipped. None by default (classification records' keys are unchanged)."""
        return {}

    @abstractmethod
    def units(self, datasets: list[str] | None) -> list[str]:
        """The datasets runs are keyed by (one record per unit and seed); ``datasets`` is the user's
        ``--dataset`` choice or None for the world's default."""

    @abstractmethod
    def run(self, unit: str, method: Method, ctx: RunContext) -> Metrics:
        """Run the protocol for one unit and seed (``ctx.seed``); protocol details go to ``ctx.audit``."""
