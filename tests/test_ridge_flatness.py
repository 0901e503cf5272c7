"""Slice statistics that need no ridge fit: the diagonal profile, flatness, the paired
difference from a control, and the mean of the per-seed slopes; on grids where every
number is known."""

import math

import numpy as np
import pandas as pd
import pytest

from dynamics.analysis.ridge import diagonal_profile, paired_difference, seed_mean_slope

LRS = [0.025 * 2**i for i in range(6)]
WDS = [1e-3 * 2**i for i in range(4)]


def grid(score, seeds=(0, 1, 2)):
    """One row per run of a 6 × 4 λ × α grid, score(lr, wd, seed)."""
    return pd.DataFrame([{"lr": lr, "wd": wd, "seed": s, "score": score(lr, wd, s)}
                         for s in seeds for wd in WDS for lr in LRS])


def peak(u):  # a peak in log₂(λα/λ₀α₀), at u = 0
    return 0.9 - 0.05 * u**2


def test_a_landscape_of_lr_times_wd_alone_is_flat_along_the_claim():
    noise = {0: 0.0, 1: 0.01, 2: -0.01}  # a constant offset per seed moves no range
    frame = grid(lambda lr, wd, s: peak(math.log2(lr * wd / (0.1 * 2e-3))) + noise[s])
    p = diagonal_profile(frame, "lr", "wd", "score", -1.0, maximize=True, through=(0.1, 2e-3))
    assert len(p.cells_along) == 4 and all(lr * wd == pytest.approx(0.1 * 2e-3) for lr, wd in p.cells_along)
    assert [m for m, _ in p.along] == pytest.approx([0.9] * 4)
    assert p.range_along == pytest.approx((0.0, 0.0), abs=1e-12)
    # across: λ/α constant through (0.1, 2e-3), log₂ λα steps of 2, so the score 0.9 − 0.05·u²
    us = [2 * (math.log2(lr / 0.1)) for lr, _ in p.cells_across]
    assert [m for m, _ in p.across] == pytest.approx([peak(u) for u in us])
    assert p.range_across[0] == pytest.approx(0.05 * max(u * u for u in us))


def test_a_bend_along_the_claim_shows_as_its_known_range():
    bend = 0.02  # per factor 2 of α along the diagonal
    frame = grid(lambda lr, wd, s: peak(math.log2(lr * wd / (0.1 * 2e-3))) + bend * math.log2(wd / 1e-3))
    p = diagonal_profile(frame, "lr", "wd", "score", -1.0, maximize=True, through=(0.1, 2e-3))
    assert p.range_along[0] == pytest.approx(bend * 3)  # four cells: α over a factor 8
    assert np.diff([m for m, _ in p.along]) == pytest.approx([bend] * 3)


def test_errors_are_the_standard_error_across_seeds():
    rng = np.random.default_rng(0)
    draws = {(lr, wd, s): rng.normal() * 0.01 for s in range(3) for wd in WDS for lr in LRS}
    frame = grid(lambda lr, wd, s: peak(math.log2(lr * wd / (0.1 * 2e-3))) + draws[lr, wd, s])
    p = diagonal_profile(frame, "lr", "wd", "score", -1.0, maximize=True, through=(0.1, 2e-3))
    (cell_lr, cell_wd), (mean, se) = p.cells_along[0], p.along[0]
    values = [peak(0) + draws[cell_lr, cell_wd, s] for s in range(3)]
    assert mean == pytest.approx(np.mean(values)) and se == pytest.approx(np.std(values, ddof=1) / math.sqrt(3))
    ranges = [np.ptp([peak(0) + draws[c[0], c[1], s] for c in p.cells_along]) for s in range(3)]
    assert p.range_along == pytest.approx((np.mean(ranges), np.std(ranges, ddof=1) / math.sqrt(3)))


def test_the_paired_difference_recovers_a_known_field_whatever_the_seed_noise():
    rng = np.random.default_rng(1)
    noise = {(lr, wd, s): rng.normal() * 0.05 for s in range(3) for wd in WDS for lr in LRS}
    field = lambda lr, wd: 0.01 * math.log2(lr / 0.025)  # noqa: E731
    control = grid(lambda lr, wd, s: 0.8 + noise[lr, wd, s])
    real = grid(lambda lr, wd, s: 0.8 + noise[lr, wd, s] + field(lr, wd))
    diff = paired_difference(real, control, "lr", "wd", "score")
    assert len(diff) == 24 and (diff["seeds"] == 3).all()
    assert diff["diff"].to_numpy() == pytest.approx([field(a, b) for a, b in zip(diff["lr"], diff["wd"])])
    assert diff["se"].to_numpy() == pytest.approx(0, abs=1e-12)  # the noise is paired out


def test_the_mean_of_the_per_seed_slopes():
    assert seed_mean_slope([-1.8, -2.3, -4.1, float("nan")]) == pytest.approx(
        (-8.2 / 3, np.std([-1.8, -2.3, -4.1], ddof=1) / math.sqrt(3)))
    assert math.isnan(seed_mean_slope([-1.0])[1])


def test_a_grid_without_diagonals_has_no_profile():
    frame = pd.DataFrame([{"lr": lr, "wd": wd, "seed": 0, "score": 1.0}
                          for wd in (1e-3, 3e-3) for lr in (0.1, 0.2, 0.4)])  # α step ≠ λ step
    assert diagonal_profile(frame, "lr", "wd", "score", -1.0, maximize=True) is None


def test_by_default_the_profile_runs_through_the_best_point_whose_diagonals_cross_the_grid():
    frame = grid(lambda lr, wd, s: peak(math.log2(lr * wd / (0.1 * 2e-3))) - 0.001 * abs(math.log2(lr / 0.1)))
    p = diagonal_profile(frame, "lr", "wd", "score", -1.0, maximize=True)
    assert (0.1, 2e-3) in p.cells_along and len(p.cells_along) == len(p.cells_across) == 4


@pytest.fixture
def four_sweeps(tmp_path, monkeypatch):
    """The λ × α grid four ways, scored by a peak in log₂ λα whose centre moves with α by c
    per factor 2 (c = 0.4 real, 0.2 with |w₀| following λ, 0.1 with the others held, 0 for
    the exact-symmetry control): the ridge slope is 1/(c − 1) exactly."""
    from rich.console import Console

    from training.report.slices import SliceSpec, summarise
    from training.search.objectives import TrainObjective
    from training.search.sweep import run_sweep

    def c_of(config):
        follow, held = config.get("init_scale") == "follow", config.get("other_lr") is not None
        return {(False, False): 0.4, (True, False): 0.2, (False, True): 0.1, (True, True): 0.0}[follow, held]

    def evaluate(self, trials, workdir, report=None):
        out = []
        for t in trials:
            lr, wd, c = t.params["lr"], t.params["wd"], c_of(t.config)
            u = math.log2(lr * wd / 2e-4) - c * math.log2(wd / 1e-3)
            out.append({"score": 0.9 - 0.05 * u * u + 0.001 * t.params["seed"], "diverged": False, "summary": {}})
        return out

    monkeypatch.setattr(TrainObjective, "evaluate", evaluate)
    base = ("--epochs", "2", "--device", "cpu")
    extra = {"real": (), "init": ("--init-scale", "follow"), "others": ("--other-lr", "0.1414", "--other-wd", "0.002828"),
             "control": ("--exact-symmetry",)}
    out = {}
    for name, options in extra.items():
        spec = SliceSpec("lr_wd", "lr=0.025:0.8:6", "wd=1e-3:8e-3:4", 2, base + options)
        run_sweep(spec.sweep_config(str(tmp_path / name)), console=Console(quiet=True))
        out[name] = summarise(tmp_path / name, null_draws=10)
    return out


def test_both_estimators_and_the_profile_on_known_ridges(four_sweeps):
    from training.report.flatness import estimators_markdown

    for name, c in (("real", 0.4), ("init", 0.2), ("others", 0.1), ("control", 0.0)):
        s = four_sweeps[name]
        assert s.slope == pytest.approx(1 / (c - 1), rel=1e-6)
        assert s.seed_mean[0] == pytest.approx(1 / (c - 1), rel=1e-6) and s.seed_mean[1] == pytest.approx(0, abs=1e-9)
    control = four_sweeps["control"].profile
    assert control.range_along[0] == pytest.approx(0, abs=1e-12) and control.range_across[0] > 0.1
    assert four_sweeps["real"].profile.range_along[0] > 0.01
    table = estimators_markdown(list(four_sweeps.values()))
    assert "| real (lr_x_wd) | λα (-1) | -1.67 ± 0.00 |" in table


def test_the_attribution_pairs_each_sweep_with_the_control(four_sweeps):
    from training.report.flatness import attribution_markdown

    s = four_sweeps
    text = attribution_markdown(s["real"], s["control"], {"init follows λ": s["init"], "others held": s["others"]})
    real_minus_control = 1 / (0.4 - 1) + 1
    assert f"{real_minus_control:+.2f} ± 0.00" in text
    assert f"- init follows λ: {1 / (0.4 - 1) - 1 / (0.2 - 1):+.2f} ± 0.00 of the real departure" in text
    assert f"- others held: {1 / (0.4 - 1) - 1 / (0.1 - 1):+.2f} ± 0.00" in text

