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
