"""Page's three slices on the quadratic toy, through ``ridgeline sweep``.

Along the ridge of best loss, Page's flat directions hold λ/N, λ/(1 − ρ) and λα
fixed: in log-log axes (x = lr) slopes +1 for batch size and 1 − momentum, −1 for
weight decay. The sweep's fitted slopes must match within 0.15, on means over three
seeds per grid point as in Page's plots (the slope of one seed scatters by about ±0.08).
"""

from __future__ import annotations

import json

import pytest

from training.search.sweep import SweepConfig, parse_axis, run_sweep

LR = "lr=0.05:3.2:7"  # factor 2 per step, around the toy's best lr 0.4 at the defaults


@pytest.mark.parametrize("y, expected", [
    ("wd=6.25e-5:4e-3:7", -1.0),  # λα fixed
    ("batch_size=128:2048:5", 1.0),  # λ/N fixed
    ("one_minus_momentum=0.0125:0.8:7", 1.0),  # λ/(1 − ρ) fixed
])
def test_toy_ridge_slopes_match_the_seeds_flat_directions(tmp_path, y, expected):
    config = SweepConfig(objective="quadratic", x=parse_axis(LR, "--x"), y=parse_axis(y, "--y"),
                         out=str(tmp_path / "s"), repeats=3)
    result = run_sweep(config)
    fit = result.fit
    print(f"lr x {config.y.name}: slope {fit.slope:.3f} ± {fit.slope_err:.3f} (expected {expected:+g})")
    assert fit.slope == pytest.approx(expected, abs=0.15)
    assert sum(fit.interior) >= 3  # the ridge crosses the grid, not along its edge
    saved = json.loads((tmp_path / "s" / "ridge.json").read_text())[f"lr_x_{config.y.name}"]
    assert saved["slope"] == pytest.approx(fit.slope) and saved["score"] == "final_loss"
    assert len(saved["points"]) == len(config.y.values())
