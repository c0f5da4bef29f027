"""What every learner that prompts the image tower shares (VPT, MaPLe, PromptSRC, CoPrompt, TAC): the training
loop (batches of the K-shot images, ``FewShotData.images``, decoded on demand; Dassl's SGD with a constant
warm-up and a cosine schedule, CoOp's ``schedule`` / ``lr_at``; a learner-given loss; an optional end-of-epoch
hook, PromptSRC's Gaussian prompt aggregation), the cached fit, and what the generated-prompt variants need
(``dmp_maple`` ...; DMP A.9): the shallow text context swapped for a given one while the learner's other weights
stay as learned, and a prompt repository of R fits from R initial contexts.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import abstractmethod
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from dmpbench.baselines.base import FewShotData, LabelSet, Probe, PromptLearner, TrainingPool, normalize
from dmpbench.baselines.coop import lr_at, schedule
from dmpbench.baselines.fitting import cached_fit
from dmpbench.errors import DmpbenchError


def initial_words(backbone, init: str, k: int, learner: str, setting: str) -> torch.Tensor:
    """``[k, d]``: the first ``k`` token embeddings of the init words (the learners' hand initialisation)."""
    words = backbone.token_embeddings(init).detach().float().cpu()
    if words.shape[0] < k:
        raise DmpbenchError(f"{learner}: init {init!r} has {words.shape[0]} tokens, fewer than {setting} {k}")
    return words[:k]


def context_rows(context: torch.Tensor, classnames, contexts: torch.Tensor | None) -> tuple[torch.Tensor, list[str]]:
    """What a module's ``text`` hands ``encode_with_context``: its own context ``[K, d]`` and the class names, or, with
    per-image ``contexts`` ``[N, K, d]`` (Prompt Diffusion), each image's context once per class ``[N*C, K, d]`` (the
    class-specific path) and the names N times."""
    if contexts is None:
        return context, list(classnames)
    return contexts.repeat_interleave(len(classnames), 0), list(classnames) * contexts.shape[0]


def per_image_rows(text: torch.Tensor, contexts: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    """``[C, D]`` as it is, or the ``[N*C, D]`` rows of per-image contexts as ``[N, C, D]``."""
    return text if contexts is None else text.view(contexts.shape[0], n_classes, -1)


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


class ImagePromptLearner(PromptLearner):
    """What VPT, MaPLe, PromptSRC, CoPrompt and TAC share: a prompt module (``build``: an ``nn.Module`` with
    ``visual()`` -> the per-layer vision prompts and ``text(backbone, classnames, position)`` -> ``[C, D]``
    normalised class embeddings), trained by ``train_module`` and cached (``fitting.cached_fit``, with the
    1x-vs-2x convergence check), the test images encoded through the prompted tower."""

    encodes_images = True
    audit_settings = ("convergence_check",)
    #: the module's shallow text context parameter ``[K, d]`` (what ``dmp_<learner>`` samples); None: none (VPT)
    shallow_context: ClassVar[str | None] = "context"
    #: ``train_module(backbone, data, cfg, ctx, desc=..., context=None)`` -> ``(state_dict, {"optimizer_steps",
    #: "train_loss"})``: a fresh module trained on ``data``; ``context`` replaces the initial shallow context
    train_module: ClassVar[Callable[..., tuple[dict[str, torch.Tensor], dict]]]
    #: a variant's repository in the mini world (``RepositoryGenerator.over``): 16 fits per dataset of the learner's
    #: own recipe shortened to 100 steps (a repository costs R full fits through the image tower). Provisional,
    #: chosen for cost: the repository's own accuracy is in every variant record's ``repository_fidelity``.
    repository_recipe: ClassVar[dict[str, dict[str, Any]]] = {"mini": {"steps": 100}}
    #: the parameter Prompt Diffusion gives every image its own copy of, when it is not the shallow context (VPT: its
    #: deep visual prompts ``[depth, n, width]``, diffused as ``[depth * n, width]``)
    per_image_prompt: ClassVar[str | None] = None
    #: whether the vision prompts depend on that prompt (MaPLe's and CoPrompt's are projections of the context, VPT's are
    #: it); False (PromptSRC, TAC): an image's features are the same whatever its prompt, so they are encoded once
    vision_follows_prompt: ClassVar[bool] = True

    @abstractmethod
    def build(self, cfg: dict) -> nn.Module:
        """The prompt module, initialised from the run's seed (the same init for the 1x and 2x fits)."""

    def train_fit(self, data: FewShotData, cfg: dict, run: str) -> tuple[dict[str, torch.Tensor], dict]:
        """Train a fresh module on ``data`` with ``cfg``: ``(its state_dict, {"optimizer_steps", "train_loss"})``."""
        return type(self).train_module(self.backbone, data, cfg, self.ctx, desc=f"{self.name} {run}")

    # -- generated-prompt variants (DMP A.9: only the shallow text prompt is generated) ----------------------------
    @classmethod
    def train_repository(cls, backbone, data: FewShotData, cfg: dict, ctx, init: torch.Tensor, seed: int) -> torch.Tensor:
        """``[R, K, d]``: the shallow contexts of R fits of the whole learner (its recipe ``cfg``), fit r from the
        initial context ``init[r]`` and ``seed``; the fits' other weights are not kept (A.9)."""
        if cls.shallow_context is None:
            raise DmpbenchError(f"{cls.name} learns no text prompt for a generator to sample")
        fit_ctx = dataclasses.replace(ctx, seed=int(seed), audit={})
        out = []
        for r in range(init.shape[0]):
            with torch.random.fork_rng(devices=[]):  # each fit's global draws (TAC's feature dropout) as a fit seeded alone
                torch.manual_seed(int(seed))
                state, _ = cls.train_module(backbone, data, cfg, fit_ctx, desc=f"repository {r + 1}/{init.shape[0]}", context=init[r])
            out.append(state[cls.shallow_context].float().cpu())
        return torch.stack(out)

    @contextlib.contextmanager
    def context_swapped(self, prompts: nn.Module, context: torch.Tensor | None):
        """``prompts`` with its shallow context replaced by ``context`` while inside (the learned one otherwise)."""
        if context is None:
            yield prompts
            return
        if self.shallow_context is None:
            raise DmpbenchError(f"{self.name} learns no text prompt to replace")
        param = prompts.get_parameter(self.shallow_context)
        if tuple(context.shape) != tuple(param.shape):
            raise DmpbenchError(f"{self.name}: a generated context of shape {tuple(context.shape)} for a learned one of {tuple(param.shape)}")
        saved = param.data
        param.data = context.detach().to(saved.device, saved.dtype)
        try:
            yield prompts
        finally:
            param.data = saved

    def features_with(self, images, labels: LabelSet, context: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, D]``: the test images through the tower prompted by the learned module with shallow context
        ``context`` (a generated prompt, the learner's other weights as learned; MaPLe's vision prompts follow it)."""
        with self.context_swapped(self.prompts, context):
            return self._features(self.prompts, images, labels)

    def text_with(self, classnames, context: torch.Tensor | None = None) -> torch.Tensor:
        """``[C, D]`` class embeddings of the learned module with shallow context ``context``."""
        with self.context_swapped(self.prompts, context):
            return self._text(self.prompts, classnames)[0]

    def image_prompts(self, image_features: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, K, d]``: the prompt the generated variants replace, the same for every image (it does not depend on
        the image): the shallow context, or (VPT, ``per_image_prompt``) the deep visual prompts as ``[depth * n, width]``."""
        name = self.per_image_prompt or self.shallow_context
        if name is None:
            raise DmpbenchError(f"{self.name} learns no text prompt")
        own = self.prompts.get_parameter(name).detach()
        own = own.reshape(-1, own.shape[-1])
        return (own if context is None else context).unsqueeze(0).expand(image_features.shape[0], -1, -1)

    # -- per-image prompts (Prompt Diffusion over the learner: each image its own copy of that prompt) -------------
    def _per_image(self, prompts: torch.Tensor) -> torch.Tensor:
        """``prompts`` ``[N, K, d]`` (``image_prompts``' form) in the module's per-image form: the contexts
        themselves, or VPT's ``[N, depth, n, width]``."""
        if self.per_image_prompt is None:
            return prompts
        shape = self.prompts.get_parameter(self.per_image_prompt).shape
        return prompts.reshape(prompts.shape[0], *shape)

    def features_with_prompts(self, images: torch.Tensor, prompts: torch.Tensor, classnames) -> torch.Tensor:
        """``[N, D]`` L2-normalised features of the image batch ``images`` ``[N, 3, H, W]``, image n through the tower
        prompted with ``prompts[n]`` (``[N, K, d]``, differentiable; MaPLe's and CoPrompt's vision prompts follow the
        context, VPT's are the prompts) and the learner's other weights as learned."""
        module, contexts = self.prompts, self._per_image(prompts)
        visual = module.visual(list(classnames), contexts=contexts) if getattr(module, "label_aware", False) else module.visual(contexts=contexts)
        adapt = getattr(module, "adapt_image", lambda f: f)
        return normalize(adapt(self.backbone.encode_image(images.to(self.ctx.device), visual_prompts=visual).float()))

    def prompt_classifier(self, prompts: torch.Tensor, classnames, image_features: torch.Tensor) -> torch.Tensor:
        """``[N, C, D]``: image n's class embeddings with ``prompts[n]`` through the module's text side (its deep text
        prompts, cluster tokens and adapters as learned; VPT's frozen hand prompt for every image)."""
        return self.prompts.text(self.backbone, list(classnames), self.config.get("class_token_position", "end"),
                                 contexts=self._per_image(prompts.to(self.ctx.device)))

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
