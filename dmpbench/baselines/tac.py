"""TAC (Hao et al., CVPR 2025, "Task-aware clustering for prompting vision-language models"): PromptSRC-style
independent deep prompts in both towers plus task-aware cluster tokens: the label set's class embeddings are
clustered (k-means, 5 clusters) and learned linear maps turn the cluster centres into extra tokens of every
prompted layer of both towers, so the prompts adapt to the label set being classified (a new label set gets
new clusters at test time).

Recipe (TAC's ``configs/trainers/TAC/basetonovel.yaml`` and ``trainers/tac.py``, ``clip/model.py``): 5 text
context vectors from "a photo of a", 5 vision prompts, depth 12 in both towers, deep prompts N(0, 0.02); the
cluster tokens come first, then the learned tokens, at every prompted layer; loss = cross-entropy + 20 x
L1(prompted text features, frozen class embeddings) + 25 x L1(prompted image features, frozen image
features); dropout 0.3 on the image features in training; the weights used at test time are the uniform
average of each epoch's; SGD lr 0.0025, momentum 0.9, weight decay 5e-4, batch 8, 20 epochs after one
warm-up epoch at constant lr 1e-5, cosine.

Deviations, documented: TAC clusters class embeddings of LLM-written descriptions (files shipped with its
code, not available offline); ours cluster the class names' frozen embeddings averaged over CLIP's 80
ImageNet templates (the same target as the text L1 term), with scikit-learn's k-means on the L2-normalised
embeddings (TAC: kmeans_pytorch with cosine distance; k = min(5, classes)). TAC keeps the hand template
after the learned tokens and masks the patch tokens' attention to the cluster tokens in the vision tower;
ours replaces the template ("[clusters] X X X X X {classname}.") and inserts the cluster tokens as plain
prompt tokens (``backbones/vit_prompts.py``). No augmentation (TAC: 4 augmented views per image). Mini
world: depth 6 (text) and 4 (vision), all layers as TAC's 12 of 12, and 1,600 steps (``TAC_MINI``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dmpbench.baselines.base import FewShotData, normalize
from dmpbench.baselines.coop import COOP_RANGES
from dmpbench.baselines.image_prompting import ImagePromptLearner, context_rows, per_image_rows, train_on_images
from dmpbench.baselines.promptsrc import frozen_text_features
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS

TAC_DEFAULTS = {
    "n_ctx_text": 5,
    "n_ctx_vision": 5,
    "init": "a photo of a",
    "depth_text": 12,
    "depth_vision": 12,
    "clusters": 5,
    "text_loss_weight": 20.0,
    "image_loss_weight": 25.0,
    "feature_dropout": 0.3,
    "class_token_position": "end",
    "epochs": 20,
    "steps": 0,
    "lr": 0.0025,
    "batch_size": 8,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "warmup_lr": 1e-5,
}
TAC_RANGES = {**{k: v for k, v in COOP_RANGES.items() if k in TAC_DEFAULTS}, "n_ctx_text": ">=1", "n_ctx_vision": ">=1", "depth_text": ">=1",
              "depth_vision": ">=1", "clusters": ">=1", "text_loss_weight": ">=0", "image_loss_weight": ">=0", "feature_dropout": "0..1"}
#: mini world: all layers, and 1,600 optimiser steps: the recipe's 20 epochs (200-240 steps on a base split) gained
#: -0.7 / 3.5 / 1.7 at 2x on mini_flowers / letters / mnist, 800 steps 0.5 / -1.5 / 0.7, 1,600 steps -0.8 / -0.5 / 0.0
#: (benchmarks/learner_convergence.py)
TAC_MINI = {"depth_text": 6, "depth_vision": 4, "steps": 1600}


def cluster_centres(class_embeddings: torch.Tensor, k: int) -> torch.Tensor:
    """``[min(k, C), D]`` L2-normalised k-means centres of L2-normalised class embeddings (seeded, deterministic)."""
    from sklearn.cluster import KMeans

    x = normalize(class_embeddings.float()).cpu().numpy()
    km = KMeans(n_clusters=min(k, x.shape[0]), n_init=10, random_state=0).fit(x)
    return normalize(torch.from_numpy(km.cluster_centers_).float())


class TACPrompts(nn.Module):
    """Independent deep prompts of both towers and the maps from cluster centres to tokens of each tower."""

    label_aware = True  # the vision prompts depend on the label set (``visual(classnames)``)

    def __init__(self, backbone, context: torch.Tensor, cfg: dict, vision_width: int):
        super().__init__()
        k, d = context.shape
        self.context = nn.Parameter(context.clone())
        self.text_deep = nn.Parameter(torch.randn(int(cfg["depth_text"]) - 1, k, d) * 0.02)
        self.vision = nn.Parameter(torch.randn(int(cfg["depth_vision"]), int(cfg["n_ctx_vision"]), vision_width) * 0.02)
        self.to_text = nn.Linear(backbone.embed_dim, d)
        self.to_vision = nn.Linear(backbone.embed_dim, vision_width)
        self.n_clusters = int(cfg["clusters"])
        self._backbone = [backbone]  # (not a submodule: frozen, never saved with the prompts)
        self._centres: dict[tuple[str, ...], torch.Tensor] = {}

    def centres(self, classnames) -> torch.Tensor:
        key = tuple(classnames)
        if key not in self._centres:
            self._centres[key] = cluster_centres(frozen_text_features(self._backbone[0], list(classnames)), self.n_clusters)
        return self._centres[key].to(self.context.device)

    def visual(self, classnames, contexts: torch.Tensor | None = None) -> list[torch.Tensor]:
        tokens = self.to_vision(self.centres(classnames))
        return [torch.cat([tokens, layer]) for layer in self.vision]  # (independent of the text context)

    def text(self, backbone, classnames, position: str = "end", contexts: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.to_text(self.centres(classnames))
        ctx, names = context_rows(self.context, classnames, contexts)
        context = torch.cat([tokens, ctx]) if ctx.dim() == 2 else torch.cat([tokens.expand(ctx.shape[0], -1, -1), ctx], 1)
        deep = [torch.cat([tokens, layer]) for layer in self.text_deep]
        out = normalize(backbone.encode_with_context(context, names, position, text_prompts=deep).float())
        return per_image_rows(out, contexts, len(classnames))


def build_prompts(backbone, cfg: dict, seed: int, context: torch.Tensor | None = None) -> TACPrompts:
    layers, width = backbone.visual_prompt_geometry()
    if int(cfg["depth_vision"]) > layers:
        raise DmpbenchError(f"tac: depth_vision {cfg['depth_vision']} but the image tower of {backbone.name} has {layers} layers")
    k = int(cfg["n_ctx_text"])
    if context is not None:  # a prompt repository's initial context
        words = context.detach().float().cpu()
    else:
        words = backbone.token_embeddings(cfg["init"]).detach().float().cpu()
        if words.shape[0] < k:  # TAC takes the init's first n tokens; a shorter init is padded with N(0, 0.02) vectors
            gen = torch.Generator().manual_seed(int(seed) * 1000 + 59)
            words = torch.cat([words, torch.randn(k - words.shape[0], words.shape[1], generator=gen) * 0.02])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) * 1000 + 61)
        return TACPrompts(backbone, words[:k], cfg, width)


def train_tac(backbone, data: FewShotData, cfg: dict, ctx, desc: str = "tac", context: torch.Tensor | None = None) -> tuple[dict, dict]:
    """``(epoch-averaged state_dict of TACPrompts, {"optimizer_steps", "train_loss"})``."""
    prompts = build_prompts(backbone, cfg, ctx.seed, context).to(ctx.device)
    labels = data.labels.to(ctx.device)
    frozen_text = frozen_text_features(backbone, data.classnames).to(ctx.device)
    frozen_image = normalize(data.features.float()).to(ctx.device)

    def loss_of(images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(ctx.device)
        text = prompts.text(backbone, data.classnames, cfg["class_token_position"])
        raw = backbone.encode_image(images, visual_prompts=prompts.visual(data.classnames)).float()
        feats = normalize(F.dropout(raw, float(cfg["feature_dropout"]), training=True))
        return (F.cross_entropy(backbone.logit_scale * feats @ text.T, labels[idx]) + float(cfg["text_loss_weight"]) * F.l1_loss(text, frozen_text)
                + float(cfg["image_loss_weight"]) * F.l1_loss(feats, frozen_image[idx]))

    total: dict[str, torch.Tensor] = {}

    def epoch_end(epoch: int, epochs: int) -> None:  # TAC: the uniform average of every epoch's weights
        for key, value in prompts.state_dict().items():
            total[key] = total.get(key, 0) + value.detach().cpu() / epochs

    stats = train_on_images(data, cfg, ctx, prompts, loss_of, desc, offset=61, epoch_end=epoch_end)
    return total, stats


@METHODS.register("tac")
class TAC(ImagePromptLearner):
    """TAC: deep prompts in both towers with tokens from the label set's class clusters"""

    name = "tac"
    default_config = {**TAC_DEFAULTS, "convergence_check": False}
    world_defaults = {"mini": TAC_MINI}
    ranges = TAC_RANGES

    def build(self, cfg: dict) -> TACPrompts:
        return build_prompts(self.backbone, cfg, self.ctx.seed)

    train_module = staticmethod(train_tac)
    vision_follows_prompt = False  # independent vision prompts (the text context does not reach the image tower)
    features_follow_labels = True  # both towers' prompts carry tokens of the label set's clusters
    classes_independent = False

    @classmethod
    def context_length(cls, cfg: dict) -> int:
        return int(cfg["n_ctx_text"])
