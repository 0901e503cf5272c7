"""A matrix of small real training loops under training.monitor.Monitor: for every loop
feature, either validate's inputs are the values torch used (λ_t, α_t, ρ_t of every step,
the gradient each step applied, the steps that happened), or the feature is refused in
one line (docs/monitor.md: the table of loop features).

Each loop: a tiny conv net with BatchNorm on random 8x8 images, a few dozen steps. The
reference values are read in the loop itself, from ``optimizer.param_groups`` and
``p.grad`` just before torch's step uses them.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dynamics.util.errors import RidgelineError
from dynamics.jobs.validate import ValidateConfig, layer_run, load_run, step_hyperparameters, validate
from training.monitor import Monitor

STEPS = 30


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def batches(n=STEPS, size=16):
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 3, 8, 8, generator=gen), torch.randint(0, 4, (size,), generator=gen))
            for _ in range(n)]


def loss_of(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


class Record:
    """What torch used on every step: (λ, α, ρ) per group and |g| per monitored tensor."""

    def __init__(self, optimizer, params):
        self.optimizer, self.params, self.hyper, self.grad = optimizer, params, [], []

    def __call__(self):
        groups = self.optimizer.param_groups
        self.hyper.append([(g["lr"], g["weight_decay"], g["momentum"] if "momentum" in g else g["betas"][0])
                           for g in groups])
        self.grad.append([float(p.grad.norm()) for p in self.params])


def run_loop(tmp_path, make_optimizer, scheduler=None, every=1, step=None, steps=STEPS):
    """A plain loop under the monitor; ``step(model, optimizer, batch, record)`` replaces the
    default backward + step. Returns (run directory, monitor, record)."""
    model = tiny_net()
    optimizer = make_optimizer(model)
    out = tmp_path / "run"
    monitor = Monitor(model, optimizer, out=str(out), every=every, overwrite=True)
    sched = scheduler(optimizer) if scheduler else None
    record = Record(optimizer, monitor.params)
    for i, batch in enumerate(batches(steps)):
        if step is None:
            optimizer.zero_grad()
            loss_of(model, batch).backward()
            record()
            optimizer.step()
        else:
            step(model, optimizer, batch, record, i)
        if sched is not None:
            sched.step(*(() if not isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau) else (1.0,)))
    monitor.close()
    return out, monitor, record


def sgd(**kw):
    return lambda m: torch.optim.SGD(m.parameters(), **({"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-3} | kw))


def used(run_dir):
    """validate's per-step (λ, α, ρ), each (T, L), and the layers in that order."""
    run = load_run(run_dir)
    layers = list(dict.fromkeys(run.norms["layer"]))
    lam, wd, rho, note = step_hyperparameters(run, run.norms, layers)
    return run, layers, lam, wd, rho, note


def torch_values(run, layers, record):
    """What torch used, (T, L) per quantity, each tensor its own group's."""
    groups = [run.config["tensors"][n]["group"] for n in layers]
    h = np.array(record.hyper, dtype=float)  # (T, groups, 3)
    return [h[:, groups, j] for j in range(3)]


def assert_inputs_are_torchs(run_dir, record):
    run, layers, lam, wd, rho, note = used(run_dir)  # steps 1 … the last logged one
    assert len(lam) == run.norms["step"].max() > len(record.hyper) - run.config["log_every"]
    for ours, theirs in zip((lam, wd, rho), torch_values(run, layers, record)):
        np.testing.assert_array_equal(ours, theirs[:len(ours)])
    assert note == ""
    return run, layers, lam, wd, rho


# ------------------------------------------------------------- followed: schedules
def test_onecycle_default_momentum_cycle_is_followed_step_by_step(tmp_path):
    """OneCycleLR's defaults cycle ρ 0.95 → 0.85 → 0.95: every step's ρ_t (and λ_t) that
    the trajectory takes is torch's, not one ρ for the run."""
    out, _, record = run_loop(tmp_path, sgd(nesterov=True), every=10,
                              scheduler=lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=STEPS))
    *_, rho = assert_inputs_are_torchs(out, record)
    assert rho.max() == pytest.approx(0.95) and rho.min() < 0.86
    validate(ValidateConfig(str(out), figures=False))  # the equilibrium at a logged step: that step's ρ
    table = pd.read_csv(out / "validation" / "validation_steps.csv")
    one = table[(table.layer == "0.weight") & (table.step == 20)].iloc[0]
    from dynamics.theory.dispatch import predict

    expect = predict("nesterov", one.lr, one.wd, one.momentum, one.G_smoothed)
    assert one.momentum == pytest.approx(record.hyper[19][0][2])
    assert one.predicted_norm_white == pytest.approx(float(expect.weight_norm))


@pytest.mark.parametrize("kind", ["plateau", "warm_restarts"])
def test_jumping_schedulers_are_followed(tmp_path, kind):
    """ReduceLROnPlateau (a constant metric: λ drops after each `patience` steps) and
    CosineAnnealingWarmRestarts (λ jumps back up): λ_t is torch's on every step."""
    make = {"plateau": lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, patience=3, factor=0.5),
            "warm_restarts": lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=8)}[kind]
    out, _, record = run_loop(tmp_path, sgd(), scheduler=make, every=7)
    _, _, lam, *_ = assert_inputs_are_torchs(out, record)
    jumps = np.diff(lam[:, 0])
    assert (jumps < -0.02).any() if kind == "plateau" else (jumps > 0.05).any()


def test_a_scheduler_that_changes_weight_decay_is_followed(tmp_path):
    def step(model, optimizer, batch, record, i):
        for g in optimizer.param_groups:
            g["weight_decay"] = 5e-3 * (1 + i / 10)
        optimizer.zero_grad()
        loss_of(model, batch).backward()
        record()
        optimizer.step()

    out, _, record = run_loop(tmp_path, sgd(), step=step, every=10)
    _, _, _, wd, _ = assert_inputs_are_torchs(out, record)
    assert wd[-1, 0] > 3 * wd[0, 0]


def test_param_groups_each_tensor_gets_its_own_groups_values(tmp_path):
    """Two groups with different λ, α and ρ: every tensor's per-step values, and the α and ρ
    of its equilibrium prediction, are its own group's."""
    def make(m):
        first = list(m.parameters())[:3]
        rest = list(m.parameters())[3:]
        return torch.optim.SGD([{"params": first}, {"params": rest, "lr": 0.05, "weight_decay": 5e-2,
                                                    "momentum": 0.8}], lr=0.1, momentum=0.9, weight_decay=5e-3)

    out, _, record = run_loop(tmp_path, make, every=5)
    run, layers, lam, wd, rho = assert_inputs_are_torchs(out, record)
    assert set(wd[0]) == {5e-3, 5e-2}
    second = layer_run(run, "3.weight", run.norms[run.norms.layer == "3.weight"])
    assert np.all(second.wd == 5e-2) and np.all(second.momentum == 0.8)
    validate(ValidateConfig(str(out), figures=False))
    table = pd.read_csv(out / "validation" / "validation_steps.csv")
    from dynamics.theory.dispatch import predict

    for layer, wd_, rho_ in (("0.weight", 5e-3, 0.9), ("3.weight", 5e-2, 0.8)):
        row = table[(table.layer == layer) & (table.step == 25)].iloc[0]
        expect = predict("heavy-ball", row.lr, wd_, rho_, row.G_smoothed).weight_norm
        assert row.predicted_norm_white == pytest.approx(float(expect), rel=1e-9)


# ------------------------------------------------- followed: the gradient each step used
def test_step_closure_logs_this_steps_gradient(tmp_path):
    """torch runs the step pre-hook before the closure: the monitor measures after the
    closure instead, so |g_t| is this step's gradient, not the previous step's."""
    def step(model, optimizer, batch, record, i):
        def closure():
            optimizer.zero_grad()
            loss = loss_of(model, batch)
            loss.backward()
            record()
            return loss

        optimizer.step(closure)

    out, _, record = run_loop(tmp_path, sgd(), step=step, every=1)
    assert_inputs_are_torchs(out, record)
    norms = pd.read_csv(out / "norms.csv")
    logged = norms[norms.step > 0].pivot(index="step", columns="layer", values="grad_norm")
    layers = list(dict.fromkeys(norms.layer))
    np.testing.assert_allclose(logged[layers].to_numpy(), np.array(record.grad), rtol=1e-5)


def test_gradient_accumulation_and_clipping_log_the_gradient_the_step_applied(tmp_path):
    """Four backward passes per step, then clip_grad_norm_: |g_t| is the accumulated,
    clipped gradient, and the monitor counts optimiser steps, not backward passes."""
    def step(model, optimizer, batch, record, i):
        optimizer.zero_grad()
        x, y = batch
        for part in range(4):
            loss_of(model, (x[part::4], y[part::4])).div(4).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        record()
        optimizer.step()

    out, monitor, record = run_loop(tmp_path, sgd(), step=step, every=1)
    assert monitor.step == STEPS
    norms = pd.read_csv(out / "norms.csv")
    layers = list(dict.fromkeys(norms.layer))
    logged = norms[norms.step > 0].pivot(index="step", columns="layer", values="grad_norm")[layers].to_numpy()
    np.testing.assert_allclose(logged, np.array(record.grad), rtol=1e-5)
    assert np.sqrt((logged**2).sum(1)).max() <= 0.5 * (1 + 1e-5)  # clipped


def test_gradscaler_skipped_steps_are_not_steps(tmp_path):
    """torch.amp.GradScaler skips optimizer.step() on an inf gradient: the monitor counts the
    steps that happened, with the λ_t each used and the unscaled gradient."""
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    taken = []

    def step(model, optimizer, batch, record, i):
        optimizer.zero_grad()
        loss = loss_of(model, batch) * (float("inf") if i in (5, 6, 17) else 1.0)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        before = [p.detach().clone() for p in model.parameters()]
        if i not in (5, 6, 17):
            record()
        scaler.step(optimizer)
        scaler.update()
        taken.append(not all(torch.equal(a, b) for a, b in zip(before, model.parameters())))

    out, monitor, record = run_loop(tmp_path, sgd(), step=step, every=1,
                                    scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, 4, 0.7))
    assert sum(taken) == STEPS - 3 == monitor.step
    assert_inputs_are_torchs(out, record)
    norms = pd.read_csv(out / "norms.csv")
    layers = list(dict.fromkeys(norms.layer))
    logged = norms[norms.step > 0].pivot(index="step", columns="layer", values="grad_norm")[layers].to_numpy()
    np.testing.assert_allclose(logged, np.array(record.grad), rtol=1e-5)


@pytest.mark.parametrize("variant", [dict(foreach=True), dict(fused=True), "set_to_none=False"])
def test_implementations_and_zero_grad_variants_log_the_same_run(tmp_path, variant):
    """foreach, fused and zero_grad(set_to_none=False) are the same arithmetic: the same
    norms.csv as the default loop, to float32 rounding."""
    reference, *_ = run_loop(tmp_path / "a", sgd(nesterov=True), every=3)

    def step(model, optimizer, batch, record, i):
        optimizer.zero_grad(set_to_none=False)
        loss_of(model, batch).backward()
        optimizer.step()

    if isinstance(variant, dict):
        try:
            out, *_ = run_loop(tmp_path / "b", sgd(nesterov=True, **variant), every=3)
        except RuntimeError as e:  # fused SGD needs a torch build with it for this device
            pytest.skip(f"{variant}: {e}")
    else:
        out, *_ = run_loop(tmp_path / "b", sgd(nesterov=True), every=3, step=step)
    a, b = pd.read_csv(reference / "norms.csv"), pd.read_csv(out / "norms.csv")
    assert len(a) == len(b) > 0
    for col in ("weight_norm", "grad_norm", "angular_update", "momentum_norm", "grad_power_ratio"):
        np.testing.assert_allclose(b[col], a[col], rtol=2e-4, atol=1e-7, err_msg=col)


# ------------------------------------------------------------------------ refused
@pytest.mark.parametrize("make,text", [
    (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1), "dampening=0.1 has no ridgeline rule"),
    (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, maximize=True), "maximize=True has no ridgeline rule"),
    (lambda p: torch.optim.AdamW(p, maximize=True), "maximize=True has no ridgeline rule"),
    (lambda p: torch.optim.RMSprop(p), "RMSprop is not supported"),
    (lambda p: torch.optim.Adagrad(p), "Adagrad is not supported"),
    (lambda p: torch.optim.NAdam(p), "NAdam is not supported"),
    (lambda p: torch.optim.RAdam(p), "RAdam is not supported"),
])
def test_what_has_no_rule_is_refused_in_one_line(make, text):
    model = tiny_net()
    with pytest.raises(RidgelineError) as e:
        Monitor(model, make(model.parameters()))
    assert text in str(e.value) and "\n" not in str(e.value)


def test_a_param_group_added_mid_run_is_named_in_validate(tmp_path, capsys):
    """A group added after the monitor was made is not monitored: validate prints the
    one-line note and lists its tensors with status "not monitored"."""
    extra = {}

    def step(model, optimizer, batch, record, i):
        if i == 12:
            extra["head"] = nn.Parameter(torch.zeros(4))
            optimizer.add_param_group({"params": [extra["head"]]})
        optimizer.zero_grad()
        loss = loss_of(model, batch) + (extra["head"].square().sum() if extra else 0)
        loss.backward()
        record()
        optimizer.step()

    with pytest.warns(UserWarning, match="added to the optimizer at step 13"):
        out, monitor, record = run_loop(tmp_path, sgd(), step=step, every=5)
    saved = json.loads((out / "monitor_notes.json").read_text())
    assert saved["unmonitored"] == ["an unnamed 4 tensor"]
    capsys.readouterr()
    validate(ValidateConfig(str(out), figures=False))
    text = capsys.readouterr().out
    assert "1 param group(s) added to the optimizer at step 13" in text
    layers = pd.read_csv(out / "validation" / "validation.csv")
    assert layers.loc[layers.layer == "an unnamed 4 tensor", "status_white"].tolist() == ["not monitored"]


def test_a_run_without_every_step_recorded_falls_back_with_a_note(tmp_path):
    """A hyperparameters.csv that does not start at step 1 (a resumed loop) is not used:
    validate takes the logged λ, α, ρ, interpolated, and says so."""
    out, _, record = run_loop(tmp_path, sgd(), every=5,
                              scheduler=lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=STEPS))
    table = pd.read_csv(out / "hyperparameters.csv")
    table[table.step > 3].to_csv(out / "hyperparameters.csv", index=False)
    run, layers, lam, wd, rho, note = used(out)
    assert "does not list every step from 1" in note and "interpolated" in note
    logged = run.norms[(run.norms.layer == layers[0]) & (run.norms.step > 0)]
    np.testing.assert_allclose(rho[logged.step.to_numpy() - 1, 0], logged.momentum)


def test_adamw_onecycle_beta1_cycle_is_followed(tmp_path):
    """OneCycleLR cycles AdamW's β₁ (its ρ): every step's β₁ and β₂ are recorded as torch used them."""
    make = lambda m: torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.1)  # noqa: E731
    out, _, record = run_loop(tmp_path, make, every=10,
                              scheduler=lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 1e-2, total_steps=STEPS))
    *_, rho = assert_inputs_are_torchs(out, record)
    assert rho.min() < 0.86 and rho.max() == pytest.approx(0.95)
    assert (pd.read_csv(out / "hyperparameters.csv")["beta2"] == 0.999).all()
