"""Diverged runs score as the worst value everywhere and are counted; slopes are judged
by the error across seeds and a missing slope says why; piped tables keep every digit."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app


def test_fit_ridge_does_not_drop_a_diverged_repeat():
    """One diverged seed at the otherwise best λ makes that grid point NaN: never the best."""
    from dynamics.analysis.ridge import fit_ridge

    rows = []
    for seed in (0, 1):
        for wd in (1e-3, 1e-2):
            for lr in (0.1, 0.2, 0.4, 0.8, 1.6):
                loss = (math.log(lr * wd / 2e-3)) ** 2 + 1
                if seed == 1 and wd == 1e-2 and lr == 0.2:
                    loss = math.nan  # this repeat diverged
                rows.append({"lr": lr, "wd": wd, "seed": seed, "loss": loss})
    frame = pd.DataFrame(rows)
    fit = fit_ridge(frame, "lr", "wd", "loss", maximize=False)
    best = dict((y, x) for x, y in fit.points)
    assert best[1e-2] != pytest.approx(0.2, rel=0.3)  # a NaN-skipping mean would put it at 0.2


def test_a_diverged_training_trial_scores_nan(monkeypatch, tmp_path):
    import training

    from training.search.objectives import make_objective

    objective = make_objective("train", ["--width", "0.0625", "--epochs", "1"])
    monkeypatch.setattr(training, "train", lambda config, **kw: {"test_acc": 0.1, "diverged": True})
    [result] = objective.evaluate([objective.trial({})], str(tmp_path))
    assert result["diverged"] and math.isnan(result["score"])  # not a finite 10% that could compete


def test_slices_z_uses_the_seed_error_and_a_missing_slope_says_why(tmp_path, one_thread):
    out = tmp_path / "slices"
    result = CliRunner().invoke(app, ["simulate", "slices", "--out", str(out), "--points", "3", "--rows", "3",
                                      "--repeats", "2", "--steps", "40", "--dim", "16", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output.lower()
    fits = json.loads((out / "ridge.json").read_text())
    for name, f in fits.items():
        if f["slope"] is None:
            assert f["no_slope"] and f["z"] is None
            assert "none:" in result.output
        elif f["slope_err_seeds"]:
            assert f["z"] == pytest.approx((f["slope"] - f["expected_slope"]) / f["slope_err_seeds"])


def test_print_table_keeps_every_digit_when_piped():
    from rich.console import Console
    from rich.table import Table

    from dynamics.util.output import print_table

    table = Table()
    for i in range(12):
        table.add_column(f"column {i}")
    table.add_row(*[f"{math.pi * 10 ** -i:.9f}" for i in range(12)])
    buffer = io.StringIO()
    print_table(Console(file=buffer, width=80), table)
    text = buffer.getvalue()
    assert "…" not in text and f"{math.pi:.9f}" in text


def test_sweep_csv_on_stdout_holds_full_values(tmp_path, one_thread):
    args = ["sweep", "--objective", "quadratic", "--x", "lr=0.1:0.4:3", "--y", "wd=1e-3:4e-3:3",
            "--out", str(tmp_path / "s"), "--steps", "30", "--dim", "16", "--format", "csv"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.count(",") == 2]
    assert lines[0] == "lr,wd,final_loss" and len(lines) == 10
    values = np.array([float(line.split(",")[2]) for line in lines[1:]])
    assert np.isfinite(values).all() and any(len(line.split(",")[2]) > 8 for line in lines[1:])
