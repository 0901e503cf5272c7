"""A run killed after epoch k and resumed ends exactly like an uninterrupted one (CPU)."""

import json

import pandas as pd
import pytest

from dynamics.util.errors import RidgelineError
from test_train import tiny_config
from training import train


class Killed(KeyboardInterrupt):
    pass


def _kill_at(step_to_kill):
    def on_step(step, model, optimizer):
        if step == step_to_kill:
            raise Killed()
    return on_step


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    whole = tiny_config(tmp_path, epochs=3, log_every=1, out=str(tmp_path / "whole"))
    broken = tiny_config(tmp_path, epochs=3, log_every=1, out=str(tmp_path / "broken"))
    expected = train(whole, verbose=False)

    with pytest.raises(Killed):  # killed in epoch 3 (steps 7-9), after epoch 2's checkpoint
        train(broken, verbose=False, on_step=_kill_at(8))
    assert not (tmp_path / "broken" / "summary.json").exists()
    with pytest.raises(RidgelineError, match="unfinished run; pass --resume"):
        train(broken, verbose=False)
    resumed = train(broken, resume=True, verbose=False)

    for key in ("test_acc", "test_loss", "train_loss", "train_acc", "steps", "diverged"):
        assert resumed[key] == expected[key], key
    for name, drop in (("metrics.csv", ["seconds"]), ("norms.csv", ["grad_power_ratio"])):
        a = pd.read_csv(tmp_path / "whole" / name).drop(columns=drop)
        b = pd.read_csv(tmp_path / "broken" / name).drop(columns=drop)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # the statistic's filter state is restored exactly; its dot products are BLAS reductions
    # whose order may differ between processes: the ratio may differ in the last float32 bit
    a, b = (pd.read_csv(tmp_path / run / "norms.csv").grad_power_ratio for run in ("whole", "broken"))
    pd.testing.assert_series_equal(a, b, check_exact=False, rtol=1e-6)
    assert len(pd.read_csv(tmp_path / "broken" / "norms.csv").step.unique()) == 10  # steps 0-9


def test_resume_refuses_a_different_configuration_and_returns_a_finished_summary(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    summary = train(config, verbose=False)
    assert train(config, resume=True, verbose=False) == summary
    with pytest.raises(RidgelineError, match="lr: 0.4 then, 0.2 now"):
        train(tiny_config(tmp_path, epochs=1, lr=0.2), resume=True, verbose=False)
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved == summary


def test_a_run_from_before_an_option_existed_resumes_at_its_default_only(tmp_path):
    """A checkpoint written before ``optimizer``/``eps`` existed lacks them: resuming with
    their defaults continues it; with another value it is a different configuration."""
    import torch

    broken = tiny_config(tmp_path, epochs=2)
    with pytest.raises(Killed):
        train(broken, verbose=False, on_step=_kill_at(5))  # after epoch 1's checkpoint
    path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    del ckpt["config"]["optimizer"], ckpt["config"]["eps"]
    torch.save(ckpt, path)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    del config["optimizer"], config["eps"]
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    with pytest.raises(RidgelineError, match="eps: 1e-08 then, 0.001 now"):
        train(tiny_config(tmp_path, epochs=2, eps=1e-3), resume=True, verbose=False)
    assert train(broken, resume=True, verbose=False)["steps"] > 5


def test_cli_resume_alone_takes_the_run_s_own_settings(tmp_path):
    """`ridgeline train --out DIR --resume` with nothing else finishes a killed run
    exactly as an uninterrupted one (it was refused: every option had to be typed
    again); a given option that differs from the run's is still refused, naming it."""
    from typer.testing import CliRunner

    from cli import app

    settings = dict(epochs=3, log_every=1, batch_size=32, width=0.0625, lr=0.2, schedule="constant")
    expected = train(tiny_config(tmp_path, out=str(tmp_path / "whole"), **settings), verbose=False)
    with pytest.raises(Killed):
        train(tiny_config(tmp_path, out=str(tmp_path / "broken"), **settings), verbose=False,
              on_step=_kill_at(8))
    run = lambda *args: CliRunner().invoke(app, ["train", "--out", str(tmp_path / "broken"), "--resume", *args])  # noqa: E731
    refused = run("--epochs", "4", "--lr", "0.2")
    assert refused.exit_code == 2 and "epochs: 3 then, 4 now" in refused.output
    assert "lr:" not in refused.output  # given, and the run's own value
    other = run("--optimizer", "adamw")
    assert other.exit_code == 2 and "optimizer: 'sgd' then, 'adamw' now" in other.output
    result = run()
    assert result.exit_code == 0, result.output
    resumed = json.loads((tmp_path / "broken" / "summary.json").read_text())
    for key in ("test_acc", "test_loss", "train_loss", "steps", "lr", "batch_size", "width"):
        assert resumed[key] == expected[key], key
    for name, drop in (("metrics.csv", ["seconds"]), ("norms.csv", ["grad_power_ratio"])):
        a = pd.read_csv(tmp_path / "whole" / name).drop(columns=drop)
        b = pd.read_csv(tmp_path / "broken" / name).drop(columns=drop)
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_saved_options_rebuild_the_config_of_every_optimizer():
    from training.config import TrainConfig, from_options, saved_options

    for config in (TrainConfig(momentum=0.5, nesterov=False, lr=0.1), TrainConfig(optimizer="adamw", nesterov=False,
                   beta2=0.99, eps=1e-6), TrainConfig(optimizer="lion", nesterov=False, momentum=0.8),
                   TrainConfig(optimizer="adam", nesterov=False),
                   TrainConfig(optimizer="muon", momentum=0.95, adjust_lr="match_rms_adamw")):
        assert from_options(**saved_options(config.to_dict())) == config


def test_a_run_whose_first_epoch_logged_step_0_alone_resumes(tmp_path):
    """3 steps per epoch at --log-every 10: epoch 1 logs the initial weights only, and its
    norms.csv lacked the gradient and angle columns, so --resume refused it as damaged."""
    from test_train import killed_run

    config = killed_run(tmp_path, step=5, log_every=10, epochs=3)
    norms = pd.read_csv(tmp_path / "run" / "norms.csv")
    assert {"grad_norm", "angular_update"} <= set(norms.columns) and set(norms.step) == {0}
    summary = train(config, resume=True, verbose=False)
    assert summary["steps"] == summary["planned_steps"] == 9
