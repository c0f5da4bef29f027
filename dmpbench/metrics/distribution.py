"""Distribution metrics of generated images against real ones (DreamDistribution, Diffusion Model Patching).

* FID: torchmetrics' ``FrechetInceptionDistance``. Paper world: its Inception-v3 (torch-fidelity's
  ``pt_inception-2015-12-05`` weights, 2048-d pool features), never downloaded here: missing weights fail
  with one line. Mini world (and anyone who asks): any ``FeatureExtractor`` as the feature network, e.g. the
  mini CLIP's image tower; the record names it, so a mini FID is never read as an Inception FID.
* Density and coverage (Naeem et al. 2020) with k = 5 nearest neighbours in the *real* set's feature space,
  computed by the ``prdc`` package (NAVER's reference implementation): density = (1/kM) Σ_j Σ_i
  1[fake_j ∈ B(real_i, NND_k(real_i))], coverage = (1/N) Σ_i 1[∃ j: fake_j ∈ B(real_i, NND_k(real_i))].
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings

import numpy as np
import torch

from dmpbench.errors import DmpbenchError
from dmpbench.metrics.extractors import FeatureExtractor, torch_hub_checkpoint

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_NAME = "Inception-v3 (torch-fidelity pt_inception-2015-12-05, pool3 2048-d)"
DENSITY_COVERAGE_K = 5


def inception_fid(weights: str | None = None):
    """torchmetrics' FID with its Inception network, from local weights only."""
    try:
        import torch_fidelity  # noqa: F401
    except ImportError as exc:
        raise DmpbenchError("FID's Inception network needs torch-fidelity: pip install torch-fidelity") from exc
    if weights is None:
        weights = str(torch_hub_checkpoint(INCEPTION_WEIGHTS, "FID's Inception-v3 (torch-fidelity)",
                                           "python -c \"from torchmetrics.image.fid import FrechetInceptionDistance; "
                                           "FrechetInceptionDistance(feature=2048)\""))
    elif not os.path.isfile(weights):
        raise DmpbenchError(f"Inception weights file {weights} does not exist")
    from torchmetrics.image.fid import FrechetInceptionDistance

    return FrechetInceptionDistance(feature=2048, normalize=True, feature_extractor_weights_path=weights)


class _Given(torch.nn.Module):
    """Features handed over as they are (so torchmetrics computes FID of precomputed features)."""

    def __init__(self, d: int):
        super().__init__()
        self.num_features = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fid_from_features(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """FID of two feature sets ``[N, D]`` (torchmetrics' Fréchet distance in float64)."""
    if len(real_features) < 2 or len(fake_features) < 2:
        raise DmpbenchError("FID needs at least two real and two generated images")
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Given(real_features.shape[1]), normalize=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric.update(real_features.detach().double().cpu(), real=True)
        metric.update(fake_features.detach().double().cpu(), real=False)
        return float(metric.compute())


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, extractor: FeatureExtractor | str = "inception",
                     batch_size: int = 64, inception_weights: str | None = None) -> float:
    """FID of ``fake`` against ``real`` images (``[N, 3, H, W]`` in ``[0, 1]``); ``extractor`` is a
    ``FeatureExtractor`` or ``"inception"`` (torchmetrics' Inception-v3)."""
    if len(real) < 2 or len(fake) < 2:
        raise DmpbenchError("FID needs at least two real and two generated images")
    if not isinstance(extractor, str):
        return fid_from_features(extractor.features(real, batch_size), extractor.features(fake, batch_size))
    if extractor != "inception":
        raise DmpbenchError(f"unknown FID feature network {extractor!r} (inception, or a feature extractor)")
    metric = inception_fid(inception_weights)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for imgs, is_real in ((real, True), (fake, False)):
            for i in range(0, len(imgs), batch_size):
                metric.update(imgs[i : i + batch_size].float(), real=is_real)
        return float(metric.compute())


def density_coverage(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = DENSITY_COVERAGE_K) -> dict[str, float]:
    """``{"density", "coverage"}`` of fake against real features (Naeem et al. 2020; ``prdc``)."""
    from prdc import compute_prdc

    if len(real_features) <= k:
        raise DmpbenchError(f"density/coverage with k={k} needs more than {k} real samples, got {len(real_features)}")
    if len(fake_features) <= k:
        raise DmpbenchError(f"density/coverage with k={k} needs more than {k} generated samples, got {len(fake_features)}")
    real = np.asarray(real_features.detach().float().cpu().numpy(), dtype=np.float32)
    fake = np.asarray(fake_features.detach().float().cpu().numpy(), dtype=np.float32)
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        out = compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {"density": float(out["density"]), "coverage": float(out["coverage"])}
