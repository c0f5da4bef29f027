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
    "treecut": {"dataset": "imagenet", "tree": "imagenet"},
}
