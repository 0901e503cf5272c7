"""`ridgeline train` through the CLI: a tiny run, and bad input → one line, exit 2."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from test_train import tiny_npz

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["train", *map(str, args)])


def test_cli_tiny_run_then_rerun_needs_resume(tmp_path):
    data, out = tiny_npz(tmp_path / "tiny.npz"), tmp_path / "run"
    args = ["--out", out, "--data", data, "--width", 0.0625, "--batch-size", 32, "--epochs", 1,
            "--log-every", 1, "--device", "cpu", "--schedule", "constant", "--warmup-epochs", 0.5]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    assert "(1 epoch)" in result.output  # not "1 epochs"
    # 3 steps log the norms 3 times: warned at the start, with the fix
    assert "log the norms 3 times" in result.output and "--log-every 1 or train longer" in result.output
    assert result.output.index("warning") < result.output.index("test accuracy")
    config = json.loads((out / "config.json").read_text())
    assert config["schedule"] == "constant" and config["warmup_epochs"] == 0.5
    again = _run(*args)
    assert again.exit_code == 2 and "already holds a finished run" in again.output
    assert _run(*args, "--resume").exit_code == 0


@pytest.mark.parametrize("extra, message", [
    (["--width", 0], "width must be a number > 0"),
    (["--width", -0.5], "width must be a number > 0"),
    (["--batch-size", 500], "batch_size=500 is larger than the training set (96 images)"),
    (["--epochs", 0], "epochs must be an integer >= 1"),
    (["--device", "gpu7"], "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    (["--device", "cuda:3"], "cuda"),
])
def test_bad_options_give_one_line_and_exit_2(tmp_path, extra, message):
    result = _run("--out", tmp_path / "run", "--data", tiny_npz(tmp_path / "tiny.npz"), *extra)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content", ["garbage", "wrong-shape", "missing"])
def test_bad_data_files_give_one_line_and_exit_2(tmp_path, content):
    path = tmp_path / "data.npz"
    if content == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif content == "wrong-shape":
        np.savez(path, x_train=np.zeros((10, 3, 32, 32), np.uint8), y_train=np.zeros(10, int),
                 x_test=np.zeros((10, 3, 32, 32), np.uint8), y_test=np.zeros(10, int))
    result = _run("--out", tmp_path / "run", "--data", path)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0]
    assert "--download" in lines[0]


def test_sigterm_is_handled_like_ctrl_c_exit_143_and_resumable(tmp_path, monkeypatch):
    """SIGTERM ended a run with exit 143 and no word; now it says what was kept, like
    Ctrl-C, and `--resume` finishes the run."""
    import os
    import signal

    from training.monitor import Monitor

    fetch, calls = Monitor.fetch, []
    before = signal.getsignal(signal.SIGTERM)  # SIG_DFL, or Ray's when an earlier test started Ray here

    def fetch_then_terminate(self):  # in epoch 2, after epoch 1's checkpoint
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return fetch(self)

    monkeypatch.setattr(Monitor, "fetch", fetch_then_terminate)
    out = tmp_path / "run"
    result = _run("--out", out, "--data", tiny_npz(tmp_path / "tiny.npz"), "--width", 0.0625,
                  "--batch-size", 32, "--epochs", 3, "--log-every", 1, "--device", "cpu")
    assert result.exit_code == 143, result.output
    assert f"terminated: finished epochs are saved; continue with `ridgeline train --out {out} --resume`" in result.output
    assert signal.getsignal(signal.SIGTERM) is before  # restored afterwards
    monkeypatch.undo()
    again = _run("--out", out, "--resume")
    assert again.exit_code == 0, again.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == summary["planned_steps"] == 9
