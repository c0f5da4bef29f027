"""VPT (Jia et al., ECCV 2022) on CLIP, as the prompt learners Prompt Diffusion builds on use it: deep
visual prompts, ``n_ctx`` learned tokens at the input of each of the first ``depth`` vision transformer
layers (``backbones/vit_prompts.py``: the one insertion rule of both worlds), with the text side the frozen
hand prompt. The class embeddings do not change; the image features do.

Recipe (the multimodal-prompt-learning codebase's ``configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml``,
the VPT that MaPLe, PromptSRC and Prompt Diffusion compare with): 8 tokens in all 12 layers of ViT-B/16,
initialised N(0, 0.02); text prompt "a photo of a {}."; SGD lr 0.0025, momentum 0.9, weight decay 5e-4,
batch 4, 5 epochs after one warm-up epoch at constant lr 1e-5, cosine schedule (CoOp's ``schedule`` /
``lr_at``). Deviation, as for CoOp: no random-resized-crop/flip augmentation (the images go through the
evaluation transform). Mini world: all 4 layers of the mini ViT (``VPT_MINI``).

The method prompts the image tower (``encodes_images``): it trains on the K-shot images themselves and
the task scores it on the test images encoded with its prompts, not on the feature cache.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, Probe, TrainingPool, normalize
from dmpbench.baselines.coop import COOP_RANGES, lr_at, schedule
from dmpbench.baselines.fitting import cached_fit
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
#: the mini ViT has 4 layers: prompts in all of them (ViT-B/16's recipe prompts all 12)
VPT_MINI = {"depth": 4}


def text_classifier(backbone, template: str, classnames) -> torch.Tensor:
    """``[C, D]`` L2-normalised embeddings of the frozen hand prompt."""
    with torch.no_grad():
        return normalize(backbone.encode_text([template.format(c) for c in classnames]).float())


def train_vpt(backbone, data: FewShotData, cfg: dict, ctx, desc: str = "vpt") -> tuple[dict, dict]:
    """``({"prompts": [depth, n_ctx, width]}, {"optimizer_steps", "train_loss"})``: deep visual prompts trained
    on ``data``'s images with cross-entropy against the frozen text classifier."""
    gen = ctx.generator(offset=41)
    if data.images is None:
        raise ValueError(f"vpt: the training data of {data.dataset} carries no images")
    text = text_classifier(backbone, cfg["text_prompt"], data.classnames).to(ctx.device)
    labels, n = data.labels.to(ctx.device), data.labels.numel()
    layers, width = backbone.visual_prompt_geometry()
    if int(cfg["depth"]) > layers:
        raise DmpbenchError(f"vpt: depth {cfg['depth']} but the image tower of {backbone.name} has {layers} layers")
    prompts = nn.Parameter(torch.randn(int(cfg["depth"]), int(cfg["n_ctx"]), width, generator=gen).mul(0.02).to(ctx.device))
    opt = torch.optim.SGD([prompts], lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    total, warmup, per_epoch = schedule(cfg, n)
    bs, scale = int(cfg["batch_size"]), backbone.logit_scale
    bar = ctx.bar(total=total, desc=f"{desc} {data.dataset}")
    order, losses = None, []
    for step in range(total):
        if step % per_epoch == 0:
            order = torch.randperm(n, generator=gen)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, total, warmup, per_epoch)
        b = step % per_epoch
        idx = order[b * bs : (b + 1) * bs]
        images = data.images.load(idx.tolist()).to(ctx.device)
        with ctx.autocast():
            feats = normalize(backbone.encode_image(images, visual_prompts=list(prompts)).float())
            loss = F.cross_entropy(scale * feats @ text.T, labels[idx.to(ctx.device)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        losses.append(loss.item())
    bar.close()
    tail = losses[-per_epoch:]
    return {"prompts": prompts.detach().cpu()}, {"optimizer_steps": total, "train_loss": sum(tail) / len(tail)}


@METHODS.register("vpt")
class VPT(ClassificationMethod):
    """VPT: deep visual prompts in the image tower, the hand prompt as the text side"""

    name = "vpt"
    encodes_images = True
    default_config = {**VPT_DEFAULTS, "convergence_check": False}
    audit_settings = ("convergence_check",)
    world_defaults = {"mini": VPT_MINI}
    ranges = VPT_RANGES

    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        self.data = data
        weights, stats = cached_fit(self, data, lambda cfg, run: train_vpt(self.backbone, data, cfg, self.ctx, desc=f"vpt {run}"))
        self.prompts = weights["1x"]["prompts"].to(self.ctx.device)
        self.ctx.audit["optimizer_steps"] = stats["optimizer_steps_1x"]
        self.ctx.audit["train_loss"] = stats["train_loss_1x"]
        self.check = (weights["2x"]["prompts"].to(self.ctx.device), stats) if "2x" in weights else None

    def _features(self, prompts: torch.Tensor, images) -> torch.Tensor:
        return images.encode(lambda x: self.backbone.encode_image(x.to(self.ctx.device), visual_prompts=list(prompts)),
                             progress=self.ctx.progress, desc="vpt image features")

    def image_features(self, images) -> torch.Tensor:
        return self._features(self.prompts, images)

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        return text_classifier(self.backbone, self.config["text_prompt"], labels.classnames).unsqueeze(0)

    def probes(self) -> list[Probe]:
        """With ``convergence_check``: accuracy on the trained label set's test images (encoded with the 1x and
        the 2x prompts) and the training loss at both (``audit["convergence"]``)."""
        if self.check is None:
            return []
        prompts2, extra = self.check
        labels = LabelSet(tuple(self.data.classnames), self.data.dataset)
        emb = lambda: self.class_embeddings(labels)  # noqa: E731
        return [Probe("convergence", labels, self.data.split,
                      {"acc_1x": lambda images: (self._features(self.prompts, images), emb()),
                       "acc_2x": lambda images: (self._features(prompts2, images), emb())}, extra, encodes_images=True)]
