"""Small fake data roots in the CoOp layout (CoOp's DATASETS.md): tiny JPEGs, three classes per dataset.

``make_tree(root)`` writes every dataset (or the ones named) and returns, per registry name, what a reader
should find: ``{"classnames": [...], "counts": {"train": n, "val": n, "test": n}}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

#: per split, images per class in the fake split files
PER_CLASS = {"train": 3, "val": 1, "test": 2}


def write_jpeg(path: Path, seed: int = 0, size: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (size, size), ((37 * seed) % 256, (91 * seed) % 256, (53 * seed + 100) % 256))
    img.putpixel((seed % size, (seed // size) % size), (255, 255, 255))
    img.save(path, format="JPEG")


# name -> (dataset_dir, image_dir, split_file, raw class names as in the split file, relative path of image i)
SPLIT_JSON = {
    "caltech101": ("caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json",
                   ["accordion", "airplane", "dollar_bill"], lambda c, i: f"{c}/image_{i:04d}.jpg"),
    "oxford_pets": ("oxford_pets", "images", "split_zhou_OxfordPets.json",
                    ["abyssinian", "american_bulldog", "basset_hound"], lambda c, i: f"{c}_{i}.jpg"),
    "stanford_cars": ("stanford_cars", "", "split_zhou_StanfordCars.json",
                      ["2000 AM General Hummer SUV", "2012 Acura RL Sedan", "2012 Tesla Model S Sedan"],
                      lambda c, i: f"cars_{'test' if i >= 100 else 'train'}/{i:05d}.jpg"),
    "oxford_flowers": ("oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json",
                       ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"],
                       lambda c, i: f"image_{i:05d}.jpg"),
    "food101": ("food-101", "images", "split_zhou_Food101.json",
                ["apple_pie", "baby_back_ribs", "baklava"], lambda c, i: f"{c}/{1000 + i}.jpg"),
    "sun397": ("sun397", "SUN397", "split_zhou_SUN397.json",
               ["abbey", "outdoor airplane cabin", "indoor apse"],
               lambda c, i: f"{c[0]}/{c.replace(' ', '_')}/sun_{i:04d}.jpg"),
    "dtd": ("dtd", "images", "split_zhou_DescribableTextures.json",
            ["banded", "blotchy", "braided"], lambda c, i: f"{c}/{c}_{i:04d}.jpg"),
    "eurosat": ("eurosat", "2750", "split_zhou_EuroSAT.json",
                ["Annual Crop Land", "Forest", "Sea or Lake"], lambda c, i: f"{c.replace(' ', '')}/{c[:3]}_{i}.jpg"),
    "ucf101": ("ucf101", "UCF-101-midframes", "split_zhou_UCF101.json",
               ["Apply_Eye_Makeup", "Archery", "Baby_Crawling"], lambda c, i: f"{c}/v_{c}_g{i:02d}_c01.jpg"),
}

WNIDS = ["n01440764", "n01443537", "n01484850"]
IMAGENET_NAMES = ["tench", "goldfish", "great_white shark"]


def _split_json(root: Path, name: str) -> dict:
    dataset_dir, image_dir, split_file, classes, rel = SPLIT_JSON[name]
    base = root / dataset_dir
    split = {}
    n = 0
    for which, per in PER_CLASS.items():
        entries = []
        for label, cname in enumerate(classes):
            for _ in range(per):
                i = n + (100 if which == "test" else 0)
                n += 1
                path = rel(cname, i)
                write_jpeg(base / image_dir / path, seed=n)
                entries.append([path, label, cname])
        split[which] = entries
    (base / split_file).write_text(json.dumps(split))
    return {"classnames": [c.replace("_", " ") for c in classes], "counts": {k: v * len(classes) for k, v in PER_CLASS.items()}}


def _aircraft(root: Path) -> dict:
    base = root / "fgvc_aircraft"
    classes = ["707-320", "A300B4", "Cessna 172"]
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "variants.txt").write_text("\n".join(classes) + "\n")
    n = 0
    for which, per in PER_CLASS.items():
        lines = []
        for cname in classes:
            for _ in range(per):
                n += 1
                imid = f"{1000000 + n}"
                write_jpeg(base / "images" / f"{imid}.jpg", seed=n)
                lines.append(f"{imid} {cname}")
        (base / f"images_variant_{which}.txt").write_text("\n".join(lines) + "\n")
    return {"classnames": classes, "counts": {k: v * len(classes) for k, v in PER_CLASS.items()}}


def _classnames_txt(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classnames.txt").write_text("".join(f"{w} {c}\n" for w, c in zip(WNIDS, IMAGENET_NAMES)))


def _imagenet_family(root: Path, name: str) -> dict:
    names = [c.replace("_", " ") for c in IMAGENET_NAMES]
    if name == "imagenet":
        base = root / "imagenet"
        _classnames_txt(base)
        n = 0
        for sub, per in (("train", 3), ("val", 2)):
            for w in WNIDS:
                for _ in range(per):
                    n += 1
                    write_jpeg(base / "images" / sub / w / f"{w}_{n}.JPEG", seed=n)
        return {"classnames": names, "counts": {"train": 9, "val": 6, "test": 6}}
    if name == "imagenet_v2":
        base = root / "imagenetv2"
        _classnames_txt(base)
        for label in range(len(WNIDS)):
            for j in range(2):
                write_jpeg(base / "imagenetv2-matched-frequency-format-val" / str(label) / f"{j}abc.jpeg", seed=label * 7 + j)
        return {"classnames": names, "counts": {"test": 6}}
    if name == "imagenet_sketch":
        base = root / "imagenet-sketch"
        _classnames_txt(base)
        for k, w in enumerate(WNIDS):
            for j in range(2):
                write_jpeg(base / "images" / w / f"sketch_{j}.JPEG", seed=k * 5 + j)
        return {"classnames": names, "counts": {"test": 6}}
    # -A and -R: only two of the three classes are present; the folders define the subset
    dataset_dir, image_dir = {"imagenet_a": ("imagenet-adversarial", "imagenet-a"),
                              "imagenet_r": ("imagenet-rendition", "imagenet-r")}[name]
    base = root / dataset_dir
    _classnames_txt(base)
    for k, w in enumerate([WNIDS[0], WNIDS[2]]):
        for j in range(2):
            write_jpeg(base / image_dir / w / f"{j}.jpg", seed=k * 3 + j)
    (base / image_dir / "README.txt").write_text("not a class folder\n")
    return {"classnames": [names[0], names[2]], "counts": {"test": 4}, "imagenet_labels": [0, 2]}


ALL = list(SPLIT_JSON) + ["fgvc_aircraft", "imagenet", "imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r"]


def make_tree(root: str | os.PathLike, names=None) -> dict[str, dict]:
    root = Path(root)
    out = {}
    for name in names or ALL:
        if name in SPLIT_JSON:
            out[name] = _split_json(root, name)
        elif name == "fgvc_aircraft":
            out[name] = _aircraft(root)
        else:
            out[name] = _imagenet_family(root, name)
    return out
