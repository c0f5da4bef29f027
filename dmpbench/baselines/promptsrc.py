"""PromptSRC (Khattak et al., ICCV 2023): independent deep prompts in both towers (IVLP) regularised by the
frozen model (self-regulating constraints) and averaged over epochs with Gaussian weights.

Recipe (PromptSRC's ``configs/trainers/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml`` and
``trainers/promptsrc.py``): 4 text context vectors from "a photo of a" plus deep text prompts N(0, 0.02)
at text layers 1..8, 4 visual prompts N(0, 0.02) at vision layers 0..8 (depth 9 in both); the loss is
cross-entropy + 25 x L1(prompted text features, frozen text features of the class names averaged over
CLIP's 80 ImageNet templates (open_clip's ``OPENAI_IMAGENET_TEMPLATES``)) + 10 x L1(prompted image
features, frozen image features) + KL(prompted logits, frozen zero-shot logits) (summed, divided by the
logits' size); SGD lr 0.0025, momentum 0.9, weight decay 5e-4, batch 4, 20 epochs after one warm-up epoch
at constant lr 1e-5, cosine; Gaussian prompt aggregation (GPA): the prompts used at test time are the
average of each epoch's prompts weighted by N(epoch; 15, 1) normalised over the epochs. The frozen image
features are the feature cache's (the same frozen tower, the same images). Deviations, documented: no
augmentation (as for CoOp); the context replaces the whole hand template ("X X X X {classname}.", as
CoOp). Mini world: depth 3 in both towers (of 4 vision and 6 text layers), ``PROMPTSRC_MINI``; the
schedule (20 epochs) and GPA as the recipe.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dmpbench.baselines.base import FewShotData, normalize
from dmpbench.baselines.coop import COOP_RANGES
from dmpbench.baselines.image_prompting import ImagePromptLearner, context_rows, initial_words, per_image_rows, train_on_images
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS

PROMPTSRC_DEFAULTS = {
    "n_ctx_text": 4,
    "n_ctx_vision": 4,
    "init": "a photo of a",
    "depth_text": 9,
    "depth_vision": 9,
    "text_loss_weight": 25.0,
    "image_loss_weight": 10.0,
    "gpa_mean": 15.0,  # in epochs (counted from 1)
    "gpa_std": 1.0,
    "class_token_position": "end",
    "epochs": 20,
    "steps": 0,
    "lr": 0.0025,
    "batch_size": 4,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "warmup_lr": 1e-5,
}
PROMPTSRC_RANGES = {**{k: v for k, v in COOP_RANGES.items() if k in PROMPTSRC_DEFAULTS}, "n_ctx_text": ">=1", "n_ctx_vision": ">=1",
                    "depth_text": ">=1", "depth_vision": ">=1", "text_loss_weight": ">=0", "image_loss_weight": ">=0", "gpa_mean": ">=0",
                    "gpa_std": ">0"}
PROMPTSRC_MINI = {"depth_text": 3, "depth_vision": 3}


class IVLPPrompts(nn.Module):
    """Independent vision-language prompts: text context ``[K, d]``, deep text ``[Jt-1, K, d]``, vision ``[Jv, Kv, w]``."""

    def __init__(self, context: torch.Tensor, depth_text: int, depth_vision: int, n_vision: int, vision_width: int):
        super().__init__()
        k, d = context.shape
        self.context = nn.Parameter(context.clone())
        self.text_deep = nn.Parameter(torch.randn(depth_text - 1, k, d) * 0.02)
        self.vision = nn.Parameter(torch.randn(depth_vision, n_vision, vision_width) * 0.02)

    def visual(self, contexts: torch.Tensor | None = None) -> list[torch.Tensor]:
        return list(self.vision)  # (independent of the text context)

    def text(self, backbone, classnames, position: str = "end", contexts: torch.Tensor | None = None) -> torch.Tensor:
        ctx, names = context_rows(self.context, classnames, contexts)
        out = normalize(backbone.encode_with_context(ctx, names, position, text_prompts=list(self.text_deep)).float())
        return per_image_rows(out, contexts, len(classnames))


def build_prompts(backbone, cfg: dict, seed: int, context: torch.Tensor | None = None) -> IVLPPrompts:
    layers, width = backbone.visual_prompt_geometry()
    if int(cfg["depth_vision"]) > layers:
        raise DmpbenchError(f"promptsrc: depth_vision {cfg['depth_vision']} but the image tower of {backbone.name} has {layers} layers")
    k = int(cfg["n_ctx_text"])
    words = initial_words(backbone, cfg["init"], k, "promptsrc", "n_ctx_text") if context is None else context.detach().float().cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) * 1000 + 47)
        return IVLPPrompts(words, int(cfg["depth_text"]), int(cfg["depth_vision"]), int(cfg["n_ctx_vision"]), width)


_FROZEN_TEXT: dict[tuple, torch.Tensor] = {}


def frozen_text_features(backbone, classnames) -> torch.Tensor:
    """``[C, D]`` L2-normalised mean over CLIP's 80 ImageNet templates of each class name's frozen text feature
    (kept in memory per frozen backbone and class names: PromptSRC and TAC ask for it at every fit and label set)."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    key = (backbone.cache_key, tuple(classnames))
    if key not in _FROZEN_TEXT:
        with torch.no_grad():
            per_template = [normalize(backbone.encode_text([t(c) for c in classnames]).float()) for t in OPENAI_IMAGENET_TEMPLATES]
        _FROZEN_TEXT[key] = normalize(torch.stack(per_template).mean(0)).cpu()
    return _FROZEN_TEXT[key]


def gpa_weights(epochs: int, mean: float, std: float) -> list[float]:
    """PromptSRC's Gaussian prompt aggregation: epoch e (1..epochs) weighted by N(e; mean, std), normalised."""
    g = [math.exp(-0.5 * ((e - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi)) for e in range(1, epochs + 1)]
    total = sum(g)
    if total == 0:
        raise DmpbenchError(f"promptsrc: gpa_mean {mean} is too far from the {epochs} epochs for any weight")
    return [x / total for x in g]


def train_promptsrc(backbone, data: FewShotData, cfg: dict, ctx, desc: str = "promptsrc", context: torch.Tensor | None = None) -> tuple[dict, dict]:
    """``(GPA state_dict of IVLPPrompts, {"optimizer_steps", "train_loss"})``."""
    prompts = build_prompts(backbone, cfg, ctx.seed, context).to(ctx.device)
    labels = data.labels.to(ctx.device)
    frozen_text = frozen_text_features(backbone, data.classnames).to(ctx.device)
    frozen_image = normalize(data.features.float()).to(ctx.device)  # the frozen tower's features of the same images
    scale = backbone.logit_scale

    def loss_of(images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(ctx.device)
        text = prompts.text(backbone, data.classnames, cfg["class_token_position"])
        feats = normalize(backbone.encode_image(images, visual_prompts=prompts.visual()).float())
        logits = scale * feats @ text.T
        zero_shot = scale * frozen_image[idx] @ frozen_text.T
        kl = F.kl_div(F.log_softmax(logits, 1), F.log_softmax(zero_shot, 1), reduction="sum", log_target=True) / logits.numel()
        return (F.cross_entropy(logits, labels[idx]) + float(cfg["text_loss_weight"]) * F.l1_loss(text, frozen_text)
                + float(cfg["image_loss_weight"]) * F.l1_loss(feats, frozen_image[idx]) + kl)

    aggregate: dict[str, torch.Tensor] = {}

    def epoch_end(epoch: int, epochs: int) -> None:
        w = gpa_weights(epochs, float(cfg["gpa_mean"]), float(cfg["gpa_std"]))[epoch - 1]
        for k, v in prompts.state_dict().items():
            aggregate[k] = aggregate.get(k, 0) + w * v.detach().cpu()

    stats = train_on_images(data, cfg, ctx, prompts, loss_of, desc, offset=47, epoch_end=epoch_end)
    return aggregate, stats


@METHODS.register("promptsrc")
class PromptSRC(ImagePromptLearner):
    """PromptSRC: deep prompts in both towers kept close to the frozen model, averaged over epochs"""

    name = "promptsrc"
    default_config = {**PROMPTSRC_DEFAULTS, "convergence_check": False}
    world_defaults = {"mini": PROMPTSRC_MINI}
    ranges = PROMPTSRC_RANGES

    def build(self, cfg: dict) -> IVLPPrompts:
        return build_prompts(self.backbone, cfg, self.ctx.seed)

    train_module = staticmethod(train_promptsrc)
    vision_follows_prompt = False  # independent vision prompts (the text context does not reach the image tower)

    @classmethod
    def context_length(cls, cfg: dict) -> int:
        return int(cfg["n_ctx_text"])
