"""DMPClass over CoOp (Diffusion Meta-Prompts, section 3.1): a diffusion model that samples CoOp prompts
conditioned on the class names of the label set being classified.

1. Prompt repository: CoOp trained with ``repo_inits`` initialisations (40 in the paper; 16 in the mini
   world) on each training dataset of the task (its base classes for base-to-new), on the K-shot draw of
   ``repo_seed``. The paper
   says only "40 different initializations"; we read it as CoOp's random initialisation N(0, 0.02)
   with 40 different draws (``repo_init: random``), so the repository has the spread a generative
   model can learn; ``repo_init: hand`` starts every draw from "a photo of a" plus the same noise.
2. Conditions: the backbone's text embedding of each class name, one embedding per class (the
   paper's answer to CLIP's 77-token limit), L2-normalised; ``condition: dataset`` uses the dataset
   name instead (Table 11's ablation).
3. DMP: ``dmpbench.dmp.DMP`` (1D U-Net, ε-prediction, 1000 linear steps, 20% null conditioning, EMA);
   through the prompt autoencoder when K×d >= 2048 (ViT-B/16: 4×512). ``preset: auto`` is ``paper``
   (Table 17) in the paper world and ``small`` in the mini world.
4. At test time: ``num_prompts`` prompts sampled with DDIM (50 steps, guidance 4.5, Table 9) conditioned
   on the label set's class names; the task averages the metrics over them.

The repository (per dataset, label split and CoOp recipe) and the trained DMP (per training pool) are
saved under the cache directory and reused by every task and seed that asks for the same; the run's seed
seeds the sampling.
"""

from __future__ import annotations

import torch
from safetensors.torch import load_file, save_file

from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, Probe, TrainingPool, normalize
from dmpbench.baselines.coop import COOP_DEFAULTS, COOP_RANGES, initial_contexts, schedule, train_contexts
from dmpbench.cachefiles import atomic_path, try_load, write_json, write_text
from dmpbench.config import SEED_MAX
from dmpbench.context import stable_hash
from dmpbench.dmp import PRESETS, ddp
from dmpbench.dmp.model import DMP
from dmpbench.dmp.sampling import SAMPLERS
from dmpbench.errors import DmpbenchError
from dmpbench.locking import artefact_lock
from dmpbench.registry import METHODS


@METHODS.register("dmp_coop")
class DMPCoOp(ClassificationMethod):
    """DMPClass over CoOp: a diffusion model samples CoOp prompts from class names."""

    name = "dmp_coop"
    base_learner = "coop"
    data_parallel = True  # --data-parallel: the DMP is trained with DDP over the torchrun ranks
    checkpoint_every = 500  # DMP steps between checkpoints (a killed run resumes from the last one)
    default_config = {
        **{f"coop_{k}": v for k, v in COOP_DEFAULTS.items() if k not in ("init", "csc")},
        "repo_inits": 40,
        "repo_init": "random",
        "repo_seed": 1,
        "condition": "classnames",
        "preset": "auto",
        "dmp_steps": 3000,
        "dmp_batch_size": 128,
        # > 0: the batch is at most this many times the repository size (a DMP over a small repository does
        # not need the batch a large one does); 0: always dmp_batch_size
        "dmp_batch_per_prompt": 0,
        "dmp_lr": 3e-4,
        "vae_steps": 2000,
        # None/0: diffuse the prompts themselves; > 0: diffuse in the repository's principal subspace of this many dimensions (dmp/layout.py);
        # "auto": all of it (repository size - 1 dimensions, lossless for the repository)
        "subspace": None,
        # changes to the U-Net preset (dmpbench.dmp.unet1d.UNet1DConfig fields)
        "unet": {},
        "num_prompts": 10,
        "guidance": 4.5,
        "sample_steps": 50,
        "sampler": "ddim",
    }
    ranges = {
        **{f"coop_{k}": v for k, v in COOP_RANGES.items()}, "repo_inits": ">=1", "repo_init": ("random", "hand"),
        "repo_seed": f"0..{SEED_MAX}", "condition": ("classnames", "dataset"), "preset": ("auto", *PRESETS), "dmp_steps": ">=1",
        "dmp_batch_size": ">=1", "dmp_batch_per_prompt": ">=0", "dmp_lr": ">0", "vae_steps": ">=0", "num_prompts": ">=1", "guidance": ">=0",
        "sample_steps": ">=1", "sampler": tuple(SAMPLERS),
    }
    # mini world (issue 9's recipe; README "Protocol choices"): the repository is 16 random inits per
    # dataset trained 50 steps at batch 128, lr 0.008 (random-init CoOp converges there: base accuracy
    # of these repositories equals that of 400 steps at batch 32, within 0.4 points on the four original
    # datasets), so that 16 x every training class x 50 steps stays affordable; the DMP diffuses in the
    # repository's whole principal subspace (not whitened) with the pooled condition, 1,500 steps of
    # batch 512 at lr 2e-3 (small preset; the batch at most 4x the repository, so the 16-prompt DMP of
    # the transfer tasks trains at batch 64). What closed the fidelity gap on the eleven base2new
    # repositories (176 prompts; gap = mean repository accuracy - mean sampled accuracy, base classes):
    # whitened, 3,000 x 64 at 1e-3: 6.4; not whitened: 4.9; 1,500 x 256 at 2e-3: 3.8 (3e-3: 4.0; cosine
    # lr decay, 3,000 x 64: 5.9; 64 channels, 1,000 x 64: 6.4 vs 7.0); 1,500 x 512 at 2e-3: 1.9. The
    # number of training samples (steps x batch) is what mattered; the paper trains 100k iterations.
    world_defaults = {"mini": {"coop_steps": 50, "coop_batch_size": 128, "coop_lr": 0.008, "repo_inits": 16,
                               "subspace": "auto", "unet": {"pooled_cond": True},
                               "dmp_steps": 1500, "dmp_batch_size": 512, "dmp_batch_per_prompt": 4, "dmp_lr": 2e-3}}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        """Checks the declared-type rule cannot express (before any work)."""
        sub = config["subspace"]
        if sub is not None and sub != "auto" and (isinstance(sub, bool) or not isinstance(sub, int) or sub < 0):
            raise DmpbenchError(f"method 'dmp_coop' setting 'subspace' must be a number of dimensions >= 0 or 'auto', got {sub!r}")
        if not isinstance(config["unet"], dict):
            raise DmpbenchError(f"method 'dmp_coop' setting 'unet' must be a mapping of U-Net settings, got {config['unet']!r}")

    def _coop_config(self) -> dict:
        cfg = {k.removeprefix("coop_"): v for k, v in self.config.items() if k.startswith("coop_")}
        return {**cfg, "init": "", "csc": False}

    # -- conditions -------------------------------------------------------------------------------
    def condition(self, classnames: list[str] | tuple[str, ...], dataset: str) -> torch.Tensor:
        """``[L, D]`` conditioning sequence: one text embedding per class name (or the dataset name)."""
        if self.config["condition"] == "classnames":
            texts = list(classnames)
        elif self.config["condition"] == "dataset":
            texts = [dataset.replace("_", " ")]
        else:
            raise DmpbenchError(f"dmp_coop: condition must be 'classnames' or 'dataset', got {self.config['condition']!r}")
        with torch.no_grad():
            return normalize(self.backbone.encode_text(texts).float()).cpu()

    # -- repository -------------------------------------------------------------------------------
    def repository(self, data: FewShotData) -> torch.Tensor:
        """``[R, K, d]`` CoOp prompts for one dataset, trained once and cached."""
        cfg = self._coop_config()
        key = {"backbone": self.backbone.cache_key, "dataset": data.dataset, "seed": data.seed, "shots": data.shots,
               "split": data.split, "classes": data.classnames, "coop": cfg, "inits": self.config["repo_inits"],
               "init": self.config["repo_init"]}
        path = self.ctx.artifact_dir("repository", key) / "prompts.safetensors"
        with artefact_lock(path):  # concurrent ranks/shards: one trains it, the others wait and load
            return self._repository(path, key, data)

    def _repository(self, path, key, data: FewShotData) -> torch.Tensor:
        cfg = self._coop_config()
        r = int(self.config["repo_inits"])
        if path.exists():  # a corrupt or wrong-shaped file is rebuilt (dmpbench.cachefiles)
            cached = try_load(f"cached CoOp repository {path}", lambda: _prompts_of_shape(load_file(str(path))["prompts"], r))
            if cached is not None:
                return cached
        init = initial_contexts(self.backbone, cfg, r, len(data.classnames), self.ctx.generator(offset=101, seed=data.seed))
        if self.config["repo_init"] == "hand":
            init = initial_contexts(self.backbone, {**cfg, "init": "a photo of a"}, r, 0, self.ctx.generator()) + init
        elif self.config["repo_init"] != "random":
            raise DmpbenchError(f"dmp_coop: repo_init must be 'random' or 'hand', got {self.config['repo_init']!r}")
        prompts = train_contexts(self.backbone, data, cfg, self.ctx, init=init, desc="repository", seed=data.seed)
        with atomic_path(path) as tmp:
            save_file({"prompts": prompts.contiguous()}, str(tmp))
        write_json(path.parent / "key.json", key, indent=1)
        return prompts

    # -- fit / sample ---------------------------------------------------------------------------------
    def preset(self) -> str:
        preset = self.config["preset"]
        return ("small" if self.backbone.world == "mini" else "paper") if preset == "auto" else preset

    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        # The repository and the DMP are shared by every seed and task that trains on the same datasets
        # (the "reused across tasks and seeds"): the repository is learned on the K-shot draw of
        # ``repo_seed``; the run's seed only seeds the sampling of prompts.
        train_sets = [pool.get(name, seed=int(self.config["repo_seed"])) for name in pool.names]
        sampling = {k: v for k, v in self.config.items() if k in ("num_prompts", "guidance", "sample_steps", "sampler")}
        key = {"backbone": self.backbone.cache_key, "pool": [(d.dataset, d.split, d.shots, d.classnames) for d in train_sets],
               "config": {k: v for k, v in self.config.items() if k not in sampling}, "preset": self.preset(),
               "trainer": 2}  # 2: no per-coordinate whitening in the principal subspace (dmp/model.py)
        directory = self.ctx.artifact_dir("dmp", key)
        self.train_sets, self.directory = train_sets, directory
        cfg = self._coop_config()
        self.ctx.audit["optimizer_steps"] = {"repository": {d.dataset: schedule(cfg, int(d.labels.numel()))[0] for d in train_sets},
                                             "dmp": int(self.config["dmp_steps"])}
        # concurrent ranks/shards wait for the one that trains it; with --data-parallel all ranks train it
        with artefact_lock(directory / "dmp", collective=self.ctx.data_parallel):
            self._fit_dmp(directory, train_sets)

    def _fit_dmp(self, directory, train_sets) -> None:
        cached = None
        if (directory / "dmp.safetensors").exists() and (directory / "done").exists():  # corrupt: retrained
            cached = try_load(f"cached DMP {directory}", lambda: DMP.load(directory, self.ctx.device))
        if cached is not None:
            self.dmp = cached
            self.ctx.audit["dmp"] = {"reused": True, "dir": str(directory), **self.dmp.history}
            self._check_width()
            return
        prompts, conds = [], []
        for d in train_sets:
            repo = self.repository(d)
            cond = self.condition(d.classnames, d.dataset)
            prompts.append(repo)
            conds.extend([cond] * repo.shape[0])
        repo_all = torch.cat(prompts)
        k, dim = repo_all.shape[1:]
        resumed = None
        if (directory / "train_state.pt").exists():  # a run killed during training: resume at its checkpoint
            resumed = try_load(f"DMP checkpoint {directory}", lambda: DMP.load(directory, self.ctx.device))  # corrupt: start again
        self.dmp = resumed if resumed is not None else DMP(
            (k, dim), cond_dim=conds[0].shape[1], preset=self.preset(), device=self.ctx.device,
            subspace=self._subspace(repo_all.shape[0]), unet_overrides=dict(self.config["unet"]) or None)
        history = self.dmp.fit(
            repo_all, conds, steps=int(self.config["dmp_steps"]), batch_size=self._batch_size(repo_all.shape[0]),
            lr=float(self.config["dmp_lr"]), seed=int(self.config["repo_seed"]), progress=self.ctx.progress, vae_steps=int(self.config["vae_steps"]),
            ddp=self.ctx.data_parallel, checkpoint_dir=directory, checkpoint_every=self.checkpoint_every,
        )  # the final checkpoint is written by fit (rank 0)
        if ddp.is_main():
            write_text(directory / "done", "ok\n")
        self.ctx.audit["dmp"] = {"reused": False, "dir": str(directory), "repository": int(repo_all.shape[0]), "batch_size": self._batch_size(repo_all.shape[0]), **history}
        self._check_width()

    def _batch_size(self, n_prompts: int) -> int:
        """``dmp_batch_size``, or at most ``dmp_batch_per_prompt`` x the repository size when that is set."""
        per_prompt = int(self.config["dmp_batch_per_prompt"])
        return min(int(self.config["dmp_batch_size"]), per_prompt * n_prompts) if per_prompt else int(self.config["dmp_batch_size"])

    def _subspace(self, n_prompts: int) -> int:
        sub = self.config["subspace"]
        if sub is None:  # the paper-world default: diffuse the prompts themselves (or their VAE latents)
            return 0
        if sub == "auto":
            return max(1, n_prompts - 1)
        if not isinstance(sub, int) or sub < 0:
            raise DmpbenchError(f"dmp_coop: subspace must be a number of dimensions or 'auto', got {sub!r}")
        return sub

    def _check_width(self) -> None:
        width = self.dmp.prompt_shape[1]
        if width != self.backbone.ctx_dim:
            raise DmpbenchError(
                f"dmp_coop: the DMP's prompts are {width} wide but backbone {self.backbone.name} has {self.backbone.ctx_dim}-wide token embeddings"
            )

    def _sample(self, classnames, dataset: str, seed: int) -> torch.Tensor:
        cond = self.condition(classnames, dataset)
        return self.dmp.sample(
            cond.to(self.ctx.device), num_prompts=int(self.config["num_prompts"]), guidance=float(self.config["guidance"]),
            steps=int(self.config["sample_steps"]), sampler=self.config["sampler"], seed=seed,
        )

    def _embed(self, prompts: torch.Tensor, classnames) -> torch.Tensor:
        names = list(classnames)
        return torch.stack([normalize(self.backbone.encode_with_context(p.to(self.ctx.device), names).float()) for p in prompts])

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        return self._embed(self._sample(labels.classnames, labels.dataset, self.ctx.seed), labels.classnames)

    def fidelity_samples(self, data: FewShotData) -> torch.Tensor:
        """The prompts sampled for a training label set to measure repository fidelity: the test-time
        sampling (``num_prompts``, guidance, steps, sampler) with seed ``repo_seed``, so that fidelity
        is a property of the trained DMP, the same in every record; cached beside the DMP."""
        sampling = {k: self.config[k] for k in ("num_prompts", "guidance", "sample_steps", "sampler", "repo_seed", "condition")}
        path = self.directory / "fidelity" / f"{stable_hash({'classes': data.classnames, 'dataset': data.dataset, **sampling})}.safetensors"
        with artefact_lock(path):  # concurrent ranks/shards sample it once
            if path.exists():  # a corrupt file is sampled again (same seed, same prompts)
                cached = try_load(f"cached fidelity samples {path}", lambda: load_file(str(path))["prompts"])
                if cached is not None:
                    return cached
            prompts = self._sample(data.classnames, data.dataset, int(self.config["repo_seed"])).cpu()
            with atomic_path(path) as tmp:
                save_file({"prompts": prompts.contiguous()}, str(tmp))
        return prompts

    def probes(self) -> list[Probe]:
        """Repository fidelity: for every label set the DMP was trained on, the mean accuracy of its
        repository prompts and of the prompts it samples for that label set, on the same test images
        (``audit["repository_fidelity"][dataset] = {"repository_acc", "dmp_acc"}``)."""
        return [
            Probe("repository_fidelity", LabelSet(tuple(d.classnames), d.dataset), d.split,
                  {"repository_acc": lambda d=d: self._embed(self.repository(d), d.classnames),
                   "dmp_acc": lambda d=d: self._embed(self.fidelity_samples(d), d.classnames)})
            for d in self.train_sets
        ]


def _prompts_of_shape(prompts: torch.Tensor, inits: int) -> torch.Tensor:
    """A cached repository as saved: ``[inits, K, d]`` finite floats (anything else is rebuilt)."""
    if prompts.dim() != 3 or prompts.shape[0] != inits or not torch.isfinite(prompts).all():
        raise ValueError(f"shape {tuple(prompts.shape)}, expected [{inits}, K, d]")
    return prompts
