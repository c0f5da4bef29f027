"""``DMP``: the conditional diffusion model over prompts that the DMP methods use (paper section 3).

Methods never touch the U-Net: they build a ``DMP``, ``fit`` it on a prompt repository and call
``sample`` / ``compose`` / ``negate``. Training: epsilon prediction, 1000 linear-schedule steps
(diffusers ``DDPMScheduler.add_noise``), AdamW, an EMA of the weights (diffusers ``EMAModel`` with
warm-up) used for sampling, and 20% null conditioning for classifier-free guidance. The null
condition is a learned one-token embedding (``UNet1D.null_cond``) with a zero concat input.
Prompts (and VAE latents) are standardised per dimension (stats stored in the checkpoint); see
``dmpbench.dmp.layout`` for the signal layout.

Checkpoint directory: ``config.json`` (shapes, presets, step), ``dmp.safetensors`` (EMA U-Net, VAE,
normalisation stats; all that sampling needs) and ``train_state.pt`` (raw weights, optimiser, EMA
and RNG state; what resuming ``fit`` needs).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch
from diffusers.training_utils import EMAModel
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from dmpbench.cachefiles import atomic_path, write_text
from dmpbench.dmp import ddp as _ddp
from dmpbench.dmp.layout import PrincipalSubspace, SignalLayout, Standardizer
from dmpbench.dmp.sampling import CompiledDenoiser, guided_sample, training_scheduler
from dmpbench.dmp.unet1d import PRESETS, UNet1D, UNet1DConfig, count_parameters
from dmpbench.dmp.vae1d import VAE_PRESETS, VAE1D, VAE1DConfig, fit_vae, relative_error
from dmpbench.errors import DmpbenchError

#: learning rate at ``step`` of ``total`` (a pure function, so a resumed run continues the schedule)
LR_SCHEDULES = {
    "constant": lambda lr, step, total: lr,
    "cosine": lambda lr, step, total: 0.5 * lr * (1 + math.cos(math.pi * min(step, total) / max(1, total))),
}

FORMAT = "dmpbench-dmp/1"
P_UNCOND = 0.2
VAE_THRESHOLD = 2048


class DMP:
    def __init__(self, prompt_shape: tuple[int, int], cond_dim: int = 384, preset: str = "small",
                 use_vae: bool | None = None, concat_shape: tuple[int, int] | None = None,
                 device: str | torch.device = "cpu", unet_overrides: dict | None = None,
                 vae_preset: str | None = None, init_seed: int = 0, subspace: int = 0):
        self.vae_preset = vae_preset or preset
        self.subspace_dims = int(subspace)  # > 0: diffuse in the repository's principal subspace (layout.py)
        with torch.random.fork_rng(devices=[]):  # weights initialised from init_seed, not global RNG
            torch.manual_seed(init_seed)
            self._build(prompt_shape, cond_dim, preset, use_vae, concat_shape, device, unet_overrides)

    def _build(self, prompt_shape, cond_dim, preset, use_vae, concat_shape, device, unet_overrides):
        if preset not in PRESETS:
            raise DmpbenchError(f"unknown DMP preset {preset!r}; choose one of {', '.join(PRESETS)}")
        self.prompt_shape = tuple(int(s) for s in prompt_shape)
        if len(self.prompt_shape) != 2 or min(self.prompt_shape) < 1:
            raise DmpbenchError(f"prompt_shape must be (K, d), got {prompt_shape}")
        self.numel = self.prompt_shape[0] * self.prompt_shape[1]
        self.cond_dim, self.preset = int(cond_dim), preset
        self.use_vae = self.numel >= VAE_THRESHOLD if use_vae is None else bool(use_vae)
        if self.subspace_dims and use_vae:
            raise DmpbenchError("a DMP diffuses either in a VAE latent or in the repository's subspace, not both")
        self.use_vae = self.use_vae and not self.subspace_dims
        self.subspace = PrincipalSubspace(self.numel, self.subspace_dims).to(device) if self.subspace_dims else None
        self.concat_shape = tuple(int(s) for s in concat_shape) if concat_shape else None
        self.device = torch.device(device)
        ucfg = {**PRESETS[preset], **(unet_overrides or {})}
        factor = 2 ** (len(ucfg["channel_mult"]) - 1)
        self.vae = None
        if self.use_vae:
            vcfg = VAE1DConfig(**VAE_PRESETS[self.vae_preset])
            step = vcfg.factor * factor
            vcfg.length = -(-self.numel // step) * step
            self.vae = VAE1D(vcfg).to(self.device).eval()
            self.vae_layout = SignalLayout(self.numel, 1, vcfg.length)
            self.layout = SignalLayout(vcfg.z_channels * vcfg.length // vcfg.factor, vcfg.z_channels,
                                       vcfg.length // vcfg.factor)
        else:
            self.layout = SignalLayout.for_length(self.subspace_dims or self.numel, ucfg["length"])
        ucfg["length"] = self.layout.length
        concat_channels = 0
        if self.concat_shape:
            self.concat_layout = SignalLayout.for_length(self.concat_shape[0] * self.concat_shape[1],
                                                         self.layout.length)
            concat_channels = self.concat_layout.channels
            self.concat_norm = Standardizer(self.concat_layout.numel).to(self.device)
        self.unet_config = UNet1DConfig(in_channels=self.layout.channels, cond_dim=self.cond_dim,
                                        concat_channels=concat_channels, **ucfg)
        self.unet = UNet1D(self.unet_config).to(self.device)          # trained weights
        self.ema_unet = copy.deepcopy(self.unet).eval().requires_grad_(False)  # sampled weights
        self.prompt_norm = Standardizer(self.numel).to(self.device)
        self.latent_norm = Standardizer(self.layout.numel).to(self.device)
        self.step = 0
        self.history: dict = {}
        self._train_state: dict | None = None
        self._compiled: CompiledDenoiser | None = None

    # ------------------------------------------------------------------ info
    def num_parameters(self) -> dict[str, int]:
        out = {"unet": count_parameters(self.unet)}
        if self.vae is not None:
            out["vae"] = count_parameters(self.vae)
        return out

    def __repr__(self):
        return (f"DMP(prompt_shape={self.prompt_shape}, cond_dim={self.cond_dim}, preset={self.preset!r}, "
                f"use_vae={self.use_vae}, signal={self.layout.channels}x{self.layout.length}, step={self.step})")

    # ------------------------------------------------------------ encoding
    def _check_prompts(self, prompts, shape, what) -> torch.Tensor:
        prompts = torch.as_tensor(prompts, dtype=torch.float32)
        if prompts.ndim == 2 and shape[0] == 1 and prompts.shape[1] == shape[1]:
            prompts = prompts[:, None]
        if prompts.ndim != 3 or tuple(prompts.shape[1:]) != shape:
            raise DmpbenchError(f"{what} must have shape [N, {shape[0]}, {shape[1]}], got {list(prompts.shape)}")
        return prompts.to(self.device)

    @torch.no_grad()
    def encode(self, prompts: torch.Tensor) -> torch.Tensor:
        """Prompts [N, K, d] -> the standardised diffusion signal [N, C, L]."""
        prompts = self._check_prompts(prompts, self.prompt_shape, "prompts")
        return self.layout.to_signal(self.latent_norm(self.layout.from_signal(self._encode_raw(prompts))))

    @torch.no_grad()
    def decode(self, signal: torch.Tensor) -> torch.Tensor:
        """The diffusion signal [N, C, L] -> prompts [N, K, d]."""
        flat = self.latent_norm.inverse(self.layout.from_signal(signal.float()))
        if self.vae is not None:
            flat = self.vae_layout.from_signal(self.vae.decode(self.layout.to_signal(flat)))
        elif self.subspace is not None:
            flat = self.subspace.inverse(flat)
        else:
            flat = flat[:, : self.numel]
        return self.prompt_norm.inverse(flat).view(-1, *self.prompt_shape)

    @torch.no_grad()
    def reconstruct(self, prompts: torch.Tensor) -> torch.Tensor:
        """Prompts through encode/decode (the VAE round trip when there is one)."""
        return self.decode(self.encode(prompts))

    def _encode_concat(self, concat) -> torch.Tensor:
        flat = self._check_prompts(concat, self.concat_shape, "concat prompts").flatten(1)
        return self.concat_layout.to_signal(self.concat_norm(flat))

    # ------------------------------------------------------------ conditions
    def _conditions(self, conds, cond_mask, n):
        """-> (unique padded conds [U, L, D], mask [U, L], index [n]); None = all null."""
        if conds is None:
            return None, None, None
        if isinstance(conds, torch.Tensor):
            if conds.ndim != 3 or conds.shape[0] != n or conds.shape[2] != self.cond_dim:
                raise DmpbenchError(f"conds must be [N={n}, L, {self.cond_dim}], got {list(conds.shape)}")
            mask = (torch.ones(conds.shape[:2], dtype=torch.bool) if cond_mask is None
                    else torch.as_tensor(cond_mask, dtype=torch.bool))
            if tuple(mask.shape) != tuple(conds.shape[:2]):
                raise DmpbenchError("cond_mask must be a bool tensor [N, L] matching conds")
            return conds.float().to(self.device), mask.to(self.device), torch.arange(n, device=self.device)
        conds = list(conds)
        if len(conds) != n:
            raise DmpbenchError(f"got {len(conds)} conditions for {n} prompts")
        unique, index, seen = [], [], {}
        for c in conds:  # the same tensor object repeated (one condition, many prompts) is stored once
            if id(c) not in seen:
                seen[id(c)] = len(unique)
                unique.append(self._check_cond(c))
            index.append(seen[id(c)])
        lmax = max(u.shape[0] for u in unique)
        padded = torch.zeros(len(unique), lmax, self.cond_dim, device=self.device)
        mask = torch.zeros(len(unique), lmax, dtype=torch.bool, device=self.device)
        for i, u in enumerate(unique):
            padded[i, : u.shape[0]], mask[i, : u.shape[0]] = u, True
        return padded, mask, torch.tensor(index, device=self.device)

    def _check_cond(self, c) -> torch.Tensor:
        c = torch.as_tensor(c, dtype=torch.float32)
        if c.ndim == 1:
            c = c[None]
        if c.ndim != 2 or c.shape[1] != self.cond_dim or c.shape[0] < 1:
            raise DmpbenchError(f"a condition must be [L, {self.cond_dim}] text embeddings, got {list(c.shape)}")
        return c.to(self.device)

    # ------------------------------------------------------------ training
    def fit(self, prompts, conds=None, cond_mask=None, concat=None, steps: int = 2000, batch_size: int = 128,
            lr: float = 1e-4, lr_schedule: str = "constant", weight_decay: float = 0.01, ema_decay: float = 0.9999, seed: int = 0,
            progress: bool = True, vae_steps: int = 2000, vae_lr: float = 1e-3,
            checkpoint_dir: str | Path | None = None, checkpoint_every: int = 0, ddp: bool = False) -> dict:
        """Train on a repository: prompts [N, K, d]; conds [N, L, cond_dim] (+ bool mask [N, L]) or a list
        of N tensors [L_i, cond_dim] (repeat the same tensor object for prompts sharing a condition) or
        None (unconditional); concat [N, K', d'] for a concat-conditioned DMP.

        ``steps`` is the total number of optimiser steps: a DMP loaded from a checkpoint with training
        state resumes at its step. The autoencoder (if any) is trained first, on a fresh model only.
        Returns ``history`` (final loss, VAE relative reconstruction error, steps).
        ``lr_schedule``: ``constant`` or ``cosine`` (from ``lr`` to 0 over ``steps``, a function of the step so
        that a resumed run continues the same schedule).
        ``ddp=True`` with an initialised process group: DistributedDataParallel over its ranks, each on its
        slice of every global batch (``dmpbench.dmp.ddp``); checkpoints are written by rank 0 only.
        """
        prompts = self._check_prompts(prompts, self.prompt_shape, "prompts")
        n = prompts.shape[0]
        if lr_schedule not in LR_SCHEDULES:
            raise DmpbenchError(f"unknown DMP lr schedule {lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        if self.concat_shape and concat is None:
            raise DmpbenchError("this DMP is concat-conditioned: fit needs concat prompts")
        gen = torch.Generator(self.device).manual_seed(seed)
        fresh = self._train_state is None and self.step == 0
        if fresh:
            self.prompt_norm.fit(prompts.flatten(1))
            if self.subspace is not None:
                self.subspace.fit(self.prompt_norm(prompts.flatten(1)))
            if self.concat_shape:
                self.concat_norm.fit(self._check_prompts(concat, self.concat_shape, "concat prompts").flatten(1))
            if self.vae is not None:
                data = self.vae_layout.to_signal(self.prompt_norm(prompts.flatten(1)))
                err = fit_vae(self.vae, data, vae_steps, min(batch_size, 128), vae_lr, gen, progress)
                self.history["vae_relative_error"] = err
            with torch.no_grad():
                # the principal subspace keeps the geometry between prompts (one global scale); standardising
                # each of its coordinates would whiten the repository into a regular simplex (every pair of
                # prompts equally far apart: the per-condition clusters gone). Measured on the 11 mini
                # base2new repositories (176 prompts, 3,000 steps): fidelity gap 6.4 whitened, 4.9 not.
                self.latent_norm.fit(self.layout.from_signal(self._encode_raw(prompts)), per_dimension=self.subspace is None)
        x_all = self.encode(prompts)
        concat_all = self._encode_concat(concat) if self.concat_shape else None
        cond_u, mask_u, index = self._conditions(conds, cond_mask, n)

        unet = self.unet.train()
        opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=weight_decay)
        ema = EMAModel(unet.parameters(), decay=ema_decay, use_ema_warmup=True, inv_gamma=1.0, power=2 / 3)
        if not fresh and self._train_state is not None:
            st = self._train_state
            unet.load_state_dict(st["unet"])
            opt.load_state_dict(st["optimizer"])
            ema.load_state_dict(st["ema"])
            gen.set_state(st["generator"])
        noise_sched = training_scheduler()
        rank, world = _ddp.group() if ddp else (0, 1)
        model = _ddp.wrap(unet, self.device) if world > 1 else unet
        part = _ddp.batch_slice(batch_size, rank, world)
        scale = (part.stop - part.start) * world / batch_size  # 1.0 in one process
        bar = tqdm(range(self.step, steps), desc="DMP", disable=not progress, initial=0)
        loss_avg = None
        for _ in bar:
            for group in opt.param_groups:
                group["lr"] = LR_SCHEDULES[lr_schedule](lr, self.step, steps)
            idx = torch.randint(0, n, (batch_size,), generator=gen, device=self.device)
            x0 = x_all[idx]
            noise = torch.randn(x0.shape, generator=gen, device=self.device)
            t = torch.randint(0, noise_sched.config.num_train_timesteps, (batch_size,), generator=gen,
                              device=self.device)
            drop = torch.rand(batch_size, generator=gen, device=self.device) < P_UNCOND
            cond, mask = self._train_conditions(cond_u, mask_u, index, idx, drop)
            cat = None
            if concat_all is not None:
                cat = torch.where(drop[:, None, None], 0.0, concat_all[idx])
            if world > 1:  # this rank's slice of the global batch
                x0, noise, t, cond, mask = x0[part], noise[part], t[part], cond[part], mask[part]
                cat = None if cat is None else cat[part]
            eps = model(noise_sched.add_noise(x0, noise, t), t, cond, mask, cat)
            loss = torch.nn.functional.mse_loss(eps, noise) * scale
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            ema.step(unet.parameters())
            self.step += 1
            logged = (_ddp.mean_over_ranks(loss) if world > 1 else loss).item()
            loss_avg = logged if loss_avg is None else 0.98 * loss_avg + 0.02 * logged
            bar.set_postfix(loss=f"{loss_avg:.4f}", refresh=False)
            if checkpoint_dir and checkpoint_every and self.step % checkpoint_every == 0:
                self._sync(unet, opt, ema, gen)
                if rank == 0:
                    self.save(checkpoint_dir)
        unet.eval()
        self._sync(unet, opt, ema, gen)
        self.history.update(steps=self.step, **({} if loss_avg is None else {"loss": loss_avg}))  # resumed at the end: keep
        if checkpoint_dir and rank == 0:
            self.save(checkpoint_dir)
        return dict(self.history)

    @torch.no_grad()
    def _encode_raw(self, prompts):
        """Prompts -> signal [N, C, L] without the latent standardisation (to fit it)."""
        flat = self.prompt_norm(prompts.flatten(1))
        if self.subspace is not None:
            return self.layout.to_signal(self.subspace(flat))
        if self.vae is None:
            return self.layout.to_signal(flat)
        return torch.cat([self.vae.encode(c)[0] for c in self.vae_layout.to_signal(flat).split(256)])

    def _train_conditions(self, cond_u, mask_u, index, idx, drop):
        null = self.unet.null_cond
        if cond_u is None:
            b = idx.shape[0]
            return null.expand(b, 1, -1), torch.ones(b, 1, dtype=torch.bool, device=self.device)
        u = index[idx]
        cond, mask = cond_u[u], mask_u[u]
        null_seq = torch.cat([null, null.new_zeros(cond.shape[1] - 1, self.cond_dim)])[None]
        null_mask = torch.zeros_like(mask[:1])
        null_mask[:, 0] = True
        return (torch.where(drop[:, None, None], null_seq, cond),
                torch.where(drop[:, None], null_mask, mask))

    def _sync(self, unet, opt, ema, gen):
        ema.copy_to(self.ema_unet.parameters())
        self._compiled = None
        self._train_state = {"unet": copy.deepcopy(unet.state_dict()), "optimizer": copy.deepcopy(opt.state_dict()),
                             "ema": ema.state_dict(), "generator": gen.get_state()}

    # ------------------------------------------------------------ sampling
    def sample(self, cond=None, num_prompts: int = 8, guidance: float = 4.5, steps: int = 50,
               sampler: str = "ddim", seed: int = 0, concat=None, fast: bool = False) -> torch.Tensor:
        """Sample [num_prompts, K, d] for one condition [L, cond_dim] (None = unconditional) with
        classifier-free guidance ``guidance`` (1 = the plain conditional model). For a concat-conditioned
        DMP, ``concat`` is the conditioning prompt [K', d'] and the guidance contrasts it with the null.
        ``fast=True``: the optimised denoiser (torch.compile; bf16 autocast + CUDA graphs on CUDA)."""
        terms = [(cond, guidance)] if cond is not None or concat is not None else []
        return self._sample(terms, num_prompts, steps, sampler, seed, concat, fast)

    def compose(self, concepts, num_prompts: int = 8, steps: int = 50, sampler: str = "ddim", seed: int = 0,
                concat=None, fast: bool = False) -> torch.Tensor:
        """Equation 3: concepts = [(cond_i, eta_i), ...]; eps = eps_null + sum eta_i (eps_i - eps_null)."""
        concepts = list(concepts)
        if not concepts:
            raise DmpbenchError("compose needs at least one (condition, weight) pair")
        return self._sample(concepts, num_prompts, steps, sampler, seed, concat, fast)

    def negate(self, positive, negative, strength: float = 4.5, num_prompts: int = 8, steps: int = 50,
               sampler: str = "ddim", seed: int = 0, concat=None, fast: bool = False) -> torch.Tensor:
        """Concept negation (section 3): eps = eps_null + eta (eps_pos - eps_neg); positive=None is the
        empty positive prompt, i.e. eps_null - eta (eps_neg - eps_null) (purely negative prompts)."""
        if negative is None:
            raise DmpbenchError("negate needs a negative condition")
        terms = [(negative, -strength)] if positive is None else [(positive, strength), (negative, -strength)]
        return self._sample(terms, num_prompts, steps, sampler, seed, concat, fast)

    @torch.no_grad()
    def _sample(self, terms, num_prompts, steps, sampler, seed, concat, fast):
        if num_prompts < 1:
            raise DmpbenchError("num_prompts must be at least 1")
        if self.concat_shape and concat is None:
            raise DmpbenchError("this DMP is concat-conditioned: pass concat=<conditioning prompt [K', d']>")
        conds = [None if c is None else self._check_cond(c) for c, _ in terms]
        weights = [float(w) for _, w in terms]
        cat = None
        if self.concat_shape:
            cat = self._encode_concat(torch.as_tensor(concat)[None]).expand(num_prompts, -1, -1)
        gen = torch.Generator(self.device).manual_seed(seed)
        noise = torch.randn((num_prompts, self.layout.channels, self.layout.length), generator=gen,
                            device=self.device)
        denoiser = self.ema_unet
        if fast:
            if self._compiled is None:
                self._compiled = CompiledDenoiser(self.ema_unet)
            denoiser = self._compiled
        x = guided_sample(denoiser, noise, self.ema_unet.null_cond, conds, weights, cat, steps, sampler)
        return self.decode(x)

    # ------------------------------------------------------------ checkpoints
    def _config(self) -> dict:
        return {"format": FORMAT, "prompt_shape": list(self.prompt_shape), "cond_dim": self.cond_dim,
                "preset": self.preset, "use_vae": self.use_vae, "vae_preset": self.vae_preset,
                "concat_shape": list(self.concat_shape) if self.concat_shape else None,
                "unet": self.unet_config.to_dict(), "vae": self.vae.cfg.to_dict() if self.vae else None,
                "subspace": self.subspace_dims, "step": self.step, "history": self.history}

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        tensors = {f"unet.{k}": v for k, v in self.ema_unet.state_dict().items()}
        tensors.update({f"prompt_norm.{k}": v for k, v in self.prompt_norm.state_dict().items()})
        tensors.update({f"latent_norm.{k}": v for k, v in self.latent_norm.state_dict().items()})
        if self.vae is not None:
            tensors.update({f"vae.{k}": v for k, v in self.vae.state_dict().items()})
        if self.subspace is not None:
            tensors.update({f"subspace.{k}": v for k, v in self.subspace.state_dict().items()})
        if self.concat_shape:
            tensors.update({f"concat_norm.{k}": v for k, v in self.concat_norm.state_dict().items()})
        # unique temporaries + os.replace (dmpbench.cachefiles): concurrent saves never collide
        with atomic_path(d / "dmp.safetensors") as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
        if self._train_state is not None:
            with atomic_path(d / "train_state.pt") as tmp:
                torch.save({**self._train_state, "step": self.step}, tmp)
        write_text(d / "config.json", json.dumps(self._config(), indent=2))
        return d

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> DMP:
        d = Path(directory)
        if not (d / "config.json").is_file() or not (d / "dmp.safetensors").is_file():
            raise DmpbenchError(f"no DMP checkpoint in {d} (expected config.json and dmp.safetensors)")
        cfg = json.loads((d / "config.json").read_text())
        if cfg.get("format") != FORMAT:
            raise DmpbenchError(f"{d / 'config.json'} is not a {FORMAT} checkpoint")
        unet_cfg = dict(cfg["unet"])
        overrides = {k: v for k, v in unet_cfg.items() if k not in ("length", "in_channels", "cond_dim", "concat_channels")}
        dmp = cls(cfg["prompt_shape"], cfg["cond_dim"], cfg["preset"], cfg["use_vae"], cfg["concat_shape"],
                  device, unet_overrides=overrides, vae_preset=cfg.get("vae_preset"), subspace=cfg.get("subspace", 0))
        if cfg["vae"]:
            dmp.vae = VAE1D(VAE1DConfig(**cfg["vae"])).to(dmp.device).eval()
        tensors = load_file(str(d / "dmp.safetensors"), device=str(dmp.device))

        def part(prefix):
            return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        dmp.ema_unet.load_state_dict(part("unet"))
        dmp.unet.load_state_dict(part("unet"))
        dmp.prompt_norm.load_state_dict(part("prompt_norm"))
        dmp.latent_norm.load_state_dict(part("latent_norm"))
        if dmp.vae is not None:
            dmp.vae.load_state_dict(part("vae"))
        if dmp.subspace is not None:
            dmp.subspace.load_state_dict(part("subspace"))
        if dmp.concat_shape:
            dmp.concat_norm.load_state_dict(part("concat_norm"))
        dmp.step, dmp.history = cfg["step"], cfg.get("history", {})
        if (d / "train_state.pt").is_file():
            st = torch.load(d / "train_state.pt", map_location=dmp.device, weights_only=True)
            st["generator"] = st["generator"].cpu()
            dmp._train_state = st
        return dmp
