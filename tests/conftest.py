"""Test setup: no network (a stray hub call fails at once), CPU only, and a private cache directory."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n N: one torch thread per worker (N workers share the cores)
    import torch  # noqa: E402

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One feature/artefact cache for the whole session (what a user's ~/.cache/dmpbench is)."""
    return tmp_path_factory.mktemp("dmpbench-cache")


@pytest.fixture
def tenth_of_test_images(monkeypatch):
    """The tasks score on every tenth test image, through their own path (``common.test_set`` thinned): methods
    that classify each image with its own prompt or prompt the image tower cost per test image."""
    import torch

    from dmpbench.tasks import common

    full = common.test_set

    def every_tenth(*args):
        ts = full(*args)
        keep = torch.zeros(len(ts.labels), dtype=torch.bool)
        keep[::10] = True
        return common.TestSet(ts.labelset, ts.feats[keep], ts.labels[keep], ts.images.subset(keep))

    monkeypatch.setattr(common, "test_set", every_tenth)
