"""training.monitor.Monitor: the trainer's norms.csv is main's NormLogger output, each
column is what training.norms says, hyperparameters are read per group at every step, and
a monitored run directory is one ``ridgeline validate`` reads."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dynamics.sim.geometry import angle, angles
from dynamics.util.errors import RidgelineError
from training import TrainConfig, train
from training.config import sgd_arguments
from training.model import ResNet9
from training.monitor import Monitor

ROOT = Path(__file__).resolve().parent.parent
MAIN = "1d558954fab16bffb19a6db76c86854c4f0026ba"  # the last commit whose trainer logged with NormLogger


def _tiny_config(tmp_path, out, **kw):
    from test_train import tiny_config

    return tiny_config(tmp_path, out=str(out), **kw)


def _main_checkout(tmp_path) -> Path:
    """main's code as it was before the monitor, unpacked from git."""
    dest = tmp_path / "main"
    dest.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", MAIN, "training", "dynamics"],
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"git history with commit {MAIN[:7]} is not available")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


@pytest.mark.parametrize("momentum,per_channel", [(0.9, True), (0.0, False)])
def test_trainer_norms_equal_mains_norm_logger(tmp_path, momentum, per_channel):
    """The same tiny run, once with main's NormLogger (main's code, another process) and once
    with the monitor: the same rows and columns, values equal to 1e-6, on the steps both log
    (the monitor adds step 0, and columns such as grad_power_ratio, wd, momentum)."""
    config = _tiny_config(tmp_path, tmp_path / "new", momentum=momentum, per_channel=per_channel)
    train(config, verbose=False)
    main = _main_checkout(tmp_path)
    old_config = {k: v for k, v in vars(config).items()} | {"out": str(tmp_path / "old")}
    script = ("import sys, json, dataclasses; from training import TrainConfig, train; "
              "given = json.loads(sys.argv[1]); known = {f.name for f in dataclasses.fields(TrainConfig)}; "
              "train(TrainConfig(**{k: v for k, v in given.items() if k in known}), verbose=False); "
              "print(json.dumps(sorted(set(given) - known)))")
    env = {**os.environ, "PYTHONPATH": str(main)}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(old_config)], env=env, check=True,
                          cwd=tmp_path, capture_output=True, text=True)
    dropped = json.loads(done.stdout.strip().splitlines()[-1])  # fields main did not have yet ...
    defaults = TrainConfig()
    assert all(getattr(config, k) == getattr(defaults, k) for k in dropped)  # ... left at their defaults
    for name in ["norms.csv"] + (["norms_per_channel.csv"] if per_channel else []):
        old, new = pd.read_csv(tmp_path / "old" / name), pd.read_csv(tmp_path / "new" / name)
        assert set(new.step) - set(old.step) == {0}
        new = new[new.step > 0].reset_index(drop=True)
        assert len(old) == len(new) > 0
        assert set(old.columns) <= set(new.columns)
        for column in old.columns:
            if old[column].dtype.kind == "f":
                np.testing.assert_allclose(new[column], old[column], rtol=1e-6, atol=0, err_msg=column)
            else:
                assert (new[column] == old[column]).all(), column


def _step(model, opt, x, y):
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_logged_values_match_direct_measurements(momentum):
    torch.manual_seed(0)
    wd, lr = 5e-3, 0.2
    model = ResNet9(0.0625)
    opt = torch.optim.SGD(model.parameters(), **sgd_arguments(lr, wd, momentum, True, 16))
    monitor = Monitor(model, opt, every=2, per_channel=True)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    _step(model, opt, x, y)  # not logged
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _step(model, opt, x, y)
    norms, channels = (t[t.step > 0] for t in monitor.fetch())  # step 0: see the test below
    assert len(norms) == len(before) and set(norms["step"]) == {2} and set(norms["lr"]) == {lr}
    assert set(norms["wd"]) == {wd} and set(norms["momentum"]) == {momentum}
    for (name, p), row in zip(model.named_parameters(), norms.itertuples()):
        assert row.layer == name
        w, g = before[name], p.grad  # p.grad: the loss gradient alone (torch adds α w internally)
        assert row.weight_norm == pytest.approx(w.norm().item(), rel=1e-5)
        assert row.grad_norm == pytest.approx(g.norm().item(), rel=1e-5)
        if w.norm() > 0:
            assert row.angular_update == pytest.approx(angle(w.flatten(), p.detach().flatten(), 0).item(), rel=1e-5)
        v = opt.state[p]["momentum_buffer"] if momentum else g + wd * w
        assert row.momentum_norm == pytest.approx(v.norm().item(), rel=1e-5)
    # per channel: squared channel norms add up to the tensor's
    summed = channels.assign(w2=channels.weight_norm ** 2).groupby("layer", sort=False).w2.sum()
    whole = norms.set_index("layer").weight_norm ** 2
    assert set(summed.index) == {n for n, p in model.named_parameters() if p.dim() >= 2}
    for name, value in summed.items():
        assert value == pytest.approx(whole[name], rel=1e-4)
    assert monitor.fetch()[0].empty  # fetch hands over and clears


def test_batched_angles_are_the_per_tensor_angle():
    """dynamics.sim.geometry.angles (the monitor's) is angle over each flattened pair, to the bit,
    from steps of 1e-6 rad (where acos would lose the angle) to a reversal."""
    torch.manual_seed(0)
    a = [torch.randn(16, 8, 3, 3), torch.randn(16), torch.randn(10, 16), torch.randn(5)]
    b = [a[0] + 1e-6 * torch.randn_like(a[0]), 3 * a[1] + 1e-3 * torch.randn(16), torch.randn(10, 16), -a[3]]
    want = torch.stack([angle(x.flatten(), y.flatten(), dim=0) for x, y in zip(a, b)])
    assert torch.equal(angles(a, b), want)
    assert torch.equal(angles(a, b, torch._foreach_norm(a)), want)
    assert want[0] < 1e-5 and want[3] == pytest.approx(torch.pi)


def test_monitoring_does_not_change_the_training_trajectory():
    results = []
    for every in (1, None):
        torch.manual_seed(0)
        model = ResNet9(0.0625)
        opt = torch.optim.SGD(model.parameters(), **sgd_arguments(0.2, 5e-4, 0.9, True, 8))
        if every:
            Monitor(model, opt, every=every)
        torch.manual_seed(1)
        for _ in range(3):
            _step(model, opt, torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(results[0], results[1])


def _two_group_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    decay = [p for p in model.parameters() if p.dim() > 1]
    rest = [p for p in model.parameters() if p.dim() <= 1]
    return model, decay, rest


@pytest.mark.parametrize("schedule", ["lambda", "onecycle"])
def test_two_param_groups_and_a_scheduler_are_read_at_every_step(schedule):
    model, decay, rest = _two_group_model()
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-3, "momentum": 0.9, "nesterov": True},
                           {"params": rest, "weight_decay": 0.0, "momentum": 0.0}], lr=0.1)
    if schedule == "lambda":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (1 + s))
    else:  # OneCycleLR also cycles ρ (0.95 → 0.85) in both groups: ρ must be read per step too
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10)
    monitor = Monitor(model, opt, every=1)
    expected = []  # (step, layer) -> (λ, α, ρ, |v|)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    for step in range(1, 6):
        lrs, momenta = [g["lr"] for g in opt.param_groups], [g["momentum"] for g in opt.param_groups]
        w = {id(p): p.detach().clone() for p in model.parameters()}
        _step(model, opt, x, y)
        for name, p in model.named_parameters():
            k = 0 if p.dim() > 1 else 1
            wd = opt.param_groups[k]["weight_decay"]
            rho = momenta[k]
            v = opt.state[p]["momentum_buffer"] if rho else p.grad + wd * w[id(p)]
            expected.append((step, name, lrs[k], wd, rho, v.norm().item()))
        sched.step()
    norms = monitor.fetch()[0].query("step > 0")
    got = norms[["step", "layer", "lr", "wd", "momentum", "momentum_norm"]].itertuples(index=False)
    for row, want in zip(got, expected, strict=True):
        assert row[:2] == want[:2] and row[2:5] == pytest.approx(want[2:5], rel=1e-12)
        assert row[5] == pytest.approx(want[5], rel=1e-5)
    assert norms["lr"].nunique() > 2  # the schedule moved λ
    if schedule == "onecycle":
        assert norms["momentum"].nunique() > 2  # and ρ
    config = monitor.config()
    assert [g["rule"] for g in config["param_groups"]] == ["nesterov", "sgd" if schedule == "lambda" else "heavy-ball"]
    assert config["rule"] == "nesterov" and config["wd"] == 1e-3  # the group of the invariant conv
    assert config["tensors"]["0.weight"]["scale_invariant"] and config["tensors"]["5.weight"]["group"] == 0


def test_step_zero_and_the_gradient_power_ratio_in_a_user_loop():
    """Step 0 is the initial |w| (the rest NaN); k_t = 1 + 2ρ m_{t−1}·g_t/|g_t|² with
    m_t = ρ m_{t−1} + g_t over EVERY step (logged or not), ρ the group's at that step."""
    model, decay, rest = _two_group_model()
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-3, "momentum": 0.9},
                           {"params": rest, "weight_decay": 0.0, "momentum": 0.0}], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10)  # sets and cycles ρ
    initial = {n: p.detach().norm().item() for n, p in model.named_parameters()}
    monitor = Monitor(model, opt, every=3)
    memory = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in model.named_parameters()}
    expected = {}
    torch.manual_seed(1)
    for step in range(1, 7):
        rho = [g["momentum"] for g in opt.param_groups]
        _step(model, opt, torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,)))
        for name, p in model.named_parameters():
            r, g = rho[0 if p.dim() > 1 else 1], p.grad.double()
            expected[step, name] = 1 + 2 * r * (memory[name] * g).sum().item() / (g * g).sum().item()
            memory[name] = r * memory[name] + g
        sched.step()
    norms = monitor.fetch()[0]
    assert sorted(norms.step.unique()) == [0, 3, 6]
    start = norms[norms.step == 0].set_index("layer")
    assert start.weight_norm.to_dict() == pytest.approx(initial, rel=1e-6)
    assert start.epoch.eq(0).all() and start[["grad_norm", "angular_update", "momentum_norm",
                                              "grad_power_ratio"]].isna().all().all()
    for row in norms[norms.step > 0].itertuples():
        assert row.grad_power_ratio == pytest.approx(expected[row.step, row.layer], rel=1e-5, abs=1e-6)
    assert norms[norms.step > 0].momentum.nunique() > 1  # ρ moved between the logged steps
    assert norms[norms.step > 0].grad_power_ratio.sub(1).abs().max() > 1e-3  # ρ > 0: k moves


@pytest.mark.parametrize("make,rule", [
    (lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.1, betas=(0.8, 0.99)), "adamw"),
    (lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=0.1, betas=(0.8, 0.99)), "adam-l2"),
    (lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=0.1, betas=(0.8, 0.99),
                                decoupled_weight_decay=True), "adamw"),
    (lambda p: __import__("training.optim").optim.Lion(p, lr=1e-4, weight_decay=0.1, betas=(0.8, 0.99)), "lion"),
])
def test_adaptive_optimizers_map_onto_their_rules_and_first_moments(make, rule):
    model, _, _ = _two_group_model()
    opt = make(model.parameters())
    monitor = Monitor(model, opt, every=1)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    for _ in range(2):
        _step(model, opt, x, y)
    norms = monitor.fetch()[0]
    last = norms[norms.step == 2].set_index("layer")
    for name, p in model.named_parameters():
        assert last.loc[name, "momentum_norm"] == pytest.approx(opt.state[p]["exp_avg"].norm().item(), rel=1e-5)
    assert set(last.momentum) == {0.8} and set(last.wd) == {0.1}
    config = monitor.config()
    assert config["rule"] == rule and config["beta2"] == 0.99
    assert last.grad_power_ratio.notna().all()


def test_unsupported_optimizers_are_refused_in_one_line():
    model, _, _ = _two_group_model()
    with pytest.raises(RidgelineError, match="RMSprop is not supported"):
        Monitor(model, torch.optim.RMSprop(model.parameters()))
    with pytest.raises(RidgelineError, match="amsgrad"):
        Monitor(model, torch.optim.Adam(model.parameters(), amsgrad=True))
    with pytest.raises(RidgelineError, match="dampening"):
        Monitor(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.1))
    with pytest.raises(RidgelineError, match="every"):
        Monitor(model, torch.optim.SGD(model.parameters(), lr=0.1), every=0)


def test_a_monitored_run_directory_is_what_validate_reads(tmp_path):
    from dynamics.jobs.validate import ValidateConfig, validate

    model, _, _ = _two_group_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-3)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))
    with Monitor(model, opt, out=tmp_path / "run", every=2, batch=x):
        for _ in range(40):
            _step(model, opt, x, y)
    run = tmp_path / "run"
    assert json.loads((run / "summary.json").read_text())["steps"] == 40
    assert pd.read_csv(run / "probe.csv").set_index("tensor").loc["0.weight", "tensor_invariant"]
    result = validate(ValidateConfig(str(run), figures=False), console=_quiet())
    layers = result.layers.set_index("layer")
    assert list(layers.index) == [n for n, _ in model.named_parameters()]
    assert layers.loc["0.weight", "scale_invariant"] and not layers.loc["5.weight", "scale_invariant"]
    with pytest.raises(RidgelineError, match="already holds a run"):
        Monitor(model, opt, out=run)


def _quiet():
    from rich.console import Console

    return Console(quiet=True)


def test_an_epoch_that_logs_only_step_zero_finishes(tmp_path):
    """--log-every longer than an epoch: the first flush holds step 0 alone (|w|, no |g|),
    which used to end the run with a KeyError."""
    config = _tiny_config(tmp_path, tmp_path / "run", log_every=1000)
    summary = train(config, verbose=False)
    assert not summary["diverged"]
    norms = pd.read_csv(tmp_path / "run" / "norms.csv")
    assert set(norms.step) == {0}


@pytest.mark.parametrize("make", [
    lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-3),
    lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-3),
])
def test_update_power_ratio_is_the_update_torch_applied(make):
    """κ_t = |m̂/(√ŝ + ε)|²/(C P_t), read here from torch's own state after the step,
    P_t = (1 − β₁)(1 + β₁^t)/((1 + β₁)(1 − β₁^t)); Lion logs none."""
    model, _, _ = _two_group_model()
    opt = make(model.parameters())
    monitor = Monitor(model, opt, every=1)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    expected = {}
    for t in (1, 2, 3):
        _step(model, opt, x, y)
        for name, p in model.named_parameters():
            st = opt.state[p]
            u = st["exp_avg"].double() / (1 - 0.8**t) / ((st["exp_avg_sq"].double() / (1 - 0.99**t)).sqrt() + 1e-3)
            expected[t, name] = (u * u).sum().item() / (u.numel() * 0.2 * (1 + 0.8**t) / (1.8 * (1 - 0.8**t)))
    norms = monitor.fetch()[0]
    for row in norms[norms.step > 0].itertuples():
        assert row.update_power_ratio == pytest.approx(expected[row.step, row.layer], rel=1e-5)
    monitor.close()
    lion = __import__("training.optim").optim.Lion(model.parameters(), lr=1e-4, weight_decay=0.1)
    monitor = Monitor(model, lion, every=1)
    _step(model, lion, x, y)
    assert "update_power_ratio" not in monitor.fetch()[0]


def test_update_power_ratio_is_one_for_white_gradients():
    """Independent N(0, σ²) gradients per coordinate, σ differing across coordinates: the
    mean κ over 400 steps is 1 (the white model's P_t holds from the first step)."""
    torch.manual_seed(0)
    w = nn.Parameter(torch.ones(2000, dtype=torch.float64))
    scale = torch.logspace(-2, 1, 2000, dtype=torch.float64)
    opt = torch.optim.AdamW([w], lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99))
    model = nn.Module()
    model.w = w
    monitor = Monitor(model, opt, every=1)
    for _ in range(400):
        w.grad = torch.randn(2000, dtype=torch.float64) * scale
        opt.step()
    kappa = monitor.fetch()[0].query("step > 0").update_power_ratio.to_numpy()
    assert abs(kappa[:10].mean() - 1) < 0.1  # bias-corrected start
    assert abs(kappa[200:].mean() - 1) < 0.03  # settled: 2000 coordinates, 200 steps of it
