"""The quadratic toy's final loss: shape, determinism, and the seed's three ridges."""

from __future__ import annotations

import numpy as np
import pytest

from dynamics.errors import RidgelineError
from dynamics.slices import TOY_DEFAULTS, quadratic_final_loss, steps_for_batch


def test_broadcast_shape_and_determinism():
    lr = np.array([0.1, 0.4, 1.6])[:, None]
    wd = np.array([2.5e-4, 5e-4])[None, :]
    a = quadratic_final_loss(lr, 512, 0.9, wd, seed=3, steps=200)
    b = quadratic_final_loss(lr, 512, 0.9, wd, seed=3, steps=200)
    c = quadratic_final_loss(lr, 512, 0.9, wd, seed=4, steps=200)
    assert a.shape == (3, 2) and np.all(np.isfinite(a)) and np.all(a > 0)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_each_setting_is_its_own_row():
    """A setting's loss does not depend on which other settings share the call."""
    alone = quadratic_final_loss(0.4, 256, 0.9, 5e-4, steps=200)
    together = quadratic_final_loss([0.1, 0.4], [1024, 256], 0.9, 5e-4, steps=200)
    assert together[1] == pytest.approx(float(alone), rel=1e-5)


def test_fixed_examples_sets_steps_per_batch():
    assert steps_for_batch(2344, [512, 128, 4096]).tolist() == [2344, 9376, 293]


def test_defaults_sit_on_the_ridge():
    """At the defaults, doubling or halving lr does not improve the loss by more than 5%."""
    d = TOY_DEFAULTS
    lr = d["lr"] * np.array([0.5, 1.0, 2.0])
    loss = quadratic_final_loss(lr, d["batch_size"], d["momentum"], d["wd"])
    assert loss[1] <= 1.05 * loss.min(), loss


@pytest.mark.parametrize("kwargs, message", [
    (dict(momentum=1.0), "momentum must be in"),
    (dict(rule="adam"), "unknown rule"),
    (dict(schedule="cosine"), "unknown schedule"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(batch_size=0), "batch_size must be >= 1"),
])
def test_bad_input(kwargs, message):
    args = dict(lr=0.4, batch_size=512, momentum=0.9, wd=5e-4) | kwargs
    with pytest.raises(RidgelineError, match=message):
        quadratic_final_loss(**args)


@pytest.fixture(scope="module")
def slice_fits():
    """The three slices at the command's defaults, two seeds averaged."""
    import pandas as pd
    import torch

    from dynamics.ridge import fit_ridge
    from dynamics.slices import SLICES, SlicesConfig, slice_frame

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    config = SlicesConfig(out="unused", repeats=2)
    fits = {}
    for name, (y_col, *_rest) in SLICES.items():
        frame = pd.concat([slice_frame(name, config, seed) for seed in range(config.repeats)])
        fits[name] = fit_ridge(frame, "lr", y_col, "loss", maximize=False)
    torch.set_num_threads(threads)
    return fits


@pytest.mark.parametrize("name", ["lr_x_batch_size", "lr_x_one_minus_momentum", "lr_x_wd"])
def test_ridge_slopes_follow_the_seeds_flat_directions(slice_fits, name):
    """lr/N, lr/(1 − ρ) and lr·wd constant: slopes +1, +1, −1 in d log y / d log lr,
    within 0.15 (the ridge must also lie inside the grid on every row)."""
    from dynamics.slices import SLICES

    fit = slice_fits[name]
    expected = SLICES[name][3]
    assert all(fit.interior), fit.points
    assert abs(fit.slope - expected) < 0.15, (fit.slope, fit.slope_err)
    assert fit.slope_err < 0.15
