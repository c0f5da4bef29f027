"""Builds the world a run uses from the backbone the user asked for: ``mini`` (the default, built in) or
an open_clip model (``ViT-B-16`` with ``--pretrained openai``, ``none`` for random weights, or a path)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import torch

from dmpbench.errors import DmpbenchError
from dmpbench.registry import BACKBONES, DATASETS
from dmpbench.world import World


def backbone_label(backbone: str, pretrained: str | None) -> str:
    """The backbone's name in records and leaderboards."""
    if backbone == "mini":
        return "mini"
    return f"{backbone}/{pretrained or 'openai'}"


def world_name(backbone: str) -> str:
    """The world a backbone name selects (known before any model is loaded)."""
    return "mini" if backbone == "mini" else "paper"


def data_root_from(arg: str | None) -> Path | None:
    root = arg or os.environ.get("DMPBENCH_DATA")
    return Path(root).expanduser() if root else None


def data_identity(backbone: str, data_root: Path | None) -> dict:
    """What identifies the data a run reads (part of the record key): the mini world's data version, or
    the absolute data root of the paper world (features or results of one root never stand in for another)."""
    if backbone == "mini":
        from dmpbench.data.mini.base import DATA_VERSION

        return {"world": "mini", "mini_data": DATA_VERSION}
    return {"world": "paper", "root": str(data_root.resolve()) if data_root else None}


def make_world(backbone: str, pretrained: str | None, data_root: Path | None, device: torch.device) -> World:
    if backbone == "mini":
        from dmpbench.data.mini import MINI_SUITE

        model = BACKBONES.get("mini")()
        suite = MINI_SUITE
    else:
        if backbone in BACKBONES.names() and backbone != "openclip":
            model = BACKBONES.get(backbone)()
        else:
            model_name = backbone.split(":", 1)[1] if backbone.startswith("openclip:") else backbone
            if model_name == "openclip":
                model_name = "ViT-B-16"
            model = BACKBONES.get("openclip")(model=model_name, pretrained=pretrained or "openai")
        from dmpbench.data.suites import PAPER_SUITE

        suite = PAPER_SUITE
    model.to(device)

    def load_dataset(name: str):
        cls = DATASETS.get(name)
        if "data_root" in inspect.signature(cls).parameters:
            if data_root is None:
                raise DmpbenchError(
                    f"dataset {name!r} needs a data root: pass --data-root DIR or set DMPBENCH_DATA "
                    "(the CoOp layout, see README 'Real models and data')"
                )
            return cls(data_root=data_root)
        return cls()

    return World(name=model.world, backbone=model, load_dataset=load_dataset, suite=suite, data_root=data_root)
