"""Base-to-new generalisation (CoCoOp; DMP Tables 4/8, Prompt Diffusion Table 1).

Per dataset and seed: K-shot training images are drawn per class on all classes (seeds 1, 2, 3), then
restricted to the base classes (sorted labels, first ceil(n/2), relabelled from 0). The method learns on
base and is tested on the base test images among base classes (Base), the new test images among new
classes (New), and all test images among all classes (All, DMP's column); HM = 2·B·N/(B+N).
"""

from __future__ import annotations

from dmpbench.baselines.base import ClassificationMethod
from dmpbench.context import RunContext
from dmpbench.metrics.classification import harmonic_mean
from dmpbench.registry import TASKS
from dmpbench.tasks import common
from dmpbench.tasks.base import Metrics, Task


@TASKS.register("base2new", "base-to-new generalisation: learn on base classes, test on base, new and all")
class Base2New(Task):
    name = "base2new"
    metrics = ("all", "base", "new", "hm")
    published_tables = (("diffusion_meta_prompts", "8"), ("diffusion_meta_prompts", "4"), ("prompt_diffusion", "1"))
    default_config = {"shots": 16}

    def units(self, datasets: list[str] | None) -> list[str]:
        return list(datasets or self.world.suite["base2new"])

    def run(self, unit: str, method: ClassificationMethod, ctx: RunContext) -> Metrics:
        shots = int(self.config["shots"])
        pool_names = self.units(None) if unit in self.units(None) else [unit]
        common.fit_on(self.world, ctx, method, unit, shots, "base", pool_names)
        out: dict[str, float] = {}
        for which in ("base", "new", "all"):
            classes = common.class_split(self.world, unit, which)
            ts = common.test_set(self.world, ctx, unit, classes)
            common.record_test(ctx, which, ts.labelset, ts.labels)
            out[which] = common.score(method, ctx, ts)
        out["hm"] = harmonic_mean(out["base"], out["new"])
        return {unit: out}
