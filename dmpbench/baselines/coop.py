"""CoOp (Zhou et al., IJCV 2022): K context vectors learned in the text encoder's token-embedding space,
in front of the class name ("X X X X {classname}."), through the backbone's ``encode_with_context``.

Recipe (CoOp's ``configs/trainers/CoOp/vit_b16_ep50.yaml``, the K=4 setting CoCoOp uses for
base-to-new, which DMP follows): SGD, lr 0.002, momentum 0.9, weight decay 5e-4, batch 32, cosine
schedule over 50 epochs after one warm-up epoch at constant lr 1e-5; context initialised from
"a photo of a". Deviation, documented: training runs on cached image features of the evaluation
transform, without CoOp's random-resized-crop/flip augmentation, so that the same training is cheap
enough to repeat for DMP's 40-initialisation repository.

``train_contexts`` trains R initialisations at once (one batched text-encoder pass per step; the summed
loss gives each context exactly its own gradient), which is how DMP builds its prompt repository.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dmpbench.backbones.base import Backbone
from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, TrainingPool, normalize
from dmpbench.context import RunContext
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS

COOP_DEFAULTS = {
    "n_ctx": 4,
    "init": "a photo of a",  # "" = random N(0, 0.02) init as CoOp's random option
    "csc": False,  # class-specific context
    "class_token_position": "end",
    "epochs": 50,
    "lr": 0.002,
    "batch_size": 32,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "warmup_lr": 1e-5,
}
#: bounds of the recipe's settings (types come from the defaults; see ``dmpbench.config``)
COOP_RANGES = {
    "n_ctx": ">=1", "class_token_position": ("end", "middle", "front"), "epochs": ">=1", "lr": ">0", "batch_size": ">=1",
    "momentum": "0..1", "weight_decay": ">=0", "warmup_epochs": ">=0", "warmup_lr": ">=0",
}


def initial_contexts(backbone: Backbone, cfg: dict, n_inits: int, n_classes: int, generator: torch.Generator) -> torch.Tensor:
    """``[R, K, d]`` (or ``[R, C, K, d]`` with class-specific context)."""
    k, d = int(cfg["n_ctx"]), backbone.ctx_dim
    shape = (n_inits, n_classes, k, d) if cfg["csc"] else (n_inits, k, d)
    if cfg["init"]:
        words = backbone.token_embeddings(cfg["init"]).detach().float().cpu()
        if words.shape[0] != k:
            raise DmpbenchError(f"coop: init {cfg['init']!r} has {words.shape[0]} tokens but n_ctx is {k}")
        return words.expand(*shape).clone()
    return torch.randn(*shape, generator=generator) * 0.02


def lr_at(epoch: int, cfg: dict) -> float:
    """Dassl's cosine schedule with a constant warm-up (lr per epoch)."""
    if epoch < cfg["warmup_epochs"]:
        return float(cfg["warmup_lr"])
    return 0.5 * cfg["lr"] * (1 + math.cos(math.pi * (epoch - cfg["warmup_epochs"]) / max(1, cfg["epochs"] - cfg["warmup_epochs"]) ))


def train_contexts(
    backbone: Backbone, data: FewShotData, cfg: dict, ctx: RunContext, n_inits: int = 1, init: torch.Tensor | None = None,
    desc: str = "coop", seed: int | None = None,
) -> torch.Tensor:
    """Train ``n_inits`` CoOp contexts on ``data``; returns ``[R, K, d]`` (``[R, C, K, d]`` with csc).
    Initialisation and batch order come from ``seed`` (default: the run's seed)."""
    gen = ctx.generator(offset=17, seed=seed)
    n_classes = len(data.classnames)
    start = init if init is not None else initial_contexts(backbone, cfg, n_inits, n_classes, gen)
    params = torch.nn.Parameter(start.to(ctx.device).float())
    opt = torch.optim.SGD([params], lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    feats = normalize(data.features.float()).to(ctx.device)
    labels = data.labels.to(ctx.device)
    n, r = labels.numel(), params.shape[0]
    names = list(data.classnames) * r
    scale = backbone.logit_scale
    batches_per_epoch = max(1, math.ceil(n / cfg["batch_size"]))
    bar = ctx.bar(total=cfg["epochs"] * batches_per_epoch, desc=f"{desc} {data.dataset} x{r}")
    for epoch in range(int(cfg["epochs"])):
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch, cfg)
        order = torch.randperm(n, generator=gen).to(ctx.device)
        for b in range(batches_per_epoch):
            idx = order[b * cfg["batch_size"] : (b + 1) * cfg["batch_size"]]
            with ctx.autocast():
                flat = params.unsqueeze(1).expand(r, n_classes, *params.shape[1:]) if not cfg["csc"] else params
                text = backbone.encode_with_context(flat.reshape(r * n_classes, *flat.shape[2:]), names, cfg["class_token_position"])
                text = normalize(text.float()).view(r, n_classes, -1)
                logits = scale * torch.einsum("bd,rcd->rbc", feats[idx], text)
                loss = F.cross_entropy(logits.reshape(-1, n_classes), labels[idx].repeat(r), reduction="mean") * r
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update(1)
        bar.set_postfix(loss=f"{loss.item() / r:.3f}")
    bar.close()
    return params.detach().cpu()


#: The mini world's change to the recipe: batch 128 with the learning rate scaled linearly (x4), so that
#: a CoOp fit costs seconds on a laptop CPU (the text tower runs once per step for every class and
#: every initialisation); epochs, schedule and everything else stay CoOp's.
COOP_MINI = {"batch_size": 128, "lr": 0.008}


@METHODS.register("coop")
class CoOp(ClassificationMethod):
    """CoOp: K learned context vectors in front of the class name."""

    name = "coop"
    default_config = dict(COOP_DEFAULTS)
    world_defaults = {"mini": COOP_MINI}
    ranges = COOP_RANGES

    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        self.trained_on = list(data.classnames)
        self.context = train_contexts(self.backbone, data, self.config, self.ctx, n_inits=1)[0]

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        ctx_vectors = self.context.to(self.ctx.device)
        if self.config["csc"] and list(labels.classnames) != self.trained_on:
            raise DmpbenchError("coop with class-specific context (csc) can only classify the classes it was trained on")
        emb = self.backbone.encode_with_context(ctx_vectors, list(labels.classnames), self.config["class_token_position"])
        return normalize(emb.float()).unsqueeze(0)
