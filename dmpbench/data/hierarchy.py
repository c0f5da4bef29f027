"""Class hierarchies for the treecut task, in one JSON format for every world:

    {"root": "<id>", "children": {"<id>": ["<child id>", ...], ...}, "names": {"<id>": "<readable name>"}}

Leaves are nodes with no ``children`` entry; a node's name is ``names.get(id, id)``. For a dataset, the
leaves' names must be exactly its class names (the mini tree ships in ``data/hierarchies/``; ImageNet's
WordNet tree is built by ``wordnet.py`` or read from a file the user supplies).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Sequence

from dmpbench.errors import DmpbenchError


@dataclass(frozen=True)
class ClassTree:
    root: str
    children: dict[str, tuple[str, ...]]
    names: dict[str, str]

    @classmethod
    def from_dict(cls, data: dict, source: str = "tree") -> "ClassTree":
        shape = f"{source}: a class tree needs 'root' (a string), 'children' (node -> list of child ids) and optionally 'names' (node -> name)"
        if not isinstance(data, dict) or not isinstance(data.get("root"), str) or not isinstance(data.get("children"), dict):
            raise DmpbenchError(shape)
        names = data.get("names", {})
        children = data["children"]
        if not all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in children.values()):
            raise DmpbenchError(f"{source}: every 'children' entry must be a list of node ids (strings)")
        if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
            raise DmpbenchError(f"{source}: 'names' must map node ids to names (strings)")
        tree = cls(data["root"], {k: tuple(v) for k, v in children.items()}, dict(names))
        tree.validate_structure(source)
        return tree

    @classmethod
    def load(cls, spec: str | Path) -> "ClassTree":
        """A built-in tree by name (``"mini"``) or a JSON file path."""
        path = Path(spec)
        if not path.suffix:
            ref = resources.files("dmpbench.data").joinpath("hierarchies", f"{spec}.json")
            if not ref.is_file():
                raise DmpbenchError(f"no built-in class tree {spec!r}; pass a tree JSON file (set task.tree=PATH)")
            return cls.from_dict(json.loads(ref.read_text()), source=str(spec))
        try:
            return cls.from_dict(json.loads(path.read_text()), source=str(path))
        except OSError as exc:
            raise DmpbenchError(f"cannot read class tree {path}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise DmpbenchError(f"class tree {path} is not valid JSON (line {exc.lineno})") from exc
        except UnicodeDecodeError as exc:
            raise DmpbenchError(f"class tree {path} is not a UTF-8 JSON file") from exc

    def to_dict(self) -> dict:
        return {"root": self.root, "children": {k: list(v) for k, v in self.children.items()}, "names": self.names}

    # -- structure ----------------------------------------------------------------------------
    @cached_property
    def parent(self) -> dict[str, str]:
        return {c: p for p, kids in self.children.items() for c in kids}

    @cached_property
    def nodes(self) -> list[str]:
        """All nodes reachable from the root, depth first, in the file's child order. A node met twice (a
        cycle, or two parents) is an error here, before anything walks the tree (a cycle would never end)."""
        out, stack, seen = [], [self.root], set()
        while stack:
            node = stack.pop()
            if node in seen:
                raise DmpbenchError(f"tree: node {node!r} appears twice (a class tree must be a tree, without cycles)")
            seen.add(node)
            out.append(node)
            stack.extend(reversed(self.children.get(node, ())))
        return out

    @cached_property
    def leaves(self) -> list[str]:
        return [n for n in self.nodes if not self.children.get(n)]

    @cached_property
    def internal(self) -> list[str]:
        return [n for n in self.nodes if self.children.get(n)]

    def name(self, node: str) -> str:
        return self.names.get(node, node)

    def path(self, node: str) -> list[str]:
        """Root-to-node path (both included)."""
        out = [node]
        while out[-1] != self.root:
            out.append(self.parent[out[-1]])
        return out[::-1]

    def validate_structure(self, source: str) -> None:
        try:
            seen = set(self.nodes)
        except DmpbenchError as exc:
            raise DmpbenchError(str(exc).replace("tree:", f"{source}:", 1)) from None
        orphans = sorted(set(self.children) - seen)
        if orphans:
            raise DmpbenchError(f"{source}: node {orphans[0]!r} is not reachable from the root {self.root!r}")
        if self.root in self.parent:
            raise DmpbenchError(f"{source}: the root {self.root!r} has a parent")
        if not self.children.get(self.root):
            raise DmpbenchError(f"{source}: the root {self.root!r} has no children")
        leaf_names = [self.name(n) for n in self.leaves]
        if len(set(leaf_names)) != len(leaf_names):
            raise DmpbenchError(f"{source}: two leaves share a name")

    def check_covers(self, classnames: Sequence[str], dataset: str) -> dict[str, int]:
        """Map each leaf to its label; the leaf names must be exactly the dataset's class names."""
        by_name = {self.name(n): n for n in self.leaves}
        missing = [c for c in classnames if c not in by_name]
        if missing:
            raise DmpbenchError(
                f"the class tree does not cover dataset {dataset!r}: {len(missing)} class(es) are not leaves "
                f"(first: {missing[0]!r})"
            )
        extra = sorted(set(by_name) - set(classnames))
        if extra:
            raise DmpbenchError(f"the class tree has {len(extra)} leaves that are not classes of {dataset!r} (first: {extra[0]!r})")
        return {by_name[c]: i for i, c in enumerate(classnames)}
