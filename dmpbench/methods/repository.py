"""Generated-prompt methods over a CoOp prompt repository: what DMPClass and the generators it is compared
with (Diffusion Meta-Prompts Table 8: VAE, transformer, GPT-2, Stylus top-1) share.

1. Prompt repository: CoOp trained with ``repo_inits`` initialisations (40 in the paper; 16 in the mini
   world) on each training dataset of the task (its base classes for base-to-new), on the K-shot draw of
   ``repo_seed``. The paper says only "40 different initializations"; we read it as CoOp's random
   initialisation N(0, 0.02) with 40 different draws (``repo_init: random``), so the repository has the
   spread a generative model can learn; ``repo_init: hand`` starts every draw from "a photo of a" plus
   the same noise.
2. Conditions: the backbone's text embedding of each class name, one embedding per class (the paper's
   answer to CLIP's 77-token limit), L2-normalised; ``condition: dataset`` uses the dataset name instead
   (Table 11's ablation).
3. A generator (the subclass: ``fit_generator``) learns prompts from conditions; at test time
   ``generate`` gives the prompt sets for a label set and the task averages the metrics over them.

The repository (per dataset, label split and CoOp recipe) is shared by every generator and cached under
the cache directory, and so is each trained generator (per training pool and configuration); the run's
seed seeds the sampling only. Every record's audit holds ``repository_fidelity``: for each training label
set, the mean accuracy of the repository prompts and of the generated ones on the same test images.

Over other learners (``RepositoryGenerator.over(name, learner)``, e.g. ``dmp_cocoop``; DMP A.9): the
repository holds the learner's shallow text prompts (its ``train_repository``, ``repo_inits``
initialisations per dataset, the learner's settings under ``<learner>_``); at test time a generated prompt
replaces the learned one and "the other weights of the baseline method" stay as learned: the learner is
fitted on the unit (its own recipe, the run's seed: the fit its own record uses) and classifies with the
generated prompt (``PromptLearner.image_prompts(features, context=...)``). The fidelity probe of a
training label set uses that dataset's learner fitted with seed ``repo_seed``. A learner whose classifier
depends on the image (CoCoOp) makes the variant ``per_image``; a learner that prompts the image tower (MaPLe,
PromptSRC, CoPrompt, TAC: ``ImagePromptLearner``) makes it score a feature set per generated prompt
(``features_per_prompt_set``: MaPLe's and CoPrompt's vision prompts are projections of the text context, so a
generated context changes the image features too; PromptSRC's and TAC's do not follow it, and one pass of the tower
serves every prompt: ``features_per_prompt``).
"""

from __future__ import annotations

import dataclasses
import json
from abc import abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from safetensors.torch import load_file, save_file

from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, Probe, PromptLearner, TrainingPool, normalize
from dmpbench.baselines.coop import COOP_DEFAULTS, COOP_RANGES, initial_contexts, schedule
from dmpbench.cachefiles import atomic_path, try_load, write_json
from dmpbench.config import SEED_MAX, check_keys
from dmpbench.context import stable_hash
from dmpbench.errors import DmpbenchError
from dmpbench.locking import artefact_lock
from dmpbench.registry import METHODS

#: the repository's settings, shared by every generator (CoOp's recipe under a ``coop_`` prefix)
REPOSITORY_DEFAULTS: dict[str, Any] = {
    **{f"coop_{k}": v for k, v in COOP_DEFAULTS.items() if k not in ("init", "csc")},
    "repo_inits": 40,
    "repo_init": "random",
    "repo_seed": 1,
    "condition": "classnames",
    # DMP A.5.3 / Table 14: this share of the repository's prompts gets additive Gaussian noise of std
    # ``repo_noise_std`` before a generator is trained on it (0: the clean repository)
    "repo_noise": 0.0,
    "repo_noise_std": 0.01,
}
REPOSITORY_RANGES: dict[str, Any] = {
    **{f"coop_{k}": v for k, v in COOP_RANGES.items()}, "repo_inits": ">=1", "repo_init": ("random", "hand"),
    "repo_seed": f"0..{SEED_MAX}", "condition": ("classnames", "dataset"), "repo_noise": "0..1", "repo_noise_std": ">=0",
}
#: the mini world's repository (issue 9's recipe; README "Protocol choices"): 16 random inits per dataset
#: trained 50 steps at batch 128, lr 0.008 (random-init CoOp converges there: base accuracy of these
#: repositories equals that of 400 steps at batch 32, within 0.4 points on the four original datasets), so
#: that 16 x every training class x 50 steps stays affordable
REPOSITORY_MINI: dict[str, Any] = {"coop_steps": 50, "coop_batch_size": 128, "coop_lr": 0.008, "repo_inits": 16}


def learner_settings(learner: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """A learner's repository settings as ``<learner>_<key>``: (defaults, ranges, per-world defaults), less
    the ones a variant fixes, the audit-only ones and ``init`` (the repository's is ``repo_init``); the
    per-world defaults are the learner's own world's recipe changed by its ``repository_recipe`` (CoCoOp in the
    mini world: 100 steps at batch 4; MaPLe: its depth 3, with the repository's 100 steps)."""
    cls = METHODS.get(learner)
    skip = {*cls.variant_fixed, *getattr(cls, "audit_settings", ()), "init"}
    pre = f"{learner}_"
    defaults = {pre + k: v for k, v in cls.default_config.items() if k not in skip}
    ranges = {pre + k: v for k, v in cls.ranges.items() if k not in skip}
    recipe = getattr(cls, "repository_recipe", {})
    worlds = {w: {pre + k: v for k, v in {**cls.world_defaults.get(w, {}), **recipe.get(w, {})}.items() if k not in skip}
              for w in {*cls.world_defaults, *recipe}}
    return defaults, ranges, worlds


def features_per_prompt(learner, images, labels: LabelSet, prompts: torch.Tensor, device) -> torch.Tensor:
    """``[P, N, D]``: the images through ``learner``'s prompted tower with each of ``prompts`` as its shallow context; one
    pass for all when the learner's vision prompts do not follow the context (``vision_follows_prompt``: PromptSRC, TAC)."""
    if not learner.vision_follows_prompt:
        once = learner.features_with(images, labels)
        return once.unsqueeze(0).expand(len(prompts), *once.shape)
    return torch.stack([learner.features_with(images, labels, p.to(device)) for p in prompts])


class RepositoryGenerator(ClassificationMethod):
    """Base of the methods that learn to produce CoOp prompts from a label set's description."""

    base_learner = "coop"
    #: settings that change only how prompts are drawn from the trained generator (not its cache key)
    sampling_keys: ClassVar[tuple[str, ...]] = ()
    #: name of the generated prompts' accuracy in ``audit["repository_fidelity"]``
    fidelity_name: ClassVar[str] = "generated_acc"
    #: bump when the generator's training changes, so that cached generators are retrained
    trainer_version: ClassVar[int] = 1
    #: cache folder of the trained generators (default: the method's name)
    artifact_kind: ClassVar[str] = ""

    @classmethod
    def over(cls, name: str, learner: str) -> type["RepositoryGenerator"]:
        """This generator over another prompt learner (``dmp_cocoop`` is ``DMPCoOp.over("dmp_cocoop", "cocoop")``):
        the CoOp repository settings (``coop_*``) swapped for the learner's (``<learner>_*``), the rest kept."""
        defaults, ranges, worlds = learner_settings(learner)
        own = lambda d: {k: v for k, v in d.items() if not k.startswith("coop_")}  # noqa: E731
        learner_cls = METHODS.get(learner)
        deep = bool(getattr(learner_cls, "encodes_images", False))
        if not (learner_cls.shallow_only or learner_cls.per_image or deep):
            raise NotImplementedError(f"{name}: generated prompts with {learner}'s other weights are not wired yet")
        if deep and getattr(learner_cls, "shallow_context", None) is None:
            raise NotImplementedError(f"{name}: {learner} learns no text prompt for a generator to sample")
        summary = (cls.__doc__ or "").strip().splitlines()[0].replace("CoOp", learner_cls.__name__)
        # ``learner``: changes to the learner's own recipe for the fit whose other weights are used (``_fit_learner``)
        return type(f"{cls.__name__}_{learner}", (cls,), {
            "__doc__": summary, "__module__": cls.__module__, "name": name, "base_learner": learner,
            "per_image": bool(learner_cls.per_image), "encodes_images": deep, "features_per_prompt_set": deep,
            # the generated prompt follows the label set; it reaches the image features where the vision prompts follow it
            "features_follow_labels": bool(learner_cls.features_follow_labels or (deep and learner_cls.vision_follows_prompt)),
            "default_config": {**defaults, **own(cls.default_config), "learner": {}}, "ranges": {**ranges, **own(cls.ranges)},
            "world_defaults": {w: {**own(d), **worlds.get(w, {})} for w, d in cls.world_defaults.items()},
        })

    def _learner_cls(self) -> type[PromptLearner]:
        return METHODS.get(self.base_learner)

    @classmethod
    def validate_config(cls, config: dict) -> None:
        """The ``learner`` overrides (variants over learners with other weights) are the learner's settings."""
        if "learner" in config:
            learner_cls = METHODS.get(cls.base_learner)
            if not isinstance(config["learner"], dict):
                raise DmpbenchError(f"method '{cls.name}' setting 'learner' must be a mapping of {cls.base_learner} settings, got {config['learner']!r}")
            check_keys("method", f"{cls.name}: learner {cls.base_learner}", config["learner"], learner_cls.default_config, learner_cls.ranges)

    def _coop_config(self) -> dict:
        """The learner's recipe for the repository (random or hand init: ``repo_init``)."""
        pre = f"{self.base_learner}_"
        cfg = {k.removeprefix(pre): v for k, v in self.config.items() if k.startswith(pre)}
        return {**cfg, "init": "", **self._learner_cls().variant_fixed}

    # -- conditions -------------------------------------------------------------------------------
    def condition(self, classnames: list[str] | tuple[str, ...], dataset: str) -> torch.Tensor:
        """``[L, D]`` conditioning sequence: one text embedding per class name (or the dataset name)."""
        texts = list(classnames) if self.config["condition"] == "classnames" else [dataset.replace("_", " ")]
        with torch.no_grad():
            return normalize(self.backbone.encode_text(texts).float()).cpu()

    # -- repository -------------------------------------------------------------------------------
    def repository(self, data: FewShotData) -> torch.Tensor:
        """``[R, K, d]`` CoOp prompts for one dataset, trained once and cached."""
        cfg = self._coop_config()
        key = {"backbone": self.backbone.cache_key, "dataset": data.dataset, "seed": data.seed, "shots": data.shots,
               "split": data.split, "classes": data.classnames, "coop": cfg, "inits": self.config["repo_inits"],
               "init": self.config["repo_init"]}
        if self.base_learner != "coop":  # (CoOp's repositories keep the key they always had)
            key["learner"] = self.base_learner
        path = self.ctx.artifact_dir("repository", key) / "prompts.safetensors"
        with artefact_lock(path):  # concurrent ranks/shards: one trains it, the others wait and load
            return self._repository(path, key, data)

    def _repository(self, path: Path, key: dict, data: FewShotData) -> torch.Tensor:
        cfg = self._coop_config()
        r = int(self.config["repo_inits"])
        if path.exists():  # a corrupt or wrong-shaped file is rebuilt (dmpbench.cachefiles)
            cached = try_load(f"cached CoOp repository {path}", lambda: _prompts_of_shape(load_file(str(path))["prompts"], r))
            if cached is not None:
                return cached
        shape = {**cfg, "n_ctx": self._learner_cls().context_length(cfg)}  # (PromptSRC, TAC: n_ctx_text)
        init = initial_contexts(self.backbone, shape, r, len(data.classnames), self.ctx.generator(offset=101, seed=data.seed))
        if self.config["repo_init"] == "hand":
            init = initial_contexts(self.backbone, {**shape, "init": "a photo of a"}, r, 0, self.ctx.generator()) + init
        prompts = self._learner_cls().train_repository(self.backbone, data, cfg, self.ctx, init=init, seed=data.seed)
        with atomic_path(path) as tmp:
            save_file({"prompts": prompts.contiguous()}, str(tmp))
        write_json(path.parent / "key.json", key, indent=1)
        return prompts

    def training_pairs(self, train_sets: list[FewShotData]) -> tuple[torch.Tensor, list[torch.Tensor], list[str]]:
        """The repository as training data: prompts ``[N, K, d]``, each one's condition ``[L, D]`` and dataset;
        with ``repo_noise`` > 0, that share of the prompts (drawn from ``repo_seed``) noised as DMP A.5.3:
        ``S(c)_i + n_i``, ``n_i ~ N(0, repo_noise_std^2)``."""
        prompts, conds, names = [], [], []
        for d in train_sets:
            repo = self.repository(d)
            prompts.append(repo)
            conds.extend([self.condition(d.classnames, d.dataset)] * repo.shape[0])
            names.extend([d.dataset] * repo.shape[0])
        prompts = torch.cat(prompts)
        share = float(self.config["repo_noise"])
        if share > 0:
            gen = torch.Generator().manual_seed(int(self.config["repo_seed"]) * 1000 + 303)
            chosen = torch.randperm(prompts.shape[0], generator=gen)[: round(share * prompts.shape[0])]
            prompts = prompts.clone()
            prompts[chosen] += float(self.config["repo_noise_std"]) * torch.randn(prompts[chosen].shape, generator=gen)
        return prompts, conds, names

    # -- fit ----------------------------------------------------------------------------------------
    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        # The repository and the generator are shared by every seed and task that trains on the same
        # datasets: the repository is learned on the K-shot draw of ``repo_seed``; the run's seed only
        # seeds the sampling of prompts.
        train_sets = [pool.get(name, seed=int(self.config["repo_seed"])) for name in pool.names]
        ignored = {*self.sampling_keys, "learner"}  # (``learner``: the unit's own fit, not the generator's training data)
        if not float(self.config["repo_noise"]):  # the clean repository: the same generator as before the option existed
            ignored |= {"repo_noise", "repo_noise_std"}
        key = {"backbone": self.backbone.cache_key, "pool": [(d.dataset, d.split, d.shots, d.classnames) for d in train_sets],
               "config": {k: v for k, v in self.config.items() if k not in ignored}, **self.generator_key()}
        kind = self.artifact_kind or self.name
        directory = self.ctx.artifact_dir(kind, key)
        self.train_sets, self.directory = train_sets, directory
        if float(self.config["repo_noise"]) > 0:  # what the generator was trained on (cached or not)
            total = int(self.config["repo_inits"]) * len(train_sets)
            self.ctx.audit["repository_noise"] = {"noised": round(float(self.config["repo_noise"]) * total), "of": total,
                                                  "std": float(self.config["repo_noise_std"])}
        cfg = self._coop_config()
        steps = {"repository": {d.dataset: schedule(cfg, int(d.labels.numel()))[0] for d in train_sets}}
        self.probe_learners: dict[str, PromptLearner] = {}
        if not self._learner_cls().shallow_only:  # its other weights: its own fit on the unit (the fit its own record uses)
            self.unit_learner = self._fit_learner(data, pool, self.ctx)
            steps["learner"] = self.ctx.audit.pop("optimizer_steps")
            self.ctx.audit.pop("train_loss", None)
        self.ctx.audit["optimizer_steps"] = {**steps, **self.generator_steps()}
        # concurrent ranks/shards wait for the one that trains it; with --data-parallel all ranks train it
        with artefact_lock(directory / kind, collective=self.ctx.data_parallel):
            self.fit_generator(directory, train_sets)

    def generator_key(self) -> dict:
        """What else determines the trained generator besides the pool and the settings."""
        return {"trainer": self.trainer_version}

    def generator_steps(self) -> dict[str, int]:
        """Optimiser steps of the generator's training, for the audit (none by default)."""
        return {}

    def load_cached(self, directory: Path, load: Callable[[Path], Any]) -> bool:
        """Load the generator trained into ``directory`` by an earlier run (``load(directory)``), audited as
        reused; False when there is none or it is corrupt (then it is retrained)."""
        if not (directory / "done").exists() or try_load(f"cached {self.name} {directory}", lambda: load(directory)) is None:
            return False
        self.ctx.audit[self.name] = {"reused": True, **json.loads((directory / "history.json").read_text())}
        return True

    def mark_trained(self, directory: Path, history: dict, **meta: Any) -> None:
        """After the weights are saved: the history (and what loading needs) written, ``done`` last."""
        write_json(directory / "history.json", {**history, **meta})
        write_json(directory / "done", {"ok": True})
        self.ctx.audit[self.name] = {"reused": False, **history}

    @abstractmethod
    def fit_generator(self, directory: Path, train_sets: list[FewShotData]) -> None:
        """Train the generator on the repository of ``train_sets`` (or load it from ``directory``)."""

    @abstractmethod
    def generate(self, classnames: tuple[str, ...] | list[str], dataset: str, seed: int) -> torch.Tensor:
        """``[P, K, d]`` prompts for a label set (``seed`` seeds any sampling)."""

    def _fit_learner(self, data: FewShotData, pool: TrainingPool, ctx) -> PromptLearner:
        """The learner with its own recipe of the world, fitted on ``data`` (cached by the learner)."""
        learner = self._learner_cls()(self.backbone, {**self._learner_cls().variant_fixed, **self.config.get("learner", {})}, ctx)
        with torch.enable_grad():  # (the probes, which fit a training label set's learner when first asked, run without)
            learner.fit(data, pool)
        return learner

    def _learner_for(self, data: FewShotData) -> PromptLearner:
        """The learner fitted on a training label set with seed ``repo_seed`` (the fidelity probes' other weights,
        the same in every record)."""
        if data.dataset not in self.probe_learners:
            seed = int(self.config["repo_seed"])
            ctx = dataclasses.replace(self.ctx, seed=seed, audit={})
            self.probe_learners[data.dataset] = self._fit_learner(data, TrainingPool([data.dataset], lambda n, s: data, seed), ctx)
        return self.probe_learners[data.dataset]

    # -- answers ------------------------------------------------------------------------------------
    def _embed(self, prompts: torch.Tensor, classnames) -> torch.Tensor:
        names = list(classnames)
        return torch.stack([normalize(self.backbone.encode_with_context(p.to(self.ctx.device), names).float()) for p in prompts])

    def _embed_per_image(self, learner: PromptLearner, prompts: torch.Tensor, classnames, image_features: torch.Tensor) -> torch.Tensor:
        """``[P, N, C, D]``: each generated prompt in place of the learner's, with its other weights, per image."""
        return torch.stack([learner.prompt_classifier(learner.image_prompts(image_features, context=p.to(self.ctx.device)), classnames,
                                                      image_features) for p in prompts])

    def _prompted_sets(self, learner, prompts: torch.Tensor, labels: LabelSet, images) -> tuple[torch.Tensor, torch.Tensor]:
        """``(image features [P, N, D], class embeddings [P, C, D])``: each prompt as the shallow context of a learner
        that prompts the image tower, with its other weights."""
        return (features_per_prompt(learner, images, labels, prompts, self.ctx.device),
                torch.stack([learner.text_with(labels.classnames, p.to(self.ctx.device)) for p in prompts]))

    def _generated(self, labels: LabelSet) -> torch.Tensor:
        """The prompts generated for a label set with the run's seed (kept for the label set last asked, so that a
        task asking for its image features and then its class embeddings gets the same prompts once)."""
        key = (tuple(labels.classnames), labels.dataset)
        if getattr(self, "_last_generated", (None,))[0] != key:
            self._last_generated = (key, self.generate(labels.classnames, labels.dataset, self.ctx.seed))
        return self._last_generated[1]

    def image_features(self, images, labels: LabelSet) -> torch.Tensor:
        """``[P, N, D]`` (``features_per_prompt_set``): the test images through the unit's learner with each generated prompt."""
        if not self.features_per_prompt_set:  # (a generator over a text-only learner does not prompt the tower)
            return super().image_features(images, labels)
        return features_per_prompt(self.unit_learner, images, labels, self._generated(labels), self.ctx.device)

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        if self.features_per_prompt_set:
            return torch.stack([self.unit_learner.text_with(labels.classnames, p.to(self.ctx.device)) for p in self._generated(labels)])
        return self._embed(self.generate(labels.classnames, labels.dataset, self.ctx.seed), labels.classnames)

    def image_class_embeddings(self, labels: LabelSet, image_features: torch.Tensor) -> torch.Tensor:
        prompts = self.generate(labels.classnames, labels.dataset, self.ctx.seed)
        return self._embed_per_image(self.unit_learner, prompts, labels.classnames, image_features)

    def fidelity_samples(self, data: FewShotData) -> torch.Tensor:
        """The prompts generated for a training label set to measure repository fidelity: the test-time
        sampling with seed ``repo_seed``, so that fidelity is a property of the trained generator, the
        same in every record; cached beside it."""
        sampling = {k: self.config[k] for k in (*self.sampling_keys, "repo_seed", "condition")}
        path = self.directory / "fidelity" / f"{stable_hash({'classes': data.classnames, 'dataset': data.dataset, **sampling})}.safetensors"
        with artefact_lock(path):  # concurrent ranks/shards sample it once
            if path.exists():  # a corrupt file is sampled again (same seed, same prompts)
                cached = try_load(f"cached fidelity samples {path}", lambda: load_file(str(path))["prompts"])
                if cached is not None:
                    return cached
            prompts = self.generate(data.classnames, data.dataset, int(self.config["repo_seed"])).cpu()
            with atomic_path(path) as tmp:
                save_file({"prompts": prompts.contiguous()}, str(tmp))
        return prompts

    def probes(self) -> list[Probe]:
        """Repository fidelity: for every label set the generator was trained on, the mean accuracy of its
        repository prompts and of the prompts generated for that label set, on the same test images
        (``audit["repository_fidelity"][dataset] = {"repository_acc", fidelity_name}``)."""
        if self.features_per_prompt_set:
            # cached once per generator, sampling settings and probe learners' recipe (26 passes of the tower per label set)
            kept = self.directory / "probe_cache" / stable_hash({k: self.config[k] for k in (*self.sampling_keys, "repo_seed", "condition", "learner")})
            return [
                Probe("repository_fidelity", LabelSet(tuple(d.classnames), d.dataset), d.split,
                      {"repository_acc": lambda images, d=d: self._prompted_sets(self._learner_for(d), self.repository(d),
                                                                                 LabelSet(tuple(d.classnames), d.dataset), images),
                       self.fidelity_name: lambda images, d=d: self._prompted_sets(self._learner_for(d), self.fidelity_samples(d),
                                                                                   LabelSet(tuple(d.classnames), d.dataset), images)},
                      encodes_images=True, cache_dir=kept)
                for d in self.train_sets
            ]
        if self.per_image:
            return [
                Probe("repository_fidelity", LabelSet(tuple(d.classnames), d.dataset), d.split,
                      {"repository_acc": lambda f, d=d: self._embed_per_image(self._learner_for(d), self.repository(d), d.classnames, f),
                       self.fidelity_name: lambda f, d=d: self._embed_per_image(self._learner_for(d), self.fidelity_samples(d), d.classnames, f)},
                      per_image=True)
                for d in self.train_sets
            ]
        return [
            Probe("repository_fidelity", LabelSet(tuple(d.classnames), d.dataset), d.split,
                  {"repository_acc": lambda d=d: self._embed(self.repository(d), d.classnames),
                   self.fidelity_name: lambda d=d: self._embed(self.fidelity_samples(d), d.classnames)})
            for d in self.train_sets
        ]


def _prompts_of_shape(prompts: torch.Tensor, inits: int) -> torch.Tensor:
    """A cached repository as saved: ``[inits, K, d]`` finite floats (anything else is rebuilt)."""
    if prompts.dim() != 3 or prompts.shape[0] != inits or not torch.isfinite(prompts).all():
        raise ValueError(f"shape {tuple(prompts.shape)}, expected [{inits}, K, d]")
    return prompts


def pooled(cond: torch.Tensor) -> torch.Tensor:
    """A label set's ``[L, D]`` condition as one L2-normalised ``[D]`` vector (the mean of its class
    embeddings): the fixed-width summary the non-sequence generators take."""
    return normalize(cond.float().mean(0))


def optimise(ctx, model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, desc: str,
             step_loss: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``steps`` optimiser steps on ``step_loss()`` with a progress bar, ``model`` in training mode and left in
    evaluation mode; returns the last loss (detached)."""
    bar = ctx.bar(total=steps, desc=desc)
    model.train()
    for _ in range(steps):
        loss = step_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
    bar.close()
    model.eval()
    return loss.detach()
