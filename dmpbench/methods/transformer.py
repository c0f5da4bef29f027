"""Transformer regression baseline (Diffusion Meta-Prompts A.5.1 and Table 8's "Transformer" row): a
pretrained text transformer fine-tuned with LoRA (``peft``) to predict the prompt from the text condition,
a linear layer on top, MSE loss. Non-generative: one prompt per label set.

* Encoder: the paper's RoBERTa-base in the paper world (from the local Hugging Face cache, never
  downloaded at run time); in the mini world the pretrained all-MiniLM-L6-v2 the mini CLIP already ships.
* Input text: the label set's class names joined by ", " (``condition: classnames``), or the dataset
  name (``condition: dataset``), the texts the DMP is conditioned on; mean-pooled final hidden states.
* Output: the prompt's coordinates in the repository's principal subspace (``PrincipalSubspace``; a
  fixed linear re-parametrisation of the paper's 2048-wide output layer, lossless for the repository,
  so the MSE is in unit-variance coordinates), decoded to ``[K, d]`` token embeddings.
* Training (the paper gives no recipe; ours): LoRA rank 8, alpha 16, dropout 0.1 on the attention query
  and value projections, AdamW lr 1e-3, ``steps`` full passes, each encoding every training label set
  once and scoring it against all its repository prompts.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from dmpbench.baselines.base import FewShotData
from dmpbench.cachefiles import atomic_path
from dmpbench.dmp.layout import PrincipalSubspace
from dmpbench.errors import DmpbenchError
from dmpbench.methods.repository import REPOSITORY_DEFAULTS, REPOSITORY_MINI, REPOSITORY_RANGES, RepositoryGenerator, optimise
from dmpbench.registry import METHODS

PAPER_ENCODER = "roberta-base"


def load_encoder(name: str):
    """``(tokenizer, model)`` of a local Hugging Face encoder; one line naming the fix when it is missing."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if name == "mini":
        from dmpbench.backbones.mini import text_model_dir

        name = str(text_model_dir())
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return (AutoTokenizer.from_pretrained(name, local_files_only=True),
                AutoModel.from_pretrained(name, local_files_only=True))
    except (OSError, ValueError) as exc:
        raise DmpbenchError(f"transformer: encoder {name!r} is not available offline; on a networked machine run "
                            f"`huggingface-cli download {name}` (or pass method.encoder=<local folder>)") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class PromptRegressor(nn.Module):
    """LoRA-adapted encoder + linear head: text -> prompt coordinates."""

    def __init__(self, encoder: nn.Module, dims: int, rank: int):
        super().__init__()
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=["query", "value"])
        with warnings.catch_warnings():  # peft's own deprecation notices about transformers' API
            warnings.simplefilter("ignore")
            self.encoder = get_peft_model(encoder, lora)
        self.head = nn.Linear(encoder.config.hidden_size, dims)

    def forward(self, batch: dict) -> torch.Tensor:
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if "lora_" in k or k.startswith("head.")}


@METHODS.register("transformer")
class TransformerRegressor(RepositoryGenerator):
    """Transformer + LoRA regressing the CoOp prompt from the label set's text"""

    name = "transformer"
    default_config = {**REPOSITORY_DEFAULTS, "encoder": "auto", "lora_rank": 8, "steps": 300, "lr": 1e-3}
    ranges = {**REPOSITORY_RANGES, "lora_rank": ">=1", "steps": ">=1", "lr": ">0"}
    world_defaults = {"mini": REPOSITORY_MINI}

    def encoder_name(self) -> str:
        name = self.config["encoder"]
        return ("mini" if self.backbone.world == "mini" else PAPER_ENCODER) if name == "auto" else name

    def generator_key(self) -> dict:
        return {"encoder": self.encoder_name(), "trainer": self.trainer_version}

    def generator_steps(self) -> dict[str, int]:
        return {"transformer": int(self.config["steps"])}

    def text(self, classnames, dataset: str) -> str:
        return ", ".join(classnames) if self.config["condition"] == "classnames" else dataset.replace("_", " ")

    def _tokens(self, texts: list[str]) -> dict:
        return {k: v.to(self.ctx.device) for k, v in self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt").items()}

    def fit_generator(self, directory: Path, train_sets: list[FewShotData]) -> None:
        self.tokenizer, encoder = load_encoder(self.encoder_name())
        if self.load_cached(directory, lambda d: self._load(d, encoder)):
            return
        prompts, _, names = self.training_pairs(train_sets)
        repos = [prompts[[n == d.dataset for n in names]] for d in train_sets]
        flat = prompts.flatten(1).float()
        self.prompt_shape = tuple(repos[0].shape[1:])
        self.subspace = PrincipalSubspace(flat.shape[1], max(1, flat.shape[0] - 1)).fit(flat)
        targets = [self.subspace(r.flatten(1).float()).to(self.ctx.device) for r in repos]
        batch = self._tokens([self.text(d.classnames, d.dataset) for d in train_sets])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.config["repo_seed"]))
            self.model = PromptRegressor(encoder, int(self.subspace.basis.shape[0]), int(self.config["lora_rank"])).to(self.ctx.device)
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=float(self.config["lr"]), weight_decay=1e-4)
        def step_loss() -> torch.Tensor:
            pred = self.model(batch)
            return torch.stack([F.mse_loss(pred[i].expand_as(t), t) for i, t in enumerate(targets)]).mean()

        loss = optimise(self.ctx, self.model, opt, int(self.config["steps"]), "transformer", step_loss)
        history = {"repository": int(flat.shape[0]), "label_sets": len(repos), "final_mse": round(float(loss), 4),
                   "trainable_parameters": sum(p.numel() for p in params)}
        with atomic_path(directory / "regressor.safetensors") as tmp:
            save_file({**{f"model.{k}": v.contiguous() for k, v in self.model.trainable_state().items()},
                       **{f"subspace.{k}": v for k, v in self.subspace.state_dict().items()}}, str(tmp))
        self.mark_trained(directory, history, prompt_shape=list(self.prompt_shape), dims=int(self.subspace.basis.shape[0]))

    def _load(self, directory: Path, encoder: nn.Module) -> bool:
        meta = json.loads((directory / "history.json").read_text())
        state = load_file(str(directory / "regressor.safetensors"))
        self.prompt_shape = tuple(meta["prompt_shape"])
        self.subspace = PrincipalSubspace(self.prompt_shape[0] * self.prompt_shape[1], meta["dims"])
        self.subspace.load_state_dict({k[9:]: v for k, v in state.items() if k.startswith("subspace.")})
        self.model = PromptRegressor(encoder, meta["dims"], int(self.config["lora_rank"])).to(self.ctx.device)
        missing = self.model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")}, strict=False)
        if missing.unexpected_keys or any("lora_" in k or k.startswith("head.") for k in missing.missing_keys):
            raise ValueError("the saved LoRA weights do not match the encoder")
        self.model.eval()
        return True

    @torch.no_grad()
    def generate(self, classnames, dataset: str, seed: int) -> torch.Tensor:
        coords = self.model(self._tokens([self.text(classnames, dataset)])).cpu()
        return self.subspace.inverse(coords).view(1, *self.prompt_shape)
