"""Stylus top-1 retrieval (Luo et al. 2024; Diffusion Meta-Prompts Table 8's "Top-1 Retrieval" row): no
generative model; the repository itself is stored with a text description per entry, and a request gets
the entry whose description is nearest to its own.

Choices (the paper gives none for classification), written here where they are made:

* an entry is one training label set with its repository prompts; its description is the label set's
  condition (``condition: classnames``: its class names' text embeddings; ``dataset``: the dataset name's),
  pooled to one L2-normalised vector, and nearness is the cosine between pooled descriptions;
* the retrieved entry's prompts are all returned (its ``repo_inits`` initialisations are equally near, so
  there is no single top-1 prompt among them); the task averages the metrics over them, as it does over
  a generator's samples. On a training label set this is the repository itself, so its fidelity gap is 0
  by construction.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dmpbench.baselines.base import FewShotData
from dmpbench.methods.repository import REPOSITORY_DEFAULTS, REPOSITORY_MINI, REPOSITORY_RANGES, RepositoryGenerator, pooled
from dmpbench.registry import METHODS


@METHODS.register("stylus_top1")
class StylusTop1(RepositoryGenerator):
    """Stylus top-1: the repository prompts of the training label set nearest to the request"""

    name = "stylus_top1"
    default_config = dict(REPOSITORY_DEFAULTS)
    ranges = REPOSITORY_RANGES
    world_defaults = {"mini": REPOSITORY_MINI}

    def fit_generator(self, directory: Path, train_sets: list[FewShotData]) -> None:
        prompts, _, names = self.training_pairs(train_sets)
        self.entries = [(d.dataset, pooled(self.condition(d.classnames, d.dataset)), prompts[[n == d.dataset for n in names]])
                        for d in train_sets]
        self.ctx.audit["stylus"] = {"entries": len(self.entries), "prompts": sum(int(p.shape[0]) for _, _, p in self.entries)}

    def nearest(self, classnames, dataset: str) -> int:
        """Index of the entry whose description is nearest to the request's (first one on a tie)."""
        query = pooled(self.condition(classnames, dataset))
        return int(torch.stack([query @ key for _, key, _ in self.entries]).argmax())

    def fidelity_samples(self, data: FewShotData) -> torch.Tensor:
        """A lookup, not a sample: nothing to cache (and every retrieval is named in the audit)."""
        return self.generate(data.classnames, data.dataset, int(self.config["repo_seed"]))

    def generate(self, classnames, dataset: str, seed: int) -> torch.Tensor:
        name, _, prompts = self.entries[self.nearest(classnames, dataset)]
        self.ctx.audit.setdefault("retrieved", {})[dataset] = name
        return prompts
