"""The WordNet tree builder with a small stand-in for nltk's WordNet (its data cannot be downloaded here)."""

import pytest

from dmpbench.data.wordnet_tree import build_wordnet_tree, load_wordnet
from dmpbench.errors import DmpbenchError


class FakeSynset:
    def __init__(self, offset, name, parent=None):
        self._offset, self._name, self.parent = offset, name, parent

    def offset(self):
        return self._offset

    def lemma_names(self):
        return [self._name]

    def hypernym_paths(self):
        path, node = [], self
        while node is not None:
            path.append(node)
            node = node.parent
        return [path[::-1]]


class FakeWordNet:
    def __init__(self):
        entity = FakeSynset(1, "entity")
        organism = FakeSynset(2, "organism", entity)
        animal = FakeSynset(3, "animal", organism)  # entity -> organism -> animal: organism has one child
        dog = FakeSynset(4, "dog", animal)
        artifact = FakeSynset(7, "artifact", entity)
        vehicle = FakeSynset(9, "vehicle", artifact)
        nodes = [entity, organism, animal, dog, FakeSynset(5, "cat", animal), FakeSynset(6, "terrier", dog), artifact,
                 vehicle, FakeSynset(8, "car", vehicle), FakeSynset(10, "boat", vehicle)]
        self.synsets = {s.offset(): s for s in nodes}

    def synset_from_pos_and_offset(self, pos, offset):
        assert pos == "n"
        return self.synsets[offset]


def test_tree_from_wordnet_paths():
    wn = FakeWordNet()
    wnids = ["n00000005", "n00000006", "n00000004", "n00000008", "n00000010"]
    names = ["cat", "terrier", "dog", "car", "boat"]
    tree = build_wordnet_tree(wnids, names, wordnet=wn)
    assert tree.root == "n00000001"
    assert sorted(tree.name(l) for l in tree.leaves) == sorted(names)
    # the single-child chain entity -> organism -> animal is contracted
    assert "n00000002" not in tree.nodes
    # "dog" is a class and the ancestor of "terrier": it keeps its own leaf
    assert tree.children["n00000004"] == ("n00000006", "n00000004:leaf")
    assert tree.check_covers(names, "toy")


def test_missing_nltk_wordnet_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_nltk(name, *args, **kwargs):
        if name.startswith("nltk"):
            raise ImportError("no nltk")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_nltk)
    with pytest.raises(DmpbenchError, match="nltk.downloader wordnet"):
        load_wordnet()
