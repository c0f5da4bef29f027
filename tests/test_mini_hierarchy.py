"""The mini class tree (dmpbench/data/hierarchies/mini.json) is a valid tree over mini_union's labels."""

import json
from pathlib import Path

import dmpbench
from dmpbench.data.mini import MiniUnion

TREE = Path(dmpbench.__file__).parent / "data" / "hierarchies" / "mini.json"


def test_tree_is_valid():
    tree = json.loads(TREE.read_text())
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
    assert sorted(names.get(leaf, leaf) for leaf in leaves) == sorted(MiniUnion.CLASSNAMES)
    assert all(isinstance(v, str) and v for v in names.values())
