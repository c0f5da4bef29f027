"""The mini class trees (dmpbench/data/hierarchies/*.json) are valid trees over their datasets' labels, with
readable node names and room for the treecut task's 25 distinct cuts."""

import json
from pathlib import Path

import pytest

import dmpbench
from dmpbench.data.hierarchy import ClassTree
from dmpbench.data.mini import MINI_SUITE, MiniObjects, MiniUnion
from dmpbench.metrics.treecut import sample_treecuts

HIERARCHIES = Path(dmpbench.__file__).parent / "data" / "hierarchies"
TREES = {"mini": MiniUnion, "mini_objects": MiniObjects}


@pytest.mark.parametrize("spec", sorted(TREES))
def test_tree_is_valid(spec):
    tree = json.loads((HIERARCHIES / f"{spec}.json").read_text())
    root, children, names = tree["root"], tree["children"], tree["names"]
    parents = {}
    for node, kids in children.items():
        assert kids, f"{node} has an empty children list"
        for kid in kids:
            assert kid not in parents, f"{kid} has two parents"
            parents[kid] = node
    assert root not in parents
    nodes = set(children) | set(parents)
    assert {n for n in nodes if n not in parents} == {root}  # exactly one root
    # every node is reachable from the root (no cycles, no orphans), depth >= 3
    seen, depth, frontier = {root}, {root: 0}, [root]
    while frontier:
        node = frontier.pop()
        for kid in children.get(node, []):
            assert kid not in seen
            seen.add(kid)
            depth[kid] = depth[node] + 1
            frontier.append(kid)
    assert seen == nodes
    leaves = [n for n in nodes if n not in children]
    assert len(leaves) >= 30
    assert min(depth[leaf] for leaf in leaves) >= 3
    assert sorted(names.get(leaf, leaf) for leaf in leaves) == sorted(TREES[spec].CLASSNAMES)
    assert all(isinstance(v, str) and v for v in names.values())
    # every node's name is a readable phrase (it is put into a prompt): no identifiers with underscores
    assert all("_" not in names.get(n, n) for n in nodes)


@pytest.mark.parametrize("spec", sorted(TREES))
def test_tree_allows_25_distinct_treecuts(spec):
    cuts = sample_treecuts(ClassTree.load(spec))
    assert len(cuts) == 25 and len({frozenset(c["frontier"]) for c in cuts}) == 25


def test_suite_trees_exist():
    suite = MINI_SUITE["treecut"]
    for spec in [suite["tree"], *suite.get("trees", {}).values()]:
        ClassTree.load(spec)
