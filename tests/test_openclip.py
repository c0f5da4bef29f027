"""OpenClipBackbone with random ViT-B-16 weights (nothing downloaded): CoOp soft prompts, deep prompts, errors."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dmpbench.backbones.openclip import OpenClipBackbone  # noqa: E402
from dmpbench.errors import DmpbenchError  # noqa: E402
from dmpbench.registry import BACKBONES  # noqa: E402

NAMES = ["St. Bernard", "Boeing 737-200", "sea_lion"]
ATOL = 1e-4


@pytest.fixture(scope="module")
def bb():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return OpenClipBackbone("ViT-B-16", pretrained=None)


@pytest.fixture(scope="module")
def small():
    """A smaller open_clip ViT (same classes as ViT-B-16) for the slower image-side and loading tests."""
    return OpenClipBackbone("ViT-S-32", pretrained=None)


@pytest.fixture(scope="module")
def reference(bb):
    with torch.no_grad():
        return bb.encode_text([f"a photo of a {n.replace('_', ' ')}." for n in NAMES])


def test_registered_and_identity(bb):
    assert BACKBONES.get("openclip") is OpenClipBackbone
    assert bb.world == "paper" and bb.name == "ViT-B-16/none"
    assert bb.embed_dim == 512 and bb.ctx_dim == 512
    assert "random-seed0" in bb.cache_key
    assert all(not p.requires_grad for p in bb.model.parameters())
    assert not bb.model.training


def test_random_weights_are_reproducible(small):
    again = OpenClipBackbone("ViT-S-32", pretrained="none")
    assert again.cache_key == small.cache_key
    a, b = again.model.state_dict(), small.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in ("token_embedding.weight", "visual.proj"))


def test_token_embeddings(bb):
    emb = bb.token_embeddings("a photo of a")
    assert emb.shape == (4, 512)
    assert torch.equal(emb[0], emb[3])  # "a" twice


def test_vocabulary_embeddings_are_the_token_table(bb):
    table = bb.vocabulary_embeddings()
    assert table.shape == (49408, bb.ctx_dim) and not table.requires_grad
    ids = bb.tokenizer.encode("a photo of a")
    assert torch.equal(table[ids].float(), bb.token_embeddings("a photo of a"))


def test_unified_context_equals_hand_prompt(bb, reference):
    ctx = bb.token_embeddings("a photo of a").requires_grad_(True)
    out = bb.encode_with_context(ctx, NAMES, batch_size=2)  # several class batches
    assert out.dtype == torch.float32 and out.shape == (len(NAMES), 512)
    torch.testing.assert_close(out, reference, atol=ATOL, rtol=1e-4)
    out.pow(2).sum().backward()
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in bb.model.parameters())


def test_class_specific_context_equals_hand_prompt(bb, reference):
    base = bb.token_embeddings("a photo of a")
    ctx = base.unsqueeze(0).repeat(len(NAMES), 1, 1).requires_grad_(True)
    out = bb.encode_with_context(ctx, NAMES, batch_size=3)
    torch.testing.assert_close(out, reference, atol=ATOL, rtol=1e-4)
    out[1].sum().backward()
    assert ctx.grad[1].abs().sum() > 0 and ctx.grad[0].abs().sum() == 0  # class 1 only sees its own context


def test_class_token_positions(bb):
    # front: "{name} a photo of a." ; middle: "a photo {name} of a."
    ctx = bb.token_embeddings("a photo of a")
    names = NAMES[:3]
    with torch.no_grad():
        front = bb.encode_with_context(ctx, names, class_token_position="front")
        middle = bb.encode_with_context(ctx, names, class_token_position="middle")
        spaced = [n.replace("_", " ") for n in names]  # CoOp feeds "sea lion" for "sea_lion"
        ref_front = bb.encode_text([f"{n} a photo of a." for n in spaced])
        ref_middle = bb.encode_text([f"a photo {n} of a." for n in spaced])
    torch.testing.assert_close(front, ref_front, atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(middle, ref_middle, atol=ATOL, rtol=1e-4)
    with pytest.raises(DmpbenchError, match="class_token_position"):
        bb.encode_with_context(ctx, names, class_token_position="left")


def _capture_inputs(blocks, layers):
    """Forward pre-hooks recording the (batch-first) input of the given resblocks."""
    seen, handles = {}, []
    for i in layers:
        def hook(mod, args, kwargs=None, i=i):
            seen[i] = args[0].detach().clone()
        handles.append(blocks[i].register_forward_pre_hook(hook))
    return seen, handles


def test_deep_text_prompts(bb):
    ctx = bb.token_embeddings("a photo of a")
    names = NAMES[:2]
    blocks = bb.model.transformer.resblocks
    seen, handles = _capture_inputs(blocks, [1, 2])
    with torch.no_grad():
        plain = bb.encode_with_context(ctx, names)
    for h in handles:
        h.remove()
    assert bb.model.transformer.batch_first
    # deep prompts equal to the hidden states already there (class-specific) change nothing
    same = [seen[1][:, 1:5], seen[2][:, 1:5]]
    with torch.no_grad():
        out = bb.encode_with_context(ctx, names, text_prompts=same)
    torch.testing.assert_close(out, plain, atol=ATOL, rtol=1e-4)
    # learnable unified deep prompts change the output and receive gradients
    deep = [torch.zeros(4, 512, requires_grad=True) for _ in range(2)]
    out = bb.encode_with_context(ctx, names, text_prompts=deep)
    assert (out - plain).abs().max() > 1e-3
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in deep)
    with pytest.raises(DmpbenchError, match="shape of ctx"):
        bb.encode_with_context(ctx, names, text_prompts=[torch.zeros(3, 512)])


def test_visual_prompts(small):
    torch.manual_seed(0)
    images = torch.randn(1, 3, 224, 224)
    width = small.model.visual.transformer.width
    with torch.no_grad():
        plain = small.encode_image(images)
        ref = small.model.encode_image(images)
    torch.testing.assert_close(plain, ref)
    # layer-0 tokens appended before ln_pre; layer-1 tokens replaced by what was already there -> no change
    vp0 = torch.randn(2, width)
    seen, handles = _capture_inputs(small.model.visual.transformer.resblocks, [1])
    with torch.no_grad():
        shallow = small.encode_image(images, visual_prompts=[vp0])
    for h in handles:
        h.remove()
    assert (shallow - plain).abs().max() > 1e-4  # the prompt tokens are attended to
    with torch.no_grad():
        deep_same = small.encode_image(images, visual_prompts=[vp0, seen[1][:, -2:]])
    torch.testing.assert_close(deep_same, shallow, atol=ATOL, rtol=1e-4)
    vp = [vp0.clone().requires_grad_(True), torch.zeros(2, width, requires_grad=True)]
    small.encode_image(images, visual_prompts=vp).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in vp)
    assert all(p.grad is None for p in small.model.parameters())


def test_autocast_returns_float32(small):
    # CPU autocast stands in for the runner's CUDA bf16 autocast: float32 out, values close to fp32
    torch.manual_seed(0)
    images = torch.randn(1, 3, 224, 224)
    ctx = small.token_embeddings("a photo of a")
    with torch.no_grad():
        img32 = small.encode_image(images)
        txt32 = small.encode_with_context(ctx, NAMES[:2], text_prompts=[ctx])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            img16 = small.encode_image(images)
            txt16 = small.encode_with_context(ctx, NAMES[:2], text_prompts=[ctx])
    assert img16.dtype == torch.float32 and txt16.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(img16, img32).min() > 0.97
    assert torch.nn.functional.cosine_similarity(txt16, txt32).min() > 0.97


def test_transform(bb):
    from PIL import Image

    x = bb.image_transform()(Image.new("RGB", (300, 200), (120, 30, 200)))
    assert x.shape == (3, 224, 224)
    assert "224" in bb.transform_key


def test_missing_weights_are_one_clear_line(tmp_path):
    with pytest.raises(DmpbenchError) as err:
        OpenClipBackbone("ViT-B-16", pretrained="openai", cache_dir=str(tmp_path))
    msg = str(err.value)
    assert "\n" not in msg and "ViT-B-16/openai" in msg and "create_model_and_transforms" in msg
    assert "local checkpoint" in msg


def test_bad_names(tmp_path):
    with pytest.raises(DmpbenchError, match="ViT-B-16"):
        OpenClipBackbone("ViT-B-61", pretrained=None)
    with pytest.raises(DmpbenchError, match="known open_clip tag"):
        OpenClipBackbone("ViT-B-16", pretrained="not-a-tag")
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(DmpbenchError, match="cannot build"):
        OpenClipBackbone("ViT-S-32", pretrained=str(bad))


def test_cached_tag_and_local_checkpoint(small, tmp_path, monkeypatch):
    """A tag whose weights sit in the Hugging Face cache loads offline; so does a local checkpoint path."""
    import open_clip.pretrained as ocp
    from safetensors.torch import save_file

    repo, revision = "dmpbench-test/fake-vit-s-32", "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setitem(ocp._PRETRAINED, "ViT-S-32", {"faketag": ocp._pcfg(hf_hub=f"{repo}/")})
    cache = tmp_path / "hub"
    snap = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / revision
    snap.mkdir(parents=True)
    (cache / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
    (cache / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text(revision)
    weights = snap / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in small.model.state_dict().items()}, str(weights))

    tagged = OpenClipBackbone("ViT-S-32", pretrained="faketag", cache_dir=str(cache), init_seed=123)
    assert tagged.name == "ViT-S-32/faketag" and tagged.cache_key.startswith("openclip:ViT-S-32:faketag-")
    local = OpenClipBackbone("ViT-S-32", pretrained=str(weights), init_seed=7)
    assert local.cache_key.startswith("openclip:ViT-S-32:file-") and local.name.endswith("open_clip_model.safetensors")
    with torch.no_grad():
        want = small.encode_text(["a dog."])
        torch.testing.assert_close(tagged.encode_text(["a dog."]), want)
        torch.testing.assert_close(local.encode_text(["a dog."]), want)
