"""training.monitor.Monitor writes step 0 and its first logged step at once (then on its
interval), and validate on a monitor run killed before that speaks of the monitor."""

import atexit

import pandas as pd
import torch
from torch import nn
from typer.testing import CliRunner

from cli import app
from training.monitor import Monitor


def _model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-3)


def _step(model, opt, x, y):
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def test_step_zero_and_the_first_logged_step_are_on_disk_at_once(tmp_path):
    model, opt = _model()
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    run = tmp_path / "run"
    monitor = Monitor(model, opt, out=run, every=2, flush_seconds=3600)
    steps = lambda: sorted(pd.read_csv(run / "norms.csv")["step"].unique())  # noqa: E731
    _step(model, opt, x, y)  # step 1: not logged, but step 0 is written before it
    assert steps() == [0]
    _step(model, opt, x, y)  # step 2: the first logged step, written at once
    assert steps() == [0, 2]
    for _ in range(4):  # then only on the interval (an hour here) ...
        _step(model, opt, x, y)
    assert steps() == [0, 2]
    monitor.close()  # ... and at the end
    assert steps() == [0, 2, 4, 6]


def test_validate_on_a_monitor_run_without_norms_speaks_of_the_monitor(tmp_path):
    model, opt = _model()
    run = tmp_path / "run"
    monitor = Monitor(model, opt, out=run, every=2)  # killed before its first step:
    for handle in monitor._handles:  # config.json only
        handle.remove()
    atexit.unregister(monitor._at_exit)
    result = CliRunner().invoke(app, ["validate", str(run)])
    assert result.exit_code == 2
    assert "training.monitor.Monitor" in result.output and "ridgeline train" not in result.output
