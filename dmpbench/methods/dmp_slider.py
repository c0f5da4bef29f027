"""DMPSlider, DMPIdentity and DMPMulti (Diffusion Meta-Prompts section 3.3, A.6, Tables 2, 5, 15, 16): DMPs over
the prompt-slider repository, the textual-inversion identity repository, or both (``token_dmp.py``).

* ``dmp_slider``: the prompt sliders of ``repo_seed`` (``baselines/prompt_slider.py``, the cached training
  ``prompt_slider`` of that seed also uses; its recipe as ``method.slider_<key>``), the last 200 steps every
  5 (40 per concept), each conditioned on the concept name in words ("age", "hair length").
* ``dmp_identity``: the textual inversions of ``repo_seed`` (``baselines/textual_inversion.py``; recipe as
  ``method.ti_<key>``) of the task's subjects, steps 200-400 every 5 (40 per subject), conditioned on
  "identity-c" (c = 1, 2, ... in subject order; DMP 3.3).
* ``dmp_multi``: one DMP over both repositories (section 3.3: R = R_S ∪ R_I). On the slider task its
  identities are the identity task's default subjects (mini world: the first 10 test identities of the
  mini faces; paper world: ``method.subjects_root``), and its concepts are always the world's whole slider
  concept set, so one DMP (cached) serves both tasks.
"""

from __future__ import annotations

from dmpbench.baselines.generation import GenerationData
from dmpbench.baselines.prompt_slider import SLIDER_DEFAULTS, SLIDER_MINI, SLIDER_RANGES, check_snapshots, train_prompt_sliders
from dmpbench.baselines.textual_inversion import TI_DEFAULTS, TI_MINI, TI_RANGES, check_ti_snapshots, train_textual_inversion
from dmpbench.data.slider_concepts import concepts_for
from dmpbench.errors import DmpbenchError
from dmpbench.methods.token_dmp import DMP_DEFAULTS, DMP_MINI, DMP_RANGES, TokenDMP, prefixed, sub_config
from dmpbench.registry import METHODS

SLIDER = {**SLIDER_DEFAULTS, "tokens": 1}
#: the identity task's default subject set, for a DMPMulti fitted on the slider task


def slider_repository(method, data: GenerationData):
    concepts = data.extra.get("concepts") or concepts_for(method.backbone.world)
    cfg = sub_config(method.config, "slider_")
    tensors, stats = train_prompt_sliders(data.synthesis, list(concepts), cfg, int(method.config["repo_seed"]), method.ctx)
    names = [c.name for c in concepts]
    return names, [c.condition for c in concepts], tensors["repository"], stats


def identity_repository(method, data: GenerationData):
    if data.images is not None and data.labels is not None and data.classnames:
        names, images, labels = list(data.classnames), data.images, data.labels
    else:  # the slider task: the identity task's default subjects
        from dmpbench.data.identity_subjects import DEFAULT_SUBJECTS, DEFAULT_TRAIN_IMAGES, subjects_for

        if method.backbone.world != "mini" and not method.config.get("subjects_root"):
            raise DmpbenchError(f"{method.name} on the slider task in the paper world needs method.subjects_root=DIR (its identities)")
        subjects = subjects_for(method.backbone.world, DEFAULT_SUBJECTS[method.backbone.world], DEFAULT_TRAIN_IMAGES, data.synthesis.image_size, method.config.get("subjects_root") or None)
        names, images, labels = subjects.names, subjects.train, subjects.train_labels
    cfg = sub_config(method.config, "ti_")
    tensors, stats = train_textual_inversion(data.synthesis, names, images, labels, cfg, int(method.config["repo_seed"]), method.ctx,
                                             method.backbone.world)
    return names, [f"identity-{c + 1}" for c in range(len(names))], tensors["repository"], stats


@METHODS.register("dmp_slider")
class DMPSlider(TokenDMP):
    """DMPSlider: a diffusion model samples prompt sliders from the concept name."""

    name = "dmp_slider"
    base_learner = "prompt_slider"
    default_config = {**prefixed(SLIDER, "slider_"), **DMP_DEFAULTS}
    world_defaults = {"mini": {**prefixed(SLIDER_MINI, "slider_"), **DMP_MINI}}
    ranges = {**prefixed(SLIDER_RANGES, "slider_"), **DMP_RANGES}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        check_snapshots(cls.name, sub_config(config, "slider_"))

    def repositories(self, data):
        return [slider_repository(self, data)]


@METHODS.register("dmp_identity")
class DMPIdentity(TokenDMP):
    """DMPIdentity: a diffusion model samples textual-inversion prompts from "identity-c"."""

    name = "dmp_identity"
    base_learner = "textual_inversion"
    default_config = {**prefixed(TI_DEFAULTS, "ti_"), **DMP_DEFAULTS}
    world_defaults = {"mini": {**prefixed(TI_MINI, "ti_"), **DMP_MINI}}
    ranges = {**prefixed(TI_RANGES, "ti_"), **DMP_RANGES}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        check_ti_snapshots(cls.name, sub_config(config, "ti_"))

    def repositories(self, data):
        if data.images is None:
            raise DmpbenchError("dmp_identity needs subjects with images (run it with --task identity)")
        return [identity_repository(self, data)]


@METHODS.register("dmp_multi")
class DMPMulti(TokenDMP):
    """DMPMulti: one diffusion model samples prompt sliders and identity prompts from text."""

    name = "dmp_multi"
    default_config = {**prefixed(SLIDER, "slider_"), **prefixed(TI_DEFAULTS, "ti_"), **DMP_DEFAULTS, "subjects_root": ""}
    world_defaults = {"mini": {**prefixed(SLIDER_MINI, "slider_"), **prefixed(TI_MINI, "ti_"), **DMP_MINI}}
    ranges = {**prefixed(SLIDER_RANGES, "slider_"), **prefixed(TI_RANGES, "ti_"), **DMP_RANGES}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        check_snapshots(cls.name, sub_config(config, "slider_"))
        check_ti_snapshots(cls.name, sub_config(config, "ti_"))

    def repositories(self, data):
        return multi_repositories(self, data, own=True)[0]


def multi_repositories(method, data: GenerationData, own: bool = False):
    """DMPMulti's repositories (the world's slider concepts, the task's or the default subjects) with ``method``'s
    settings (``own``) or DMPMulti's defaults for the world (Stylus retrieval over the same repositories)."""
    if not own:
        from types import SimpleNamespace

        defaults = {**DMPMulti.default_config, **DMPMulti.world_defaults.get(method.backbone.world, {})}
        method = SimpleNamespace(config=defaults, ctx=method.ctx, backbone=method.backbone, name=method.name)
    # always the world's whole concept set (a slider task evaluating a subset still gets the one DMP)
    sliders = GenerationData(data.synthesis, data.dataset, extra={"concepts": concepts_for(method.backbone.world)})
    identities = data if data.images is not None else GenerationData(data.synthesis, data.dataset)
    parts = [slider_repository(method, sliders), identity_repository(method, identities)]
    return parts, [p[3] for p in parts]
