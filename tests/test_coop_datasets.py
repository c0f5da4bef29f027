"""The CoOp-layout readers on fake trees (tests/fake_coop_tree.py) and their bad-input errors."""

from __future__ import annotations

import json
import os

import pytest

import dmpbench.data.coop  # noqa: F401  (registers the readers)
from dmpbench.data.coop import COOP_DATASETS
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS

try:
    from fake_coop_tree import ALL, SPLIT_JSON, make_tree
except ImportError:  # tests/ imported as a package
    from tests.fake_coop_tree import ALL, SPLIT_JSON, make_tree

TEMPLATES = {
    "imagenet": "a photo of a {}.", "caltech101": "a photo of a {}.", "oxford_pets": "a photo of a {}, a type of pet.",
    "stanford_cars": "a photo of a {}.", "oxford_flowers": "a photo of a {}, a type of flower.",
    "food101": "a photo of {}, a type of food.", "fgvc_aircraft": "a photo of a {}, a type of aircraft.",
    "sun397": "a photo of a {}.", "dtd": "{} texture.", "eurosat": "a centered satellite photo of {}.",
    "ucf101": "a photo of a person doing {}.", "imagenet_v2": "a photo of a {}.", "imagenet_sketch": "a photo of a {}.",
    "imagenet_a": "a photo of a {}.", "imagenet_r": "a photo of a {}.",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("coop")
    return root, make_tree(root)


def test_registry_names():
    assert sorted(COOP_DATASETS) == sorted(TEMPLATES)
    for name, cls in COOP_DATASETS.items():
        assert DATASETS.get(name) is cls and cls.name == name


@pytest.mark.parametrize("name", ALL)
def test_reader(tree, name):
    root, expected = tree
    ds = DATASETS.get(name)(data_root=str(root))
    exp = expected[name]
    assert ds.classnames == exp["classnames"]
    assert tuple(ds.templates) == (TEMPLATES[name],)
    assert ds.world == "paper"
    for which, n in exp["counts"].items():
        items = ds.split(which)
        assert len(items) == n, which
        assert {it.label for it in items} == set(range(len(exp["classnames"])))
        assert all(not os.path.isabs(it.key) and it.key.startswith(ds.dataset_dir + "/") for it in items)
        assert ds.split(which) == items  # fixed order
    item = ds.split("test")[0]
    img = ds.load_image(item)
    assert img.mode == "RGB" and img.size == (12, 12)
    if set(exp["counts"]) == {"test"}:
        with pytest.raises(DmpbenchError, match="test-only"):
            ds.split("train")
    if "imagenet_labels" in exp:
        assert ds.imagenet_labels == exp["imagenet_labels"]
    # keys and fingerprint do not depend on where the data root is
    again = DATASETS.get(name)(data_root=str(root) + "/")
    assert again.fingerprint == ds.fingerprint and again.split("test") == ds.split("test")


def test_imagenet_val_is_test(tree):
    root, _ = tree
    ds = DATASETS.get("imagenet")(data_root=str(root))
    assert ds.split("val") == ds.split("test")
    assert ds.wnids == sorted(ds.wnids)


def test_env_data_root(tree, monkeypatch):
    root, _ = tree
    monkeypatch.setenv("DMPBENCH_DATA", str(root))
    assert DATASETS.get("dtd")().data_root == str(root)


# -- bad input ---------------------------------------------------------------------------------
def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_missing_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("DMPBENCH_DATA", raising=False)
    with pytest.raises(DmpbenchError) as err:
        DATASETS.get("eurosat")()
    assert "--data-root" in _one_line(err) and "DMPBENCH_DATA" in str(err.value)
    with pytest.raises(DmpbenchError) as err:
        DATASETS.get("eurosat")(data_root=str(tmp_path / "nowhere"))
    assert "does not exist" in _one_line(err)


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(DmpbenchError) as err:
        DATASETS.get("oxford_pets")(data_root=str(tmp_path))
    assert "oxford_pets" in _one_line(err) and "DATASETS.md" in str(err.value)


def test_missing_split_file(tmp_path):
    make_tree(tmp_path, ["dtd"])
    os.remove(tmp_path / "dtd" / "split_zhou_DescribableTextures.json")
    with pytest.raises(DmpbenchError) as err:
        DATASETS.get("dtd")(data_root=str(tmp_path))
    assert "split_zhou_DescribableTextures.json" in _one_line(err)
    make_tree(tmp_path, ["fgvc_aircraft"])
    os.remove(tmp_path / "fgvc_aircraft" / "images_variant_val.txt")
    with pytest.raises(DmpbenchError, match="images_variant_val.txt"):
        DATASETS.get("fgvc_aircraft")(data_root=str(tmp_path))


def test_split_entry_points_to_missing_file(tmp_path):
    make_tree(tmp_path, ["food101"])
    split = json.loads((tmp_path / "food-101" / "split_zhou_Food101.json").read_text())
    victim = tmp_path / "food-101" / "images" / split["train"][1][0]
    os.remove(victim)
    ds = DATASETS.get("food101")(data_root=str(tmp_path))
    ds.split("test")  # other splits are fine
    with pytest.raises(DmpbenchError) as err:
        ds.split("train")
    assert str(victim) in _one_line(err) and "missing" in str(err.value)


def test_undecodable_image_is_named(tmp_path):
    make_tree(tmp_path, ["eurosat"])
    ds = DATASETS.get("eurosat")(data_root=str(tmp_path))
    item = ds.split("test")[0]
    with open(ds.path(item), "wb") as f:
        f.write(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DmpbenchError) as err:
        ds.load_image(item)
    assert ds.path(item) in _one_line(err) and "decode" in str(err.value)


def test_classnames_do_not_match_labels(tmp_path):
    make_tree(tmp_path, ["oxford_pets", "ucf101", "fgvc_aircraft", "imagenet_sketch"])
    path = tmp_path / "oxford_pets" / "split_zhou_OxfordPets.json"
    split = json.loads(path.read_text())
    split["test"][0][2] = "siamese"  # label 0 gets a second name
    path.write_text(json.dumps(split))
    with pytest.raises(DmpbenchError) as err:
        DATASETS.get("oxford_pets")(data_root=str(tmp_path))
    assert "class names do not match labels" in _one_line(err) and "siamese" in str(err.value)

    path = tmp_path / "ucf101" / "split_zhou_UCF101.json"
    split = json.loads(path.read_text())
    for which in split:  # no image has label 1 any more: labels 0 and 2 only
        split[which] = [e for e in split[which] if e[1] != 1]
    path.write_text(json.dumps(split))
    with pytest.raises(DmpbenchError, match="label 1 has no images"):
        DATASETS.get("ucf101")(data_root=str(tmp_path))

    path = tmp_path / "ucf101" / "split_zhou_UCF101.json"
    path.write_text(json.dumps({"train": [["a.jpg", 0]], "val": [], "test": []}))
    with pytest.raises(DmpbenchError, match=r"not \[relative_path, label, classname\]"):
        DATASETS.get("ucf101")(data_root=str(tmp_path))

    (tmp_path / "fgvc_aircraft" / "variants.txt").write_text("707-320\nA300B4\n")
    with pytest.raises(DmpbenchError, match="Cessna 172"):
        DATASETS.get("fgvc_aircraft")(data_root=str(tmp_path))

    (tmp_path / "imagenet-sketch" / "classnames.txt").write_text("n01440764 tench\n")
    with pytest.raises(DmpbenchError, match="n01443537 has no line in classnames.txt"):
        DATASETS.get("imagenet_sketch")(data_root=str(tmp_path))


def test_imagenet_train_val_folders_must_agree(tmp_path):
    make_tree(tmp_path, ["imagenet"])
    val = tmp_path / "imagenet" / "images" / "val" / "n01484850"
    for f in val.iterdir():
        f.unlink()
    val.rmdir()
    with pytest.raises(DmpbenchError, match="different class folders"):
        DATASETS.get("imagenet")(data_root=str(tmp_path))


def test_split_json_names(tmp_path):
    # the split file's class names (with "_" -> " ") are the class names, whatever the folder names are
    make_tree(tmp_path, ["caltech101"])
    ds = DATASETS.get("caltech101")(data_root=str(tmp_path))
    assert ds.classnames == [c.replace("_", " ") for c in SPLIT_JSON["caltech101"][3]]
