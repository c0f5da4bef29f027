"""Treecut metrics of ProTeCt (Wu et al., CVPR 2024), as DESIGN.md states them.

* A treecut collapses each internal node except the root independently with probability p; a node
  survives only if all its ancestors survive; the label set is the cut's frontier (surviving leaves and
  collapsed nodes whose ancestors survive), each leaf mapped to the frontier node covering it.
* 25 cuts: 5 at each p in {0.9, 0.7, 0.5, 0.3, 0.1}, each distinct from every cut drawn before it
  (duplicates are redrawn), from a fixed seed. MTA = mean top-1 accuracy over the cuts.
* HCA = share of test images classified correctly at every internal node on their root-to-leaf path
  (among that node's children only) and at the leaf (among all leaves).
"""

from __future__ import annotations

import random
from typing import Sequence

import torch

from dmpbench.data.hierarchy import ClassTree
from dmpbench.errors import DmpbenchError

PROBABILITIES = (0.9, 0.7, 0.5, 0.3, 0.1)
CUTS_PER_P = 5
TREECUT_SEED = 0
MAX_REDRAWS = 10_000


def frontier(tree: ClassTree, collapsed: set[str]) -> list[str]:
    out, stack = [], [tree.root]
    while stack:
        node = stack.pop()
        kids = tree.children.get(node, ())
        if not kids or (node != tree.root and node in collapsed):
            out.append(node)
        else:
            stack.extend(reversed(kids))
    return out


def sample_treecuts(
    tree: ClassTree, probabilities: Sequence[float] = PROBABILITIES, per_p: int = CUTS_PER_P, seed: int = TREECUT_SEED
) -> list[dict]:
    rng = random.Random(seed)
    collapsible = [n for n in tree.internal if n != tree.root]
    seen: set[frozenset[str]] = set()
    cuts = []
    for p in probabilities:
        for _ in range(per_p):
            for _attempt in range(MAX_REDRAWS):
                collapsed = {n for n in collapsible if rng.random() < p}
                nodes = frontier(tree, collapsed)
                key = frozenset(nodes)
                if key not in seen:
                    break
            else:
                raise DmpbenchError(f"the class tree is too small for {len(probabilities) * per_p} distinct treecuts")
            seen.add(key)
            cuts.append({"p": p, "frontier": nodes})
    return cuts


def leaf_to_frontier(tree: ClassTree, nodes: Sequence[str], leaf_labels: dict[str, int]) -> torch.Tensor:
    """``[n_leaves]`` index into ``nodes`` of the frontier node that covers each leaf label."""
    index = {n: i for i, n in enumerate(nodes)}
    out = torch.full((len(leaf_labels),), -1, dtype=torch.long)
    for leaf, label in leaf_labels.items():
        hit = next((index[a] for a in reversed(tree.path(leaf)) if a in index), None)
        if hit is None:
            raise DmpbenchError(f"treecut frontier does not cover leaf {leaf!r}")
        out[label] = hit
    return out


def hierarchical_consistency(node_correct: dict[str, torch.Tensor], leaf_correct: torch.Tensor, tree: ClassTree, image_leaves: Sequence[str]) -> float:
    """HCA in %: ``node_correct[v]`` is a bool tensor over all images (only entries of images under v
    are read); ``leaf_correct`` is the leaf-level correctness; ``image_leaves`` the leaf of each image."""
    ok = leaf_correct.clone()
    for i, leaf in enumerate(image_leaves):
        for node in tree.path(leaf)[:-1]:
            if not bool(node_correct[node][i]):
                ok[i] = False
                break
    return float(ok.float().mean() * 100.0)
