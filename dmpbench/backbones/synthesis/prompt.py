"""Learned tokens spliced into a text encoder's input, as CoOp splices its context vectors.

CoOp tokenises ``"X X X X {classname}."`` and replaces the token embeddings of the K ``X`` placeholders by
its context vectors (``dmpbench/backbones/openclip.py``, ``mini.py``). Here the prompt text says where the
K placeholders go (``"a photo of <*> smiling"`` -> ``"a photo of X X X X smiling"``), it is tokenised
exactly as the diffusers pipeline tokenises a prompt (padding to ``max_length``), and a forward hook on the
encoder's input-embedding layer overwrites the placeholder rows with the learned vectors; the encoder then
runs unchanged (its own position embeddings, attention masks and pooling). Learned vectors equal to the
token embeddings of some words therefore reproduce the plain prompt with those words (tested).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from dmpbench.backbones.synthesis.base import PLACEHOLDER
from dmpbench.errors import DmpbenchError

PLACEHOLDER_WORD = "X"  # one token in CLIP's BPE ("x</w>") and in BERT's uncased WordPiece ("x")


@dataclass
class TextEncoderSlot:
    """One text encoder of a pipeline and how the pipeline reads it."""

    tokenizer: Any
    model: torch.nn.Module  # CLIPTextModel, CLIPTextModelWithProjection or BertModel
    max_length: int
    hidden: str = "last"  # "last" (SD 1.x, mini SD) or "penultimate" (SDXL: hidden_states[-2])
    pooled: bool = False  # SDXL's second encoder: its projected text embedding is the pooled conditioning
    attention_mask: bool = False  # pass the padding mask to the encoder (BERT; CLIP in SD runs without)

    @property
    def width(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    def placeholder_id(self) -> int:
        ids = self.tokenizer(PLACEHOLDER_WORD, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise DmpbenchError(f"placeholder {PLACEHOLDER_WORD!r} is not one token for {type(self.tokenizer).__name__}")
        return ids[0]

    def own_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def token_embeddings(self, text: str) -> torch.Tensor:
        ids = torch.tensor(self.own_ids(text), dtype=torch.long, device=self.device)
        with torch.no_grad():
            return self.model.get_input_embeddings()(ids).float()

    def _lead(self) -> int:
        """How many special tokens the tokenizer puts before the text (1: CLIP's BOS, BERT's CLS)."""
        empty = self.tokenizer("")["input_ids"]
        return 1 if empty and empty[0] in set(self.tokenizer.all_special_ids) else 0

    def tokenize(self, texts: Sequence[str], k: int) -> tuple[torch.Tensor, torch.Tensor, list[list[int] | None]]:
        """ids ``[B, max_length]``, attention mask, and per text the positions of its K placeholders (None
        for a text without the marker)."""
        full, prefixes = [], []
        for text in texts:
            if text.count(PLACEHOLDER) > 1:
                raise DmpbenchError(f"prompt {text!r} has more than one {PLACEHOLDER} placeholder")
            if PLACEHOLDER in text:
                pre, post = text.split(PLACEHOLDER)
                full.append(" ".join(p for p in (pre.strip(), " ".join([PLACEHOLDER_WORD] * k), post.strip()) if p))
                prefixes.append(pre.strip())
            else:
                full.append(text)
                prefixes.append(None)
        enc = self.tokenizer(full, padding="max_length", max_length=self.max_length, truncation=True, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        lead, pid, positions = self._lead(), None, []
        for row, pre in enumerate(prefixes):
            if pre is None:
                positions.append(None)
                continue
            pid = self.placeholder_id() if pid is None else pid
            start = lead + len(self.own_ids(pre)) if pre else lead
            pos = list(range(start, start + k))
            if pos and (pos[-1] >= ids.shape[1] or not bool((ids[row, pos] == pid).all())):
                raise DmpbenchError(f"prompt {texts[row]!r}: the {k} learned tokens do not fit in "
                                    f"{self.max_length} tokens (or the text around {PLACEHOLDER} is unusual)")
            positions.append(pos)
        return ids, mask, positions

    @contextlib.contextmanager
    def spliced(self, positions: list[list[int]], learned: torch.Tensor | None):
        """While active, the input-embedding layer's output has ``learned`` at ``positions``."""
        if learned is None:
            yield
            return
        rows = torch.tensor([r for r, pos in enumerate(positions) for _ in pos], dtype=torch.long)
        cols = torch.tensor([c for pos in positions for c in pos], dtype=torch.long)
        per_text = learned if learned.dim() == 3 else learned.unsqueeze(0).expand(len(positions), -1, -1)
        values = torch.cat([per_text[r] for r, pos in enumerate(positions) if pos])

        def hook(module, args, output):
            return output.index_put((rows.to(output.device), cols.to(output.device)),
                                    values.to(device=output.device, dtype=output.dtype))

        handle = self.model.get_input_embeddings().register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def encode(self, texts: Sequence[str], learned: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(hidden [B, L, width], pooled [B, P] or None)`` of ``texts`` with ``learned`` spliced in."""
        k = 0 if learned is None else learned.shape[-2]
        ids, mask, positions = self.tokenize(texts, k)
        if learned is None and any(p is not None for p in positions):
            raise DmpbenchError(f"a prompt has the {PLACEHOLDER} placeholder but no learned tokens were given")
        if learned is not None and any(p is None for p in positions):
            raise DmpbenchError(f"learned tokens were given but a prompt has no {PLACEHOLDER} placeholder")
        kwargs = {"attention_mask": mask.to(self.device)} if self.attention_mask else {}
        with self.spliced(positions, learned):
            out = self.model(ids.to(self.device), output_hidden_states=self.hidden == "penultimate", **kwargs)
        hidden = out.hidden_states[-2] if self.hidden == "penultimate" else out[0]
        pooled = None
        if self.pooled:
            pooled = out.text_embeds if hasattr(out, "text_embeds") else out[0]
            if pooled.dim() != 2:
                raise DmpbenchError(f"{type(self.model).__name__} gives no pooled text embedding for SDXL")
        return hidden, pooled


def check_learned(learned: torch.Tensor | None, n_texts: int, width: int) -> None:
    if learned is None:
        return
    if learned.dim() not in (2, 3) or learned.shape[-1] != width:
        raise DmpbenchError(f"learned tokens must be [K, {width}] or [B, K, {width}], got {list(learned.shape)}")
    if learned.dim() == 3 and learned.shape[0] != n_texts:
        raise DmpbenchError(f"learned tokens are given for {learned.shape[0]} prompts but there are {n_texts}")
    if learned.shape[-2] == 0:
        raise DmpbenchError("learned tokens must have at least one token (K >= 1)")
