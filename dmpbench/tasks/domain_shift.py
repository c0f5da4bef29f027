"""Domain generalisation (CoCoOp; DMP Table 3, Prompt Diffusion Table 3): prompts learned on a source
dataset are evaluated on shifted variants with the same (or a subset of the) classes: ImageNet-V2,
-Sketch, -A and -R in the paper world (-A and -R use their 200-class subsets)."""

from __future__ import annotations

from dmpbench.registry import TASKS
from dmpbench.tasks.cross_dataset import CrossDataset


@TASKS.register("domain_shift", "learn on a source dataset, test on shifted variants of it")
class DomainShift(CrossDataset):
    name = "domain_shift"
    published_tables = (("diffusion_meta_prompts", "3"), ("prompt_diffusion", "3"))
    suite_key = "domain_shift"
