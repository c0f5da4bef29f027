"""Conditional VAE over the prompt repository (Diffusion Meta-Prompts Table 8's "VAE" row, Kingma &
Welling 2014): the generative baseline that replaces DMP's diffusion by one latent draw.

The paper gives no architecture; ours, chosen to match what the DMP sees:

* prompts are represented as the DMP represents them in the mini world: coordinates in the repository's
  principal subspace (``dmpbench.dmp.layout.PrincipalSubspace``, unit variance, lossless for the
  repository), decoded back to ``[K, d]`` token embeddings after sampling;
* the condition is the label set's condition pooled to one vector (``repository.pooled``), as the mini
  DMP's ``pooled_cond`` U-Net takes it;
* encoder ``[x, c] -> 2 x 512 SiLU MLP -> (mu, log sigma^2)`` of ``latent`` dimensions, decoder
  ``[z, c] -> 2 x 512 SiLU MLP -> x``; loss: the negative ELBO with a unit-variance Gaussian likelihood
  (``0.5 |x - x'|^2 + beta KL``, summed over dimensions), AdamW, ``steps`` x ``batch_size`` draws with
  replacement from the repository;
* sampling: ``z ~ N(0, I)`` seeded by the run's seed, decoded under the request's condition.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dmpbench.baselines.base import FewShotData
from dmpbench.cachefiles import atomic_path
from dmpbench.dmp.layout import PrincipalSubspace
from dmpbench.methods.repository import REPOSITORY_DEFAULTS, REPOSITORY_MINI, REPOSITORY_RANGES, RepositoryGenerator, optimise, pooled
from dmpbench.registry import METHODS


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, n_out))


class ConditionalVAE(nn.Module):
    def __init__(self, dims: int, cond_dim: int, latent: int, hidden: int = 512):
        super().__init__()
        self.latent = latent
        self.encoder = _mlp(dims + cond_dim, hidden, 2 * latent)
        self.decoder = _mlp(latent + cond_dim, hidden, dims)

    def loss(self, x: torch.Tensor, c: torch.Tensor, beta: float, generator: torch.Generator) -> tuple[torch.Tensor, float, float]:
        """``(negative ELBO, reconstruction term, KL term)`` averaged over the batch."""
        mu, logvar = self.encoder(torch.cat([x, c], 1)).chunk(2, dim=1)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        recon = self.decoder(torch.cat([mu + (0.5 * logvar).exp() * eps, c], 1))
        rec = 0.5 * (recon - x).pow(2).sum(1).mean()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
        return rec + beta * kl, float(rec.detach()), float(kl.detach())

    @torch.no_grad()
    def sample(self, c: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn((n, self.latent), generator=generator, device=c.device)
        return self.decoder(torch.cat([z, c.expand(n, -1)], 1))


@METHODS.register("vae")
class VAEGenerator(RepositoryGenerator):
    """Conditional VAE: samples CoOp prompts from a latent draw and the label set's description"""

    name = "vae"
    sampling_keys = ("num_prompts",)
    default_config = {**REPOSITORY_DEFAULTS, "latent": 32, "beta": 1.0, "vae_steps": 3000, "vae_batch_size": 256,
                      "vae_lr": 1e-3, "num_prompts": 10}
    ranges = {**REPOSITORY_RANGES, "latent": ">=1", "beta": ">=0", "vae_steps": ">=1", "vae_batch_size": ">=1",
              "vae_lr": ">0", "num_prompts": ">=1"}
    world_defaults = {"mini": REPOSITORY_MINI}

    def generator_steps(self) -> dict[str, int]:
        return {"vae": int(self.config["vae_steps"])}

    def fit_generator(self, directory: Path, train_sets: list[FewShotData]) -> None:
        if self.load_cached(directory, self._load):
            return
        prompts, conds, _ = self.training_pairs(train_sets)
        flat = prompts.flatten(1).float()
        self.prompt_shape = tuple(prompts.shape[1:])
        self.subspace = PrincipalSubspace(flat.shape[1], max(1, flat.shape[0] - 1)).fit(flat)
        x = self.subspace(flat)
        c = torch.stack([pooled(cond) for cond in conds])
        gen = torch.Generator().manual_seed(int(self.config["repo_seed"]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.config["repo_seed"]))
            self.model = ConditionalVAE(x.shape[1], c.shape[1], int(self.config["latent"]))
        opt = torch.optim.AdamW(self.model.parameters(), lr=float(self.config["vae_lr"]), weight_decay=1e-4)
        bs, terms = int(self.config["vae_batch_size"]), {}

        def step_loss() -> torch.Tensor:
            idx = torch.randint(0, x.shape[0], (bs,), generator=gen)
            loss, terms["recon"], terms["kl"] = self.model.loss(x[idx], c[idx], float(self.config["beta"]), gen)
            return loss

        loss = optimise(self.ctx, self.model, opt, int(self.config["vae_steps"]), "vae", step_loss)
        history = {"repository": int(x.shape[0]), "final_loss": round(float(loss), 4), "final_recon": round(terms["recon"], 4),
                   "final_kl": round(terms["kl"], 4)}
        with atomic_path(directory / "vae.safetensors") as tmp:
            save_file({**{f"model.{k}": v for k, v in self.model.state_dict().items()},
                       **{f"subspace.{k}": v for k, v in self.subspace.state_dict().items()}}, str(tmp))
        self.mark_trained(directory, history, prompt_shape=list(self.prompt_shape), dims=int(x.shape[1]), cond_dim=int(c.shape[1]))

    def _load(self, directory: Path) -> bool:
        meta = json.loads((directory / "history.json").read_text())
        state = load_file(str(directory / "vae.safetensors"))
        self.prompt_shape = tuple(meta["prompt_shape"])
        numel = self.prompt_shape[0] * self.prompt_shape[1]
        self.subspace = PrincipalSubspace(numel, meta["dims"])
        self.subspace.load_state_dict({k[9:]: v for k, v in state.items() if k.startswith("subspace.")})
        self.model = ConditionalVAE(meta["dims"], meta["cond_dim"], int(self.config["latent"]))
        self.model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
        self.model.eval()
        return True

    def generate(self, classnames, dataset: str, seed: int) -> torch.Tensor:
        c = pooled(self.condition(classnames, dataset)).unsqueeze(0)
        coords = self.model.sample(c, int(self.config["num_prompts"]), torch.Generator().manual_seed(int(seed)))
        return self.subspace.inverse(coords).view(-1, *self.prompt_shape)
