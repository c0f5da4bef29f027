"""Guided sampling for the DMP: diffusers schedulers + equation 3 of the DMP paper.

    eps_hat = eps(x, null) + sum_i w_i * (eps(x, c_i) - eps(x, null))

covers classifier-free guidance (one concept, w = guidance scale), composition (several concepts,
per-concept weights) and negation (``eps_null + eta * (eps_p - eps_n)`` is the weights +eta, -eta;
an empty positive leaves only the -eta term). All rows (null + every concept) are stacked and go
through the denoiser in ONE batched pass per step.
"""

from __future__ import annotations

import contextlib

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from dmpbench.errors import DmpbenchError

SCHEDULE = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear")
SAMPLERS = ("ddim", "dpm")


def training_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**SCHEDULE, clip_sample=False, prediction_type="epsilon")


def make_scheduler(sampler: str):
    """``ddim``: the paper's DDIM (eta 0); ``dpm``: DPM-Solver++ (2nd order multistep) for few steps."""
    if sampler == "ddim":
        return DDIMScheduler(**SCHEDULE, clip_sample=False, set_alpha_to_one=False,
                             timestep_spacing="trailing", prediction_type="epsilon")
    if sampler == "dpm":
        return DPMSolverMultistepScheduler(**SCHEDULE, algorithm_type="dpmsolver++", solver_order=2,
                                           prediction_type="epsilon", timestep_spacing="trailing")
    raise DmpbenchError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")


def stack_conditions(rows: list[torch.Tensor | None], null: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad condition sequences ([L_i, D], None = the null token) to [R, L_max, D] + bool mask."""
    seqs = [null if r is None else r for r in rows]
    lmax = max(s.shape[0] for s in seqs)
    cond = null.new_zeros(len(seqs), lmax, null.shape[-1])
    mask = torch.zeros(len(seqs), lmax, dtype=torch.bool, device=null.device)
    for i, s in enumerate(seqs):
        cond[i, : s.shape[0]] = s.to(cond)
        mask[i, : s.shape[0]] = True
    return cond, mask


class CompiledDenoiser:
    """The optimised path: torch.compile'd U-Net, under bf16 autocast on CUDA (fp32 on CPU, where
    bf16 is rarely faster). On CUDA the compile mode 'reduce-overhead' also captures CUDA graphs."""

    def __init__(self, unet: torch.nn.Module):
        self.cuda = next(unet.parameters()).is_cuda
        mode = "reduce-overhead" if self.cuda else None
        self.fn = torch.compile(unet, mode=mode, dynamic=False)

    def __call__(self, *args):
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else contextlib.nullcontext()
        with ctx:
            return self.fn(*args).float().clone()


@torch.no_grad()
def guided_sample(denoiser, noise: torch.Tensor, null: torch.Tensor, conds: list[torch.Tensor | None],
                  weights: list[float], concat: torch.Tensor | None, steps: int, sampler: str) -> torch.Tensor:
    """Run the reverse process from noise [n, C, L].

    denoiser(x, t, cond, mask, concat) -> eps. Row 0 is the null condition (null token, zero concat);
    rows 1.. are ``conds`` (None = null text, e.g. DMPVariation's concat-only condition) combined with
    ``weights`` by equation 3. With no conds, the model is sampled unconditionally.
    """
    if steps < 1:
        raise DmpbenchError("sampling needs at least one step")
    n = noise.shape[0]
    rows = [None, *conds] if conds else [None]
    cond, mask = stack_conditions(rows, null)
    cond, mask = cond.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
    if concat is not None:
        concat = torch.cat([torch.zeros_like(concat)] + [concat] * (len(rows) - 1)) if conds else concat
    w = torch.tensor(weights, dtype=noise.dtype, device=noise.device).view(-1, 1, 1, 1)
    scheduler = make_scheduler(sampler)
    scheduler.set_timesteps(steps, device=noise.device)
    x = noise * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        x_in = scheduler.scale_model_input(x, t).repeat(len(rows), 1, 1)
        tt = torch.full((x_in.shape[0],), float(t), device=x.device)
        eps = denoiser(x_in, tt, cond, mask, concat).float().view(len(rows), n, *x.shape[1:])
        if conds:
            eps = eps[0] + (w * (eps[1:] - eps[0])).sum(0)
        else:
            eps = eps[0]
        x = scheduler.step(eps, t, x).prev_sample
    return x
