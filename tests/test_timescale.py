"""Every run says its timescale: summary.json, train's closing table and validate give the
relaxation time at the peak λ in steps and epochs, and the run in relaxation times."""

import json

import numpy as np
import pytest
from rich.console import Console

from dynamics.theory.trajectory import step_lrs
from dynamics.jobs.transfer import relaxation_steps, timescale
from test_train import tiny_config
from training import train


def test_summary_gives_the_rules_relaxation_time_in_steps_epochs_and_runs(tmp_path):
    config = tiny_config(tmp_path, epochs=3, lr=0.4, wd=5e-4, momentum=0.9)  # 96 images, batch 32
    summary = train(config, verbose=False)
    tau = relaxation_steps("nesterov", 0.4, 5e-4, 0.9)
    assert summary["relaxation_steps"] == pytest.approx(tau, rel=1e-12)
    assert summary["relaxation_epochs"] == pytest.approx(tau / 3, rel=1e-12)  # 3 steps per epoch
    assert summary["run_relaxation_times"] == pytest.approx(9 / tau, rel=1e-12)
    # along Page's schedule: Σ_t 1/τ(λ_t), the trainer's λ_t
    lrs = step_lrs(0.4, config.warmup, 3, "piecewise", 3, 9)
    expected = sum(1 / relaxation_steps("nesterov", lam, 5e-4, 0.9) for lam in lrs if lam > 0)
    assert summary["schedule_relaxation_times"] == pytest.approx(expected, rel=1e-9)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["relaxation_steps"] == summary["relaxation_steps"]


def test_along_the_schedule_is_the_mean_lr_at_leading_order():
    """τ ∝ 1/λ at small λα: the run along the schedule is Σ λ_t/λ / τ(λ), half the run at the
    peak for Page's triangle (warm-up then linear decay to 0)."""
    t = timescale("nesterov", 0.01, 1e-5, 0.9, 100, 24, warmup=5, schedule="piecewise")
    lrs = step_lrs(0.01, 5, 24, "piecewise", 100, 2400)
    assert t.schedule_relaxation_times == pytest.approx(lrs.sum() / 0.01 / t.relaxation_steps, rel=1e-4)
    assert t.schedule_relaxation_times / t.run_relaxation_times == pytest.approx(0.5, rel=1e-3)


def test_closing_table_prints_it_and_adam_l2_says_why_not(tmp_path, capsys):
    from training.trainer import _print_summary

    summary = train(tiny_config(tmp_path), verbose=False)
    console = Console(width=200, force_terminal=False)
    _print_summary(console, summary)
    out = capsys.readouterr().out
    assert f"{summary['relaxation_steps']:.4g} steps = {summary['relaxation_epochs']:.3g} epochs" in out
    adam = train(tiny_config(tmp_path, optimizer="adam", lr=1e-3, wd=1e-2, nesterov=False, epochs=1,
                             out=None), verbose=False)
    assert adam["relaxation_steps"] is None and "depends on the gradient" in adam["timescale_note"]
    _print_summary(console, adam)
    assert "depends on the gradient" in capsys.readouterr().out


def test_validate_gives_the_same_timescale(tmp_path):
    from dynamics.jobs.validate import load_run, timescale_line
    from dynamics.jobs.transfer import Timescale

    summary = train(tiny_config(tmp_path, epochs=2), verbose=False)
    assert timescale_line(load_run(tmp_path / "run")) == Timescale.from_dict(summary).line()
    (tmp_path / "run" / "metrics.csv").unlink()  # no steps per epoch: says so, no traceback
    assert timescale_line(load_run(tmp_path / "run")).startswith("unknown")
