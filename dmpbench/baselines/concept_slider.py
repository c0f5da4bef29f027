"""Concept Sliders (Gandikota et al., ECCV 2024): a LoRA on the UNet per concept, trained on the guided target
of ``slider_training.py`` with the target prompt, used at inference with the slider strength as the LoRA's
scale (0 = the original model).

Recipe (the authors' text sliders, ``train-lora.py`` with ``data/config.yaml``): rank 4, alpha 1, the
"noxattn" layers (every linear layer of the UNet's transformer blocks except cross-attention: here
``attn1`` q / k / v / out and the feed-forward), AdamW lr 2e-4, batch 1, 1,000 iterations, guidance eta 4,
preserved attributes ``male, female``. The LoRA goes in through ``peft`` (diffusers' ``add_adapter`` /
``set_adapters``). Mini world: 300 steps at batch 1 and lr 2e-3
(batch 1, the recipe's: batch 2 until the image-synthesis set had to fit its 30-minute budget). Deviation: x_t from the shared pool of
``slider_training.py`` (Concept Sliders denoise to a random step at every iteration).
"""

from __future__ import annotations

import contextlib

import torch

from dmpbench.backbones.synthesis.base import Conditioning, SynthesisBackbone
from dmpbench.baselines import slider_training as st
from dmpbench.cachefiles import cached_tensors
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.baselines.prompt_slider import SLIDER_RANGES, concepts_of
from dmpbench.registry import METHODS

#: Concept Sliders' "noxattn": the transformer blocks' linear layers except cross-attention (attn2)
TARGET_MODULES = r".*transformer_blocks\.\d+\.(attn1\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2))"


def lora_config(rank: int, alpha: float):
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha, target_modules=TARGET_MODULES, init_lora_weights=True)


def adapter_name(concept: str) -> str:
    return f"slider_{concept}"


@contextlib.contextmanager
def lora_attached(unet, name: str, state: dict[str, torch.Tensor], rank: int, alpha: float, scale: float,
                  init_seed: int = 0):
    """The UNet with one concept's LoRA (``state``, or a fresh one initialised from ``init_seed``) at ``scale``
    while active; removed afterwards (the shared model is left as it was)."""
    from peft import set_peft_model_state_dict

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        unet.add_adapter(lora_config(rank, alpha), adapter_name=name)
    try:
        if state:
            set_peft_model_state_dict(unet, state, adapter_name=name)
        unet.set_adapters([name], weights=[float(scale)])
        yield unet
    finally:
        unet.delete_adapters([name])


def train_concept_sliders(synthesis, concepts, cfg: dict, seed: int, ctx) -> tuple[dict[str, torch.Tensor], dict]:
    """``({"<concept>/<lora key>": tensor}, stats)``: one LoRA per concept (trained one after the other)."""
    from peft import get_peft_model_state_dict

    key = {"synthesis": synthesis.cache_key, "concepts": st.concept_key(concepts), "seed": seed,
           "recipe": {k: cfg[k] for k in ("steps", "batch_size", "lr", "eta", "pool_size", "pool_images", "rank", "alpha")}}

    def build():
        pool = st.cached_pool(synthesis, concepts, cfg, seed, ctx)
        unet = synthesis.pipeline.unet
        out, first, last = {}, {}, {}
        for c in ctx.bar(concepts, desc="concept sliders"):
            name = adapter_name(c.name)
            with lora_attached(unet, name, {}, cfg["rank"], cfg["alpha"], 1.0, init_seed=seed):
                params = [p for n, p in unet.named_parameters() if f".{name}." in n]
                for p in params:
                    p.requires_grad_(True)
                opt = torch.optim.AdamW(params, lr=cfg["lr"])
                cond = {t: synthesis.encode([t]) for t in set(c.target)}
                losses = []
                for idx in st.batches(len(pool), cfg["batch_size"], cfg["steps"], st.concept_seed(seed, c)):
                    texts = [c.target[int(pool.preserved[j])] for j in idx]
                    pred = synthesis.predict_noise(pool.latents[idx], pool.timesteps[idx],
                                                   Conditioning.cat([cond[t] for t in texts])).float()
                    loss = torch.nn.functional.mse_loss(pred, pool.targets[c.name][idx].to(pred.device))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    losses.append(float(loss.detach()))
                for p in params:
                    p.requires_grad_(False)
                state = get_peft_model_state_dict(unet, adapter_name=name)
                out.update({f"{c.name}/{k}": v.detach().cpu().clone() for k, v in state.items()})
            window = max(1, min(20, len(losses) // 10))
            first[c.name] = round(sum(losses[:window]) / window, 5)
            last[c.name] = round(sum(losses[-window:]) / window, 5)
        return out, {"optimizer_steps": cfg["steps"], "loss_first": first, "loss_last": last}

    return cached_tensors(ctx, "concept_slider", key, build)


@METHODS.register("concept_slider")
class ConceptSlider(GenerationMethod):
    """Concept Sliders: a LoRA on the UNet per concept, scaled by the slider strength."""

    name = "concept_slider"
    default_config = {"steps": 1000, "batch_size": 1, "lr": 2e-4, "eta": 4.0, "pool_size": 1000, "pool_images": 64,
                      "rank": 4, "alpha": 1.0}
    world_defaults = {"mini": {"steps": 300, "batch_size": 1, "lr": 2e-3, "pool_size": 256, "pool_images": 32}}
    ranges = {**{k: v for k, v in SLIDER_RANGES.items() if k in ("steps", "batch_size", "lr", "eta", "pool_size", "pool_images")},
              "rank": ">=1", "alpha": ">0"}

    def fit(self, data: GenerationData) -> None:
        self.concepts = {c.name: c for c in concepts_of(data)}
        tensors, stats = train_concept_sliders(data.synthesis, list(self.concepts.values()), self.config, self.ctx.seed, self.ctx)
        self.loras = {name: {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith(f"{name}/")}
                      for name in self.concepts}
        self.ctx.audit["concept_slider"] = stats

    def prompt_embeddings(self, request: GenerationRequest, synthesis: SynthesisBackbone) -> PromptEmbeddings:
        return PromptEmbeddings([p for p in request.prompts for _ in range(request.n)])  # the plain prompt

    def denoiser(self, request: GenerationRequest, synthesis: SynthesisBackbone):
        return lora_attached(synthesis.pipeline.unet, adapter_name(request.concept), self.loras[request.concept],
                             self.config["rank"], self.config["alpha"], request.strength)
