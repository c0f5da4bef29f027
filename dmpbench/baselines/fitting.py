"""The cached fit every prompt learner beyond CoOp shares: train once per (weights, data, seed, recipe),
keep the weights under the cache directory, and with ``convergence_check`` also train 2x as long (same
initialisation and batches) so that the record can show the learner converged (1x vs 2x, README
"Protocol choices"). CoOp keeps its own older cache layout (``baselines/coop.py``)."""

from __future__ import annotations

import json
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from dmpbench.baselines.base import FewShotData
from dmpbench.cachefiles import atomic_path, try_load, write_json
from dmpbench.locking import artefact_lock

Weights = dict[str, torch.Tensor]


def doubled(cfg: dict) -> dict:
    """The recipe trained 2x as long: twice the optimiser steps, or twice the epochs."""
    return {**cfg, "steps": 2 * cfg["steps"]} if int(cfg["steps"]) > 0 else {**cfg, "epochs": 2 * cfg["epochs"]}


def cached_fit(method, data: FewShotData, train: Callable[[dict, str], tuple[Weights, dict]]) -> tuple[dict[str, Weights], dict]:
    """``({"1x": weights[, "2x": weights]}, stats)`` of ``train(recipe, run_name)`` (which returns the weights and
    ``{"optimizer_steps", "train_loss"}``), from the cache when an earlier run trained it; stats are
    ``optimizer_steps_1x``, ``train_loss_1x`` (and the 2x ones). ``audit[<name>_reused]`` says it was loaded.

    A fit asked for without ``convergence_check`` is also served by the same fit cached with it (its 1x weights:
    the 1x run trains first, from the same seed and batches, so they are the same tensors; a seed-1 record's fit
    thus serves the fidelity probes of the generated variants, which ask for it without the check)."""
    cfg = {k: v for k, v in method.config.items() if k != "convergence_check"}
    checked = bool(method.config.get("convergence_check"))
    directory = _fit_dir(method, data, method.config)  # (created only when a fit is saved there)
    with artefact_lock(directory / method.name):  # concurrent ranks/shards: one trains it, the others load it
        cached = _load_fit(method, directory)
        if cached is None and not checked and "convergence_check" in method.config:
            superset = _fit_dir(method, data, {**method.config, "convergence_check": True})
            if (superset / "stats.json").exists():
                with artefact_lock(superset / method.name):
                    cached = _load_fit(method, superset)
                if cached is not None:
                    weights, stats = cached
                    cached = {"1x": weights["1x"]}, {k: v for k, v in stats.items() if k.endswith("_1x")}
        if cached is not None:
            method.ctx.audit[f"{method.name}_reused"] = True
            return cached
        runs = {"1x": cfg, **({"2x": doubled(cfg)} if checked else {})}
        weights, stats = {}, {}
        for name, run_cfg in runs.items():
            weights[name], st = train(run_cfg, name)
            stats.update({f"optimizer_steps_{name}": st["optimizer_steps"], f"train_loss_{name}": round(st["train_loss"], 4)})
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "weights.safetensors") as tmp:
            save_file({f"{run}/{k}": v.contiguous() for run, w in weights.items() for k, v in w.items()}, str(tmp))
        write_json(directory / "stats.json", stats)  # written last: its presence marks a complete fit
    return weights, stats


def _fit_dir(method, data: FewShotData, config: dict):
    """The cache directory of a fit (not created): keyed by the backbone, the data, the seed and the whole config."""
    key = {"backbone": method.backbone.cache_key, "dataset": data.dataset, "split": data.split, "seed": method.ctx.seed,
           "data_seed": data.seed, "shots": data.shots, "classes": data.classnames, "config": config}
    return method.ctx.artifact_dir(method.name, key, create=False)


def _load_fit(method, directory) -> tuple[dict[str, Weights], dict] | None:
    """A complete cached fit, or None (absent, or corrupt: then it is retrained; dmpbench.cachefiles)."""
    if not (directory / "stats.json").exists():
        return None
    return try_load(f"cached {method.name} fit {directory}", lambda: (
        _split(load_file(str(directory / "weights.safetensors"))), json.loads((directory / "stats.json").read_text())))


def _split(flat: Weights) -> dict[str, Weights]:
    """``{"1x/context": ..., "2x/...": ...}`` -> ``{"1x": {...}, "2x": {...}}`` (a file without 1x weights is corrupt)."""
    out: dict[str, Weights] = {}
    for key, value in flat.items():
        run, name = key.split("/", 1)
        out.setdefault(run, {})[name] = value
    if "1x" not in out:
        raise ValueError("no 1x weights")
    return out
