"""CIFAR-10 as uint8 tensors on the training device, augmented there in batches.

Sources, in order: ``config.data`` (an ``.npz`` file with x_train (N,32,32,3) uint8,
y_train, x_test, y_test, or a torchvision root directory), else ``$RIDGELINE_DATA``,
else torchvision's files under ``config.cache_dir`` (``download=True`` fetches and
verifies them). The arrays are split once (fixed seed 0, class-balanced), moved to
the device once, and every batch is augmented there with whole-batch tensor ops:
random 32x32 crop of a 4-px reflect-padded copy, horizontal flip, optional 8x8
cutout, then the standard CIFAR-10 normalisation. No per-image Python work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from dynamics.util.errors import RidgelineError

MEAN = (0.4914, 0.4822, 0.4465)  # CIFAR-10 training-set channel means, RGB, pixel/255
STD = (0.2470, 0.2435, 0.2616)  # CIFAR-10 training-set channel standard deviations
PAD = 4  # reflect padding for the random crop, pixels
CUTOUT = 8  # cutout square side, pixels
NPZ_HINT = ("--data PATH (or RIDGELINE_DATA) pointing at an .npz with x_train (N,32,32,3) uint8, "
            "y_train, x_test, y_test")
HOW_TO_GET = f"pass --download to fetch it with torchvision into the cache dir, or {NPZ_HINT}"
# after a failed --download: suggesting --download again would only repeat the failure
AFTER_DOWNLOAD = f"check the network and that the folder is writable, or pass {NPZ_HINT}"


@dataclass
class Arrays:
    """CIFAR-shaped numpy arrays: images (n, 32, 32, 3) uint8 HWC, labels (n,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where they came from, for env.json and messages


def find_source(data: Optional[str], cache_dir: str) -> tuple[str, str]:
    """(kind, path) with kind "npz" or "torchvision", following the documented order."""
    chosen = data or os.environ.get("RIDGELINE_DATA") or None
    if chosen is None:
        return "torchvision", str(Path(cache_dir).expanduser())
    path = Path(chosen).expanduser()
    if path.is_dir():
        return "torchvision", str(path)
    return "npz", str(path)


def _origin(data: Optional[str], path: str) -> str:
    """Which option or variable named ``path``, for messages."""
    if data:
        return f"--data {path!r}"
    if os.environ.get("RIDGELINE_DATA"):
        return f"RIDGELINE_DATA={path!r}"
    return f"the cache dir {path!r} (no --data, RIDGELINE_DATA unset)"


def load_arrays(data: Optional[str], cache_dir: str, download: bool) -> Arrays:
    """Load CIFAR-10 from the first available source; RidgelineError if none works."""
    kind, path = find_source(data, cache_dir)
    arrays = _load_npz(path) if kind == "npz" else _load_torchvision(path, download, _origin(data, path))
    for split in ("train", "test"):
        check_images(getattr(arrays, f"x_{split}"), getattr(arrays, f"y_{split}"), f"{path} ({split})")
    return arrays


def _load_npz(path: str) -> Arrays:
    if not Path(path).exists():
        env = os.environ.get("RIDGELINE_DATA")
        where = f"RIDGELINE_DATA={env!r}" if env == path else f"--data {path!r}"
        raise RidgelineError(f"CIFAR-10 not found: {where} does not exist; {HOW_TO_GET}")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
            if missing:
                raise RidgelineError(f"{path} lacks arrays {sorted(missing)}; {HOW_TO_GET}")
            x_tr, y_tr, x_te, y_te = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except RidgelineError:
        raise
    except Exception as e:  # zip/pickle/value errors: not a readable array file
        raise RidgelineError(f"cannot read {path} as an .npz array file ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'unreadable'}); {HOW_TO_GET}") from None
    return Arrays(x_tr, y_tr, x_te, y_te, source=f"npz:{path}")


def _load_torchvision(root: str, download: bool, origin: str = "") -> Arrays:
    from torchvision.datasets import CIFAR10

    origin = origin or f"the folder {root!r}"
    try:
        train = CIFAR10(root, train=True, download=download)
        test = CIFAR10(root, train=False, download=download)
    except RuntimeError:  # torchvision's "not found or corrupted. You can use download=True ..."
        what = "after --download, still" if download else "CIFAR-10 not found:"
        raise RidgelineError(
            f"{what} no valid torchvision CIFAR-10 files (cifar-10-batches-py) in {origin}; "
            f"{AFTER_DOWNLOAD if download else HOW_TO_GET}") from None
    except OSError as e:  # download failed (no network) or unwritable cache dir
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RidgelineError(f"cannot download CIFAR-10 into {origin} ({reason}); {AFTER_DOWNLOAD}") from None
    return Arrays(train.data, np.asarray(train.targets), test.data, np.asarray(test.targets),
                  source=f"torchvision:{root}")


def check_images(x: np.ndarray, y: np.ndarray, where: str) -> None:
    """RidgelineError unless x is (n,32,32,3) uint8 and y holds n labels in 0..9."""
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8:
        raise RidgelineError(f"{where}: images must be (n, 32, 32, 3) uint8, got {x.shape} {x.dtype}; "
                             f"{HOW_TO_GET}")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or len(y) == 0 \
            or y.min() < 0 or y.max() > 9:
        raise RidgelineError(f"{where}: labels must be {len(x)} integers in 0..9, got shape {y.shape} "
                             f"{y.dtype}; {HOW_TO_GET}")


def balanced_order(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A permutation whose every prefix is (nearly) class-balanced.

    Shuffle with ``seed``, then stable-sort by the rank of each example within its
    class: the order cycles through the classes, so the first k examples hold about
    k/10 of each.
    """
    perm = np.random.default_rng(seed).permutation(len(labels))
    shuffled = labels[perm]
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(shuffled):
        where = np.flatnonzero(shuffled == c)
        rank[where] = np.arange(len(where))
    return perm[np.argsort(rank, kind="stable")]


def split(arrays: Arrays, train_size: Optional[int], holdout: int, batch_size: int):
    """(train, val or None, test) as (x, y) numpy pairs: the first ``holdout`` of a
    balanced order are validation, the next ``train_size`` (or all the rest) training."""
    n = len(arrays.y_train)
    if holdout >= n:
        raise RidgelineError(f"holdout={holdout} leaves no training images (the set has {n})")
    available = n - holdout
    if train_size is not None and train_size > available:
        raise RidgelineError(f"train_size={train_size} is more than the {available} training images "
                             f"available ({n} minus holdout {holdout}); lower --train-size")
    size = available if train_size is None else train_size
    if batch_size > size:
        raise RidgelineError(f"batch_size={batch_size} is larger than the training set ({size} images); "
                             "lower --batch-size or raise --train-size")
    order = balanced_order(arrays.y_train)
    val_idx, train_idx = order[:holdout], order[holdout:holdout + size]
    xy = lambda idx: (arrays.x_train[idx], arrays.y_train[idx])  # noqa: E731
    return xy(train_idx), (xy(val_idx) if holdout else None), (arrays.x_test, arrays.y_test)


class DeviceImages:
    """Images as uint8 NCHW tensors on ``device`` (training ones reflect-padded once)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, device: torch.device, pad: int = 0):
        images = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
        if pad:
            images = torch.nn.functional.pad(images.float(), (pad,) * 4, mode="reflect").to(torch.uint8)
        self.images = images.contiguous().to(device)
        self.labels = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
        self.pad = pad
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
        self.fill = mean_colour(device)  # made once: no host-to-device copy per batch

    def __len__(self) -> int:
        return len(self.labels)

    def normalise(self, images: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        """uint8 pixels → (x/255 − mean)/std, in ``dtype``."""
        return ((images.float() - self.mean) / self.std).to(dtype)

    def train_batches(self, batch_size: int, generator: torch.Generator, cutout: bool,
                      dtype=torch.float32) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled, augmented batches of exactly ``batch_size`` (the last partial one is
        dropped, as in Page's post). All randomness comes from ``generator``."""
        n, device = len(self), self.labels.device
        perm = torch.randperm(n, generator=generator, device=device)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = perm[start:start + batch_size]
            x = augment(self.images[idx], generator, self.pad, cutout, self.fill)
            yield self.normalise(x, dtype), self.labels[idx]

    def eval_batches(self, batch_size: int, dtype=torch.float32):
        """The images in order, normalised, unaugmented (no padding may be stored)."""
        assert self.pad == 0, "evaluation images are stored without padding"
        for start in range(0, len(self), batch_size):
            yield (self.normalise(self.images[start:start + batch_size], dtype),
                   self.labels[start:start + batch_size])


def mean_colour(device) -> torch.Tensor:
    """The CIFAR-10 mean colour as uint8 pixels, shape (1, 3, 1, 1), on ``device``."""
    return torch.tensor(MEAN, device=device).mul(255).round().to(torch.uint8).view(1, 3, 1, 1)


def augment(padded: torch.Tensor, generator: torch.Generator, pad: int, cutout: bool,
            fill: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Random crop, flip and optional cutout of a batch (B, C, 32+2p, 32+2p) uint8.

    One gather does every crop: image b takes rows dy_b + 0..31 and columns
    dx_b + 0..31 of its padded copy, dx, dy uniform in 0..2p. Half the images are
    mirrored. Cutout zeroes an 8x8 square placed uniformly inside the image (zero in
    pixel space is black; Page zeroes after normalisation, i.e. the mean colour —
    we set the square to the channel mean to match).
    """
    b, c, h, w = padded.shape
    size = h - 2 * pad
    device = padded.device
    r = torch.randint(0, 2 * pad + 1, (2, b), generator=generator, device=device)
    flip = torch.rand(b, generator=generator, device=device) < 0.5
    ar = torch.arange(size, device=device)
    rows = (r[0, :, None] + ar)[:, None, :, None]  # (B,1,32,1)
    cols = r[1, :, None] + ar  # (B,32)
    cols = torch.where(flip[:, None], cols.flip(-1), cols)[:, None, None, :]  # (B,1,1,32)
    x = padded[torch.arange(b, device=device)[:, None, None, None],
               torch.arange(c, device=device)[None, :, None, None], rows, cols]
    if cutout:
        corner = torch.randint(0, size - CUTOUT + 1, (2, b), generator=generator, device=device)
        inside_r = (ar >= corner[0, :, None]) & (ar < corner[0, :, None] + CUTOUT)  # (B,32)
        inside_c = (ar >= corner[1, :, None]) & (ar < corner[1, :, None] + CUTOUT)
        square = (inside_r[:, :, None] & inside_c[:, None, :])[:, None]  # (B,1,32,32)
        if fill is None:
            fill = mean_colour(device)
        x = torch.where(square, fill, x)
    return x


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 (first 16 hex digits) over the shapes, dtypes and bytes of ``arrays``."""
    import hashlib

    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.shape}{a.dtype.str}".encode())
        digest.update(memoryview(a).cast("B"))
    return "sha256:" + digest.hexdigest()[:16]


def load(config, device: torch.device):
    """(train, val or None, test) DeviceImages for ``config`` (a TrainConfig), and
    ``{"source", "fingerprint"}``: where the data came from and a hash of exactly the
    arrays used (training subset, held-out set, test set), to refuse a resume on other data."""
    arrays = load_arrays(config.data, config.cache_dir, config.download)
    (xtr, ytr), val, (xte, yte) = split(arrays, config.train_size, config.holdout, config.batch_size)
    used = (xtr, ytr, *(val if val is not None else ()), xte, yte)
    data = {"source": arrays.source, "fingerprint": fingerprint(*used)}
    train = DeviceImages(xtr, ytr, device, pad=PAD)
    val = DeviceImages(*val, device) if val is not None else None
    return train, val, DeviceImages(xte, yte, device), data
