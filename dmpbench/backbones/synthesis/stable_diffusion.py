"""Paper-world synthesis backbones: Stable Diffusion 1.x and SDXL from local files, never downloaded.

Recipes (DMP appendix A.9, "Evaluation Setup"): SD Realistic Vision v4 with classifier-free guidance 4.5 and
30 DDIM steps; SDXL with 7.5 and 20 DDIM steps. Any SD 1.x checkpoint gets the SD recipe (the paper runs
SD v1.5 with the same prompts, Figure 27).

``source`` is a diffusers folder (``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``, ...) or a
Hugging Face repo id that is already in the local cache (``HF_HOME``); ``local_files_only`` always.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import torch

from dmpbench.backbones.synthesis.base import Recipe
from dmpbench.backbones.synthesis.diffusers_backbone import DiffusersSynthesis
from dmpbench.backbones.synthesis.prompt import TextEncoderSlot
from dmpbench.errors import DmpbenchError

SD_RECIPE = Recipe(guidance_scale=4.5, steps=30, scheduler="ddim")
SDXL_RECIPE = Recipe(guidance_scale=7.5, steps=20, scheduler="ddim")

#: preset name -> (family, default source)
PRESETS = {
    "sd-rv4": ("sd1", "SG161222/Realistic_Vision_V4.0_noVAE"),
    "sd15": ("sd1", "stable-diffusion-v1-5/stable-diffusion-v1-5"),
    "sdxl": ("sdxl", "stabilityai/stable-diffusion-xl-base-1.0"),
}
FAMILIES = {"StableDiffusionPipeline": "sd1", "StableDiffusionXLPipeline": "sdxl"}


def _fetch_hint(repo: str) -> str:
    return (f"on a networked machine run  python -c \"from diffusers import DiffusionPipeline; "
            f"DiffusionPipeline.from_pretrained('{repo}')\"  and copy the Hugging Face cache (HF_HOME) here, "
            f"or pass a local diffusers folder")


def resolve_source(source: str) -> Path:
    """A local diffusers folder for ``source`` (a folder, or a repo id in the HF cache); nothing downloaded."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise DmpbenchError(f"{path} is not a diffusers pipeline folder (no model_index.json)")
        return path
    if path.exists() or source.count("/") != 1 or source.startswith((".", "/", "~")):
        raise DmpbenchError(f"{source!r} is neither a diffusers folder nor a Hugging Face repo id (owner/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, local_files_only=True))
    except Exception as exc:  # LocalEntryNotFoundError, offline-mode errors, ...
        raise DmpbenchError(f"Stable Diffusion weights {source} are not in the local Hugging Face cache "
                            f"({type(exc).__name__}); {_fetch_hint(source)}") from exc


@contextlib.contextmanager
def quiet_loading():
    """No progress bars or info logs from diffusers / transformers while loading weights."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    state = [(m, m.get_verbosity(), m.is_progress_bar_enabled()) for m in (dlog, tlog)]
    for m, _, _ in state:
        m.set_verbosity_error()
        m.disable_progress_bar()
    try:
        yield
    finally:
        for m, verbosity, bars in state:
            m.set_verbosity(verbosity)
            if bars:
                m.enable_progress_bar()


def _digest(folder: Path) -> str:
    """Cheap identity of a pipeline folder: its configs and the size + head of each weight file."""
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(folder).as_posix()
        h.update(rel.encode())
        if f.suffix == ".json":
            h.update(f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".ckpt"):
            h.update(str(f.stat().st_size).encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def load_stable_diffusion(source: str, family: str | None = None, device: str | torch.device = "cpu",
                          dtype: torch.dtype = torch.float32, image_size: int | None = None,
                          batch_size: int = 4) -> DiffusersSynthesis:
    """SD 1.x or SDXL (``family`` "sd1"/"sdxl", read from ``model_index.json`` when None) as a backbone."""
    folder = resolve_source(source)
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DmpbenchError(f"cannot read {folder / 'model_index.json'}: {exc}") from exc
    found = FAMILIES.get(index.get("_class_name", ""))
    family = family or found
    if family not in ("sd1", "sdxl"):
        raise DmpbenchError(f"{source}: pipeline {index.get('_class_name')!r} is not a Stable Diffusion 1.x or SDXL pipeline")
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    try:
        with quiet_loading():
            if family == "sd1":
                pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True, dtype=dtype,
                                                               safety_checker=None, requires_safety_checker=False)
            else:
                pipe = StableDiffusionXLPipeline.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DmpbenchError(f"cannot load the {family} pipeline from {folder}: {msg}") from exc
    ident = f"{family}:{source}"
    key = f"{ident}:{_digest(folder)}"
    if family == "sd1":
        slots = [TextEncoderSlot(pipe.tokenizer, pipe.text_encoder, pipe.tokenizer.model_max_length,
                                 attention_mask=bool(getattr(pipe.text_encoder.config, "use_attention_mask", False)))]
        backbone = DiffusersSynthesis(pipe, slots, ident, key, SD_RECIPE, image_size=image_size, batch_size=batch_size)
    else:
        if pipe.text_encoder is None:
            raise DmpbenchError(f"{source}: SDXL pipelines without the first text encoder (refiners) are not supported")
        slots = [TextEncoderSlot(pipe.tokenizer, pipe.text_encoder, pipe.tokenizer.model_max_length, hidden="penultimate"),
                 TextEncoderSlot(pipe.tokenizer_2, pipe.text_encoder_2, pipe.tokenizer_2.model_max_length,
                                 hidden="penultimate", pooled=True)]
        zeros = bool(pipe.config.get("force_zeros_for_empty_prompt", True))
        backbone = DiffusersSynthesis(pipe, slots, ident, key, SDXL_RECIPE, zero_negative=zeros,
                                      image_size=image_size, batch_size=batch_size)
    return backbone.to(device)


def load_paper_synthesis(spec: str, device: str | torch.device = "cpu", **kwargs) -> DiffusersSynthesis:
    """``spec``: a preset (``sd-rv4``, ``sd15``, ``sdxl``), ``preset:SOURCE`` / ``sd1:SOURCE`` / ``sdxl:SOURCE``
    (a folder or repo id), or a bare diffusers folder / repo id (family from its ``model_index.json``)."""
    if spec in PRESETS:
        family, source = PRESETS[spec]
    elif ":" in spec and spec.split(":", 1)[0] in (*PRESETS, "sd1", "sdxl"):
        head, source = spec.split(":", 1)
        family = PRESETS[head][0] if head in PRESETS else head
    else:
        family, source = None, spec
    return load_stable_diffusion(source, family, device=device, **kwargs)
