"""Zero-shot CLIP: class embeddings from a hand-written prompt, no learning (CoOp's "CLIP" row)."""

from __future__ import annotations

import torch

from dmpbench.baselines.base import ClassificationMethod, FewShotData, LabelSet, TrainingPool, normalize
from dmpbench.registry import METHODS

HAND_PROMPT = "a photo of a {}."


@METHODS.register("zeroshot")
class ZeroShot(ClassificationMethod):
    """CLIP with the dataset's hand prompt (no learning)."""

    name = "zeroshot"
    # template: "dataset" = the per-dataset template CoOp uses (e.g. EuroSAT's "a centered satellite photo
    # of {}."); "hand" = "a photo of a {}." for every dataset. Several templates are averaged (CLIP style).
    default_config = {"template": "dataset"}
    ranges = {"template": ("dataset", "hand")}
    classes_independent = True

    def fit(self, data: FewShotData, pool: TrainingPool) -> None:
        if self.config["template"] not in ("dataset", "hand"):
            from dmpbench.errors import DmpbenchError

            raise DmpbenchError(f"zeroshot: template must be 'dataset' or 'hand', got {self.config['template']!r}")

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        templates = labels.templates if self.config["template"] == "dataset" else (HAND_PROMPT,)
        per_template = torch.stack(
            [normalize(self.backbone.encode_text([t.format(c) for c in labels.classnames]).float()) for t in templates]
        )
        return normalize(per_template.mean(0)).unsqueeze(0)
