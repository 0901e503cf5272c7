"""Shared fixtures.

``real_cifar``: the path of the real CIFAR-10 array file from RIDGELINE_DATA. On a
user's machine without it the test is skipped with the reason; in CI (CI set) a
missing file fails loudly, since .ci/run exports the variable.
"""

import os
from pathlib import Path

import pytest


@pytest.fixture
def real_cifar() -> Path:
    path = os.environ.get("RIDGELINE_DATA")
    if path and Path(path).is_file():
        return Path(path)
    reason = (f"RIDGELINE_DATA={path!r} is not a file" if path else "RIDGELINE_DATA is not set") + \
        ": point it at cifar10.npz to run the real-data tests"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def one_thread():
    """Small tensors: one intra-op thread is faster, and much faster on a shared machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
