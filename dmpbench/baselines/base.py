"""The plugin interface of a prompt method (a baseline here, or a method under study in ``methods``).

A method is fitted on what a task gives it and answers the task's requests. For classification the
request is: "give me classifiers for these class names", answered as a stack of L2-normalised class
embeddings ``[P, C, D]`` (P prompt sets: 1 for a learned or hand prompt, several for a generator such as
DMP, whose metrics the task averages over the P sets).

The interface lives in ``baselines`` (the lower of the two method layers) so that methods can build on
baselines without importing upward; plugin authors import it from ``dmpbench.plugin``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import torch

from dmpbench.backbones.base import Backbone
from dmpbench.context import RunContext
from dmpbench.config import check_keys


@dataclass
class FewShotData:
    """The K-shot training data of one dataset (or of its base classes), as cached image features."""

    dataset: str
    classnames: list[str]
    features: torch.Tensor  # [N, D] float32, not normalised
    labels: torch.Tensor  # [N] int64, 0..C-1
    templates: Sequence[str] = ("a photo of a {}.",)
    shots: int = 16
    seed: int = 1
    split: str = "all"  # "base" or "all": which label set the data covers
    #: the same images, decoded on demand (``ImageSet``), for methods that prompt the image tower
    images: Any = None


@dataclass
class TrainingPool:
    """Every training set of the current task (the unit's own included), built lazily.

    Methods that learn across datasets (DMPClass is trained on a repository spanning all the task's
    datasets) read it; single-dataset learners ignore it. ``get(name, seed)`` gives the K-shot data of
    another seed than the run's, for artefacts shared across seeds."""

    names: list[str]
    loader: Callable[[str, int], FewShotData]
    seed: int
    _loaded: dict[tuple[str, int], FewShotData] = field(default_factory=dict)

    def get(self, name: str, seed: int | None = None) -> FewShotData:
        key = (name, self.seed if seed is None else seed)
        if key not in self._loaded:
            self._loaded[key] = self.loader(*key)
        return self._loaded[key]

    def add(self, data: FewShotData) -> None:
        """Hand over data the task already built (so it is not built twice)."""
        self._loaded[(data.dataset, data.seed)] = data

    def __iter__(self):
        return (self.get(n) for n in self.names)


@dataclass(frozen=True)
class LabelSet:
    """The classes a task asks a classifier for: names in label order, the dataset they come from (or a
    ``+``-joined name for a union) and that dataset's hand-prompt templates."""

    classnames: tuple[str, ...]
    dataset: str
    templates: tuple[str, ...] = ("a photo of a {}.",)


@dataclass
class Probe:
    """Classifiers a fitted method asks the task to score on the test images of a label set it was
    trained on, for the record's audit only (never for its metrics): training convergence, how well a
    generator reproduces its repository. The task writes ``audit[key][labels.dataset]`` =
    ``{**extra, name: mean accuracy (%) of that classifier's prompt sets}``.

    ``split`` is the classes of ``labels.dataset`` the label set covers ("base" or "all", as in
    ``FewShotData.split``); a ``+``-joined dataset is the union of its parts. ``classifiers`` map a name
    to a function giving ``[P, C, D]`` L2-normalised class embeddings (called only when scored); with
    ``per_image`` the function takes the test images' features ``[N, D]`` and gives ``[P, N, C, D]``
    (image-conditioned classifiers, as ``ClassificationMethod.image_class_embeddings``)."""

    key: str
    labels: LabelSet
    split: str
    classifiers: dict[str, Callable[..., Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    per_image: bool = False
    #: the function takes the test images (``ImageSet``) and gives ``(image features [N, D] or [P, N, D], [P, C, D])``
    #: for ``labels`` (methods that prompt the image tower: their features are part of what is checked)
    encodes_images: bool = False
    #: a folder to keep each classifier's accuracy in (keyed by the probe, the classifier and the test images), for
    #: probes whose value is the same in every record (a trained generator's fidelity) and costly to recompute
    cache_dir: Any = None


class Method(ABC):
    #: registry name (the decorator's name is the source of truth; keep them equal)
    name: ClassVar[str] = ""
    #: what the method can serve; a task names the capability it needs
    capabilities: ClassVar[tuple[str, ...]] = ("classification",)
    #: the prompt learner a generated-prompt method builds on (leaderboard Δ rows compare against it)
    base_learner: ClassVar[str | None] = None
    #: default hyper-parameters; ``--set method.key=value`` overrides them
    default_config: ClassVar[dict[str, Any]] = {}
    #: per-world changes to the defaults (e.g. {"mini": {"batch_size": 128}}), applied before the user's
    world_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: bounds of settings (rule format in ``dmpbench.config``); types come from ``default_config``
    ranges: ClassVar[dict[str, Any]] = {}

    def __init__(self, backbone: Backbone, config: dict[str, Any], ctx: RunContext):
        self.backbone = backbone
        defaults = {**self.default_config, **self.world_defaults.get(backbone.world, {})}
        self.config = check_keys("method", self.name, config, defaults, self.ranges)
        self.ctx = ctx

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Checks of the resolved settings that need no model (run before any work); raise ``DmpbenchError``."""


class ClassificationMethod(Method):
    capabilities = ("classification",)

    @abstractmethod
    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        """Learn from the unit's K-shot data (``pool`` gives the task's other training sets)."""

    #: True for methods whose classifier depends on the image (CoCoOp, Prompt Diffusion): the task then
    #: scores them with ``image_class_embeddings`` instead of ``class_embeddings``
    per_image: ClassVar[bool] = False

    @abstractmethod
    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        """``[P, C, D]`` L2-normalised text-side class embeddings for ``labels.classnames``."""

    def image_class_embeddings(self, labels: LabelSet, image_features: torch.Tensor) -> torch.Tensor:
        """``[P, N, C, D]``: each of the N test images' own L2-normalised class embeddings (``per_image``
        methods only); ``image_features`` ``[N, D]`` are the backbone's, not normalised."""
        raise NotImplementedError(f"{self.name} does not condition its classifier on the image")

    #: True for methods that prompt the image tower (VPT, MaPLe, ...): the task gets their test image features
    #: from ``image_features`` instead of the feature cache, and their training data carries ``images``
    encodes_images: ClassVar[bool] = False

    #: True for methods whose image features differ per prompt set (a generated prompt that also prompts the image
    #: tower, ``dmp_maple``): ``image_features`` gives ``[P, N, D]``, one feature set per prompt set
    features_per_prompt_set: ClassVar[bool] = False

    #: True when ``image_features`` depends on the label set it is given (TAC's cluster tokens, and a generated prompt
    #: that also prompts the tower): a task scoring several label sets on one test set (treecut) encodes it per label set
    features_follow_labels: ClassVar[bool] = False

    #: True when a class's embedding (``per_image``: each image's row for the class) depends on that class's name alone,
    #: not on which other classes are asked for (a learned prompt; not a prompt generated from the label set, nor TAC's
    #: clusters): a task scoring several label sets of one test set (treecut) may then embed each name once
    classes_independent: ClassVar[bool] = False

    def image_features(self, images, labels: LabelSet) -> torch.Tensor:
        """``[N, D]`` features of the test images (an ``ImageSet``) through the method's prompted image tower, when
        classifying among ``labels`` (TAC's vision prompts depend on the label set); ``[P, N, D]`` with
        ``features_per_prompt_set``."""
        raise NotImplementedError(f"{self.name} does not prompt the image tower")

    def probes(self) -> list[Probe]:
        """Checks of the fitted method for the audit (see ``Probe``); none by default."""
        return []



class PromptLearner(ClassificationMethod):
    """A prompt learner whose shallow text prompt (K context vectors in front of the class name) the
    generated-prompt variants replace or refine: ``prompt_diffusion_<learner>`` diffuses each image's
    prompt, ``dmp_<learner>`` samples it; the learner's other learned weights (meta-net, deep prompts,
    adapters) stay as learned (DMP A.9). Learners must keep ``class_token_position`` in their settings."""

    #: True when the shallow prompt is all the learner learned (CoOp): a variant needs no fit of its own
    shallow_only: ClassVar[bool] = False
    classes_independent = True  # a learned prompt in front of each name (TAC's clusters are the exception)
    #: settings a variant fixes when it builds the learner (CoOp: the unified context, ``csc: false``)
    variant_fixed: ClassVar[dict[str, Any]] = {}

    #: the learner's recipe for a variant's prompt repository, per world (``RepositoryGenerator.over``)
    repository_recipe: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def context_length(cls, cfg: dict[str, Any]) -> int:
        """K, the length of the shallow context under the settings ``cfg``."""
        return int(cfg["n_ctx"])

    @abstractmethod
    def image_prompts(self, image_features: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, K, d]``: each image's shallow text prompt (``image_features`` ``[N, D]``, not normalised), built
        from ``context`` ``[K, d]`` instead of the learned context when given (a generated prompt)."""

    @classmethod
    def train_repository(cls, backbone: Backbone, data: FewShotData, cfg: dict[str, Any], ctx: RunContext, init: torch.Tensor,
                         seed: int) -> torch.Tensor:
        """``[R, K, d]``: the shallow prompts of R fits from the initial contexts ``init`` ``[R, K, d]`` with the
        recipe ``cfg`` (a variant's prompt repository; the fits' other weights are not kept)."""
        from dmpbench.errors import DmpbenchError

        raise DmpbenchError(f"{cls.name} has no prompt repository recipe yet")

    def prompt_classifier(self, prompts: torch.Tensor, classnames: Sequence[str], image_features: torch.Tensor) -> torch.Tensor:
        """``[N, C, D]`` L2-normalised: image n's classifier with shallow prompt ``prompts[n]`` and the learner's
        other weights. Default: the prompt alone through the text tower (CoOp, CoCoOp)."""
        n, names = prompts.shape[0], list(classnames)
        text = self.backbone.encode_with_context(prompts.repeat_interleave(len(names), 0).to(self.ctx.device), names * n,
                                                 self.config["class_token_position"])
        return normalize(text.float()).view(n, len(names), -1)


def normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
