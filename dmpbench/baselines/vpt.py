"""VPT (Jia et al., ECCV 2022) on CLIP, as the prompt learners Prompt Diffusion builds on use it: deep
visual prompts, ``n_ctx`` learned tokens at the input of each of the first ``depth`` vision transformer
layers (``backbones/vit_prompts.py``: the one insertion rule of both worlds), with the text side the frozen
hand prompt. The class embeddings do not change; the image features do.

Recipe (the multimodal-prompt-learning codebase's ``configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml``,
the VPT that MaPLe, PromptSRC and Prompt Diffusion compare with): 8 tokens in all 12 layers of ViT-B/16,
initialised N(0, 0.02); text prompt "a photo of a {}."; SGD lr 0.0025, momentum 0.9, weight decay 5e-4,
batch 4, 5 epochs after one warm-up epoch at constant lr 1e-5, cosine schedule (CoOp's ``schedule`` /
``lr_at``). Deviation, as for CoOp: no random-resized-crop/flip augmentation (the images go through the
evaluation transform). Mini world: all 4 layers of the mini ViT and 3,200 steps (``VPT_MINI``).

The method prompts the image tower (``encodes_images``): it trains on the K-shot images themselves and
the task scores it on the test images encoded with its prompts, not on the feature cache.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dmpbench.baselines.base import FewShotData, normalize
from dmpbench.baselines.coop import COOP_RANGES
from dmpbench.baselines.image_prompting import ImagePromptLearner, train_on_images
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS

VPT_DEFAULTS = {
    "n_ctx": 8,
    "depth": 12,
    "text_prompt": "a photo of a {}.",
    "epochs": 5,
    "steps": 0,
    "lr": 0.0025,
    "batch_size": 4,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "warmup_lr": 1e-5,
}
VPT_RANGES = {**{k: v for k, v in COOP_RANGES.items() if k in VPT_DEFAULTS}, "depth": ">=1"}
#: mini world: prompts in all 4 layers of the mini ViT (ViT-B/16's recipe prompts all 12), and 3,200 optimiser
#: steps instead of the recipe's 5 epochs (100-120 steps on a base split): base accuracy at 2x the training still
#: gained 3.0 / -0.7 / 3.3 points there on mini_flowers / letters / mnist, at 1,600 steps 0.5 / 2.7 / 0.3, at
#: 3,200 steps -1.5 / -2.3 / -2.4 (benchmarks/learner_convergence.py, leaderboards/ablations/learner_convergence.md)
VPT_MINI = {"depth": 4, "steps": 3200}


def text_classifier(backbone, template: str, classnames) -> torch.Tensor:
    """``[C, D]`` L2-normalised embeddings of the frozen hand prompt."""
    with torch.no_grad():
        return normalize(backbone.encode_text([template.format(c) for c in classnames]).float())


class VisualPrompts(nn.Module):
    """Deep visual prompts ``[depth, n_ctx, width]`` N(0, 0.02); the text side is the frozen hand prompt."""

    def __init__(self, depth: int, n_ctx: int, width: int, template: str, generator: torch.Generator):
        super().__init__()
        self.prompts = nn.Parameter(torch.randn(depth, n_ctx, width, generator=generator) * 0.02)
        self.template = template

    def visual(self, contexts: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The prompts of each layer ``[n_ctx, width]``; with per-image prompts ``contexts`` ``[N, depth, n_ctx, width]``
        (Prompt Diffusion) each image's own ``[N, n_ctx, width]``."""
        return list(self.prompts) if contexts is None else list(contexts.unbind(1))

    def text(self, backbone, classnames, position: str = "end", contexts: torch.Tensor | None = None) -> torch.Tensor:
        """The frozen hand prompt's ``[C, D]`` (``[N, C, D]``, the same for every image, with per-image prompts)."""
        text = text_classifier(backbone, self.template, classnames).to(self.prompts.device)
        return text if contexts is None else text.unsqueeze(0).expand(contexts.shape[0], -1, -1)


def build_prompts(backbone, cfg: dict, ctx) -> VisualPrompts:
    layers, width = backbone.visual_prompt_geometry()
    if int(cfg["depth"]) > layers:
        raise DmpbenchError(f"vpt: depth {cfg['depth']} but the image tower of {backbone.name} has {layers} layers")
    return VisualPrompts(int(cfg["depth"]), int(cfg["n_ctx"]), width, cfg["text_prompt"], ctx.generator(offset=41))


def train_vpt(backbone, data: FewShotData, cfg: dict, ctx, desc: str = "vpt", context: None = None) -> tuple[dict, dict]:
    """``(state_dict with "prompts" [depth, n_ctx, width], {"optimizer_steps", "train_loss"})``: deep visual
    prompts trained on ``data``'s images with cross-entropy against the frozen text classifier."""
    module = build_prompts(backbone, cfg, ctx).to(ctx.device)
    text = module.text(backbone, data.classnames)
    labels = data.labels.to(ctx.device)

    def loss_of(images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        feats = normalize(backbone.encode_image(images, visual_prompts=module.visual()).float())
        return F.cross_entropy(backbone.logit_scale * feats @ text.T, labels[idx.to(ctx.device)])

    stats = train_on_images(data, cfg, ctx, module, loss_of, desc, offset=42)
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}, stats


@METHODS.register("vpt")
class VPT(ImagePromptLearner):
    """VPT: deep visual prompts in the image tower, the hand prompt as the text side"""

    name = "vpt"
    default_config = {**VPT_DEFAULTS, "convergence_check": False}
    world_defaults = {"mini": VPT_MINI}
    ranges = VPT_RANGES

    def build(self, cfg: dict) -> VisualPrompts:
        return build_prompts(self.backbone, cfg, self.ctx)

    shallow_context = None  # no text prompt: the text side is the frozen hand prompt
    per_image_prompt = "prompts"  # Prompt Diffusion over VPT diffuses the visual prompts (Prompt Diffusion section 4)
    train_module = staticmethod(train_vpt)
