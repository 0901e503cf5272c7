"""Issue 11, security: an untrusted checkpoint runs no code; a local Ray binds to loopback."""

from __future__ import annotations

import os

import pytest
import torch
from typer.testing import CliRunner

from cli import app
from test_train import tiny_config
from training import train

runner = CliRunner()


class _Payload:
    """Unpickling this runs ``os.system`` (the classic pickle exploit)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _killed_run(tmp_path):
    """An unfinished run directory: epoch 1 of 2 written, then killed."""
    config = tiny_config(tmp_path, epochs=2)

    def kill(step, model, optimizer):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=False, on_step=kill)
    return config


def test_resume_refuses_a_crafted_checkpoint_without_running_it(tmp_path):
    config = _killed_run(tmp_path)
    ckpt_path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(ckpt_path, weights_only=True)  # ridgeline's own checkpoint is plain data
    marker = tmp_path / "pwned"
    ckpt["metrics"] = _Payload(marker)
    torch.save(ckpt, ckpt_path)
    result = runner.invoke(app, ["train", "--out", config.out, "--data", config.data, "--width", "0.0625",
                                 "--batch-size", "32", "--epochs", "2", "--log-every", "2",
                                 "--device", "cpu", "--resume"])
    assert not marker.exists(), "the checkpoint's payload ran"
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error: cannot read") and "checkpoint" in message
    assert len(message.splitlines()) == 1 and "weights_only" not in message
