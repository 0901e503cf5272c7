"""The quadratic toy's final loss: shape, determinism, and Page's three ridges."""

from __future__ import annotations

import numpy as np
import pytest

from dynamics.util.errors import RidgelineError
from dynamics.jobs.slices import TOY_DEFAULTS, quadratic_final_loss, steps_for_batch


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


def test_without_the_head_lr_times_wd_is_exactly_flat():
    """head=0: the rescaling symmetry (w, λ, α) → (r w, r²λ, α/r²) holds through the run
    (each setting starts at its own equilibrium norm), so λα fixed gives the same loss."""
    lr = 0.4 * np.array([0.25, 1.0, 4.0])
    loss = quadratic_final_loss(lr, 512, 0.9, 2e-4 / lr, steps=300, head=0)
    assert np.allclose(loss, loss[1], rtol=1e-6), loss  # powers of 2: exact in floats too


def test_the_head_gives_wd_an_optimum_at_fixed_rotated_coordinate():
    """With the head, the best loss over u = λα/(1 − ρ) depends on α: lowest near
    α = 2.5e-3, higher at Page's start α = 0.01 and at small α (seeds 0-2)."""
    wd = np.array([0.01, 2.5e-3, 3.125e-4])[:, None]
    u = 2e-3 * 2.0 ** (np.arange(-8, 9) / 4)
    best = sum(np.nanmin(quadratic_final_loss(u * 0.1 / wd, 512, 0.9, wd, seed=s), axis=1) for s in range(3))
    assert best[0] > 1.05 * best[1] and best[2] > 1.02 * best[1], best / best[1]


def test_weight_decay_pulls_the_head_off_its_optimum():
    """Noise-free SGD on the head alone settles at b = κb*/(κ + α), the bias the toy's
    docstring names; its gradient is that of head_loss."""
    import torch

    from dynamics.rules import get_rule
    from dynamics.sim.toys import head_gradient, head_loss

    kappa, target, lr, wd = torch.tensor([0.03, 0.3], dtype=torch.float64), 0.03, 0.5, 0.01
    b = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    head_loss(b, kappa, target).sum().backward()
    zero = torch.zeros(1, 2, dtype=torch.float64)
    assert torch.allclose(b.grad, head_gradient(b.detach(), kappa, target, 0.0, zero))
    b, v = torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
    for _ in range(5000):
        b, v = get_rule("nesterov")(b, v, head_gradient(b, kappa, target, 0.0, zero), lr, wd, 0.9)
    assert torch.allclose(b, kappa * target / (kappa + wd), rtol=1e-9)


@pytest.mark.parametrize("kwargs, message", [
    (dict(momentum=1.0), "momentum must be in"),
    (dict(rule="adam"), "unknown rule"),
    (dict(schedule="cosine"), "unknown schedule"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(batch_size=0), "batch_size must be >= 1"),
    (dict(head=-1), "head >= 0"),
    (dict(head_curvature_min=0.5), "head_curvature_min <= head_curvature_max"),
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

    from dynamics.analysis.ridge import fit_ridge
    from dynamics.jobs.slices import SLICES, SlicesConfig, slice_frame

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
    """lr/N, lr/(1 − ρ) and lr·wd constant: slopes +1, +1, −1 in d log y / d log lr, each
    within 3 fit errors of what the toy gives (the ridge must also lie inside the grid on
    every row). Seeds 0-1 give +1.089 ± 0.033, +0.946 ± 0.008 and −1.066 ± 0.008; the head
    bends λ·wd to −1.06 (docs/simulate.md), which the test must see: |slope + 1| > 3 errors."""
    from dynamics.jobs.slices import SLICES

    fit = slice_fits[name]
    expected = SLICES[name][3]
    assert all(fit.interior), fit.points
    assert fit.slope_err < SLOPE_ERROR[name], (fit.slope, fit.slope_err)
    assert abs(fit.slope - TOY_SLOPE[name]) < 3 * SLOPE_ERROR[name], (fit.slope, fit.slope_err)
    if name == "lr_x_wd":  # the head's bend, seen: steeper than −1 by more than 3 errors
        assert fit.slope - expected < -3 * fit.slope_err, (fit.slope, fit.slope_err)
    else:  # the flat direction, within 0.1
        assert abs(fit.slope - expected) < 0.1, (fit.slope, fit.slope_err)


#: the toy's ridge slopes (docs/simulate.md: ``ridgeline simulate slices``; λ·wd bent by the head) and
#: the seed-0-1 fit errors, 0.033, 0.008, 0.008, with 1.5x margin
TOY_SLOPE = {"lr_x_batch_size": 1.0, "lr_x_one_minus_momentum": 0.96, "lr_x_wd": -1.06}
SLOPE_ERROR = {"lr_x_batch_size": 0.05, "lr_x_one_minus_momentum": 0.012, "lr_x_wd": 0.012}


def test_run_slices_writes_strict_json_and_drops_slices_from_other_settings(tmp_path, monkeypatch):
    """One repeat has no seed spread (NaN): ridge.json says null, not NaN. A rerun with
    other settings removes the old slices first, so even when it is interrupted the next
    run cannot reuse them."""
    import json

    import dynamics.jobs.slices as slices

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))

    small = dict(out=str(tmp_path), points=3, rows=3, repeats=1, dim=8)
    slices.run_slices(slices.SlicesConfig(steps=20, **small))
    fits = strict((tmp_path / "ridge.json").read_text())
    assert all(f["slope_err_seeds"] is None for f in fits.values())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(slices, "slice_frame", interrupted)
    with pytest.raises(KeyboardInterrupt):
        slices.run_slices(slices.SlicesConfig(steps=21, **small))
    assert not any((tmp_path / f"{name}.csv").exists() for name in slices.SLICES)


def test_adaptive_slices_claim_only_the_derived_invariant():
    """AdamW and Lion: λα flat (slope −1); Adam-L2: λ²α (slope −2); the batch and
    momentum slices have no derived flat direction; the SGD rules keep Page's three."""
    from dynamics.jobs.slices import SLICES, slice_claims

    assert slice_claims("adamw")["lr_x_wd"] == ("lr*wd", -1.0) == slice_claims("lion")["lr_x_wd"]
    assert slice_claims("adam-l2")["lr_x_wd"] == ("lr**2*wd", -2.0)
    for rule in ("adamw", "adam-l2", "lion"):
        assert slice_claims(rule)["lr_x_batch_size"] == (None, None) == slice_claims(rule)["lr_x_one_minus_momentum"]
    assert slice_claims("nesterov") == {n: (c, e) for n, (_, _, c, e, _) in SLICES.items()}


def test_adamw_slices_from_the_cli_write_their_rule_and_claims(tmp_path):
    """`ridgeline simulate slices --rule adamw`: the toy at the adaptive centre, the rule in
    config.json, ridge.json with the derived claims (null where none)."""
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from cli import app
    from dynamics.jobs.slices import ADAPTIVE_DEFAULTS

    result = CliRunner().invoke(app, ["simulate", "slices", "--rule", "adamw", "--out", str(tmp_path),
                                      "--points", "3", "--rows", "3", "--repeats", "1", "--steps", "20",
                                      "--dim", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "config.json").read_text())["settings"]
    assert settings["rule"] == "adamw" and settings["toy_defaults"] == ADAPTIVE_DEFAULTS
    fits = json.loads((tmp_path / "ridge.json").read_text())
    assert fits["lr_x_wd"]["expected_slope"] == -1.0 and fits["lr_x_batch_size"]["expected_slope"] is None
    frame = pd.read_csv(tmp_path / "lr_x_wd.csv")
    assert np.allclose(sorted(frame.lr.unique()), [0.015, 0.03, 0.06])
    assert np.allclose(sorted(frame.wd.unique()), [0.0125, 0.05, 0.2])
    bad = CliRunner().invoke(app, ["simulate", "slices", "--rule", "sgd", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2
