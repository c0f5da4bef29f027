"""Pieces every classification protocol shares: K-shot training data from cached image features, test
features for a label subset, and scoring a method's classifiers. Protocol rules themselves (which classes,
which seeds) stay in each task's own module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from dmpbench.backbones.feature_cache import ImageSet, image_features
from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, Probe, TrainingPool
from dmpbench.cachefiles import try_load, write_json
from dmpbench.context import RunContext, stable_hash
from dmpbench.data.base import Item
from dmpbench.errors import DmpbenchError
from dmpbench.data.splits import ClassSplit, all_classes, base_new, few_shot
from dmpbench.metrics.classification import accuracy, per_image_accuracies, predictions, similarities
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
        images=ImageSet([(ds, items)], world.backbone.image_transform()),
    )


def training_pool(world: World, ctx: RunContext, datasets: Sequence[str], shots: int, which: str) -> TrainingPool:
    return TrainingPool(list(datasets), lambda name, seed: fewshot_data(world, ctx, name, shots, which, seed), ctx.seed)


@dataclass
class TestSet:
    """The test images of a label set: cached features, labels (relabelled from 0) and the images themselves
    (for methods that prompt the image tower). Unpacks as ``labelset, feats, labels``."""

    labelset: LabelSet
    feats: torch.Tensor
    labels: torch.Tensor
    images: ImageSet

    def __iter__(self):
        return iter((self.labelset, self.feats, self.labels))


def test_set(world: World, ctx: RunContext, dataset: str, classes: ClassSplit) -> TestSet:
    """Label set, features, relabelled labels and images of the test images of ``classes``."""
    ds = world.dataset(dataset)
    test = ds.split("test")
    feats = features_of(world, ctx, dataset, test)  # the whole split, cached once for every label subset
    relabel = classes.relabel
    keep = torch.tensor([it.label in relabel for it in test], dtype=torch.bool)
    labels = torch.tensor([relabel[it.label] for it in test if it.label in relabel], dtype=torch.long)
    labelset = LabelSet(tuple(classes.names(ds.classnames)), dataset, tuple(ds.templates))
    images = ImageSet([(ds, [it for it, k in zip(test, keep.tolist()) if k])], world.backbone.image_transform())
    return TestSet(labelset, feats[keep], labels, images)


def union(parts: list[TestSet], name: str) -> TestSet:
    """The label sets, test features, labels and images of several datasets as one classification problem."""
    names, feats, labels, offset = [], [], [], 0
    for labelset, f, y in parts:
        names.extend(labelset.classnames)
        feats.append(f)
        labels.append(y + offset)
        offset += len(labelset.classnames)
    if len(set(names)) != len(names):
        raise DmpbenchError(f"composition: the datasets share class names, so their union is ambiguous ({name})")
    images = parts[0].images
    for part in parts[1:]:
        images = images + part.images
    return TestSet(LabelSet(tuple(names), name, parts[0].labelset.templates), torch.cat(feats), torch.cat(labels), images)


def test_features(method: ClassificationMethod, ctx: RunContext, ts: TestSet, labels: LabelSet | None = None) -> torch.Tensor:
    """The test images' features the method is scored on: the cached ones, or (methods that prompt the image
    tower) its own, when classifying among ``labels`` (default: the test set's)."""
    if not getattr(method, "encodes_images", False):
        return ts.feats
    with ctx.phase("encode"), ctx.autocast():
        return method.image_features(ts.images, labels or ts.labelset)


class LabelSetPredictor:
    """A fitted method's predictions on one test set for many label sets made of a fixed vocabulary of names (treecut
    scores 25 cuts and every inner node's children on one test set). Each label set is asked of the method as a task
    that scores it alone would ask (image features for it when they follow the label set, its classifiers), except
    that a per-image method whose classes are independent (``classes_independent``: CoCoOp, Prompt Diffusion) embeds
    the whole vocabulary once: the same numbers at a fraction of the text-tower passes."""

    def __init__(self, method: ClassificationMethod, ctx: RunContext, ts: TestSet, vocabulary: Sequence[str]):
        self.method, self.ctx, self.ts = method, ctx, ts
        self.follow = bool(getattr(method, "features_follow_labels", False))
        self.per_image = bool(getattr(method, "per_image", False))
        self.shared = None  # features for every label set (they do not follow it)
        self.vocabulary_sims = None  # [P, N, V] (the per-image, independent-classes path)
        if self.per_image and getattr(method, "classes_independent", False) and not self.follow:
            names = tuple(dict.fromkeys(vocabulary))
            self.index = {n: i for i, n in enumerate(names)}
            whole = LabelSet(names, ts.labelset.dataset, ts.labelset.templates)
            feats = test_features(method, ctx, ts, whole)
            with ctx.phase("sample"), torch.no_grad(), ctx.autocast():
                emb = method.image_class_embeddings(whole, feats)
            with ctx.phase("evaluate"):
                self.vocabulary_sims = similarities(feats, emb)
        elif not self.follow and not (self.per_image and getattr(method, "encodes_images", False)):
            self.shared = test_features(method, ctx, ts)

    def predict(self, labels: LabelSet) -> torch.Tensor:
        """``[P, N]`` index into ``labels.classnames`` predicted for every test image."""
        if self.vocabulary_sims is not None:
            missing = [n for n in labels.classnames if n not in self.index]
            if missing:
                raise DmpbenchError(f"label set names {missing[0]!r}, outside the vocabulary it was prepared for")
            with self.ctx.phase("evaluate"):
                return self.vocabulary_sims[:, :, [self.index[n] for n in labels.classnames]].argmax(dim=-1)
        feats = self.shared if self.shared is not None else test_features(self.method, self.ctx, self.ts, labels)
        with self.ctx.phase("sample"), torch.no_grad(), self.ctx.autocast():
            emb = self.method.image_class_embeddings(labels, feats) if self.per_image else self.method.class_embeddings(labels)
        with self.ctx.phase("evaluate"):
            return predictions(feats, emb)


def split_test_set(world: World, ctx: RunContext, dataset: str, which: str) -> TestSet:
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
            ts = split_test_set(world, ctx, probe.labels.dataset, probe.split)
            labelset, feats, labels = ts
            if tuple(labelset.classnames) != tuple(probe.labels.classnames):
                raise DmpbenchError(f"{method.name}: probe {probe.key!r} names classes that are not the {probe.split} classes of {probe.labels.dataset}")
            out = dict(probe.extra)
            for name, classifier in probe.classifiers.items():
                cached = None
                if probe.cache_dir is not None:  # (the same test images: their labels and count are in the key)
                    path = Path(probe.cache_dir) / "probes" / f"{stable_hash([probe.key, probe.labels, probe.split, name, labels.tolist()])}.json"
                    cached = try_load(f"cached probe {path}", lambda: float(json.loads(path.read_text())["acc"])) if path.exists() else None
                if cached is not None:
                    acc = cached
                elif probe.encodes_images:
                    acc = accuracy(*classifier(ts.images), labels)
                elif probe.per_image:
                    acc = per_image_accuracies(feats, classifier(feats), labels).mean()
                else:
                    acc = accuracy(feats, classifier(), labels)
                if probe.cache_dir is not None and cached is None:
                    write_json(path, {"acc": float(acc)})
                out[name] = round(float(acc), 4)
            ctx.audit.setdefault(probe.key, {})[probe.labels.dataset] = out


def score(method: ClassificationMethod, ctx: RunContext, ts: TestSet) -> float:
    """Accuracy (%) of the method's classifier(s) for the test set's label set, averaged over its prompt sets."""
    labelset, labels = ts.labelset, ts.labels
    feats = test_features(method, ctx, ts)
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
        ts = test_set(world, ctx, name, class_split(world, name, "all"))
        record_test(ctx, "all", ts.labelset, ts.labels)
        out[name] = {"acc": score(method, ctx, ts)}
    return out
