"""Random-weight tiny Stable Diffusion 1.x / SDXL pipelines built from the real diffusers and transformers
classes (nothing downloaded): the CLIP tokenizer is rebuilt from the BPE merges open_clip ships (the first
``N_MERGES`` of them, so the vocabulary and the tiny text encoders stay small)."""

from __future__ import annotations

import gzip
from pathlib import Path

import torch

N_MERGES = 2000


def clip_tokenizer(max_length: int = 77):
    import open_clip
    from open_clip.tokenizer import bytes_to_unicode
    from transformers import CLIPTokenizer

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1 : 1 + N_MERGES]
    merges = [tuple(m.split()) for m in merges]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=merges)
    tok.model_max_length = max_length
    return tok


def _text_config(tok, hidden: int, projection: int | None = None):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_attention_heads=2,
                          num_hidden_layers=2, max_position_embeddings=tok.model_max_length, bos_token_id=tok.bos_token_id,
                          eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, projection_dim=projection or hidden)


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
                         up_block_types=["UpDecoderBlock2D"] * 2, block_out_channels=[8, 8], latent_channels=4,
                         norm_num_groups=4, layers_per_block=1, sample_size=16)


def _ddim():
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def tiny_sd1(folder: Path) -> Path:
    """A StableDiffusionPipeline (16x16 images, 8x8x4 latents) saved to ``folder``."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tok = clip_tokenizer()
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                norm_num_groups=4, attention_head_dim=4)
    pipe = StableDiffusionPipeline(vae=_vae(), text_encoder=CLIPTextModel(_text_config(tok, 16)), tokenizer=tok, unet=unet,
                                   scheduler=_ddim(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def tiny_sdxl(folder: Path) -> Path:
    """A StableDiffusionXLPipeline (16x16 images) with two tiny CLIP text encoders (16 + 24 wide)."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tok, tok2 = clip_tokenizer(), clip_tokenizer()
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16 + 24,
                                norm_num_groups=4, attention_head_dim=4, use_linear_projection=True,
                                addition_embed_type="text_time", addition_time_embed_dim=8,
                                projection_class_embeddings_input_dim=6 * 8 + 12)
    pipe = StableDiffusionXLPipeline(vae=_vae(), text_encoder=CLIPTextModel(_text_config(tok, 16)),
                                     text_encoder_2=CLIPTextModelWithProjection(_text_config(tok2, 24, projection=12)),
                                     tokenizer=tok, tokenizer_2=tok2, unet=unet, scheduler=_ddim())
    pipe.save_pretrained(folder)
    return folder
