"""ImageNet's class tree from WordNet (for the treecut task in the paper world).

Built on the user's machine with nltk's WordNet (``pip install nltk`` and, once, on a networked machine,
``python -m nltk.downloader wordnet``), or read from a tree JSON file the user supplies
(``--set task.tree=PATH``, format in ``hierarchy.py``). Each class's wnid is looked up as a noun synset,
its first hypernym path from ``entity`` becomes its ancestry, the paths are merged into one tree, and
chains of internal nodes with a single child are contracted (they add no decision to a treecut). A class
whose synset is also an ancestor of another class keeps its own leaf under that node.
"""

from __future__ import annotations

from typing import Any, Sequence

from dmpbench.data.hierarchy import ClassTree
from dmpbench.errors import DmpbenchError

HOW_TO = (
    "the WordNet tree needs nltk's WordNet: pip install nltk, then on a networked machine "
    "python -m nltk.downloader wordnet; or supply a tree file with --set task.tree=PATH"
)


def load_wordnet() -> Any:
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except ImportError as exc:
        raise DmpbenchError(HOW_TO) from exc
    except LookupError as exc:
        raise DmpbenchError(HOW_TO) from exc
    return wordnet


def build_wordnet_tree(wnids: Sequence[str], classnames: Sequence[str], wordnet: Any | None = None) -> ClassTree:
    wn = wordnet if wordnet is not None else load_wordnet()
    children: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    class_of = dict(zip(wnids, classnames))
    root = None
    for wnid in wnids:
        synset = wn.synset_from_pos_and_offset("n", int(wnid[1:]))
        path = [f"n{s.offset():08d}" for s in synset.hypernym_paths()[0]]
        for s in synset.hypernym_paths()[0]:
            names.setdefault(f"n{s.offset():08d}", s.lemma_names()[0].replace("_", " "))
        if root is None:
            root = path[0]
        elif path[0] != root:
            raise DmpbenchError(f"WordNet paths do not share a root ({root} and {path[0]})")
        for parent, child in zip(path, path[1:]):
            kids = children.setdefault(parent, [])
            if child not in kids:
                kids.append(child)
    # a class synset that is also an internal node gets a separate leaf beneath itself
    leaf_of = {}
    for wnid in wnids:
        if wnid in children:
            leaf = f"{wnid}:leaf"
            children[wnid].append(leaf)
            leaf_of[wnid] = leaf
        else:
            leaf_of[wnid] = wnid
    for wnid, leaf in leaf_of.items():
        names[leaf] = class_of[wnid]
    assert root is not None
    return ClassTree.from_dict(_contract({"root": root, "children": children, "names": names}), source="wordnet")


def _contract(tree: dict) -> dict:
    """Remove internal nodes with a single child (the root keeps its place)."""
    children = tree["children"]

    def skip(node: str) -> str:
        while len(children.get(node, ())) == 1:
            node = children[node][0]
        return node

    out: dict[str, list[str]] = {}
    stack = [tree["root"]]
    while stack:
        node = stack.pop()
        kids = [skip(k) for k in children.get(node, ())]
        if kids:
            out[node] = kids
            stack.extend(kids)
    return {"root": tree["root"], "children": out, "names": tree["names"]}
