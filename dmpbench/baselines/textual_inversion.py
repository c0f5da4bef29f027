"""Textual Inversion (Gal et al., ICLR 2023; diffusers' ``textual_inversion.py`` recipe): one learned token per
subject from its 3-5 images, trained with the diffusion loss on the frozen model (DMP equation 5).

Recipe (diffusers' example, the one the DMP authors' repository builds on): the token starts from the
initializer word's embedding (faces: "person"), AdamW (0.9 / 0.999, weight decay 0.01), constant learning
rate 5e-4, batch 1, prompts from the object templates ("a photo of a {}", ...), uniform timesteps, epsilon
target. DMP section 3.2 trains 1,000 steps per identity and keeps the steps 200-400 every 5 (40 prompts)
as the repository (DMPVariation, DMPMulti's identities). Mini world: 400 steps at batch 1 (batch 1, the recipe's: batch 2 until the image-synthesis set had to fit its 30-minute budget), learning rate
5e-3, the mini SD's caption template "a photo of a {}" (its captions read "a photo of a smiling man"), so
the snapshots 200-400 are also the last 200 steps (DMPMulti's wording). No flip augmentation (mini faces
vary pose themselves).

All subjects train together as one stacked parameter (``token_training.py``: each follows the trajectory it
would alone). Cached per (synthesis weights, subjects' images, recipe, seed); ``audit["textual_inversion"]``
holds the loss at the start and end.
"""

from __future__ import annotations

import hashlib
import zlib

import torch

from dmpbench.backbones.synthesis.base import PLACEHOLDER, SynthesisBackbone
from dmpbench.cachefiles import cached_tensors
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.baselines.token_training import loss_stats, train_tokens, word_init
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS

#: diffusers' ``imagenet_templates_small`` (object), the first five
PAPER_TEMPLATES = ("a photo of a {}", "a rendering of a {}", "a cropped photo of the {}", "the photo of a {}", "a photo of a clean {}")
MINI_TEMPLATES = ("a photo of a {}",)
TI_DEFAULTS = {"steps": 1000, "batch_size": 1, "lr": 5e-4, "tokens": 1, "init_word": "person",
               "snapshot_from": 200, "snapshot_to": 400, "snapshot_every": 5}
TI_MINI = {"steps": 400, "batch_size": 1, "lr": 5e-3}
TI_RANGES = {"steps": ">=1", "batch_size": ">=1", "lr": ">0", "tokens": ">=1", "snapshot_from": ">=1", "snapshot_to": ">=1",
             "snapshot_every": ">=1"}


def check_ti_snapshots(name: str, config: dict) -> None:
    lo, hi = config["snapshot_from"], config["snapshot_to"]
    if not lo + config["snapshot_every"] <= hi <= config["steps"]:
        raise DmpbenchError(f"method '{name}': snapshots from step {lo} to {hi} every {config['snapshot_every']} must lie "
                            f"inside training ({config['steps']} steps) and hold at least one step")


def train_textual_inversion(synthesis: SynthesisBackbone, names: list[str], images: torch.Tensor, labels: torch.Tensor,
                            cfg: dict, seed: int, ctx, world: str) -> tuple[dict[str, torch.Tensor], dict]:
    """``({"repository": [S, snapshots, K, d], "final": [S, K, d]}, stats)`` for the subjects ``names`` (``labels``
    index their images)."""
    keep = list(range(cfg["snapshot_from"] + cfg["snapshot_every"], cfg["snapshot_to"] + 1, cfg["snapshot_every"]))
    templates = MINI_TEMPLATES if world == "mini" else PAPER_TEMPLATES
    key = {"synthesis": synthesis.cache_key, "subjects": names, "images": hashlib.sha256(images.float().numpy().tobytes()).hexdigest(),
           "shape": list(images.shape), "labels": labels.tolist(), "seed": seed, "templates": templates,
           "recipe": {k: cfg[k] for k in TI_DEFAULTS}}

    def build():
        latents = torch.cat([synthesis.encode_images(chunk) for chunk in images.split(64)]).cpu()
        own = [(labels == i).nonzero().flatten() for i in range(len(names))]
        if any(len(o) == 0 for o in own):
            raise DmpbenchError(f"textual inversion: subject {names[[len(o) for o in own].index(0)]!r} has no images")
        init = torch.stack([word_init(synthesis, cfg["init_word"], cfg["tokens"]) for _ in names])
        b, steps = cfg["batch_size"], cfg["steps"]
        streams, draws = [], []
        for i, name in enumerate(names):  # each subject's own stream of (image, timestep, noise, template)
            gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()) % 1_000_003)
            pick = own[i][torch.randint(0, len(own[i]), (steps, b), generator=gen)]
            t = torch.randint(0, synthesis.train_timesteps, (steps, b), generator=gen)
            noise = torch.randn((steps, b, *latents.shape[1:]), generator=gen)
            tpl = torch.randint(0, len(templates), (steps, b), generator=gen)
            streams.append(pick), draws.append((t, noise, tpl))

        def batch(step, idx):  # idx [S, b]: image indices
            s = step - 1
            t = torch.cat([d[0][s] for d in draws])
            noise = torch.cat([d[1][s] for d in draws])
            texts = [templates[int(k)].format(PLACEHOLDER) for d in draws for k in d[2][s]]
            x0 = latents[idx.flatten()]
            return texts, synthesis.add_noise(x0, noise, t), t, noise

        kept = sorted(set(keep) | {steps})  # the repository's steps and the final token
        snaps, losses = train_tokens(synthesis, init, torch.stack(streams, 1), batch, cfg["lr"], kept,
                                     lambda it: ctx.bar(it, desc="textual inversion"))
        repo = snaps[:, [kept.index(k) for k in keep]]
        return {"repository": repo, "final": snaps[:, -1]}, {"optimizer_steps": steps, "snapshots": repo.shape[1],
                                                             **loss_stats(losses, names)}

    return cached_tensors(ctx, "textual_inversion", key, build)


def subjects_of(data: GenerationData) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    if data.images is None or data.labels is None or not data.classnames:
        raise DmpbenchError("textual inversion needs subjects with images (run it with --task identity)")
    return list(data.classnames), data.images, data.labels


@METHODS.register("textual_inversion")
class TextualInversion(GenerationMethod):
    """Textual Inversion: one learned token per subject from its few images."""

    name = "textual_inversion"
    default_config = dict(TI_DEFAULTS)
    world_defaults = {"mini": TI_MINI}
    ranges = TI_RANGES

    @classmethod
    def validate_config(cls, config: dict) -> None:
        check_ti_snapshots(cls.name, config)

    def fit(self, data: GenerationData) -> None:
        names, images, labels = subjects_of(data)
        tensors, stats = train_textual_inversion(data.synthesis, names, images, labels, self.config, self.ctx.seed, self.ctx,
                                                 self.backbone.world)
        self.tokens = dict(zip(names, tensors["final"]))  # the token at the end of training
        self.ctx.audit["textual_inversion"] = stats

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        if request.concept not in self.tokens:
            raise DmpbenchError(f"textual inversion has no token for subject {request.concept!r}")
        texts = [p.format(PLACEHOLDER) for p in request.prompts for _ in range(request.n)]
        return PromptEmbeddings(texts, self.tokens[request.concept])
