"""A tiny synthetic CIFAR-shaped run: the run directory, the norm table, the angles."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dynamics.sim.geometry import angle
from training import TrainConfig, train
from training.model import ResNet9
from training.rundir import FILES, METRIC_COLUMNS

LAYER = "layer1.2.res1.conv.weight"


def tiny_npz(path, n_train=96, n_test=32):
    rng = np.random.default_rng(0)
    y_train, y_test = np.arange(n_train) % 10, np.arange(n_test) % 10
    x_train = rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8)
    x_train[..., 0] = (y_train * 25)[:, None, None]  # a learnable hint in the red channel
    x_test = rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8)
    x_test[..., 0] = (y_test * 25)[:, None, None]
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)


def tiny_config(tmp_path, **kw):
    base = dict(data=tiny_npz(tmp_path / "tiny.npz"), width=0.0625, batch_size=32, epochs=2,
                log_every=2, device="cpu", out=str(tmp_path / "run"))
    return TrainConfig(**{**base, **kw})

def killed_run(tmp_path, step: int = 4, **kw):
    """An unfinished run: ``tiny_config`` (2 epochs) interrupted at ``step``, after the
    first epoch's checkpoint. Returns its config."""
    from training import train

    config = tiny_config(tmp_path, **kw)

    def kill(at, model, optimizer):
        if at == step:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=False, on_step=kill)
    return config


def test_tiny_run_writes_every_file_and_a_complete_norm_table(tmp_path):
    snapshots = {}
    config = tiny_config(tmp_path)
    summary = train(config, verbose=False,
                    on_step=lambda step, model, opt: snapshots.__setitem__(
                        step, dict(model.named_parameters())[LAYER].detach().clone()))
    run = tmp_path / "run"
    assert all((run / name).is_file() for name in FILES)
    assert json.loads((run / "summary.json").read_text()) == summary
    assert {"test_acc", "diverged", "steps", "seconds"} <= set(summary)
    assert summary["steps"] == 6 and summary["diverged"] is False
    # the accuracy is a count over the test images, the last epoch's, with its binomial error
    n, acc = summary["test_images"], summary["test_acc"]
    assert acc * n == pytest.approx(round(acc * n), abs=1e-6)
    assert acc == pd.read_csv(run / "metrics.csv")["test_acc"].iloc[-1]
    assert summary["test_acc_se"] == pytest.approx((acc * (1 - acc) / n) ** 0.5)
    saved = json.loads((run / "config.json").read_text())
    assert saved["rule"] == "nesterov" and saved["width"] == 0.0625
    assert {"torch", "device_name", "git_commit", "start_time"} <= set(json.loads((run / "env.json").read_text()))

    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics.columns) == METRIC_COLUMNS and list(metrics.epoch) == [1, 2]
    assert list(metrics.step) == [3, 6]

    norms = pd.read_csv(run / "norms.csv")
    layers = [name for name, _ in ResNet9(0.0625).named_parameters()]
    assert sorted(norms.step.unique()) == [0, 2, 4, 6]  # step 0: the initial weights
    for step, group in norms.groupby("step"):  # every layer at every logged step, once
        assert list(group.layer) == layers
    assert norms.groupby("step").epoch.first().tolist() == [0, 1, 2, 2]
    start = norms[norms.step == 0]
    assert start.set_index("layer").weight_norm[LAYER] > 0 and start.grad_norm.isna().all()
    logged = norms[norms.step > 0]
    assert logged.grad_power_ratio[logged.grad_norm > 0].notna().all()
    invariant = norms.drop_duplicates("layer").set_index("layer").scale_invariant
    assert invariant[LAYER] and not invariant["linear.weight"] and not invariant["prep.bn.weight"]

    # the logged angular update of step s is the angle between the saved weights
    # after step s-1 and after step s; the logged weight norm is that of w before the step
    rows = norms[norms.layer == LAYER].set_index("step")
    for step in (2, 4, 6):
        expected = angle(snapshots[step - 1].flatten(), snapshots[step].flatten(), dim=0).item()
        assert rows.loc[step, "angular_update"] == pytest.approx(expected, rel=1e-5)
        assert rows.loc[step, "weight_norm"] == pytest.approx(snapshots[step - 1].norm().item(), rel=1e-6)
        assert rows.loc[step, "angular_update"] > 0


def test_holdout_adds_validation_columns(tmp_path):
    summary = train(tiny_config(tmp_path, holdout=20, train_size=64, epochs=1, out=None), verbose=False)
    assert summary["train_images"] == 64 and summary["val_acc"] is not None


def test_huge_learning_rate_stops_cleanly_as_diverged(tmp_path):
    summary = train(tiny_config(tmp_path, lr=1e30, epochs=3, schedule="constant", warmup_epochs=0),
                    verbose=False)
    assert summary["diverged"] is True
    assert summary["steps"] < summary["planned_steps"]
    run = tmp_path / "run"
    assert json.loads((run / "summary.json").read_text())["diverged"] is True
    assert (run / "metrics.csv").is_file()


def test_checkpoint_holds_model_optimizer_and_rng(tmp_path):
    train(tiny_config(tmp_path, epochs=1), verbose=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert {"model", "optimizer", "rng", "epoch", "step"} <= set(ckpt)
    assert ckpt["epoch"] == 1 and ckpt["step"] == 3
    assert ckpt["optimizer"]["state"]  # momentum buffers


def test_real_cifar_loads_balanced_and_a_tiny_run_learns(real_cifar):
    """The real data (RIDGELINE_DATA): 1,000 balanced training images, 2 epochs (20 steps)
    at width 1/16 already beat chance (10%) by far more than the 1% standard error
    (measured: 25.5%)."""
    summary = train(TrainConfig(data=str(real_cifar), width=0.0625, train_size=1000, batch_size=100,
                                epochs=2, device="cpu"), verbose=False)
    assert summary["train_images"] == 1000 and summary["test_images"] == 1000
    assert summary["test_acc"] > 0.15 and not summary["diverged"]
