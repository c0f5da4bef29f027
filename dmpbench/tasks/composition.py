"""Composition (DMP Table 7): classification over the union of two datasets' label sets (Caltech101 +
UCF101, 200 classes, in the paper), using the images of both test sets.

The paper does not spell out how the prompts are learned for this task. Our choice, stated here and in
the README: the method is fitted on the union of the two datasets' *base* classes (K shots each, the
base/new rule applied per dataset), with the base-to-new training pool for methods that learn across
datasets; Base = base test images among the union's base classes, New = new test images among the
union's new classes, All = all test images among all classes of both; HM from Base and New.
"""

from __future__ import annotations

import torch

from dmpbench.baselines.base import ClassificationMethod, FewShotData
from dmpbench.context import RunContext
from dmpbench.errors import DmpbenchError
from dmpbench.metrics.classification import harmonic_mean
from dmpbench.registry import TASKS
from dmpbench.tasks import common
from dmpbench.tasks.base import Metrics, Task


@TASKS.register("composition", "classify over the union of two datasets' label sets")
class Composition(Task):
    name = "composition"
    metrics = ("all", "base", "new", "hm")
    published_tables = (("diffusion_meta_prompts", "7"),)
    default_config = {"shots": 16}

    def units(self, datasets: list[str] | None) -> list[str]:
        pair = list(datasets or self.world.suite["composition"])
        if len(pair) < 2:
            raise DmpbenchError("composition needs at least two datasets (e.g. --dataset caltech101 ucf101)")
        return ["+".join(pair)]

    def run(self, unit: str, method: ClassificationMethod, ctx: RunContext) -> Metrics:
        parts = unit.split("+")
        shots = int(self.config["shots"])
        with ctx.phase("fit"):
            datas = [common.fewshot_data(self.world, ctx, d, shots, "base") for d in parts]
            offsets = [0]
            for d in datas[:-1]:
                offsets.append(offsets[-1] + len(d.classnames))
            data = FewShotData(
                dataset=unit,
                classnames=[c for d in datas for c in d.classnames],
                features=torch.cat([d.features for d in datas]),
                labels=torch.cat([d.labels + o for d, o in zip(datas, offsets)]),
                templates=datas[0].templates,
                shots=shots,
                seed=ctx.seed,
                split="base",
                images=sum((d.images for d in datas[1:]), datas[0].images),
            )
            common.record_training(ctx, data)
            pool_names = list(dict.fromkeys([*self.world.suite["base2new"], *parts]))
            pool = common.training_pool(self.world, ctx, pool_names, shots, "base")
            for d in datas:
                pool.add(d)
            method.fit(data, pool)
        common.run_probes(self.world, ctx, method)
        out = {}
        for which in ("base", "new", "all"):
            ts = common.union([common.test_set(self.world, ctx, d, common.class_split(self.world, d, which)) for d in parts], unit)
            common.record_test(ctx, which, ts.labelset, ts.labels)
            out[which] = common.score(method, ctx, ts)
        out["hm"] = harmonic_mean(out["base"], out["new"])
        return {unit: out}
