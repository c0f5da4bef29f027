"""Mini SD: diffusers parts (AutoencoderKL 32x32 -> 8x8x4, UNet2DConditionModel on MiniLM token states) in
diffusers' StableDiffusionPipeline; one text space with the mini CLIP; the build writes loadable, checked
weights; the shipped weights load and render."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from dmpbench.backbones.mini import MiniCLIP, MiniLMTextTower
from dmpbench.backbones.synthesis import PLACEHOLDER, load_synthesis
from dmpbench.backbones.synthesis import mini_sd_build
from dmpbench.backbones.synthesis.mini_sd import CHECKPOINT_DIR, CONFIG_FILE, assemble, build_components, load_mini_sd
from dmpbench.errors import DmpbenchError


@pytest.fixture(scope="module")
def text():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return MiniLMTextTower()


@pytest.fixture(scope="module")
def fresh(text):
    vae, unet, scheduler = build_components()
    return assemble(vae, unet, scheduler, text, "mini-sd-untrained", "test")


def test_architecture(fresh):
    vae, unet = fresh.pipeline.vae, fresh.pipeline.unet
    with torch.no_grad():
        latent = vae.encode(torch.zeros(2, 3, 32, 32)).latent_dist.mean
    assert latent.shape == (2, 4, 8, 8) and fresh.pipeline.vae_scale_factor == 4
    assert unet.config.sample_size == 8 and unet.config.cross_attention_dim == 384 == fresh.ctx_dim
    assert type(fresh.pipeline).__name__ == "StableDiffusionPipeline"
    assert type(fresh.pipeline.scheduler).__name__ == "DDIMScheduler" and fresh.world == "mini"
    assert 3e6 < sum(p.numel() for p in unet.parameters()) < 8e6


def test_one_text_space_with_the_mini_clip(fresh, text):
    clip = MiniCLIP(text_tower=text)
    assert torch.equal(clip.token_embeddings("smiling person"), fresh.token_embeddings("smiling person"))
    words = fresh.token_embeddings("smiling")
    spliced = fresh.encode([f"a photo of a {PLACEHOLDER} person."], words)
    plain = fresh.encode(["a photo of a smiling person."])
    assert spliced.prompt_embeds.shape == (1, 24, 384)
    assert torch.allclose(spliced.prompt_embeds, plain.prompt_embeds, atol=1e-5)


def test_renders_32px_images_per_seed(fresh):
    cond = fresh.encode(["a photo of a square.", "a photo of a circle."])
    imgs = fresh.generate(cond, [0, 1], steps=2)
    assert imgs.shape == (2, 3, 32, 32) and 0 <= imgs.min() and imgs.max() <= 1
    assert torch.allclose(fresh.generate(cond.index(slice(1, 2)), [1], steps=2)[0], imgs[1], atol=1e-5)


def test_build_writes_checked_loadable_weights(monkeypatch, tmp_path, text):
    g = torch.Generator().manual_seed(0)
    monkeypatch.setattr(mini_sd_build, "training_set",
                        lambda seed, *args, **data: (torch.rand(8, 3, 32, 32, generator=g) * 2 - 1, ["a photo of a square."] * 4 + ["a circle"] * 4))
    monkeypatch.setattr(mini_sd_build, "MiniLMTextTower", lambda: text)
    config = mini_sd_build.build_mini_sd(0, tmp_path, log=lambda s: None, vae_steps=2, unet_steps=2, batch_size=4, warmup=1)
    assert config["training"]["unet_steps"] == 2 and config["rebuild"] == "dmpbench mini build-sd --seed 0 --unet-steps 2"
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["sha256"] == config["sha256"]
    model = load_mini_sd(checkpoint_dir=tmp_path, text=text)
    assert model.pipeline.vae.config.scaling_factor == pytest.approx(config["scaling_factor"])
    assert model.generate(model.encode(["a circle"]), [0], steps=2).shape == (1, 3, 32, 32)
    with open(tmp_path / "unet.safetensors", "r+b") as fh:  # tampered weights are refused
        fh.seek(-1, 2)
        fh.write(b"\x01")
    with pytest.raises(DmpbenchError, match="does not match the sha256"):
        load_mini_sd(checkpoint_dir=tmp_path, text=text)
    with pytest.raises(DmpbenchError, match="rebuild them with `dmpbench mini build-sd`"):
        load_mini_sd(checkpoint_dir=tmp_path / "missing", text=text)


@pytest.mark.skipif(not (CHECKPOINT_DIR / CONFIG_FILE).is_file(), reason="mini SD weights not built")
def test_shipped_mini_sd_loads_and_renders(text):
    model = load_synthesis("mini")
    config = json.loads((CHECKPOINT_DIR / CONFIG_FILE).read_text())
    assert model.name == "mini-sd" and config["training"]["unet_steps"] >= 100
    a = model.generate(model.encode(["a photo of a smiling person."]), [0], steps=5)
    assert a.shape == (1, 3, 32, 32) and a.std() > 0.02  # not a blank image


@pytest.mark.skipif(not (CHECKPOINT_DIR / CONFIG_FILE).is_file(), reason="mini SD weights not built")
def test_generate_command_uses_mini_sd_by_default(tmp_path, capsys):
    from PIL import Image

    from dmpbench.cli import main

    out = tmp_path / "face.png"
    assert main(["generate", "--prompt", "a photo of a smiling person", "--seed", "0", "--out", str(out), "--steps", "5"]) == 0
    assert Image.open(out).size == (32, 32) and "mini-sd" in capsys.readouterr().out


def test_training_set_has_captioned_objects_and_names_no_one():
    import re

    from dmpbench.backbones.synthesis.mini_sd import MAX_TOKENS
    from dmpbench.data.mini.captions import COLOUR_WORDS
    from dmpbench.data.mini.objects import CLASSNAMES

    parts = mini_sd_build.training_parts(0, objects_per_class=2, shape_plain_share=0.5)
    assert list(parts) == ["mini_faces", "mini_shapes", "mini_objects"]
    x, captions = parts["mini_objects"]
    assert x.shape == (94, 32, 32, 3) and len(captions) == 94
    assert all(name in cap for name, cap in zip(CLASSNAMES * 2, captions))
    described = [c for c in captions if "background" in c and any(w in c.split() for w in COLOUR_WORDS)]
    assert len(described) > 30 and any(" small " in c or " large " in c for c in captions)
    assert len(parts["mini_shapes"][1]) == 2400 and any("background" in c for c in parts["mini_shapes"][1])
    tokenizer = MiniLMTextTower().tokenizer
    everything = [c for _, caps in parts.values() for c in caps]
    for text in everything:  # captions describe the image, never a person: no names, numbers or identities
        assert not re.search(r"\d|identity|\bid\b|person number|named", text), text
        assert len(tokenizer(text)["input_ids"]) <= MAX_TOKENS, text
    default = mini_sd_build.training_parts(0)  # the default build's data: as before the captioned build, if shipped so
    if mini_sd_build.DEFAULTS["objects_per_class"] == 0:
        assert list(default) == ["mini_faces", "mini_shapes"] and not any(re.search(r"plain \w+ background", c) for c in default["mini_shapes"][1])
    face_words = {w for c in parts["mini_faces"][1] for w in re.findall(r"[a-z]+", c)}
    assert face_words <= {"a", "an", "photo", "of", "with", "and", "man", "woman", "person", "long", "hair", *COLOUR_WORDS,
                          *face_vocabulary()}, face_words - {"a"}


def face_vocabulary() -> set[str]:
    """Words of the faces' attribute captions (their specification), plus hair colours."""
    import re

    from dmpbench.data.mini.faces_spec import ATTRIBUTES, HAIR_COLOURS

    return {w for text in [a.positive for a in ATTRIBUTES.values()] + list(HAIR_COLOURS) for w in re.findall(r"[a-z]+", text)}


@pytest.mark.parametrize("option", [["--unet-steps", "0"], ["--objects-per-class", "-1"], ["--shape-plain-share", "1.5"]])
def test_build_sd_bad_options_are_refused_before_work(option, tmp_path, capsys):
    from dmpbench.cli import main

    assert main(["mini", "build-sd", "--out", str(tmp_path / "sd"), *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmpbench: error: mini build-sd:") and err.count("\n") == 1 and not (tmp_path / "sd").exists()
