"""Every default documented in ``--help`` works: each command run with only its required
options, made cheap by tiny values of other options where the command has them (toy
steps and dimensions, a 96-image data file). ``report`` has no size options: its
defaults run through :class:`training.report.ReportConfig` in tests/test_report.py."""

import pytest
from typer.testing import CliRunner

from cli import app
from synthetic_run import make_run

runner = CliRunner()
TOY = ["--steps", "5", "--dim", "8", "--head", "0"]


def _ok(result):
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["derive", "--rule", "heavy-ball"],
    ["transfer", "--to", "batch_size=128"],
])
def test_commands_without_folders(args):
    _ok(runner.invoke(app, args))


def test_simulate_with_only_out(tmp_path):
    _ok(runner.invoke(app, ["simulate", "--out", str(tmp_path / "sim"), "--device", "cpu"]))


def test_simulate_slices_with_only_out(tmp_path):
    _ok(runner.invoke(app, ["simulate", "slices", "--out", str(tmp_path / "sl"), "--steps", "20", "--dim", "8",
                            "--device", "cpu"]))


def test_train_then_validate_with_only_their_folders(tmp_path):
    from test_train import tiny_npz

    run = tmp_path / "run"
    _ok(runner.invoke(app, ["train", "--out", str(run), "--data", str(tiny_npz(tmp_path / "t.npz")),
                            "--width", "0.0625", "--epochs", "1", "--batch-size", "32", "--device", "cpu"]))
    _ok(runner.invoke(app, ["validate", str(make_run(tmp_path / "synthetic", [0.1] * 60))]))


def test_sweep_with_only_its_required_options(tmp_path):
    _ok(runner.invoke(app, ["sweep", "--objective", "quadratic", "--x", "lr=0.1:1:3", "--y", "wd=1e-4:1e-3:3",
                            "--out", str(tmp_path / "s"), *TOY]))


def test_tune_with_only_its_required_options(tmp_path):
    _ok(runner.invoke(app, ["tune", "--objective", "quadratic", "--out", str(tmp_path / "t"), *TOY]))
