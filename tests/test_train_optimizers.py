"""ridgeline train with --optimizer adamw|adam|lion: flags, config.json, norms.csv."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from dynamics.util.errors import RidgelineError
from test_train import tiny_config
from training import train
from training.config import TrainConfig, check, from_options


@pytest.mark.parametrize("args,message", [
    (["--optimizer", "adamw", "--nesterov"], "--nesterov is an SGD flag"),
    (["--optimizer", "adam", "--momentum", "0.5"], "--momentum is an SGD flag"),
    (["--optimizer", "lion", "--beta1", "1.0"], "beta1 must be in [0, 1)"),
    (["--optimizer", "adamw", "--beta2", "-0.1"], "beta2 must be in [0, 1)"),
    (["--optimizer", "adamw", "--beta2", "1"], "beta2 must be in [0, 1)"),
    (["--optimizer", "adam", "--eps", "0"], "eps must be a finite number > 0"),
    (["--optimizer", "adamw", "--eps", "-1e-8"], "eps must be a finite number > 0"),
    (["--beta1", "0.9"], "--beta1 apply to --optimizer adamw, adam or lion"),
])
def test_bad_optimizer_flags_give_one_line_and_exit_2(tmp_path, args, message):
    _one_line_exit_2(["train", "--out", str(tmp_path / "run"), *args], message)
    assert not (tmp_path / "run").exists()


def test_an_unknown_optimizer_is_refused_by_the_parser_with_the_choices(tmp_path):
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run"), "--optimizer", "rmsprop"])
    assert result.exit_code == 2 and "'rmsprop' is not one of 'sgd'," in result.output, result.output
    assert not (tmp_path / "run").exists()
    with pytest.raises(RidgelineError, match="unknown optimizer 'rmsprop'"):
        from_options(optimizer="rmsprop")


def test_options_map_to_rules_and_sgd_defaults_stay():
    assert from_options().rule == "nesterov" and from_options().momentum == 0.9
    assert from_options(momentum=0.0).rule == "sgd"
    assert from_options(nesterov=False).rule == "heavy-ball"
    adam = from_options(optimizer="adam", beta1=0.5, beta2=0.99, eps=1e-6)
    assert (adam.rule, adam.momentum, adam.nesterov, adam.beta2, adam.eps) == ("adam-l2", 0.5, False, 0.99, 1e-6)
    assert from_options(optimizer="adamw").rule == "adamw" and from_options(optimizer="lion").rule == "lion"
    with pytest.raises(RidgelineError, match="nesterov must be False"):
        check(TrainConfig(optimizer="adamw"))


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "lion"])
def test_adaptive_run_saves_its_rule_and_logs_the_first_moment(tmp_path, one_thread, optimizer):
    config = tiny_config(tmp_path, optimizer=optimizer, nesterov=False, lr=1e-3, wd=0.1, epochs=1)
    train(config, verbose=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["rule"] == {"adamw": "adamw", "adam": "adam-l2", "lion": "lion"}[optimizer]
    assert saved["optimizer"] == optimizer
    norms = pd.read_csv(tmp_path / "run" / "norms.csv").query("step > 0")  # step 0: |w| only
    assert (norms.momentum_norm > 0).all() and norms.momentum_norm.notna().all()


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "lion"])
def test_validate_predicts_adaptive_runs_with_the_runs_rule(tmp_path, one_thread, optimizer):
    """validate on a tiny adaptive run: no trajectory (derived for SGD), and for adamw the
    closure is the white prediction scaled by √κ̄ in |w|, unchanged in angle (power_equilibrium)."""
    from dynamics.jobs.validate import ValidateConfig, validate

    train(tiny_config(tmp_path, optimizer=optimizer, nesterov=False, lr=1e-3, wd=0.1, epochs=2), verbose=False)
    steps = validate(ValidateConfig(run_dir=str(tmp_path / "run"), figures=False)).steps
    assert steps.trajectory_norm_white.isna().all() and not steps.trajectory_phase.any()
    logged = steps[steps.step > 0]
    from dynamics.theory.dispatch import predict

    C = logged["shape"].map(lambda s: float(np.prod([int(n) for n in s.split("x")]))).to_numpy()
    white = predict({"adamw": "adamw", "adam": "adam-l2", "lion": "lion"}[optimizer], logged.lr.to_numpy(), 0.1,
                    0.9, logged.G_smoothed.to_numpy(), elements=C)  # β₂: the rule's default, as trained
    assert logged.predicted_norm_white.to_numpy() == pytest.approx(white.weight_norm, rel=1e-12)
    assert logged.predicted_angle_white.to_numpy() == pytest.approx(white.angular_update, rel=1e-12)
    if optimizer == "adamw":
        kappa = logged.power_smoothed.to_numpy()
        assert ((kappa > 0) & (kappa < 5)).all() and abs(kappa - 1).max() > 1e-3
        assert logged.closure_norm_tangent.to_numpy() == pytest.approx(
            logged.predicted_norm_white.to_numpy() * kappa**0.5, rel=1e-9)  # ξ = 0: √κ times white
        radial = logged.radial_smoothed.to_numpy()
        assert np.isfinite(radial).all() and np.abs(radial).max() > 0
        shape = logged["shape"].map(lambda s: float(np.prod([int(n) for n in s.split("x")])))
        p = predict("adamw", logged.lr.to_numpy(), 0.1, 0.9, logged.G_smoothed.to_numpy(), kappa,
                    elements=shape.to_numpy(), beta2=0.999, radial=radial)
        assert logged.closure_norm.to_numpy() == pytest.approx(p.weight_norm, rel=1e-12, nan_ok=True)
        assert logged.closure_angle.to_numpy() == pytest.approx(p.angular_update, rel=1e-12, nan_ok=True)
        assert logged[logged.scale_invariant].closure_norm.notna().all()
    else:
        assert logged.power_smoothed.isna().all()
        assert logged.closure_norm.isna().all()  # no closure for adam-l2 and lion: white only


@pytest.mark.parametrize("args,message", [
    (["--optimizer", "lion", "--eps", "1e-8"], "Lion's update sign(c) has no ε"),
    (["--optimizer", "adamw", "--eps", "nan"], "eps must be a finite number > 0"),
    (["--optimizer", "adam", "--beta1", "-0.1"], "beta1 must be in [0, 1)"),
    (["--optimizer", "sgd", "--beta2", "0.9"], "--beta2 apply to --optimizer adamw, adam or lion"),
])
def test_more_bad_adaptive_flags_give_one_line_and_exit_2(tmp_path, args, message):
    _one_line_exit_2(["train", "--out", str(tmp_path / "run"), *args], message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,message", [
    (["--rule", "adamw", "--beta2", "1"], "beta2 must be in [0, 1)"),
    (["--rule", "lion", "--beta2", "-0.5"], "beta2 must be in [0, 1)"),
    (["--rule", "adamw", "--momentum", "1"], "momentum must be in [0, 1)"),
    (["--rule", "nesterov", "--beta2", "0.9"], "beta2 applies to the rules adamw, adam-l2 and lion"),
])
def test_simulate_refuses_bad_adaptive_settings_in_one_line(tmp_path, args, message):
    _one_line_exit_2(["simulate", "--out", str(tmp_path / "sim"), "--steps", "10", *args], message)
    assert not (tmp_path / "sim").exists()


def _one_line_exit_2(argv: list[str], message: str) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
