"""MaPLe (Khattak et al., CVPR 2023): coupled vision-language prompts. K learned text context vectors in
front of the class name plus deep text prompts at the input of text layers 1..J-1; the vision prompts
of layers 0..J-1 are linear projections of the text ones (the coupling function), so one set of text
prompts drives both towers (``encode_with_context(text_prompts=...)`` and
``encode_image(visual_prompts=...)``, the backbone hooks of both worlds).

Recipe (MaPLe's ``configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml``; Prompt Diffusion uses depth
9, length 2): K = 2 context vectors initialised from the first two tokens of "a photo of a", deep
prompts N(0, 0.02), depth J = 9 of ViT-B/16's 12 layers; SGD lr 0.0035, momentum 0.9, weight decay 5e-4,
batch 4, 5 epochs after one warm-up epoch at constant lr 1e-5, cosine schedule. Deviations, documented:
the context replaces the whole hand template ("X X {classname}.") where MaPLe keeps the template's other
words ("X X of a {classname}."); no random-resized-crop/flip augmentation (as for CoOp). Mini world:
depth 3 (of the mini ViT's 4 layers and the text tower's 6, the 9/12 proportion) and 800 steps, ``MAPLE_MINI``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dmpbench.baselines.base import FewShotData, normalize
from dmpbench.baselines.coop import COOP_RANGES
from dmpbench.baselines.image_prompting import ImagePromptLearner, context_rows, initial_words, per_image_rows, train_on_images
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS

MAPLE_DEFAULTS = {
    "n_ctx": 2,
    "init": "a photo of a",  # the first n_ctx tokens initialise the context
    "depth": 9,
    "class_token_position": "end",
    "epochs": 5,
    "steps": 0,
    "lr": 0.0035,
    "batch_size": 4,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "warmup_lr": 1e-5,
}
MAPLE_RANGES = {**{k: v for k, v in COOP_RANGES.items() if k in MAPLE_DEFAULTS}, "depth": ">=1"}
#: mini world: depth 3, and 800 optimiser steps instead of the recipe's 5 epochs (100-120 steps on a base split),
#: which had not converged: base accuracy at 2x the training gained 0.8 / 1.8 / 3.2 points on mini_flowers /
#: letters / mnist; at 800 steps the 2x training gains -0.8 / -2.0 / -0.9 (benchmarks/learner_convergence.py,
#: leaderboards/ablations/learner_convergence.md)
MAPLE_MINI = {"depth": 3, "steps": 800}


class MaPLePrompts(nn.Module):
    """The learned prompts: context ``[K, d]``, deep text prompts ``[J-1, K, d]`` and the J couplings."""

    def __init__(self, context: torch.Tensor, depth: int, vision_width: int):
        super().__init__()
        k, d = context.shape
        self.context = nn.Parameter(context.clone())
        self.text_deep = nn.Parameter(torch.randn(depth - 1, k, d) * 0.02)
        self.couple = nn.ModuleList([nn.Linear(d, vision_width) for _ in range(depth)])  # layer 0 (shallow), 1..J-1

    def visual(self, contexts: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The vision prompts ``[K, width]`` of layers 0..J-1, projected from the text ones; with per-image
        ``contexts`` ``[N, K, d]`` layer 0's are each image's own ``[N, K, width]``."""
        first = self.couple[0](self.context if contexts is None else contexts)
        return [first] + [proj(t) for proj, t in zip(self.couple[1:], self.text_deep)]

    def text(self, backbone, classnames, position: str = "end", contexts: torch.Tensor | None = None) -> torch.Tensor:
        """``[C, D]`` L2-normalised class embeddings through the prompted text tower (``[N, C, D]`` with per-image
        ``contexts`` ``[N, K, d]``)."""
        ctx, names = context_rows(self.context, classnames, contexts)
        out = normalize(backbone.encode_with_context(ctx, names, position, text_prompts=list(self.text_deep)).float())
        return per_image_rows(out, contexts, len(classnames))


def build_prompts(backbone, cfg: dict, seed: int, context: torch.Tensor | None = None) -> MaPLePrompts:
    """The prompts initialised from ``cfg`` and ``seed``; ``context`` ``[K, d]`` replaces the init words' context (a
    prompt repository's random init)."""
    k, depth = int(cfg["n_ctx"]), int(cfg["depth"])
    layers, width = backbone.visual_prompt_geometry()
    if depth > layers:
        raise DmpbenchError(f"maple: depth {depth} but the image tower of {backbone.name} has {layers} layers")
    words = initial_words(backbone, cfg["init"], k, "maple", "n_ctx") if context is None else context.detach().float().cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) * 1000 + 43)
        return MaPLePrompts(words, depth, width)


def train_maple(backbone, data: FewShotData, cfg: dict, ctx, desc: str = "maple", context: torch.Tensor | None = None) -> tuple[dict, dict]:
    """``(state_dict of MaPLePrompts, {"optimizer_steps", "train_loss"})`` trained on ``data``'s images."""
    prompts = build_prompts(backbone, cfg, ctx.seed, context).to(ctx.device)
    labels = data.labels.to(ctx.device)

    def loss_of(images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        text = prompts.text(backbone, data.classnames, cfg["class_token_position"])
        feats = normalize(backbone.encode_image(images, visual_prompts=prompts.visual()).float())
        return F.cross_entropy(backbone.logit_scale * feats @ text.T, labels[idx.to(ctx.device)])

    stats = train_on_images(data, cfg, ctx, prompts, loss_of, desc, offset=43)
    return {k: v.detach().cpu() for k, v in prompts.state_dict().items()}, stats


@METHODS.register("maple")
class MaPLe(ImagePromptLearner):
    """MaPLe: deep text prompts coupled to deep vision prompts by learned projections"""

    name = "maple"
    default_config = {**MAPLE_DEFAULTS, "convergence_check": False}
    world_defaults = {"mini": MAPLE_MINI}
    ranges = MAPLE_RANGES

    def build(self, cfg: dict) -> MaPLePrompts:
        return build_prompts(self.backbone, cfg, self.ctx.seed)

    train_module = staticmethod(train_maple)
