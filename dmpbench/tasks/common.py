"""Pieces every classification protocol shares: K-shot training data from cached image features, test
features for a label subset, and scoring a method's classifiers. Protocol rules themselves (which classes,
which seeds) stay in each task's own module."""

from __future__ import annotations

from typing import Sequence

import torch

from dmpbench.backbones.feature_cache import image_features
from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, Probe, TrainingPool
from dmpbench.context import RunContext
from dmpbench.data.base import Item
from dmpbench.errors import DmpbenchError
from dmpbench.data.splits import ClassSplit, all_classes, base_new, few_shot
from dmpbench.metrics.classification import accuracy, per_image_accuracies
from dmpbench.world import World


def features_of(world: World, ctx: RunContext, dataset: str, items: Sequence[Item]) -> torch.Tensor:
    return image_features(
        world.backbone,
        world.dataset(dataset),
        list(items),
        cache_dir=ctx.cache_dir / "features",
        precision=ctx.precision,
        progress=ctx.progress,
    )


def class_split(world: World, dataset: str, which: str) -> ClassSplit:
    """``"base"``, ``"new"`` or ``"all"`` classes of a dataset (base/new by CoCoOp's rule)."""
    n = len(world.dataset(dataset).classnames)
    if which == "all":
        return all_classes(n)
    base, new = base_new(n)
    return {"base": base, "new": new}[which]


def fewshot_data(world: World, ctx: RunContext, dataset: str, shots: int, which: str, seed: int | None = None) -> FewShotData:
    """K shots per class drawn on *all* classes with the run's seed (or ``seed``), then restricted to
    ``which`` (CoCoOp draws before subsampling classes)."""
    seed = ctx.seed if seed is None else seed
    ds = world.dataset(dataset)
    classes = class_split(world, dataset, which)
    items = classes.select(few_shot(ds.split("train"), shots, seed))
    feats = features_of(world, ctx, dataset, items)
    return FewShotData(
        dataset=dataset,
        classnames=classes.names(ds.classnames),
        features=feats,
        labels=torch.tensor([it.label for it in items], dtype=torch.long),
        templates=tuple(ds.templates),
        shots=shots,
        seed=seed,
        split=which,
    )


def training_pool(world: World, ctx: RunContext, datasets: Sequence[str], shots: int, which: str) -> TrainingPool:
    return TrainingPool(list(datasets), lambda name, seed: fewshot_data(world, ctx, name, shots, which, seed), ctx.seed)


def test_set(world: World, ctx: RunContext, dataset: str, classes: ClassSplit) -> tuple[LabelSet, torch.Tensor, torch.Tensor]:
    """Label set, features and relabelled labels of the test images of ``classes``."""
    ds = world.dataset(dataset)
    test = ds.split("test")
    feats = features_of(world, ctx, dataset, test)  # the whole split, cached once for every label subset
    relabel = classes.relabel
    keep = torch.tensor([it.label in relabel for it in test], dtype=torch.bool)
    labels = torch.tensor([relabel[it.label] for it in test if it.label in relabel], dtype=torch.long)
    labelset = LabelSet(tuple(classes.names(ds.classnames)), dataset, tuple(ds.templates))
    return labelset, feats[keep], labels


def union(parts: list[tuple[LabelSet, torch.Tensor, torch.Tensor]], name: str) -> tuple[LabelSet, torch.Tensor, torch.Tensor]:
    """The label sets, test features and labels of several datasets as one classification problem."""
    names, feats, labels, offset = [], [], [], 0
    for labelset, f, y in parts:
        names.extend(labelset.classnames)
        feats.append(f)
        labels.append(y + offset)
        offset += len(labelset.classnames)
    if len(set(names)) != len(names):
        raise DmpbenchError(f"composition: the datasets share class names, so their union is ambiguous ({name})")
    return LabelSet(tuple(names), name, parts[0][0].templates), torch.cat(feats), torch.cat(labels)


def split_test_set(world: World, ctx: RunContext, dataset: str, which: str) -> tuple[LabelSet, torch.Tensor, torch.Tensor]:
    """``test_set`` of the ``which`` classes of a dataset, or of the union of a ``+``-joined name's parts."""
    parts = dataset.split("+")
    sets = [test_set(world, ctx, d, class_split(world, d, which)) for d in parts]
    return sets[0] if len(parts) == 1 else union(sets, dataset)


def run_probes(world: World, ctx: RunContext, method: ClassificationMethod) -> None:
    """Score the fitted method's probes (``Probe``) on the test images of the label sets it was trained on
    and write them into the audit. The same for every method: a method without probes is skipped."""
    probes: list[Probe] = method.probes()
    if not probes:
        return
    with ctx.phase("probe"), torch.no_grad(), ctx.autocast():
        for probe in probes:
            labelset, feats, labels = split_test_set(world, ctx, probe.labels.dataset, probe.split)
            if tuple(labelset.classnames) != tuple(probe.labels.classnames):
                raise DmpbenchError(f"{method.name}: probe {probe.key!r} names classes that are not the {probe.split} classes of {probe.labels.dataset}")
            out = dict(probe.extra)
            for name, classifier in probe.classifiers.items():
                acc = per_image_accuracies(feats, classifier(feats), labels).mean() if probe.per_image else accuracy(feats, classifier(), labels)
                out[name] = round(float(acc), 4)
            ctx.audit.setdefault(probe.key, {})[probe.labels.dataset] = out


def score(method: ClassificationMethod, ctx: RunContext, labelset: LabelSet, feats: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy (%) of the method's classifier(s) for the label set, averaged over its prompt sets."""
    if getattr(method, "per_image", False):  # every test image gets its own classifier
        with ctx.phase("sample"), torch.no_grad(), ctx.autocast():
            emb = method.image_class_embeddings(labelset, feats)
        with ctx.phase("evaluate"):
            return float(per_image_accuracies(feats, emb, labels).mean())
    with ctx.phase("sample"), torch.no_grad(), ctx.autocast():
        emb = method.class_embeddings(labelset)
    with ctx.phase("evaluate"):
        return accuracy(feats, emb, labels)


def record_training(ctx: RunContext, data: FewShotData) -> None:
    ctx.audit.setdefault("train", {})[data.dataset] = {
        "classes": len(data.classnames),
        "images": int(data.labels.numel()),
        "shots": data.shots,
        "label_set": data.split,
    }


def record_test(ctx: RunContext, name: str, labelset: LabelSet, labels: torch.Tensor) -> None:
    ctx.audit.setdefault("test", {}).setdefault(labelset.dataset, {})[name] = {
        "classes": len(labelset.classnames),
        "images": int(labels.numel()),
        "first_classes": list(labelset.classnames[:3]),
        "last_classes": list(labelset.classnames[-2:]),
    }


def fit_on(world: World, ctx: RunContext, method: ClassificationMethod, dataset: str, shots: int, which: str, pool_names: Sequence[str]) -> FewShotData:
    """Build the unit's K-shot data and the task's training pool, record them, and fit the method."""
    with ctx.phase("fit"):
        data = fewshot_data(world, ctx, dataset, shots, which)
        record_training(ctx, data)
        pool = training_pool(world, ctx, pool_names, shots, which)
        pool.add(data)
        method.fit(data, pool)
    run_probes(world, ctx, method)
    return data


def transfer(world: World, ctx: RunContext, method: ClassificationMethod, source: str, targets: Sequence[str], shots: int) -> dict[str, dict[str, float]]:
    """Learn on all classes of ``source`` (K shots), then accuracy on the source's and each target's test
    set among that dataset's own classes (cross-dataset and domain-shift protocols of CoOp/CoCoOp)."""
    fit_on(world, ctx, method, source, shots, "all", [source])
    out = {}
    for name in [source, *targets]:
        labelset, feats, labels = test_set(world, ctx, name, class_split(world, name, "all"))
        record_test(ctx, "all", labelset, labels)
        out[name] = {"acc": score(method, ctx, labelset, feats, labels)}
    return out
