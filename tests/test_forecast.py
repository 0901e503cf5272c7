"""Predictions from another run (dynamics.jobs.forecast) on synthetic runs whose truth is known.

Each synthetic run is a trainer-like run directory (the trainer's schedule, metrics.csv,
norms.csv with the gradient power ratio k) whose scale-invariant "layers" follow the
Nesterov rule with gradients g ⟂ w of norm G/|w| whose directions are an AR(1) process
with coefficient c: c < 0 anti-correlates successive gradients (k < 1, as in real
networks), c = 0 is the white noise model. G rises along the run (G·(1 + p), p the
progress) and scales as 1/√N with the batch size, like minibatch noise. So:

- (a) with a pilot of the same c must match (k carries over) where the white prediction
  is off; with a pilot of another c it must be off;
- (b) from a pilot with the same c and G must match at other λ, α, N; with the wrong
  G model (β = 0 for a batch-size change) or another c it must be off.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from dynamics.jobs.forecast import (ForecastConfig, forecast, initial_norms, parse_plan, planned_config,
                               planned_schedule, profiles)
from dynamics.sim.geometry import angle
from dynamics.rules import RULES
from dynamics.sim.toys import tangent
from dynamics.theory.trajectory import step_lrs
from dynamics.util.errors import RidgelineError
from dynamics.jobs.validate import ValidateConfig, load_run, validate

BASE = dict(lr=0.4, wd=5e-3, momentum=0.9, batch_size=64, train_size=3200, epochs=10, schedule="piecewise",
            warmup_epochs=2.0)
LAYERS = (("conv1.weight", 256, 1.0), ("conv2.weight", 512, 3.0))


def make_trainer_run(path, correlation=-0.5, seed=0, log_every=5, **changes):
    """A run directory of the rule "nesterov" on the trainer's schedule; see the module docstring."""
    c = BASE | changes
    per_epoch = c["train_size"] // c["batch_size"]
    T = per_epoch * c["epochs"]
    lam = step_lrs(c["lr"], c["warmup_epochs"], c["epochs"], c["schedule"], per_epoch, T)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    init = torch.Generator().manual_seed(1234)  # the same |w₀| for every run (as one model seed)
    for name, dim, _ in LAYERS:
        w = torch.randn(1, dim, generator=init, dtype=torch.float64)
        state[name] = [w, torch.zeros_like(w), torch.randn(1, dim, generator=gen, dtype=torch.float64),
                       torch.zeros_like(w)]
    rows = [dict(step=0, epoch=0, layer=name, shape=f"{dim}", scale_invariant=True,
                 weight_norm=state[name][0].norm().item(), grad_norm=np.nan, angular_update=np.nan,
                 grad_power_ratio=np.nan, lr=0.0) for name, dim, _ in LAYERS]
    rho = c["momentum"]
    for t in range(T):
        G_scale = (1 + t / T) * np.sqrt(64 / c["batch_size"])
        for name, dim, G in LAYERS:
            w, v, direction, memory = state[name]
            direction = correlation * direction + (1 - correlation ** 2) ** 0.5 * torch.randn(
                direction.shape, generator=gen, dtype=direction.dtype)
            g = tangent(w, direction)
            g = g * (G * G_scale / (g.norm() * w.norm()))
            w_new, v_new = RULES["nesterov"](w, v, g, float(lam[t]), c["wd"], rho)
            if (t + 1) % log_every == 0:
                rows.append(dict(step=t + 1, epoch=t // per_epoch, layer=name, shape=f"{dim}", scale_invariant=True,
                                 weight_norm=w.norm().item(), grad_norm=g.norm().item(),
                                 angular_update=angle(w, w_new).item(),
                                 grad_power_ratio=1 + 2 * rho * float((memory * g).sum() / (g * g).sum()),
                                 lr=float(lam[t])))
            state[name] = [w_new, v_new, direction, rho * memory + g]
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path / "norms.csv", index=False)
    config = c | dict(holdout=0, nesterov=True, optimizer="sgd", rule="nesterov", seed=0, width=0.125,
                      init_scale=1.0)
    (path / "config.json").write_text(json.dumps(config))
    epochs = np.arange(1, c["epochs"] + 1)
    pd.DataFrame(dict(epoch=epochs, step=epochs * per_epoch, lr=0.1, train_loss=2 * np.exp(-epochs / 4),
                      train_acc=0.5, test_loss=1.0, test_acc=0.5, seconds=1.0)).to_csv(path / "metrics.csv",
                                                                                       index=False)
    (path / "summary.json").write_text(json.dumps(dict(test_acc=0.5, diverged=False, steps=T, seconds=1.0)))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("forecast")
    return dict(
        pilot=make_trainer_run(root / "pilot"),
        white_pilot=make_trainer_run(root / "white_pilot", correlation=0.0),
        wd4=make_trainer_run(root / "wd4", seed=1, wd=2e-2),  # λα ×4, same c
        n128=make_trainer_run(root / "n128", seed=2, batch_size=128, lr=0.8),  # λ/N kept
        root=root)


def _validated(run, tmp, **kw):
    return validate(ValidateConfig(str(run), out=str(tmp), figures=False, **kw)).layers.set_index("layer")


def _worst(layers, column):
    """The ratio furthest from 1 over the layers."""
    x = layers[column].to_numpy(float)
    return float(x[np.argmax(np.abs(x - 1))])


def test_transferred_correlation_matches_where_white_does_not(runs, tmp_path):
    layers = _validated(runs["wd4"], tmp_path / "a", statistics_from=str(runs["pilot"]))
    assert abs(_worst(layers, "trajectory_norm_ratio_transferred_median") - 1) < 0.008  # 0.5% reached
    assert abs(_worst(layers, "trajectory_angle_ratio_transferred_median") - 1) < 0.012  # 0.8% reached
    assert abs(_worst(layers, "trajectory_norm_ratio_white_median") - 1) > 0.15  # 18% off: k < 1 matters here


def test_transferred_correlation_fails_from_a_pilot_with_other_gradients(runs, tmp_path):
    layers = _validated(runs["wd4"], tmp_path / "a", statistics_from=str(runs["white_pilot"]))
    assert abs(_worst(layers, "trajectory_norm_ratio_transferred_median") - 1) > 0.15


@pytest.mark.parametrize("mapping", ["progress", "epoch", "loss"])
def test_transferred_correlation_each_clock(runs, tmp_path, mapping):
    """A constant-in-time k maps the same through every clock (the clocks differ on real runs)."""
    layers = _validated(runs["n128"], tmp_path / "a", statistics_from=str(runs["pilot"]), mapping=mapping)
    assert abs(_worst(layers, "trajectory_norm_ratio_transferred_median") - 1) < 0.015  # 1.0% reached
    assert abs(_worst(layers, "trajectory_angle_ratio_transferred_median") - 1) < 0.025  # 1.9% reached


def test_forecast_of_a_run_not_yet_made(runs, tmp_path):
    fc = forecast(ForecastConfig(str(runs["pilot"]), to=parse_plan("wd=2e-2"), out=str(tmp_path / "fc")))
    assert (tmp_path / "fc" / "forecast.png").stat().st_size > 10_000
    assert set(fc.rows.columns) >= {"step", "layer", "weight_norm", "angular_update", "weight_norm_white",
                                    "angular_update_white"}
    assert fc.rows["step"].max() == 500 and (tmp_path / "fc" / "forecast.json").is_file()
    layers = _validated(runs["wd4"], tmp_path / "v", forecast=str(tmp_path / "fc"))
    assert abs(_worst(layers, "forecast_norm_ratio_median") - 1) < 0.008  # 0.5% reached
    assert abs(_worst(layers, "forecast_angle_ratio_median") - 1) < 0.012  # 0.8% reached
    assert abs(_worst(layers, "forecast_white_norm_ratio_median") - 1) > 0.15
    assert (layers["forecast_norm_ratio_iqr"] >= 0).all()


def test_forecast_moves_G2_with_the_batch_size(runs, tmp_path):
    """G² ∝ 1/N (β = 1) forecasts the N = 128 run; β = 0 (G² unchanged) must miss it by ≈ 2^(1/4)."""
    for beta, ok in ((1.0, True), (0.0, False)):
        out = tmp_path / f"fc{beta}"
        forecast(ForecastConfig(str(runs["pilot"]), to=parse_plan("batch_size=128,lr=0.8"), out=str(out),
                                batch_exponent=beta, figure=False))
        layers = _validated(runs["n128"], tmp_path / f"v{beta}", forecast=str(out))
        err = abs(_worst(layers, "forecast_norm_ratio_median") - 1)
        assert err < 0.015 if ok else err > 0.15  # 1.1% reached; β = 0: 17% off


def test_forecast_fails_for_a_run_with_other_gradients(runs, tmp_path):
    forecast(ForecastConfig(str(runs["white_pilot"]), to=parse_plan("wd=2e-2"), out=str(tmp_path / "fc"),
                            figure=False))
    layers = _validated(runs["wd4"], tmp_path / "v", forecast=str(tmp_path / "fc"))
    assert abs(_worst(layers, "forecast_norm_ratio_median") - 1) > 0.15


def test_planned_schedule_is_the_trainers():
    from training.config import TrainConfig, lr_at

    plan = planned_config(dict(BASE, holdout=200, optimizer="sgd"), parse_plan("epochs=4,schedule=constant"))
    lam, clock = planned_schedule(plan)
    per_epoch = (3200 - 200) // 64
    assert clock.steps_per_epoch == per_epoch and clock.total == 4 * per_epoch
    cfg = TrainConfig(out="x", lr=0.4, epochs=4, schedule="constant", warmup_epochs=2.0)
    assert np.allclose(lam, [lr_at(cfg, (s - 0.5) / per_epoch) for s in range(1, clock.total + 1)])


def test_initial_norms_are_the_built_models():
    from training.config import TrainConfig
    from training.loop import build

    setup = build(TrainConfig(out="x", width=0.125, seed=3, init_scale=1.5), torch.device("cpu"))
    built = {n: float(p.detach().norm()) for n, p in setup.model.named_parameters()}
    names = ["prep.conv.weight", "layer2.0.conv.weight", "linear.weight"]
    got = initial_norms(dict(width=0.125, seed=3, init_scale=1.5), names)
    assert got == pytest.approx({n: built[n] for n in names}, rel=1e-6)
    assert initial_norms(dict(width=0.125), ["conv1.weight"]) is None


def test_profiles_weigh_k_by_power(runs):
    prof = profiles(load_run(runs["pilot"]))
    k = prof.power[len(prof.steps) // 2]
    assert np.all((k > 0.3) & (k < 0.9))  # c = −0.5 anticorrelates
    assert np.all(np.abs(profiles(load_run(runs["white_pilot"])).power[len(prof.steps) // 2] - 1) < 0.15)


@pytest.mark.parametrize("to, words", [
    ("lr=abc", "not a number"), ("colour=3", "unknown name 'colour'"), ("lr", "not NAME=VALUE"),
    ("momentum=1.2", "momentum=1.2 must be in [0, 1)"), ("schedule=cosine", "piecewise or constant"),
    ("batch_size=2.5", "whole number"), ("lr=-1", "lr=-1 must be > 0"),
    ("train_size=10", "make no batch of 64"), ("warmup_epochs=50", "exceeds epochs"),
])
def test_forecast_bad_input_is_one_line(runs, tmp_path, to, words):
    result = CliRunner().invoke(app, ["forecast", str(runs["pilot"]), "--to", to, "--out", str(tmp_path / "f")])
    assert result.exit_code == 2 and words in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "f" / "forecast.json").exists()


@pytest.mark.parametrize("args, words", [
    (["forecast", "{missing}", "--to", "lr=0.1"], "is not a directory"),
    (["forecast", "{pilot}", "--to", "lr=0.1", "--map", "loss"], "a planned run has no loss"),
    (["validate", "{pilot}", "--statistics-from", "{pilot}"], "the closure, not a prediction"),
    (["validate", "{pilot}", "--forecast", "{missing}"], "not a finished forecast"),
    (["validate", "{pilot}", "--statistics-from", "{root}"], "is not a run directory"),
])
def test_bad_pilot_or_forecast_is_one_line(runs, tmp_path, args, words):
    fill = dict(pilot=str(runs["pilot"]), root=str(runs["root"]), missing=str(tmp_path / "none"))
    args = [a.format(**fill) for a in args] + ["--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and words in result.output, result.output
    assert "Traceback" not in result.output


def test_validate_refuses_an_unknown_clock(runs, tmp_path):
    with pytest.raises(RidgelineError, match="--map 'lr'"):
        _validated(runs["wd4"], tmp_path, statistics_from=str(runs["pilot"]), mapping="lr")


def test_empirical_G2_law_scales_the_pilots_G2(runs, tmp_path):
    from dynamics.jobs.forecast import g2_scale

    pilot, plan = dict(BASE), dict(BASE, batch_size=128, wd=2e-2, train_size=6400)
    assert g2_scale(pilot, plan, 1.0, {"wd": -0.5, "train_size": 0.5}) == pytest.approx(0.5 * 4 ** -0.5 * 2 ** 0.5)
    plain = forecast(ForecastConfig(str(runs["pilot"]), to=parse_plan("wd=2e-2"), out=str(tmp_path / "a"), figure=False))
    scaled = forecast(ForecastConfig(str(runs["pilot"]), to=parse_plan("wd=2e-2"), out=str(tmp_path / "b"),
                                     g2_exponents={"wd": -1.0}, figure=False))
    assert np.allclose(scaled.rows["G2"].dropna(), plain.rows["G2"].dropna() / 4)


def test_bad_G2_law_is_one_line(runs, tmp_path):
    result = CliRunner().invoke(app, ["forecast", str(runs["pilot"]), "--to", "wd=2e-2", "--g2-exponents",
                                      "colour=1", "--out", str(tmp_path / "f")])
    assert result.exit_code == 2 and "unknown name 'colour'" in result.output and "Traceback" not in result.output


def make_adamw_run(path, lr, seed=0, correlation=-0.5, spread=2.0, steps=1500, wd=2.0, log_every=5):
    """AdamW (decoupled α) on one scale-invariant tensor on the trainer's constant schedule,
    started at its white equilibrium, with gradients whose coordinates have fixed scales spread
    over e^spread (the same in every run) and AR(1) directions of coefficient ``correlation``:
    anti-correlated gradients make the update power κ < 1, a property of the gradient process
    that carries over between learning rates."""
    from dynamics.rules import DEFAULT_BETA2
    from dynamics.theory.dispatch import predict
    from training.updatestats import update_stats

    beta1, beta2, dim = 0.9, DEFAULT_BETA2["adamw"], 512
    scales = torch.exp(spread * torch.rand(1, dim, generator=torch.Generator().manual_seed(99),
                                           dtype=torch.float64))
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(1, dim, generator=torch.Generator().manual_seed(1234), dtype=torch.float64)
    w = w / w.norm() * float(predict("adamw", lr, wd, beta1, 1.0, elements=dim, beta2=beta2).weight_norm)
    m, s, k = torch.zeros_like(w), torch.zeros_like(w), 0  # started at the white equilibrium: no transient
    per_epoch = 100
    lam = step_lrs(lr, 1.0, steps / per_epoch, "constant", per_epoch, steps)
    rows = [dict(step=0, epoch=0, layer="conv.weight", shape=str(dim), scale_invariant=True,
                 weight_norm=w.norm().item(), grad_norm=np.nan, angular_update=np.nan, lr=0.0)]
    z = torch.randn(1, dim, generator=gen, dtype=torch.float64)
    for t in range(steps):
        z = correlation * z + (1 - correlation ** 2) ** 0.5 * torch.randn(1, dim, generator=gen, dtype=torch.float64)
        g = tangent(w, scales * z)
        g = g / (g.norm() * w.norm())  # G = 1
        if (t + 1) % log_every == 0:
            state = dict(exp_avg=m, exp_avg_sq=s, step=k) if k else {}
            kappa, _, xi = update_stats("adamw", w, g, state, wd, beta1, beta2, 1e-8).tolist()
        w_new, (m, s, k) = RULES["adamw"](w, (m, s, k), g, float(lam[t]), wd, beta1)
        if (t + 1) % log_every == 0:
            rows.append(dict(step=t + 1, epoch=t // per_epoch, layer="conv.weight", shape=str(dim),
                             scale_invariant=True, weight_norm=w.norm().item(), grad_norm=g.norm().item(),
                             angular_update=angle(w, w_new).item(), lr=float(lam[t]),
                             update_power_ratio=kappa, normalised_grad_radial=xi))
        w = w_new
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path / "norms.csv", index=False)
    config = dict(lr=lr, wd=wd, momentum=beta1, beta1=beta1, beta2=beta2, eps=1e-8, batch_size=64,
                  train_size=6400, holdout=0, epochs=steps // per_epoch, schedule="constant",
                  warmup_epochs=1.0, optimizer="adamw", rule="adamw")
    (path / "config.json").write_text(json.dumps(config))
    epochs = np.arange(1, steps // per_epoch + 1)
    pd.DataFrame(dict(epoch=epochs, step=epochs * per_epoch, lr=lr, train_loss=1.0, train_acc=0.5, test_loss=1.0,
                      test_acc=0.5, seconds=1.0)).to_csv(path / "metrics.csv", index=False)
    (path / "summary.json").write_text(json.dumps(dict(test_acc=0.5, diverged=False, steps=steps, seconds=1.0)))
    return path


def test_transferred_update_power_for_adamw(tmp_path):
    """(a) for AdamW: the pilot's κ, ξ at another λ; white (κ = 1) is off, and a pilot with
    independent gradients (κ ≈ 1) must fail the same way."""
    target = make_adamw_run(tmp_path / "target", lr=5e-3, seed=1)
    pilot = make_adamw_run(tmp_path / "pilot", lr=2e-3)
    flat = make_adamw_run(tmp_path / "flat", lr=2e-3, correlation=0.0)
    layers = _validated(target, tmp_path / "v", statistics_from=str(pilot)).iloc[0]
    assert layers["equilibrium_steps"] > 100
    assert abs(layers["norm_ratio_transferred_median"] - 1) < 0.02  # 1.1% reached
    assert abs(layers["norm_ratio_white_median"] - 1) > 0.2  # 0.67
    assert abs(_validated(target, tmp_path / "w", statistics_from=str(flat)).iloc[0]
               ["norm_ratio_transferred_median"] - 1) > 0.2  # 0.69
