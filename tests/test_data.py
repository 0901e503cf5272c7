"""CIFAR-10 loading, splitting and on-device augmentation."""

import numpy as np
import pytest
import torch

from dynamics.util.errors import RidgelineError
from training.data import (CUTOUT, MEAN, PAD, DeviceImages, augment, balanced_order, load_arrays,
                           split)


def write_npz(path, n_train=100, n_test=20, **override):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
                  y_train=np.arange(n_train) % 10,
                  x_test=rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
                  y_test=np.arange(n_test) % 10)
    arrays.update(override)
    np.savez(path, **arrays)
    return str(path)


def test_npz_loads_and_ridgeline_data_is_used_when_no_path(tmp_path, monkeypatch):
    path = write_npz(tmp_path / "c.npz")
    monkeypatch.setenv("RIDGELINE_DATA", path)
    arrays = load_arrays(None, str(tmp_path / "nothing"), download=False)
    assert arrays.x_train.shape == (100, 32, 32, 3) and arrays.source == f"npz:{path}"


@pytest.mark.parametrize("problem, match", [
    ("missing", "does not exist"),
    ("garbage", "cannot read"),
    ("shape", r"must be \(n, 32, 32, 3\) uint8"),
    ("dtype", "uint8"),
    ("labels", "labels must be"),
    ("keys", "lacks arrays"),
])
def test_bad_files_name_the_problem_and_how_to_fix_it(tmp_path, problem, match):
    path = tmp_path / "c.npz"
    if problem == "garbage":
        path.write_bytes(b"not an npz at all")
    elif problem == "shape":
        write_npz(path, x_train=np.zeros((100, 28, 28), np.uint8))
    elif problem == "dtype":
        write_npz(path, x_test=np.zeros((20, 32, 32, 3), np.float32))
    elif problem == "labels":
        write_npz(path, y_train=np.full(100, 11))
    elif problem == "keys":
        np.savez(path, x_train=np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(RidgelineError, match=match) as info:
        load_arrays(str(path), str(tmp_path), download=False)
    message = str(info.value)
    assert "\n" not in message and "--data" in message


def test_missing_torchvision_cache_suggests_download(tmp_path, monkeypatch):
    monkeypatch.delenv("RIDGELINE_DATA", raising=False)
    with pytest.raises(RidgelineError, match="--download") as info:
        load_arrays(None, str(tmp_path / "cache"), download=False)
    assert str(tmp_path / "cache") in str(info.value)


def test_balanced_order_prefixes_hold_every_class_equally():
    labels = np.repeat(np.arange(10), 50)
    order = balanced_order(labels)
    assert sorted(order) == list(range(500))
    for k in (10, 30, 100):
        assert np.all(np.bincount(labels[order[:k]], minlength=10) == k // 10)


def test_split_sizes_disjointness_and_errors(tmp_path):
    arrays = load_arrays(write_npz(tmp_path / "c.npz"), str(tmp_path), False)
    (xtr, ytr), (xv, yv), (xte, _) = split(arrays, train_size=60, holdout=20, batch_size=16)
    assert (len(xtr), len(xv), len(xte)) == (60, 20, 20)
    rows = {x.tobytes() for x in xtr}
    assert not rows & {x.tobytes() for x in xv}
    assert np.all(np.bincount(yv, minlength=10) == 2)
    with pytest.raises(RidgelineError, match="batch_size=64 is larger than the training set"):
        split(arrays, train_size=50, holdout=0, batch_size=64)
    with pytest.raises(RidgelineError, match="more than the 80 training images"):
        split(arrays, train_size=90, holdout=20, batch_size=16)


def test_augment_crop_is_a_translation_and_flip_a_mirror():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (64, 32, 32, 3), dtype=torch.uint8).numpy()
    images = DeviceImages(x, np.zeros(64), torch.device("cpu"), pad=PAD)
    out = augment(images.images, torch.Generator().manual_seed(1), PAD, cutout=False)
    assert out.shape == (64, 3, 32, 32) and out.dtype == torch.uint8
    original = torch.from_numpy(x).permute(0, 3, 1, 2)
    flips = 0
    for b in range(64):  # each output equals the padded image cropped at some (dy, dx), maybe mirrored
        found = [(dy, dx, f) for dy in range(2 * PAD + 1) for dx in range(2 * PAD + 1) for f in (0, 1)
                 if torch.equal(out[b], (lambda c: c.flip(-1) if f else c)(
                     images.images[b, :, dy:dy + 32, dx:dx + 32]))]
        assert found, b
        flips += found[0][2]
    assert 16 < flips < 48  # about half mirrored
    centre = images.images[:, :, PAD:PAD + 32, PAD:PAD + 32]
    assert torch.equal(centre, original)  # padding keeps the image in the middle


def test_cutout_paints_one_8x8_square_with_the_mean_colour():
    x = np.zeros((16, 32, 32, 3), np.uint8)
    images = DeviceImages(x, np.zeros(16), torch.device("cpu"), pad=PAD)
    out = augment(images.images, torch.Generator().manual_seed(0), PAD, cutout=True)
    mean = torch.tensor([round(m * 255) for m in MEAN], dtype=torch.uint8)
    for b in range(16):
        painted = (out[b] != 0).any(0)
        assert painted.sum() == CUTOUT * CUTOUT
        rows, cols = painted.nonzero().T
        assert rows.max() - rows.min() == CUTOUT - 1 and cols.max() - cols.min() == CUTOUT - 1
        assert torch.equal(out[b][:, rows[0], cols[0]], mean)


def test_batches_are_normalised_full_size_and_seeded():
    x = np.full((50, 32, 32, 3), 128, np.uint8)
    images = DeviceImages(x, np.arange(50) % 10, torch.device("cpu"), pad=PAD)
    batches = list(images.train_batches(16, torch.Generator().manual_seed(3), cutout=False))
    assert [len(y) for _, y in batches] == [16, 16, 16]  # the partial batch is dropped
    expected = (128 / 255 - torch.tensor(MEAN)) / torch.tensor([0.2470, 0.2435, 0.2616])
    torch.testing.assert_close(batches[0][0][0, :, 10, 10], expected)
    again = list(images.train_batches(16, torch.Generator().manual_seed(3), cutout=False))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again))
