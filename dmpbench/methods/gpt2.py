"""Autoregressive baseline (Diffusion Meta-Prompts A.5.1 and Table 8's "GPT-2" row): prompts discretised to
tokens, a GPT-2 trained to produce them from the text condition.

What the paper does: each repository prompt's K vectors are replaced by their top-5 nearest tokens in
the CLIP token-embedding space; the tokens, turned back into text, fine-tune a pretrained GPT-2 with LoRA
(cross-entropy), conditioned on the diffusion model's text inputs.

What we do, and where it differs (written here and in the README):

* discretisation as the paper: per context position, the 5 vocabulary rows of the backbone's own
  token-embedding table (``Backbone.vocabulary_embeddings``) nearest in Euclidean distance, nearest first;
  the target sequence is the K x 5 token ids, position by position;
* the model is ``transformers``' ``GPT2LMHeadModel`` over the backbone's token ids (its output vocabulary is
  the CLIP tokenizer's), **trained from scratch here** in both worlds (``gpt2: {"pretrained": false}`` in
  every record's audit): a pretrained GPT-2 speaks GPT-2's BPE vocabulary, and the round trip through text
  is not implemented; this is the deviation from the paper;
* condition: the label set's condition (one text embedding per class name, as the DMP's) enters as prefix
  embeddings through a linear projection, then a learned start token; loss on the K x 5 target tokens;
* decoding a sampled sequence: each context position's vector is the mean of its 5 sampled tokens'
  embeddings (the paper does not say how tokens become a prompt again); sampling is ancestral
  (temperature 1) from a generator seeded by the run's seed, ``num_prompts`` sequences per label set.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from torch import nn

from dmpbench.baselines.base import FewShotData
from dmpbench.cachefiles import atomic_path
from dmpbench.errors import DmpbenchError
from dmpbench.methods.repository import REPOSITORY_DEFAULTS, REPOSITORY_MINI, REPOSITORY_RANGES, RepositoryGenerator, optimise
from dmpbench.registry import METHODS

TOP = 5  # tokens per context position (the paper's top-5)
MAX_POSITIONS = 1024  # GPT-2's: condition tokens (one per class name) + start + K x TOP


def nearest_tokens(prompts: torch.Tensor, vocabulary: torch.Tensor, top: int = TOP) -> torch.Tensor:
    """``[N, K, d]`` prompts -> ``[N, K, top]`` ids of the nearest vocabulary rows (Euclidean), nearest first."""
    flat = prompts.reshape(-1, prompts.shape[-1]).float()
    dist = torch.cdist(flat, vocabulary.float())
    return dist.topk(top, dim=1, largest=False).indices.view(*prompts.shape[:2], top)


class ConditionedGPT2(nn.Module):
    """GPT-2 over token ids with a projected condition sequence as prefix."""

    def __init__(self, vocab: int, cond_dim: int, length: int, width: int, layers: int, heads: int):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        self.config_dict = {"vocab": vocab, "cond_dim": cond_dim, "length": length, "width": width, "layers": layers, "heads": heads}
        cfg = GPT2Config(vocab_size=vocab, n_positions=length, n_embd=width, n_layer=layers, n_head=heads,
                         bos_token_id=None, eos_token_id=None)
        self.gpt = GPT2LMHeadModel(cfg)
        self.cond = nn.Linear(cond_dim, width)
        self.start = nn.Parameter(torch.zeros(width))

    def logits(self, cond: torch.Tensor, cond_mask: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``cond [B, L, D]`` (``cond_mask [B, L]``), ``tokens [B, T]`` -> next-token logits ``[B, T + 1, V]`` for
        the positions after the start token (the last one predicts token T + 1)."""
        b = cond.shape[0]
        embeds = torch.cat([self.cond(cond), self.start.expand(b, 1, -1), self.gpt.transformer.wte(tokens)], 1)
        mask = torch.cat([cond_mask, torch.ones(b, 1 + tokens.shape[1], dtype=cond_mask.dtype, device=cond.device)], 1)
        # positions count from the first real condition token (left padding keeps the targets aligned)
        positions = (mask.cumsum(1) - 1).clamp_min(0)
        hidden = self.gpt.transformer(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).last_hidden_state
        # the LM head (a [width x vocabulary] product per position, most of the cost) only where a token is predicted
        return self.gpt.lm_head(hidden[:, cond.shape[1]:])


def _pad_left(conds: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Condition sequences of different lengths -> ``[B, L, D]`` left-padded, and their masks."""
    length = max(c.shape[0] for c in conds)
    out = torch.zeros(len(conds), length, conds[0].shape[1])
    mask = torch.zeros(len(conds), length, dtype=torch.long)
    for i, c in enumerate(conds):
        out[i, length - c.shape[0]:] = c
        mask[i, length - c.shape[0]:] = 1
    return out, mask


@METHODS.register("gpt2")
class GPT2Generator(RepositoryGenerator):
    """GPT-2 generating top-5 token discretisations of CoOp prompts from the label set's description"""

    name = "gpt2"
    #: 2: the LM head runs only on the predicted positions (same loss; the tied embedding's gradient is summed
    #: in another order, so the trained weights differ in the last bits from version 1)
    trainer_version = 2
    sampling_keys = ("num_prompts",)
    default_config = {**REPOSITORY_DEFAULTS, "width": 128, "layers": 2, "heads": 4, "gpt2_steps": 1000, "gpt2_batch_size": 64,
                      "gpt2_lr": 1e-3, "num_prompts": 10}
    ranges = {**REPOSITORY_RANGES, "width": ">=1", "layers": ">=1", "heads": ">=1", "gpt2_steps": ">=1",
              "gpt2_batch_size": ">=1", "gpt2_lr": ">0", "num_prompts": ">=1"}
    world_defaults = {"mini": REPOSITORY_MINI}

    def generator_steps(self) -> dict[str, int]:
        return {"gpt2": int(self.config["gpt2_steps"])}

    def fit_generator(self, directory: Path, train_sets: list[FewShotData]) -> None:
        self.vocabulary = self.backbone.vocabulary_embeddings().float().cpu()
        if self.load_cached(directory, self._load):
            return
        prompts, conds, _ = self.training_pairs(train_sets)
        self.prompt_shape = tuple(prompts.shape[1:])
        targets = nearest_tokens(prompts, self.vocabulary).flatten(1)  # [N, K * TOP]
        # how much of the repository's spread survives: distinct token sequences per label set (the paper:
        # "almost identical across seeds")
        distinct = len({tuple(t.tolist()) for t in targets})
        cond, cond_mask = _pad_left(conds)
        gen = torch.Generator().manual_seed(int(self.config["repo_seed"]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.config["repo_seed"]))
            self.model = ConditionedGPT2(self.vocabulary.shape[0], cond.shape[2], MAX_POSITIONS,
                                         int(self.config["width"]), int(self.config["layers"]), int(self.config["heads"]))
        opt = torch.optim.AdamW(self.model.parameters(), lr=float(self.config["gpt2_lr"]), weight_decay=1e-4)
        bs = int(self.config["gpt2_batch_size"])

        def step_loss() -> torch.Tensor:
            idx = torch.randint(0, targets.shape[0], (bs,), generator=gen)
            logits = self.model.logits(cond[idx], cond_mask[idx], targets[idx, :-1])
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[idx].reshape(-1))

        loss = optimise(self.ctx, self.model, opt, int(self.config["gpt2_steps"]), "gpt2", step_loss)
        history = {"pretrained": False, "repository": int(targets.shape[0]), "distinct_token_sequences": distinct,
                   "final_loss": round(float(loss), 4)}
        with atomic_path(directory / "gpt2.safetensors") as tmp:
            save_model(self.model, str(tmp))  # the input and output token embeddings are tied
        self.mark_trained(directory, history, prompt_shape=list(self.prompt_shape), model=self.model.config_dict)

    def _load(self, directory: Path) -> bool:
        meta = json.loads((directory / "history.json").read_text())
        self.prompt_shape = tuple(meta["prompt_shape"])
        self.model = ConditionedGPT2(**meta["model"])
        load_model(self.model, str(directory / "gpt2.safetensors"))
        self.model.eval()
        return True

    @torch.no_grad()
    def generate(self, classnames, dataset: str, seed: int) -> torch.Tensor:
        n, (k, _) = int(self.config["num_prompts"]), self.prompt_shape
        cond = self.condition(classnames, dataset).unsqueeze(0).expand(n, -1, -1)
        if cond.shape[1] + 1 + k * TOP > MAX_POSITIONS:
            raise DmpbenchError(f"gpt2: {cond.shape[1]} class names do not fit GPT-2's {MAX_POSITIONS} positions with {k * TOP} prompt tokens")
        mask = torch.ones(n, cond.shape[1], dtype=torch.long)
        gen = torch.Generator().manual_seed(int(seed))
        tokens = torch.zeros(n, 0, dtype=torch.long)
        for _ in range(k * TOP):
            probs = self.model.logits(cond, mask, tokens)[:, -1].float().softmax(-1)
            tokens = torch.cat([tokens, torch.multinomial(probs, 1, generator=gen)], 1)
        return self.vocabulary[tokens.view(n, k, TOP)].mean(2)
