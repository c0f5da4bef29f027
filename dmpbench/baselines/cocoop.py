"""CoCoOp (Zhou et al., CVPR 2022): CoOp's K context vectors plus a light meta-net that turns each image's
feature into a shift of every context vector, so each image gets its own prompt ("X X X X {classname}."
with ``ctx_k + π(x)``) and its own classifier.

Recipe (CoCoOp's ``configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml``, the base-to-new setting
DMP and Prompt Diffusion use): K = 4 context vectors initialised from "a photo of a"; meta-net
Linear(D, D/16) - ReLU - Linear(D/16, ctx_dim) on the L2-normalised image feature (CoCoOp's
``meta_net``); SGD lr 0.002, momentum 0.9, weight decay 5e-4, batch 1, 10 epochs after one warm-up epoch
at constant lr 1e-5, cosine schedule (CoOp's ``schedule`` / ``lr_at``). As for CoOp, training runs on the
cached features of the evaluation transform (no random-resized-crop/flip augmentation: documented
deviation, README "Protocol choices").

Mini world: the schedule by optimiser steps (``COCOOP_MINI``), see there for why.

Every test image is scored with its own classifier (``per_image``); treecut, which scores one classifier
per label set, refuses it. ``class_embeddings`` (the context without an image's shift) exists for the
interface and the convergence check's wording, never for a per-image task's metrics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dmpbench.baselines.base import FewShotData, LabelSet, Probe, PromptLearner, TrainingPool, normalize
from dmpbench.baselines.coop import COOP_RANGES, initial_contexts, lr_at, schedule
from dmpbench.baselines.fitting import cached_fit
from dmpbench.registry import METHODS

COCOOP_DEFAULTS = {
    "n_ctx": 4,
    "init": "a photo of a",
    "class_token_position": "end",
    "epochs": 10,
    "steps": 0,  # > 0: a schedule of this many optimiser steps (coop.schedule)
    "lr": 0.002,
    "batch_size": 1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "warmup_lr": 1e-5,
}
COCOOP_RANGES = {k: v for k, v in COOP_RANGES.items() if k in COCOOP_DEFAULTS}
#: The mini world's change: 800 optimiser steps at batch 4 (CoCoOp's batch 1 with 10 epochs gives 10 x
#: the training images: 960 steps on a 96-image base split, 3,760 on mini_objects' base split; a step
#: costs one text-tower pass per class and image, so batch 4 x 800 steps keeps the mini fit near CoOp's
#: cost, and the convergence check (1x vs 2x) reports whether it is enough.
COCOOP_MINI = {"steps": 800, "batch_size": 4}


class MetaNet(nn.Module):
    """CoCoOp's meta-net: image feature -> one shift added to every context vector."""

    def __init__(self, feat_dim: int, ctx_dim: int):
        super().__init__()
        hidden = max(1, feat_dim // 16)
        self.linear1 = nn.Linear(feat_dim, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Linear(hidden, ctx_dim)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.relu(self.linear1(feats)))


def per_image_embeddings(backbone, context: torch.Tensor, meta_net: nn.Module, feats: torch.Tensor, classnames: list[str],
                         position: str = "end", chunk: int = 64) -> torch.Tensor:
    """``[N, C, D]`` L2-normalised class embeddings, image n's prompt being ``context + meta_net(feats_n)``
    (``feats`` normalised ``[N, D]``); ``chunk`` images per text-tower call."""
    out, c = [], len(classnames)
    for start in range(0, feats.shape[0], chunk):
        f = feats[start : start + chunk]
        shifted = context.unsqueeze(0) + meta_net(f).unsqueeze(1)  # [n, K, d]
        text = backbone.encode_with_context(shifted.repeat_interleave(c, 0), classnames * f.shape[0], position)
        out.append(normalize(text.float()).view(f.shape[0], c, -1))
    return torch.cat(out)


def train_cocoop(backbone, data: FewShotData, cfg: dict, ctx, seed: int | None = None, desc: str = "cocoop") -> tuple[dict, dict]:
    """Train the context and the meta-net on ``data``; returns ``({"context": [K, d], "meta.<name>": ...},
    {"optimizer_steps", "train_loss"})`` (the loss: mean over the last epoch's steps)."""
    gen = ctx.generator(offset=31, seed=seed)
    feats = normalize(data.features.float()).to(ctx.device)
    labels = data.labels.to(ctx.device)
    names, n = list(data.classnames), labels.numel()
    context = nn.Parameter(initial_contexts(backbone, {**cfg, "csc": False}, 1, 0, gen)[0].to(ctx.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(ctx.seed if seed is None else seed) * 1000 + 37)
        meta = MetaNet(feats.shape[1], backbone.ctx_dim).to(ctx.device)
    opt = torch.optim.SGD([context, *meta.parameters()], lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    total, warmup, per_epoch = schedule(cfg, n)
    bs, scale = int(cfg["batch_size"]), backbone.logit_scale
    bar = ctx.bar(total=total, desc=f"{desc} {data.dataset}")
    order, losses = None, []
    for step in range(total):
        if step % per_epoch == 0:
            order = torch.randperm(n, generator=gen).to(ctx.device)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, total, warmup, per_epoch)
        b = step % per_epoch
        idx = order[b * bs : (b + 1) * bs]
        with ctx.autocast():
            text = per_image_embeddings(backbone, context, meta, feats[idx], names, cfg["class_token_position"])
            loss = F.cross_entropy(scale * torch.einsum("bd,bcd->bc", feats[idx], text), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        losses.append(loss.item())
    bar.close()
    tail = losses[-per_epoch:]
    state = {"context": context.detach().cpu(), **{f"meta.{k}": v.detach().cpu() for k, v in meta.state_dict().items()}}
    return state, {"optimizer_steps": total, "train_loss": sum(tail) / len(tail)}


def train_cocoop_batch(backbone, data: FewShotData, cfg: dict, ctx, init: torch.Tensor, seed: int, desc: str = "repository") -> torch.Tensor:
    """``[R, K, d]`` contexts of R CoCoOp fits from ``init`` ``[R, K, d]``, each with its own meta-net."""
    gen = ctx.generator(offset=31, seed=seed)
    feats = normalize(data.features.float()).to(ctx.device)
    labels = data.labels.to(ctx.device)
    names, n, (r, k, d) = list(data.classnames), labels.numel(), init.shape
    contexts = nn.Parameter(init.float().to(ctx.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) * 1000 + 37)
        nets = [MetaNet(feats.shape[1], backbone.ctx_dim) for _ in range(r)]
    w1, b1, w2, b2 = (nn.Parameter(torch.stack([get(m) for m in nets]).to(ctx.device)) for get in (
        lambda m: m.linear1.weight.T, lambda m: m.linear1.bias, lambda m: m.linear2.weight.T, lambda m: m.linear2.bias))
    opt = torch.optim.SGD([contexts, w1, b1, w2, b2], lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    total, warmup, per_epoch = schedule(cfg, n)
    bs, scale, c = int(cfg["batch_size"]), backbone.logit_scale, len(names)
    bar = ctx.bar(total=total, desc=f"{desc} {data.dataset} x{r}")
    order = None
    for step in range(total):
        if step % per_epoch == 0:
            order = torch.randperm(n, generator=gen).to(ctx.device)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, total, warmup, per_epoch)
        b = step % per_epoch
        idx = order[b * bs : (b + 1) * bs]
        f = feats[idx]
        with ctx.autocast():
            hidden = torch.relu(torch.einsum("bd,rdh->rbh", f, w1) + b1[:, None])
            shift = torch.einsum("rbh,rhk->rbk", hidden, w2) + b2[:, None]  # [R, B, ctx_dim]
            prompts = (contexts[:, None] + shift[:, :, None]).reshape(-1, k, d)  # [R * B, K, d]
            text = backbone.encode_with_context(prompts.repeat_interleave(c, 0), names * prompts.shape[0], cfg["class_token_position"])
            text = normalize(text.float()).view(r, f.shape[0], c, -1)
            logits = scale * torch.einsum("bd,rbcd->rbc", f, text)
            loss = F.cross_entropy(logits.reshape(-1, c), labels[idx].repeat(r)) * r
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
    bar.close()
    return contexts.detach().cpu()


@METHODS.register("cocoop")
class CoCoOp(PromptLearner):
    """CoCoOp: CoOp's context shifted per image by a meta-net"""

    name = "cocoop"
    per_image = True
    default_config = {**COCOOP_DEFAULTS, "convergence_check": False}
    audit_settings = ("convergence_check",)
    world_defaults = {"mini": COCOOP_MINI}
    ranges = COCOOP_RANGES
    #: a variant's repository in the mini world: 16 inits x 100 steps x batch 4 (a step costs inits x batch x
    #: classes text-tower passes). Provisional: chosen for cost, its convergence not yet measured (no
    #: dmp_cocoop records exist yet; README "Methods").
    repository_recipe = {"mini": {"steps": 100, "batch_size": 4, "lr": 0.008}}

    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        self.data = data
        states, stats = self._train(data)
        self.context, self.meta_net = self._unpack(states["1x"])
        self.ctx.audit["optimizer_steps"] = stats["optimizer_steps_1x"]
        self.ctx.audit["train_loss"] = stats["train_loss_1x"]
        self.check = (self._unpack(states["2x"]), stats) if "2x" in states else None

    def _unpack(self, state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, MetaNet]:
        meta = MetaNet(state["meta.linear1.weight"].shape[1], state["context"].shape[1])
        meta.load_state_dict({k.removeprefix("meta."): v for k, v in state.items() if k.startswith("meta.")})
        return state["context"].to(self.ctx.device), meta.to(self.ctx.device).eval()

    def _train(self, data: FewShotData) -> tuple[dict[str, dict], dict]:
        """The trained weights (and, with ``convergence_check``, the 2x ones), cached (``fitting.cached_fit``)."""
        return cached_fit(self, data, lambda cfg, run: train_cocoop(self.backbone, data, cfg, self.ctx, desc=f"cocoop {run}"))

    # -- answers ------------------------------------------------------------------------------------
    def _per_image(self, weights, classnames, image_features: torch.Tensor) -> torch.Tensor:
        context, meta = weights
        feats = normalize(image_features.float()).to(self.ctx.device)
        return per_image_embeddings(self.backbone, context, meta, feats, list(classnames), self.config["class_token_position"]).unsqueeze(0)

    def image_class_embeddings(self, labels: LabelSet, image_features: torch.Tensor) -> torch.Tensor:
        return self._per_image((self.context, self.meta_net), labels.classnames, image_features)

    def image_prompts(self, image_features: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``context + meta_net(x)`` for each image (the learned context, or ``context``: a generated one)."""
        feats = normalize(image_features.float()).to(self.ctx.device)
        context = self.context if context is None else context.float()
        return context.unsqueeze(0) + self.meta_net(feats).unsqueeze(1)

    @classmethod
    def train_repository(cls, backbone, data, cfg, ctx, init, seed):
        """R CoCoOp fits at once, each init with its own meta-net (stacked weights; the summed loss gives
        each fit its own gradient); the contexts are returned, the meta-nets dropped."""
        return train_cocoop_batch(backbone, data, cfg, ctx, init, seed)

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        """The context without an image's shift (tasks that score per image use ``image_class_embeddings``)."""
        emb = self.backbone.encode_with_context(self.context, list(labels.classnames), self.config["class_token_position"])
        return normalize(emb.float()).unsqueeze(0)

    def probes(self) -> list[Probe]:
        """With ``convergence_check``: accuracy on the trained label set's test images and training loss at
        1x and 2x the training (``audit["convergence"]``), each image scored with its own classifier."""
        if self.check is None:
            return []
        weights2, extra = self.check
        names = tuple(self.data.classnames)
        return [Probe("convergence", LabelSet(names, self.data.dataset), self.data.split,
                      {"acc_1x": lambda f: self._per_image((self.context, self.meta_net), names, f),
                       "acc_2x": lambda f: self._per_image(weights2, names, f)}, extra, per_image=True)]
