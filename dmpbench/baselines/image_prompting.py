"""The training loop every learner that prompts the image tower shares (VPT, MaPLe, PromptSRC): batches of
the K-shot images (``FewShotData.images``, decoded on demand), Dassl's SGD with a constant warm-up and a
cosine schedule (CoOp's ``schedule`` / ``lr_at``), a learner-given loss, and an optional end-of-epoch hook
(PromptSRC's Gaussian prompt aggregation)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Callable

import torch
from torch import nn

from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, Probe, TrainingPool
from dmpbench.baselines.coop import lr_at, schedule
from dmpbench.baselines.fitting import cached_fit


def train_on_images(data: FewShotData, cfg: dict, ctx, module: nn.Module, loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    desc: str, offset: int, epoch_end: Callable[[int, int], None] | None = None) -> dict:
    """Train ``module``'s parameters with ``loss_of(images, batch indices)``; returns ``{"optimizer_steps",
    "train_loss"}`` (the loss: mean over the last epoch's steps). ``epoch_end(epoch, epochs)`` runs after
    each pass (epochs counted from 1; a last, partial pass counts as one). Batch order comes from the run's seed and ``offset``."""
    if data.images is None:
        raise ValueError(f"{desc}: the training data of {data.dataset} carries no images")
    gen = ctx.generator(offset=offset)
    n = data.labels.numel()
    opt = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=cfg["lr"], momentum=cfg["momentum"],
                          weight_decay=cfg["weight_decay"])
    total, warmup, per_epoch = schedule(cfg, n)
    bs = int(cfg["batch_size"])
    bar = ctx.bar(total=total, desc=f"{desc} {data.dataset}")
    order, losses = None, []
    module.train()
    for step in range(total):
        if step % per_epoch == 0:
            order = torch.randperm(n, generator=gen)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, total, warmup, per_epoch)
        b = step % per_epoch
        idx = order[b * bs : (b + 1) * bs]
        images = data.images.load(idx.tolist()).to(ctx.device)
        with ctx.autocast():
            loss = loss_of(images, idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        losses.append(loss.item())
        if epoch_end is not None and (b == per_epoch - 1 or step == total - 1):  # (a step-defined schedule may end mid-pass)
            epoch_end(step // per_epoch + 1, -(-total // per_epoch))
    bar.close()
    module.eval()
    tail = losses[-per_epoch:]
    return {"optimizer_steps": total, "train_loss": sum(tail) / len(tail)}


class ImagePromptLearner(ClassificationMethod):
    """What VPT, MaPLe and PromptSRC share: a prompt module (``build``: an ``nn.Module`` with ``visual()`` -> the
    per-layer vision prompts and ``text(backbone, classnames, position)`` -> ``[C, D]`` normalised class
    embeddings), trained by ``train_fit`` and cached (``fitting.cached_fit``, with the 1x-vs-2x
    convergence check), the test images encoded through the prompted tower."""

    encodes_images = True
    audit_settings = ("convergence_check",)

    @abstractmethod
    def build(self, cfg: dict) -> nn.Module:
        """The prompt module, initialised from the run's seed (the same init for the 1x and 2x fits)."""

    @abstractmethod
    def train_fit(self, data: FewShotData, cfg: dict, run: str) -> tuple[dict[str, torch.Tensor], dict]:
        """Train a fresh module on ``data`` with ``cfg``: ``(its state_dict, {"optimizer_steps", "train_loss"})``."""

    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        self.data = data
        weights, stats = cached_fit(self, data, lambda cfg, run: self.train_fit(data, cfg, run))
        self.prompts = self._load(weights["1x"])
        self.ctx.audit["optimizer_steps"] = stats["optimizer_steps_1x"]
        self.ctx.audit["train_loss"] = stats["train_loss_1x"]
        self.check = (self._load(weights["2x"]), stats) if "2x" in weights else None

    def _load(self, state: dict[str, torch.Tensor]) -> nn.Module:
        module = self.build(self.config)
        module.load_state_dict(state)
        return module.to(self.ctx.device).eval()

    def _features(self, prompts: nn.Module, images, labels: LabelSet) -> torch.Tensor:
        """The test images through the prompted tower (and the module's ``adapt_image``, when it has one: CoPrompt);
        a module whose vision prompts depend on the label set (TAC) takes it in ``visual(classnames)``."""
        with torch.no_grad():
            visual = [p.detach() for p in (prompts.visual(labels.classnames) if getattr(prompts, "label_aware", False) else prompts.visual())]
        adapt = getattr(prompts, "adapt_image", lambda f: f)
        return images.encode(lambda x: adapt(self.backbone.encode_image(x.to(self.ctx.device), visual_prompts=visual).float()),
                             progress=self.ctx.progress, desc=f"{self.name} image features")

    def _text(self, prompts: nn.Module, classnames) -> torch.Tensor:
        with torch.no_grad():
            return prompts.text(self.backbone, classnames, self.config.get("class_token_position", "end")).unsqueeze(0)

    def image_features(self, images, labels: LabelSet) -> torch.Tensor:
        return self._features(self.prompts, images, labels)

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        return self._text(self.prompts, labels.classnames)

    def probes(self) -> list[Probe]:
        """With ``convergence_check``: accuracy on the trained label set's test images (both towers prompted) and
        training loss with the 1x and the 2x prompts (``audit["convergence"]``)."""
        if self.check is None:
            return []
        prompts2, extra = self.check
        labels = LabelSet(tuple(self.data.classnames), self.data.dataset)
        scored = lambda prompts: lambda images: (self._features(prompts, images, labels), self._text(prompts, labels.classnames))  # noqa: E731
        return [Probe("convergence", labels, self.data.split,
                      {"acc_1x": scored(self.prompts), "acc_2x": scored(prompts2)}, extra, encodes_images=True)]
