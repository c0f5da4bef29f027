"""The loop that trains learned tokens against a frozen synthesis model (textual inversion, prompt sliders).

Several subjects (identities, concepts) train together as one stacked parameter ``[C, K, d]``, each row
spliced into its own prompts, with the per-subject mean losses summed: AdamW is element-wise, so each
subject's token follows exactly the trajectory it would alone (given the same samples: callers draw each
subject's samples from a stream seeded by its name). Snapshots of the tokens are kept at the given steps
(DMP's prompt repositories)."""

from __future__ import annotations

from typing import Callable

import torch

#: ``batch(step, idx)`` -> ``(texts [C*b], x_t [C*b, ...], timesteps [C*b], target [C*b, ...])`` for the
#: subjects' own sample indices ``idx`` ``[C, b]`` at ``step``
BatchFn = Callable[[int, torch.Tensor], tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor]]


def train_tokens(synthesis, init: torch.Tensor, streams: torch.Tensor, batch: BatchFn, lr: float, keep: list[int],
                 bar) -> tuple[torch.Tensor, torch.Tensor]:
    """``(snapshots [C, len(keep), K, d], losses [steps, C])``; ``streams`` ``[steps, C, b]`` sample indices."""
    tokens = torch.nn.Parameter(init.float().clone())
    opt = torch.optim.AdamW([tokens], lr=lr, betas=(0.9, 0.999), weight_decay=1e-2)  # diffusers' TI optimiser
    n, b = tokens.shape[0], streams.shape[2]
    snaps, losses = [], []
    for step, idx in enumerate(bar(streams), start=1):
        texts, x_t, timesteps, target = batch(step, idx)
        pred = synthesis.predict_noise(x_t, timesteps, synthesis.encode(texts, tokens.repeat_interleave(b, 0))).float()
        per_subject = ((pred - target.to(pred.device)) ** 2).flatten(1).mean(1).view(n, b).mean(1)
        opt.zero_grad(set_to_none=True)
        per_subject.sum().backward()
        opt.step()
        losses.append(per_subject.detach().cpu())
        if step in keep:
            snaps.append(tokens.detach().cpu().clone())
    return torch.stack(snaps, 1), torch.stack(losses)


def loss_stats(losses: torch.Tensor, names: list[str]) -> dict:
    """Mean loss of the first and the last tenth of training (at most 20 steps each), per subject."""
    window = max(1, min(20, len(losses) // 10))
    return {"loss_first": {x: round(float(losses[:window, i].mean()), 5) for i, x in enumerate(names)},
            "loss_last": {x: round(float(losses[-window:, i].mean()), 5) for i, x in enumerate(names)}}


def word_init(synthesis, word: str, k: int) -> torch.Tensor:
    """``[k, d]``: a word's token embedding (a multi-piece word: the mean of its pieces), repeated k times."""
    return synthesis.token_embeddings(word).float().mean(0, keepdim=True).expand(k, -1)
