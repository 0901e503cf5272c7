"""TensorBoard output: the event file read back holds the norm table's scalars; without the
extra, --tensorboard says how to install it and exits 2."""

import sys

import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from training.monitor import Monitor


def test_monitor_event_file_holds_the_scalars(tmp_path, one_thread):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (1 + 0.1 * s))
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))
    with Monitor(model, opt, out=tmp_path, every=2, batch=x, tensorboard=True):
        for _ in range(20):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"weight_norm/0.weight", "angle/0.weight", "norm_ratio/0.weight", "angle_ratio/0.weight",
            "weight_norm/5.weight", "lr/group0"} <= tags
    assert "norm_ratio/5.weight" not in tags  # the linear layer is not scale-invariant
    norms = pd.read_csv(tmp_path / "norms.csv")
    conv = norms[norms.layer == "0.weight"]
    logged = events.Scalars("weight_norm/0.weight")
    assert [e.step for e in logged] == conv.step.tolist()
    assert [e.value for e in logged] == pytest.approx(conv.weight_norm.tolist(), rel=1e-6)
    assert [e.value for e in events.Scalars("lr/group0")] == pytest.approx(conv.lr.drop_duplicates().tolist())
    ratios = [e.value for e in events.Scalars("norm_ratio/0.weight")]
    assert len(ratios) == len(conv[conv.step > 0]) and all(r > 0 for r in ratios)  # step 0: no angle


def test_without_the_extra_tensorboard_says_how_to_install_and_exits_2(tmp_path, monkeypatch):
    from cli import app

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run"), "--tensorboard"])
    assert result.exit_code == 2
    assert "pip install 'ridgeline[tensorboard]'" in result.output
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_ridgeline_train_writes_the_same_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from test_train import tiny_config
    from training import train

    train(tiny_config(tmp_path, tensorboard=True), verbose=False)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    norms = pd.read_csv(tmp_path / "run" / "norms.csv")
    layer = "layer1.2.res1.conv.weight"
    rows = norms[(norms.layer == layer) & (norms.step > 0)]  # step 0, the initial |w|, has no angle
    assert [e.step for e in events.Scalars(f"angle/{layer}")] == rows.step.tolist()
    assert [e.value for e in events.Scalars(f"angle/{layer}")] == pytest.approx(rows.angular_update.tolist(), rel=1e-6)
    assert f"angle_ratio/{layer}" in events.Tags()["scalars"]
