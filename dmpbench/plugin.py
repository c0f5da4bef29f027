"""Everything a third-party method or task needs, in one import:

    from dmpbench.plugin import ClassificationMethod, LabelSet, FewShotData, TrainingPool, normalize

Expose the class through an entry point in your package's ``pyproject.toml``::

    [project.entry-points."dmpbench.methods"]
    my_method = "my_package.module:MyMethod"

and it shows up in ``dmpbench list`` and runs with ``dmpbench run --method my_method`` (README, "Adding a
method").
"""

from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, Method, TrainingPool, normalize
from dmpbench.baselines.generation import GenerationData, GenerationMethod, GenerationRequest, PromptEmbeddings
from dmpbench.context import RunContext
from dmpbench.errors import DmpbenchError
from dmpbench.registry import BACKBONES, DATASETS, METHODS, TASKS
from dmpbench.tasks.base import Task

__all__ = [
    "BACKBONES", "DATASETS", "METHODS", "TASKS", "ClassificationMethod", "DmpbenchError", "FewShotData",
    "LabelSet", "Method", "RunContext", "Task", "TrainingPool", "normalize",
    "GenerationData", "GenerationMethod", "GenerationRequest", "PromptEmbeddings",
]
