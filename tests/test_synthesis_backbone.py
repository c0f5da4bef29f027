"""Synthesis backbones over diffusers pipelines, on random-weight tiny SD 1.x / SDXL pipelines saved to a
folder and loaded back through the loader: prompt embeddings as the pipeline makes them, learned tokens
spliced as CoOp's context, seeds, recipes and the offline errors."""

from __future__ import annotations

import pytest
import torch

from dmpbench.backbones.synthesis import PLACEHOLDER, load_synthesis, to_uint8
from dmpbench.backbones.synthesis.stable_diffusion import PRESETS, SD_RECIPE, SDXL_RECIPE
from dmpbench.errors import DmpbenchError
from tiny_diffusers import tiny_sd1, tiny_sdxl


@pytest.fixture(scope="module")
def sd1(tmp_path_factory):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return load_synthesis(str(tiny_sd1(tmp_path_factory.mktemp("sd1"))))


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory):
    return load_synthesis("sdxl:" + str(tiny_sdxl(tmp_path_factory.mktemp("sdxl"))))


def test_identity_and_recipes(sd1, sdxl):
    assert SD_RECIPE.guidance_scale == 4.5 and SD_RECIPE.steps == 30 and SD_RECIPE.scheduler == "ddim"
    assert SDXL_RECIPE.guidance_scale == 7.5 and SDXL_RECIPE.steps == 20 and SDXL_RECIPE.scheduler == "ddim"
    assert sd1.recipe == SD_RECIPE and sdxl.recipe == SDXL_RECIPE
    assert sd1.ctx_dim == 16 and sdxl.ctx_dim == 16 + 24 and sd1.image_size == 16
    assert sd1.name.startswith("sd1:") and sdxl.name.startswith("sdxl:") and sd1.cache_key != sdxl.cache_key
    assert PRESETS["sd-rv4"][0] == "sd1" and PRESETS["sdxl"][0] == "sdxl"
    assert all(not p.requires_grad for p in sd1.pipeline.unet.parameters())


def test_plain_prompt_is_what_the_pipeline_encodes(sd1):
    ref, neg = sd1.pipeline.encode_prompt("a photo of a cat", "cpu", 1, True)
    assert torch.equal(sd1.encode(["a photo of a cat"]).prompt_embeds, ref)
    assert torch.equal(sd1.unconditional(1).prompt_embeds, neg)  # the encoded "" (SD 1.x)


def test_sdxl_embeds_pooled_and_zero_negative(sdxl):
    pe, npe, pooled, npooled = sdxl.pipeline.encode_prompt("a photo of a cat", device="cpu", num_images_per_prompt=1,
                                                           do_classifier_free_guidance=True)
    cond = sdxl.encode(["a photo of a cat"])
    assert torch.equal(cond.prompt_embeds, pe) and torch.equal(cond.pooled, pooled)
    uncond = sdxl.unconditional(2)
    assert uncond.prompt_embeds.shape == (2, 77, 40) and not uncond.prompt_embeds.any() and not uncond.pooled.any()
    assert torch.equal(npe, uncond.prompt_embeds[:1])


@pytest.mark.parametrize("which", ["sd1", "sdxl"])
def test_learned_tokens_equal_to_words_reproduce_the_text(which, request):
    bb = request.getfixturevalue(which)
    words = bb.token_embeddings("a young")
    assert words.shape == (2, bb.ctx_dim)
    spliced = bb.encode([f"a photo of {PLACEHOLDER} person"], words)
    plain = bb.encode(["a photo of a young person"])
    assert torch.allclose(spliced.prompt_embeds, plain.prompt_embeds, atol=1e-6)
    if plain.pooled is not None:
        assert torch.allclose(spliced.pooled, plain.pooled, atol=1e-6)
    other = bb.encode([f"a photo of {PLACEHOLDER} person"], torch.randn_like(words))
    assert not torch.allclose(other.prompt_embeds, plain.prompt_embeds, atol=1e-3)


def test_learned_tokens_get_gradients_and_can_differ_per_prompt(sd1):
    learned = torch.randn(2, 3, sd1.ctx_dim, requires_grad=True)
    cond = sd1.encode([f"{PLACEHOLDER} a dog", f"a photo of {PLACEHOLDER}"], learned)
    cond.prompt_embeds.sum().backward()
    assert learned.grad is not None and learned.grad.abs().sum() > 0
    one = sd1.encode([f"a photo of {PLACEHOLDER}"], learned[1].detach())
    assert torch.allclose(one.prompt_embeds[0], cond.prompt_embeds[1].detach(), atol=1e-6)


def test_images_are_seeded_per_image(sd1):
    cond = sd1.encode(["a red square", "a blue circle"])
    both = sd1.generate(cond, [0, 1], steps=3)
    assert both.shape == (2, 3, 16, 16) and both.min() >= 0 and both.max() <= 1
    alone = sd1.generate(cond.index(slice(1, 2)), [1], steps=3)
    assert torch.allclose(alone[0], both[1], atol=1e-5)  # independent of the batch it is in
    again = sd1.generate(cond.index(slice(0, 1)), [0, 0, 5], steps=3)
    assert torch.allclose(again[0], again[1]) and not torch.allclose(again[0], again[2])
    assert type(sd1.pipeline.scheduler).__name__ == "DDIMScheduler"
    guided = sd1.generate(cond.index(slice(0, 1)), [0], steps=3, guidance_scale=9.0)
    assert not torch.allclose(guided[0], again[0])
    assert to_uint8(both).shape == (2, 16, 16, 3)


def test_sdxl_generates(sdxl):
    imgs = sdxl.generate(sdxl.encode([f"a photo of {PLACEHOLDER}"], sdxl.token_embeddings("dog")), [3], steps=2)
    assert imgs.shape == (1, 3, 16, 16) and torch.isfinite(imgs).all()


def test_other_scheduler(sd1):
    sd1.generate(sd1.encode(["x"]), [0], steps=2, scheduler="euler")
    assert type(sd1.pipeline.scheduler).__name__ == "EulerDiscreteScheduler"
    with pytest.raises(DmpbenchError, match="unknown scheduler"):
        sd1.generate(sd1.encode(["x"]), [0], steps=2, scheduler="nope")


def test_bad_prompts(sd1):
    with pytest.raises(DmpbenchError, match="no learned tokens"):
        sd1.encode([f"a {PLACEHOLDER}"])
    with pytest.raises(DmpbenchError, match="no .* placeholder"):
        sd1.encode(["a cat"], torch.zeros(1, sd1.ctx_dim))
    with pytest.raises(DmpbenchError, match=r"\[K, 16\]"):
        sd1.encode([f"a {PLACEHOLDER}"], torch.zeros(1, 8))
    with pytest.raises(DmpbenchError, match="more than one"):
        sd1.encode([f"{PLACEHOLDER} and {PLACEHOLDER}"], torch.zeros(1, 16))
    with pytest.raises(DmpbenchError, match="do not fit"):
        sd1.encode([f"a {PLACEHOLDER}"], torch.zeros(80, 16))


def test_missing_weights_are_one_line(tmp_path):
    with pytest.raises(DmpbenchError, match="Realistic_Vision_V4.0_noVAE.*networked machine") as err:
        load_synthesis("sd-rv4")
    assert "\n" not in str(err.value)
    with pytest.raises(DmpbenchError, match="no model_index.json"):
        load_synthesis(str(tmp_path))
    with pytest.raises(DmpbenchError, match="neither a diffusers folder"):
        load_synthesis(str(tmp_path / "missing"))
