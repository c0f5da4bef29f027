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

On the generation tasks (``slider``, ``identity``, ``storage_latency``) it retrieves over DMPMulti's
repositories (the prompt sliders and textual inversions of DMPMulti's default recipe for the world,
``methods/dmp_slider.py``), each concept / subject an entry described by its condition text
(``token_dmp.TokenRetrieval``); its settings above are the classification repository's and do not apply.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dmpbench.backbones.synthesis.base import PLACEHOLDER, SynthesisBackbone
from dmpbench.baselines.base import FewShotData, TrainingPool
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.methods.repository import REPOSITORY_DEFAULTS, REPOSITORY_MINI, REPOSITORY_RANGES, RepositoryGenerator, pooled
from dmpbench.registry import METHODS


@METHODS.register("stylus_top1")
class StylusTop1(RepositoryGenerator, GenerationMethod):
    """Stylus top-1: the repository prompts of the training label set nearest to the request"""

    name = "stylus_top1"
    capabilities = ("classification", "generation", "prompt_repository")
    default_config = dict(REPOSITORY_DEFAULTS)
    ranges = REPOSITORY_RANGES
    world_defaults = {"mini": REPOSITORY_MINI}

    # -- generation (slider / identity / storage_latency): DMPMulti's repositories, retrieved ---------------
    def fit(self, data, pool: TrainingPool | None = None) -> None:
        if not isinstance(data, GenerationData):
            return super().fit(data, pool)
        from dmpbench.methods.dmp_slider import multi_repositories

        parts, _ = multi_repositories(self, data)
        self.fit_on_repositories(parts)

    def fit_on_repositories(self, parts) -> None:
        """Retrieval over given token repositories (``storage_latency``: the compared DMP's own)."""
        from dmpbench.methods.token_dmp import TokenRetrieval

        self.retrieval = TokenRetrieval(self.backbone, parts)
        self.ctx.audit["stylus"] = {"entries": len(self.retrieval.names), "prompts": sum(int(p.shape[0]) for p in self.retrieval.prompts),
                                    "repository_recipes": [p[3] for p in parts]}

    def serve(self, text: str) -> torch.Tensor:
        """One request: the text embedded, the nearest entry's stored prompts gathered."""
        return self.retrieval.retrieve(text)[1]

    def request_texts(self) -> list[str]:
        return list(self.retrieval.texts)

    def footprint(self, directory) -> dict[str, int]:
        return self.retrieval.footprint(directory)

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        from dmpbench.baselines.prompt_slider import slider_prompt

        text = self.retrieval.texts[self.retrieval.names.index(request.concept)] if request.concept in self.retrieval.names else request.concept
        name, prompts = self.retrieval.retrieve(text)
        self.ctx.audit.setdefault("retrieved", {})[request.concept] = name
        rows = (torch.arange(request.n) % len(prompts)).repeat(len(request.prompts))
        texts = [p.format(PLACEHOLDER) if "{}" in p else slider_prompt(p) for p in request.prompts for _ in range(request.n)]
        return PromptEmbeddings(texts, request.strength * prompts[rows])

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
