"""Cross-dataset transfer (CoCoOp; DMP Figure 3 / Table 11, Prompt Diffusion Table 2): prompts learned on
a source dataset (ImageNet in the paper world, all classes, 16 shots) are evaluated on the other datasets."""

from __future__ import annotations

from dmpbench.baselines.base import ClassificationMethod
from dmpbench.context import RunContext
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS, TASKS
from dmpbench.tasks import common
from dmpbench.tasks.base import Metrics, Task


@TASKS.register("cross_dataset", "learn on a source dataset, test on other datasets")
class CrossDataset(Task):
    name = "cross_dataset"
    metrics = ("acc",)
    published_tables = (("diffusion_meta_prompts", "11"), ("prompt_diffusion", "2"))
    suite_key = "cross_dataset"
    # targets: [] = the world's default targets for this task
    default_config = {"shots": 16, "targets": []}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        for name in config["targets"]:
            DATASETS.get(name)  # unknown target names fail before any work, with suggestions

    def units(self, datasets: list[str] | None) -> list[str]:
        return list(datasets or [self.world.suite[self.suite_key]["source"]])

    def targets(self) -> list[str]:
        targets = list(self.config["targets"] or self.world.suite[self.suite_key]["targets"])
        if not targets:
            raise DmpbenchError(f"{self.name}: no target datasets (set task.targets=[a,b])")
        return targets

    def run(self, unit: str, method: ClassificationMethod, ctx: RunContext) -> Metrics:
        return common.transfer(self.world, ctx, method, unit, [t for t in self.targets() if t != unit], int(self.config["shots"]))
