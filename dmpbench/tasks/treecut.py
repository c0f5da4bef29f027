"""Treecut generalisation (DMP Table 12 / Figure 4, ProTeCt's metrics): cross-task generalisation of
prompts learned on the source dataset (ImageNet in the paper, all classes, K shots: the prompts of the
cross-dataset task) to classification at other levels of a class tree over a test dataset (ImageNet and
its variants, SUN397 in the paper; the union of the mini datasets in the mini world).

MTA: mean top-1 accuracy over 25 treecuts (``metrics/treecut.py``), each a label set of frontier nodes
named by the tree, each test image labelled by the frontier node covering its leaf. HCA: share of test
images correct at every internal node of their path (among that node's children) and at the leaf.
The cuts are drawn once from a fixed seed, saved under the cache directory, and their hash goes into
each record, so every method is scored on the same cuts. The model is fixed: no checkpoint is chosen on
test data. Every kind of classifier is scored (``common.LabelSetPredictor``): image features that follow the
label set (TAC; a generated prompt that prompts the image tower) are taken per label set, and image-conditioned
classifiers (CoCoOp, Prompt Diffusion) per image.
"""

from __future__ import annotations

import json

import torch
from tqdm.auto import tqdm

from dmpbench.baselines.base import ClassificationMethod, LabelSet
from dmpbench.context import RunContext, stable_hash
from dmpbench.data.hierarchy import ClassTree
from dmpbench.data.wordnet_tree import build_wordnet_tree
from dmpbench.errors import DmpbenchError
from dmpbench.locking import artefact_lock
from dmpbench.metrics.treecut import hierarchical_consistency, leaf_to_frontier, sample_treecuts
from dmpbench.cachefiles import try_load, write_json
from dmpbench.config import SEED_MAX
from dmpbench.registry import DATASETS, TASKS
from dmpbench.tasks import common
from dmpbench.tasks.base import Metrics, Task


@TASKS.register("treecut", "hierarchical consistency: MTA over 25 treecuts and HCA")
class Treecut(Task):
    name = "treecut"
    metrics = ("mta", "hca")
    published_tables = (("diffusion_meta_prompts", "12"),)
    # tree: "" = the world's tree for the dataset; or a built-in name or a JSON file path
    # source: "" = the world's cross-dataset source (ImageNet / mini_mnist)
    default_config = {"shots": 16, "tree": "", "treecut_seed": 0, "source": ""}
    ranges = {"shots": ">=1", "treecut_seed": f"0..{SEED_MAX}"}

    @classmethod
    def validate_config(cls, config: dict) -> None:
        if config["tree"] and config["tree"] != "wordnet":
            ClassTree.load(config["tree"])  # a malformed tree file fails before any work
        if config["source"]:
            DATASETS.get(config["source"])

    def units(self, datasets: list[str] | None) -> list[str]:
        return list(datasets or [self.world.suite["treecut"]["dataset"]])

    def source(self) -> str:
        return self.config["source"] or self.world.suite["cross_dataset"]["source"]

    def tree_for(self, unit: str) -> ClassTree:
        """``task.tree``, else the world's tree for the dataset: a built-in name, a JSON path, or
        ``wordnet`` (built from the dataset's wnids with nltk's WordNet: ImageNet and its variants)."""
        suite = self.world.suite["treecut"]
        spec = self.config["tree"] or suite.get("trees", {}).get(unit) or (suite.get("tree") if unit == suite["dataset"] else None)
        if not spec:
            raise DmpbenchError(f"treecut: no class tree for dataset {unit!r}; supply one with --set task.tree=PATH (format in data/hierarchy.py)")
        if spec == "wordnet":
            ds = self.world.dataset(unit)
            if not hasattr(ds, "wnids"):
                raise DmpbenchError(f"treecut: dataset {unit!r} has no WordNet ids; supply a tree with --set task.tree=PATH")
            return build_wordnet_tree(ds.wnids, ds.classnames)
        return ClassTree.load(spec)

    def cuts(self, tree: ClassTree, ctx: RunContext) -> list[dict]:
        key = {"tree": tree.to_dict(), "seed": self.config["treecut_seed"]}
        path = ctx.cache_dir / "treecuts" / f"{stable_hash(key)}.json"
        with artefact_lock(path):  # concurrent ranks/shards: one samples and writes, the others read
            if path.exists():  # a corrupt file is redrawn (same seed, same cuts) and rewritten
                cached = try_load(f"cached treecuts {path}", lambda: _checked_cuts(json.loads(path.read_text()), tree))
                if cached is not None:
                    return cached
            cuts = sample_treecuts(tree, seed=int(self.config["treecut_seed"]))
            write_json(path, cuts)
        return cuts

    def run(self, unit: str, method: ClassificationMethod, ctx: RunContext) -> Metrics:
        ds = self.world.dataset(unit)
        tree = self.tree_for(unit)
        leaf_labels = tree.check_covers(ds.classnames, unit)
        cuts = self.cuts(tree, ctx)
        ctx.audit["treecuts"] = {"count": len(cuts), "hash": stable_hash(cuts), "sizes": [len(c["frontier"]) for c in cuts]}
        source = self.source()
        common.fit_on(self.world, ctx, method, source, int(self.config["shots"]), "all", [source])
        ts = common.test_set(self.world, ctx, unit, common.class_split(self.world, unit, "all"))
        labelset, labels = ts.labelset, ts.labels
        common.record_test(ctx, "all", labelset, labels)
        templates = tuple(ds.templates)
        label_leaf = {v: k for k, v in leaf_labels.items()}
        leaves = [label_leaf[i] for i in range(len(label_leaf))]
        label_sets = [*(cut["frontier"] for cut in cuts), leaves, *(list(tree.children[node]) for node in tree.internal)]
        predictor = common.LabelSetPredictor(method, ctx, ts, [tree.name(n) for nodes in label_sets for n in nodes])
        bar = tqdm(total=len(label_sets), desc=f"{method.name} treecut label sets", unit="set", disable=not ctx.progress, leave=False)

        def classify(nodes: list[str]) -> torch.Tensor:
            """``[P, N]`` predicted index into ``nodes`` for every test image."""
            pred = predictor.predict(LabelSet(tuple(tree.name(n) for n in nodes), unit, templates))
            bar.update()
            return pred

        accs = []
        for cut in cuts:
            target = leaf_to_frontier(tree, cut["frontier"], leaf_labels)[labels]
            pred = classify(cut["frontier"])
            accs.append((pred == target).float().mean(dim=1) * 100.0)
        mta_per_prompt = torch.stack(accs).mean(0)

        image_leaves = [label_leaf[int(y)] for y in labels]
        leaf_pred = classify(leaves)
        node_pred = {}
        for node in tree.internal:
            kids = list(tree.children[node])
            pred = classify(kids)
            child_of = torch.tensor([_child_on_path(tree, node, leaf, kids) for leaf in image_leaves])
            node_pred[node] = pred == child_of
        bar.close()
        hca = [
            hierarchical_consistency({v: c[p] for v, c in node_pred.items()}, leaf_pred[p] == labels, tree, image_leaves)
            for p in range(leaf_pred.shape[0])
        ]
        return {unit: {"mta": float(mta_per_prompt.mean()), "hca": sum(hca) / len(hca)}}


def _checked_cuts(cuts, tree: ClassTree) -> list[dict]:
    """Cached cuts as written: a non-empty list of {"frontier": [nodes of the tree]}."""
    nodes = set(tree.nodes)
    if not isinstance(cuts, list) or not cuts or not all(
        isinstance(c, dict) and isinstance(c.get("frontier"), list) and c["frontier"] and set(c["frontier"]) <= nodes for c in cuts
    ):
        raise ValueError("not a list of treecuts of this tree")
    return cuts


def _child_on_path(tree: ClassTree, node: str, leaf: str, kids: list[str]) -> int:
    path = tree.path(leaf)
    if node in path[:-1]:
        return kids.index(path[path.index(node) + 1])
    return -1
