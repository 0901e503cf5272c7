"""The real trainer as a sweep/tune objective: option pass-through and run directories.

Tiny: a synthetic CIFAR-shaped .npz, width 1/16, one epoch of a few steps.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from dynamics.util.errors import RidgelineError
from training.search.objectives import TrainObjective

runner = CliRunner()


@pytest.fixture
def tiny_cifar(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8),
             y_train=np.arange(64) % 10, x_test=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
             y_test=np.arange(20) % 10)
    return path


def tiny_options(data) -> list[str]:
    return ["--data", str(data), "--width", "0.0625", "--epochs", "1", "--batch-size", "16",
            "--device", "cpu", "--log-every", "2"]


def test_every_train_option_maps_onto_train_config_by_name_and_type():
    objective = TrainObjective.from_options(
        ["--width", "0.25", "--no-nesterov", "--train-size", "100", "--data=x.npz", "--cutout",
         "--warmup-epochs", "none", "--schedule", "constant", "--compile", "false", "--seed", "3"])
    base = objective.base
    assert (base.width, base.nesterov, base.train_size, base.data, base.cutout) == \
        (0.25, False, 100, "x.npz", True)
    assert (base.warmup_epochs, base.schedule, base.compile, base.seed) == (None, "constant", False, 3)
    assert objective.score_name == "test_acc"
    assert TrainObjective.from_options(["--holdout", "10"]).score_name == "val_acc"


@pytest.mark.parametrize("args, message", [
    (["--epochs", "two"], "--epochs: 'two' is not a valid int"),
    (["--widht", "0.5"], "unknown option --widht"),
    (["--out", "x"], "the sweep or tune sets each trial's run directory"),
    (["--width", "0"], "width must be a number > 0"),
    (["--epochs"], "--epochs needs a value"),
])
def test_bad_train_options_are_one_line_errors(args, message):
    with pytest.raises(RidgelineError, match=message):
        TrainObjective.from_options(args)


def test_train_sweep_runs_each_trial_in_its_own_run_directory(tmp_path, tiny_cifar):
    out = tmp_path / "s"
    args = ["sweep", "--objective", "train", "--x", "lr=0.05:0.2:2", "--y", "wd=1e-4:1e-3:2",
            "--out", str(out), *tiny_options(tiny_cifar)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "records.csv")
    assert len(frame) == 4
    for row in frame.itertuples():
        run = out / "runs" / row.key
        summary = json.loads((run / "summary.json").read_text())
        config = json.loads((run / "config.json").read_text())
        assert row.score == pytest.approx(summary["test_acc"])
        assert (config["lr"], config["wd"], config["width"], config["epochs"]) == \
            (pytest.approx(row.lr), pytest.approx(row.wd), 0.0625, 1)
    assert json.loads((out / "ridge.json").read_text())["lr_x_wd"]["score"] == "test_acc"
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "(0 new)" in again.output


def test_train_tune_is_recorded_and_resumes(tmp_path, tiny_cifar):
    out = tmp_path / "t"
    args = ["tune", "--objective", "train", "--start", "lr=0.1,momentum=0.5,wd=1e-3",
            "--max-runs", "2", "--out", str(out), *tiny_options(tiny_cifar)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "2 runs (2 new), stopped at --max-runs" in first.output
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials.run) == [0, 1] and trials.lr.tolist() == pytest.approx([0.1, 0.2])
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "2 runs (0 new)" in again.output
