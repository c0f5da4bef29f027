"""The paper-world backbone: any open_clip CLIP (``ViT-B-16`` / ``openai`` by default), frozen.

Soft prompts follow CoOp's ``PromptLearner`` + ``TextEncoder`` exactly: the prompt ``"X X X X {name}."`` is
tokenised with open_clip's tokenizer, the embeddings of the K placeholder tokens are replaced by the context
vectors (class token at the end, in the middle or at the front, as CoOp reorders them), and the rest mirrors
open_clip's own ``CLIP.encode_text`` (cast dtype, positional embedding, causal text transformer with its
``attn_mask``, ``ln_final``, ``text_global_pool``, ``text_projection``), so that context vectors equal to the
token embeddings of ``"a photo of a"`` reproduce ``encode_text("a photo of a {name}.")``.

Deep prompts (extension points):

* ``text_prompts`` (MaPLe / PromptSRC): tensor ``j`` replaces the hidden states of the K context positions at
  the input of text layer ``j + 1``.
* ``visual_prompts`` (VPT-deep / MaPLe): tensor 0 (``[n, width]``) is appended to the patch tokens after the
  positional embedding and before ``ln_pre`` (MaPLe's placement); tensor ``j >= 1`` replaces those n tokens at
  the input of vision layer ``j``. The prompt tokens are dropped before pooling. The code is
  ``dmpbench/backbones/vit_prompts.py``, shared with the mini CLIP's ViT.

Weights are looked up offline first: a pretrained tag must already be in the Hugging Face / open_clip cache
(or ``pretrained`` is a local checkpoint path); otherwise a one-line ``DmpbenchError`` says how to provide it.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
import os
from typing import Callable, Sequence

import torch
from torch import nn
from PIL import Image

from dmpbench.backbones import vit_prompts
from dmpbench.backbones.base import Backbone
from dmpbench.errors import DmpbenchError
from dmpbench.registry import BACKBONES

RANDOM_TAGS = (None, "none", "None", "")


# -- locating weights without touching the network -------------------------------------------------
def _cached_weights(model: str, tag: str, cache_dir: str | None) -> tuple[str | None, dict, str]:
    """(path of the cached checkpoint or None, open_clip's config for the tag, where we looked)."""
    from open_clip import pretrained as ocp
    from open_clip.constants import HF_WEIGHTS_NAME

    cfg = ocp.get_pretrained_cfg(model, tag)
    hub = cfg.get("hf_hub", "")
    url = cfg.get("url", "")
    if "file" in cfg:
        return (cfg["file"] if os.path.isfile(cfg["file"]) else None), cfg, cfg["file"]
    if hub and ocp.has_hf_hub():
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hub)
        filename = filename or HF_WEIGHTS_NAME
        for name in [*ocp._get_safe_alternatives(filename), filename]:
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(found, str) and os.path.isfile(found):
                return found, cfg, f"hf-hub:{repo_id}"
        return None, cfg, f"the Hugging Face cache (hf-hub:{repo_id})"
    if url:
        target = os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        return (target if os.path.isfile(target) else None), cfg, target
    return None, cfg, "nowhere (the tag names no source)"


def _file_digest(path: str, chunk: int = 1 << 22) -> str:
    """Cheap identity of a checkpoint: size + SHA-256 of its first and last 4 MiB."""
    size = os.path.getsize(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(chunk))
        if size > 2 * chunk:
            f.seek(-chunk, os.SEEK_END)
            h.update(f.read(chunk))
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _no_warnings():
    """Silence open_clip's "initialized randomly" warning when random weights are what was asked for."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class _TextTower:
    """The pieces of open_clip's text encoder, whether they live on ``CLIP`` or on ``CustomTextCLIP.text``.

    Attributes are looked up on every access: ``Module.to`` replaces buffers (``attn_mask``), so a stored
    reference would go stale after a device move.
    """

    def __init__(self, model: nn.Module):
        src = model if hasattr(model, "token_embedding") else getattr(model, "text", None)
        self.ok = src is not None and hasattr(src, "token_embedding") and getattr(src, "cls_emb", None) is None
        self._src, self._on_clip = src, src is model

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "ok":
            raise AttributeError(name)
        src = self._src
        if name == "pool_type":
            return getattr(src, "text_pool_type" if self._on_clip else "pool_type", "argmax")
        if name == "eos_id":
            return getattr(src, "text_eos_id" if self._on_clip else "eos_id", None)
        return getattr(src, name)


@BACKBONES.register("openclip")
class OpenClipBackbone(Backbone):
    """open_clip CLIP (default ViT-B-16 / openai), frozen; CoOp soft prompts and deep prompts."""

    family = "openclip"
    world = "paper"

    def __init__(
        self,
        model: str = "ViT-B-16",
        pretrained: str | None = "openai",
        device: torch.device | str = "cpu",
        cache_dir: str | None = None,
        quick_gelu: bool | None = None,
        init_seed: int = 0,
    ) -> None:
        super().__init__()
        import open_clip
        from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict

        model_name = model.replace("/", "-")
        if model_name not in open_clip.list_models():
            close = difflib.get_close_matches(model_name, open_clip.list_models(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise DmpbenchError(f"open_clip does not know the model {model!r}{hint}")
        self.model_name = model_name
        tag_cfg: dict = {}
        if pretrained in RANDOM_TAGS:
            self.pretrained, checkpoint, ident = "none", None, f"random-seed{init_seed}"
        elif os.path.isfile(str(pretrained)):
            self.pretrained, checkpoint = str(pretrained), str(pretrained)
            ident = f"file-{_file_digest(checkpoint)}"
        else:
            tags = open_clip.list_pretrained_tags_by_model(model_name)
            if not open_clip.pretrained.is_pretrained_cfg(model_name, str(pretrained)):
                raise DmpbenchError(
                    f"pretrained={pretrained!r} is neither a known open_clip tag for {model_name} "
                    f"(known: {', '.join(tags) or 'none'}) nor an existing checkpoint file"
                )
            checkpoint, tag_cfg, where = _cached_weights(model_name, str(pretrained), cache_dir)
            if checkpoint is None:
                raise DmpbenchError(
                    f"open_clip weights {model_name}/{pretrained} are not downloaded (looked in {where}); on a "
                    f"networked machine run open_clip.create_model_and_transforms({model_name!r}, "
                    f"pretrained={pretrained!r}) to fill the cache (HF_HOME), or pass pretrained=<local checkpoint path>"
                )
            self.pretrained = str(pretrained)
            ident = f"{pretrained}-{_file_digest(checkpoint)}"
        if quick_gelu is None:
            quick_gelu = bool(tag_cfg.get("quick_gelu", False))
        self._cache_key = f"openclip:{model_name}:{ident}:qg{int(quick_gelu)}"

        quiet = _no_warnings() if checkpoint is None else contextlib.nullcontext()
        with torch.random.fork_rng(devices=[]), quiet:
            torch.manual_seed(init_seed)  # random weights are reproducible (and so cacheable)
            try:
                net = open_clip.create_model(
                    model_name,
                    pretrained=checkpoint,
                    force_quick_gelu=quick_gelu,
                    force_preprocess_cfg=merge_preprocess_dict({}, tag_cfg),
                    cache_dir=cache_dir,
                )
            except Exception as exc:  # a broken checkpoint can fail anywhere in torch.load / load_state_dict
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                msg = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
                raise DmpbenchError(f"cannot build open_clip {model_name} from {self.pretrained}: {msg}") from exc
        net.eval()
        net.requires_grad_(False)
        self.model = net
        self._transform = image_transform_v2(PreprocessCfg(**net.visual.preprocess_cfg), is_train=False)
        try:
            self.tokenizer = open_clip.get_tokenizer(model_name, cache_dir=cache_dir)
        except Exception as exc:  # HF tokenizers of some models need the hub
            raise DmpbenchError(f"cannot load the tokenizer of open_clip {model_name} offline ({type(exc).__name__})") from exc
        self.text = _TextTower(net)
        self._prompt_cache: dict = {}
        self.to(device)

    # -- identity -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        tag = os.path.basename(self.pretrained) if os.path.isfile(self.pretrained) else self.pretrained
        return f"{self.model_name}/{tag}"

    @property
    def cache_key(self) -> str:
        return self._cache_key

    @property
    def embed_dim(self) -> int:
        out = getattr(self.model.visual, "output_dim", None)
        if out is None:
            out = self.encode_text(["a"]).shape[-1]
        return int(out)

    @property
    def ctx_dim(self) -> int:
        self._need_text()
        return int(self.text.token_embedding.weight.shape[1])

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp().reshape(-1)[0])

    def to(self, device: torch.device | str) -> "OpenClipBackbone":
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    # -- images -------------------------------------------------------------------------------
    def image_transform(self) -> Callable[[Image.Image], torch.Tensor]:
        return self._transform

    def encode_image(self, images: torch.Tensor, visual_prompts: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        images = images.to(self.device)
        if not visual_prompts:
            return self.model.encode_image(images).float()
        return vit_prompts.encode_image(self.model.visual, images, visual_prompts, model=self.model_name).float()

    def visual_prompt_geometry(self) -> tuple[int, int]:
        return vit_prompts.prompt_geometry(self.model.visual, model=self.model_name)

    # -- text ---------------------------------------------------------------------------------
    def _need_text(self) -> None:
        if not self.text.ok:
            raise DmpbenchError(f"soft prompts are not supported yet for {self.model_name} (its text tower is not open_clip's TextTransformer)")

    def _encode_tokens(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts)).to(self.device)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        if len(texts) == 0:
            return torch.zeros(0, int(self.model.visual.output_dim))
        return self.model.encode_text(self._encode_tokens(texts)).float()

    def token_embeddings(self, text: str) -> torch.Tensor:
        self._need_text()
        ids = torch.tensor(self.tokenizer.encode(text), dtype=torch.long, device=self.device)
        with torch.no_grad():
            return self.text.token_embedding(ids).float()

    def vocabulary_embeddings(self) -> torch.Tensor:
        self._need_text()
        return self.text.token_embedding.weight.detach()

    def _prompt_ids(self, classnames: Sequence[str], k: int, position: str):
        """Token ids ``[C, L]`` of CoOp's reordered prompts and the ``[C, K]`` positions of the context tokens."""
        key = (tuple(classnames), k, position)
        if key in self._prompt_cache:
            return self._prompt_cache[key]
        if not hasattr(self.tokenizer, "encode"):
            raise DmpbenchError(f"soft prompts are not supported yet for {self.model_name}'s tokenizer")
        prefix = " ".join(["X"] * k)
        names = [name.replace("_", " ") for name in classnames]  # as CoOp does
        tokens = self.tokenizer([f"{prefix} {name}." for name in names])
        rows, positions = [], []
        half = k // 2
        for name, t in zip(names, tokens):
            name_len = len(self.tokenizer.encode(name))
            sos, ctx, suffix = t[:1], t[1 : 1 + k], t[1 + k :]
            cls_, rest = suffix[:name_len], suffix[name_len:]
            if position == "end":
                row, pos = t, list(range(1, 1 + k))
            elif position == "middle":
                row = torch.cat([sos, ctx[:half], cls_, ctx[half:], rest])
                pos = list(range(1, 1 + half)) + list(range(1 + half + len(cls_), 1 + k + len(cls_)))
            elif position == "front":
                row = torch.cat([sos, cls_, ctx, rest])
                pos = list(range(1 + len(cls_), 1 + len(cls_) + k))
            else:
                raise DmpbenchError(f"class_token_position must be 'end', 'middle' or 'front', got {position!r}")
            rows.append(row)
            positions.append(pos)
        out = (torch.stack(rows), torch.tensor(positions, dtype=torch.long))
        if len(self._prompt_cache) > 16:
            self._prompt_cache.clear()
        self._prompt_cache[key] = out
        return out

    def _needed_length(self, ids: torch.Tensor) -> int:
        """Sequence length that still contains every pooled token (all of it unless the mask is causal)."""
        tt = self.text
        if tt.attn_mask is None or tt.pool_type not in ("argmax", "eos"):
            return ids.shape[1]
        if tt.pool_type == "argmax":
            last = ids.argmax(dim=-1)
        else:
            last = (ids == tt.eos_id).int().argmax(dim=-1)
        return int(last.max()) + 1

    def encode_with_context(
        self,
        ctx: torch.Tensor,
        classnames: Sequence[str],
        class_token_position: str = "end",
        text_prompts: Sequence[torch.Tensor] | None = None,
        batch_size: int = 256,
    ) -> torch.Tensor:
        self._need_text()
        n_cls = len(classnames)
        if ctx.dim() not in (2, 3) or ctx.shape[-1] != self.ctx_dim or (ctx.dim() == 3 and ctx.shape[0] != n_cls):
            raise DmpbenchError(
                f"ctx must be [K, {self.ctx_dim}] or [{n_cls}, K, {self.ctx_dim}], got {list(ctx.shape)}"
            )
        k = ctx.shape[-2]
        deep = list(text_prompts or [])
        for p in deep:
            if p.shape[-2:] != ctx.shape[-2:] or (p.dim() == 3 and p.shape[0] != n_cls):
                raise DmpbenchError(f"each text prompt must have the shape of ctx {list(ctx.shape)}, got {list(p.shape)}")
        ids_all, pos_all = self._prompt_ids(classnames, k, class_token_position)
        tt = self.text
        cast_dtype = tt.transformer.get_cast_dtype()
        outs = []
        for start in range(0, n_cls, max(1, batch_size)):
            sl = slice(start, min(n_cls, start + batch_size))
            ids = ids_all[sl].to(self.device)
            pos = pos_all[sl].to(self.device)
            rows = torch.arange(ids.shape[0], device=self.device).unsqueeze(1).expand_as(pos)

            def values(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
                t = t[sl] if t.dim() == 3 else t.unsqueeze(0).expand(ids.shape[0], -1, -1)
                return t.to(device=like.device, dtype=like.dtype)

            pos_emb, attn_mask = tt.positional_embedding, tt.attn_mask
            length = self._needed_length(ids)
            if length < ids.shape[1]:
                # causal mask: states up to the pooled (EOT) token never see the padding after it, so dropping the
                # padding gives the same features ~5x faster
                ids, pos_emb, attn_mask = ids[:, :length], pos_emb[:length], attn_mask[:length, :length]
            x = tt.token_embedding(ids).to(cast_dtype)
            x = x.index_put((rows, pos), values(ctx, x))
            x = x + pos_emb.to(cast_dtype)

            def inject(h: torch.Tensor, layer: int) -> torch.Tensor:
                return h.index_put((rows, pos), values(deep[layer - 1], h))

            x = vit_prompts.run_blocks(tt.transformer, x, attn_mask, inject if deep else None, len(deep))
            x = tt.ln_final(x)
            from open_clip.transformer import text_global_pool

            x = text_global_pool(x, ids, tt.pool_type, eos_token_id=tt.eos_id)
            if tt.text_projection is not None:
                x = tt.text_projection(x) if isinstance(tt.text_projection, nn.Linear) else x @ tt.text_projection
            outs.append(x.float())
        return torch.cat(outs) if outs else torch.zeros(0, self.embed_dim, device=self.device)
