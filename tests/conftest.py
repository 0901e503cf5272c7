"""Shared fixtures.

``real_cifar``: the path of the real CIFAR-10 array file from RIDGELINE_DATA. On a
user's machine without it the test is skipped with the reason; in CI (CI set) a
missing file fails loudly, since .ci/run exports the variable.

``ray_headroom``: a test that starts a local Ray instance first checks that the
machine's memory leaves room for it under Ray's out-of-memory threshold, and is
skipped with the numbers when it does not (beside another training job a local Ray
failed with "22.1 of 23.5 GB" and passed alone).
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


#: memory a local Ray instance of a test takes (GCS, raylet and a few workers), bytes
RAY_NEEDS = 2 * 2**30


def ray_headroom_reason(total: int | None, available: int | None, threshold: float) -> str | None:
    """Why a local Ray instance would meet its out-of-memory killer now (None: it would not):
    Ray kills tasks once the node uses more than ``threshold`` of its memory."""
    if not total or available is None:
        return None  # not Linux: nothing to check against
    after = (total - available + RAY_NEEDS) / total
    if after <= threshold:
        return None
    return (f"not enough memory for a local Ray instance: {(total - available) / 1e9:.1f} of {total / 1e9:.1f} GB "
            f"in use, and Ray's ~{RAY_NEEDS / 2**30:.0f} GiB would pass its out-of-memory threshold "
            f"({threshold:.0%}); rerun when the machine is quieter")


@pytest.fixture
def ray_headroom():
    require_ray_headroom()


def require_ray_headroom() -> None:
    """Skip the calling test (or module fixture) when a local Ray would run out of memory."""
    from dynamics.util.io import available_memory

    total = None
    try:
        with open("/proc/meminfo") as f:
            total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        pass
    reason = ray_headroom_reason(total, available_memory(),
                                 float(os.environ.get("RAY_memory_usage_threshold", "0.95")))
    if reason:
        pytest.skip(reason)
