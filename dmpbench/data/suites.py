"""The paper world's default dataset choices per task (DMP section 4.1, CoOp/CoCoOp protocols)."""

COOP_DATASETS = [
    "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
    "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
]

PAPER_SUITE = {
    "base2new": COOP_DATASETS,
    "cross_dataset": {"source": "imagenet", "targets": COOP_DATASETS[1:]},
    "domain_shift": {"source": "imagenet", "targets": ["imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r"]},
    "composition": ["caltech101", "ucf101"],
    # ImageNet and its variants: the WordNet tree (built with nltk on the user's machine). SUN397's
    # three-level hierarchy is not redistributable here: supply it with --set task.tree=PATH.
    "treecut": {"dataset": "imagenet", "trees": {name: "wordnet" for name in ("imagenet", "imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r")}},
}
