import torch
import pytest

from dmpbench.data.hierarchy import ClassTree
from dmpbench.errors import DmpbenchError
from dmpbench.metrics.treecut import frontier, hierarchical_consistency, leaf_to_frontier, sample_treecuts

TREE = ClassTree.from_dict({
    "root": "thing",
    "children": {
        "thing": ["animal", "vehicle", "plant"],
        "animal": ["mammal", "bird"],
        "mammal": ["cat", "dog", "horse"],
        "bird": ["owl", "duck"],
        "vehicle": ["car", "boat", "plane"],
        "plant": ["tree", "flower"],
        "tree": ["oak", "pine"],
        "flower": ["rose", "tulip"],
    },
    "names": {"thing": "thing"},
})


def test_frontier_rules():
    assert frontier(TREE, set()) == TREE.leaves
    assert frontier(TREE, {"thing"}) == TREE.leaves  # the root is never collapsed
    assert frontier(TREE, {"animal", "plant"}) == ["animal", "car", "boat", "plane", "plant"]
    # "mammal" is collapsed but under a collapsed "animal": it does not survive
    assert frontier(TREE, {"animal", "mammal", "plant"}) == ["animal", "car", "boat", "plane", "plant"]
    assert frontier(TREE, {"mammal", "vehicle", "plant"}) == ["mammal", "owl", "duck", "vehicle", "plant"]


def test_treecuts_are_25_distinct_and_fixed_by_the_seed():
    cuts = sample_treecuts(TREE)
    assert len(cuts) == 25
    assert [c["p"] for c in cuts] == [p for p in (0.9, 0.7, 0.5, 0.3, 0.1) for _ in range(5)]
    assert len({frozenset(c["frontier"]) for c in cuts}) == 25
    assert cuts == sample_treecuts(TREE)
    assert cuts != sample_treecuts(TREE, seed=1)
    # every cut covers each leaf exactly once
    for cut in cuts:
        covered = sorted(l for n in cut["frontier"] for l in TREE.leaves if n in TREE.path(l))
        assert covered == sorted(TREE.leaves)


def test_high_collapse_probability_gives_coarser_cuts():
    cuts = sample_treecuts(TREE)
    size = lambda p: sum(len(c["frontier"]) for c in cuts if c["p"] == p)  # noqa: E731
    assert size(0.9) < size(0.1)


def test_too_small_tree_cannot_give_25_distinct_cuts():
    tiny = ClassTree.from_dict({"root": "r", "children": {"r": ["a", "b"], "a": ["x", "y"], "b": ["u", "v"]}})
    with pytest.raises(DmpbenchError, match="too small"):
        sample_treecuts(tiny)


def test_leaf_to_frontier_and_hca():
    labels = {leaf: i for i, leaf in enumerate(TREE.leaves)}
    nodes = ["mammal", "owl", "duck", "vehicle", "plant"]
    mapping = leaf_to_frontier(TREE, nodes, labels)
    assert mapping.tolist() == [0, 0, 0, 1, 2, 3, 3, 3, 4, 4, 4, 4]
    leaves = ["cat", "owl", "car"]
    correct = {n: torch.tensor([True, True, True]) for n in TREE.internal}
    assert hierarchical_consistency(correct, torch.tensor([True, True, True]), TREE, leaves) == 100.0
    correct["mammal"] = torch.tensor([False, True, True])  # only image 0 passes through mammal
    correct["bird"] = torch.tensor([True, True, False])  # image 2 does not pass through bird: ignored
    assert hierarchical_consistency(correct, torch.tensor([True, True, False]), TREE, leaves) == pytest.approx(100 / 3)


def test_tree_validation_errors():
    with pytest.raises(DmpbenchError, match="appears twice"):
        ClassTree.from_dict({"root": "r", "children": {"r": ["a", "b"], "a": ["b"]}})
    with pytest.raises(DmpbenchError, match="not reachable"):
        ClassTree.from_dict({"root": "r", "children": {"r": ["a"], "z": ["q"]}})
    with pytest.raises(DmpbenchError, match="does not cover"):
        TREE.check_covers(["cat", "zebra"], "toy")
    with pytest.raises(DmpbenchError, match="not classes of"):
        TREE.check_covers(["cat"], "toy")
