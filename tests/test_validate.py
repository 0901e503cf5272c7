"""``dynamics.jobs.validate`` on run directories whose truth is known, and ``ridgeline validate``.

The runs are the noise model advanced by the rules themselves (tests/synthetic_run.py),
so the equilibrium is known: validate must recover measured/predicted = 1 there, and
must say so when a run is off equilibrium (λ falling faster than the relaxation, a
norm started far away, gradients correlated between steps).
"""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from dynamics.util.errors import RidgelineError
from dynamics.theory.dispatch import predict
from dynamics.rules import ADAPTIVE, ORTHOGONAL, RULES
from dynamics.jobs.validate import ValidateConfig, _ema, drifting_angle, load_run, validate
from synthetic_run import make_run, warmup_constant

LR, WD, MOMENTUM = 0.4, 5e-3, 0.9  # λα = 2e-3: relaxation ≈ 19 steps, so runs stay short
RADIAL = 0.2  # radial share of g in the not-scale-invariant run
ADAMW_CLOSURE, ADAMW_WHITE = 0.01, 0.015  # reached 0.005 and 0.007 (κ̄ 0.985: ŝ still settling)
ANGLE_LAG = 0.13  # reached 0.10 (the window lags by ≈ ε = 0.1); main: up to 1.41


def _check(path, **kw):
    return validate(ValidateConfig(str(path), figures=False, **kw))


@pytest.fixture(scope="module")
def equilibrium_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("eq") / "run", warmup_constant(1000, LR, 100),
                    rule="nesterov", wd=WD, momentum=MOMENTUM)


def test_noise_model_run_recovers_unit_ratios(equilibrium_run):
    result = _check(equilibrium_run)
    layers = result.layers.set_index("layer")
    tau = predict("nesterov", LR, WD, MOMENTUM).relaxation_steps
    for name in ("conv1.weight", "conv2.weight"):
        row = layers.loc[name]
        assert row["status_white"] == "ok", row["notes"]
        # warm-up ends at step 100; quasi-static from about then, settled 3τ later
        assert 100 < row["first_equilibrium_step"] < 100 + 6 * tau
        # reached: |ratio − 1| ≤ 0.0008 (white), 0.0015 (closure, buffer); the tolerances leave 3x
        assert row["norm_ratio_white_median"] == pytest.approx(1, abs=0.003)
        assert row["angle_ratio_white_median"] == pytest.approx(1, abs=0.003)
        assert row["buffer_ratio_median"] == pytest.approx(1, abs=0.005)
        assert row["norm_ratio_white_iqr"] < 0.02  # reached 0.005-0.007
        # the noise model holds, so the closure (the run's own k ≈ 1) agrees with the prediction
        assert row["closure_status"] == "closes" and row["closure_phase"] == "trajectory"
        assert row["closure_norm_ratio"] == pytest.approx(1, abs=0.005)
        assert row["closure_angle_ratio"] == pytest.approx(1, abs=0.005)
        assert row["power_median"] == pytest.approx(1, abs=0.01)
    assert layers.loc["bn1.weight", "status_white"] == "not scale-invariant"
    # the layers differ by G (1 and 3): the predicted norms by √3, as measured
    assert layers.loc["conv2.weight", "measured_norm_median"] / layers.loc[
        "conv1.weight", "measured_norm_median"] == pytest.approx(3 ** 0.5, rel=0.02)


def test_plain_sgd_run_recovers_unit_ratios(tmp_path):
    result = _check(make_run(tmp_path / "run", warmup_constant(1000, LR, 100), rule="sgd",
                             wd=WD, momentum=0.0, layers=(("conv.weight", (16, 64), 1.0, True),)))
    row = result.layers.iloc[0]
    assert row["status_white"] == "ok", row["notes"]
    assert row["norm_ratio_white_median"] == pytest.approx(1, abs=0.005)  # reached 0.001
    # the equilibrium angle is still 2.4% above its settled value 3τ after the warm-up (the
    # norm's last e^-3 of its gap); the trajectory, which carries the gap, reaches 2e-5
    assert row["angle_ratio_white_median"] == pytest.approx(1, abs=0.035)
    assert row["trajectory_angle_ratio_white_median"] == pytest.approx(1, abs=0.002)
    assert row["trajectory_norm_ratio_white_median"] == pytest.approx(1, abs=0.002)
    assert row["closure_status"] == "no statistic"  # plain SGD has no buffer: k is not logged


def test_lr_falling_faster_than_relaxation_has_no_equilibrium_phase(tmp_path):
    lrs = LR * np.exp(-np.arange(1000) / 100)  # τ/T_λ = 0.19 at the start and growing
    result = _check(make_run(tmp_path / "run", lrs, wd=WD, momentum=MOMENTUM))
    si = result.layers[result.layers["scale_invariant"]]
    assert (si["status_white"] == "no equilibrium phase").all()
    assert si["notes"].str.contains("no equilibrium phase: the lr never holds still").all()
    # and rightly so: by the end the norm lags the instantaneous prediction by far more than 10%
    last = result.steps[result.steps["step"] == result.steps["step"].max()]
    assert (last["norm_ratio_white"] > 1.2).all()
    # the trajectory follows it, and the closure closes there
    assert (si["trajectory_status_white"] == "ok").all() and (si["closure_status"] == "closes").all()


def test_norm_far_from_equilibrium_is_reported_off_and_not_settled(tmp_path):
    # |w| starts 25x too large and λα is small: the shrinking takes longer than the run
    result = _check(make_run(tmp_path / "run", warmup_constant(500, LR, 1), wd=5e-4,
                             momentum=MOMENTUM, init_norm=100))
    for row in result.layers[result.layers["scale_invariant"]].to_dict("records"):
        assert row["status_white"] == "off"
        assert row["norm_ratio_white_median"] > 2
        assert "not settled" in row["notes"]
        # the noise model itself holds: the buffer diagnostic must not blame correlation
        assert row["buffer_ratio_median"] == pytest.approx(1, abs=0.05)
        # the trajectory, iterated from the measured |w0|, follows the slow shrinking
        assert row["trajectory_status_white"] == "ok" and row["closure_status"] == "closes"


def test_correlated_gradients_fail_the_prediction_and_the_closure_closes(tmp_path, capsys):
    result = _check(make_run(tmp_path / "run", warmup_constant(1000, LR, 100), wd=WD,
                             momentum=MOMENTUM, correlation=0.5))
    for row in result.layers[result.layers["scale_invariant"]].to_dict("records"):
        assert row["status_white"] == "off" and row["trajectory_status_white"] == "off"
        assert row["norm_ratio_white_median"] > 1.15
        # the angle is set by λα alone at equilibrium, correlated gradients or not
        assert row["angle_ratio_white_median"] == pytest.approx(1, abs=0.03)
        assert row["buffer_ratio_median"] > 1.2
        assert row["power_median"] > 1.5  # the run's own k
        assert "correlated" in row["notes"]
        # fed the run's own k the algebra closes, whatever the noise: a check, not a prediction
        assert row["closure_status"] == "closes"
        assert row["closure_norm_ratio"] == pytest.approx(1, abs=0.01)
        assert row["closure_angle_ratio"] == pytest.approx(1, abs=0.01)
    line = capsys.readouterr().out.replace("\n", " ")
    assert "white-noise prediction: 0/2" in line and "0/2 on the trajectory" in line
    assert "2/2 within 3%" in line


def test_drifting_gradient_raises_the_angle_as_the_drifting_equilibrium_predicts(tmp_path):
    tau = predict("nesterov", LR, WD, MOMENTUM).relaxation_steps
    # G grows 10% per relaxation time: the norm follows (the EMA of G² tracks it), the
    # angle rises above the stationary prediction, onto the drifting equilibrium's
    result = _check(make_run(tmp_path / "run", warmup_constant(1000, LR, 100), rule="nesterov",
                             wd=WD, momentum=MOMENTUM, drift=0.1 / tau))
    for row in result.layers[result.layers["scale_invariant"]].to_dict("records"):
        assert row["norm_ratio_white_median"] == pytest.approx(1, abs=0.02)
        assert row["angle_ratio_white_median"] > 1.05
        assert row["angle_ratio_drift_median"] == pytest.approx(1, abs=0.02)
        assert row["norm_drift_median"] == pytest.approx(0.05, abs=0.01)  # |w| ∝ √G


@pytest.mark.parametrize("rule", [r for r in RULES if r not in ADAPTIVE + ORTHOGONAL])
def test_drifting_angle_is_the_stationary_angle_at_zero_drift(rule):
    lr, wd, rho = np.array([0.05, 0.4]), np.array([4e-3, 5e-4]), np.array([0.9, 0.5])
    stationary = [predict(rule, *args).angular_update for args in zip(lr, wd, rho)]
    assert drifting_angle(rule, lr, wd, rho, 0.0) == pytest.approx(stationary, rel=1e-9)
    assert np.all(np.diff(drifting_angle(rule, 0.1, 5e-3, 0.9, [0.0, 1e-4, 1e-3])) > 0)


def test_ema_matches_the_closed_form_for_a_step_input():
    steps = np.arange(0, 200, 5, dtype=float)
    values = np.where(steps >= 50, 1.0, 0.0)
    tau = np.full_like(steps, 20.0)
    out = _ema(values, steps, tau)
    after = steps >= 50
    expected = 1 - np.exp(-(steps[after] - 45) / 20)  # first update at step 50 covers 45→50
    assert out[after] == pytest.approx(expected, rel=1e-12)
    assert np.all(out[~after] == 0)


def test_diverged_and_broken_runs_raise_one_line_errors(tmp_path, equilibrium_run):
    with pytest.raises(RidgelineError, match="not a run directory"):
        load_run(tmp_path)
    run = make_run(tmp_path / "div", warmup_constant(20, LR, 1), diverged=True)
    with pytest.raises(RidgelineError, match="diverged"):
        load_run(run)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((equilibrium_run / "config.json").read_text())
    (bad / "norms.csv").write_text("step,layer\n1,a\n")
    with pytest.raises(RidgelineError, match="lacks columns"):
        load_run(bad)


# ----------------------------------------------------------------------------- CLI
runner = CliRunner()


def test_cli_writes_table_csv_and_figures(equilibrium_run, tmp_path):
    out = tmp_path / "v"
    result = runner.invoke(app, ["validate", str(equilibrium_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "conv1.weight" in result.output and "white-noise prediction: 2/2 scale-invariant" in result.output
    table = pd.read_csv(out / "validation.csv")
    for col in ("layer", "scale_invariant", "norm_ratio_white_median", "norm_ratio_white_iqr",
                "angle_ratio_white_median", "angle_ratio_white_iqr", "equilibrium_steps", "status_white",
                "trajectory_status_white", "closure_status", "closure_norm_ratio", "norm_ratio_closure_median"):
        assert col in table.columns
    assert set(table["layer"]) == {"conv1.weight", "conv2.weight", "bn1.weight"}
    for name in ("validation_norms.png", "validation_angles.png", "validation_ratios.png"):
        assert (out / name).stat().st_size > 10_000
    assert json.loads((out / "config.json").read_text())["adiabatic"] == 0.1


@pytest.mark.parametrize("case, message", [
    ("missing", "is not a directory"),
    ("empty", "not a run directory"),
    ("no_norms", "no norm table"),
    ("diverged", "diverged"),
])
def test_cli_bad_input_gives_a_one_line_error(tmp_path, equilibrium_run, case, message):
    path = tmp_path / case
    if case != "missing":
        path.mkdir()
    if case in ("no_norms", "diverged"):
        for name in ("config.json", "summary.json"):
            (path / name).write_text((equilibrium_run / name).read_text())
    if case == "diverged":
        (path / "summary.json").write_text(json.dumps({"diverged": True, "steps": 12}))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (path / "validation").exists() or not any((path / "validation").iterdir())


def test_cli_rejects_a_nonsense_criterion(equilibrium_run, tmp_path):
    result = runner.invoke(app, ["validate", str(equilibrium_run), "--out", str(tmp_path),
                                 "--adiabatic", "0"])
    assert result.exit_code == 2 and "adiabatic" in result.output


# ----------------------------------------------------------------- trajectories (issue 10)
def test_trajectory_verdict_on_the_noise_model_run(equilibrium_run):
    layers = _check(equilibrium_run).layers.set_index("layer")
    for name in ("conv1.weight", "conv2.weight"):
        row = layers.loc[name]
        assert row["trajectory_status_white"] == "ok" and row["trajectory_steps"] > 100
        assert row["trajectory_norm_ratio_white_median"] == pytest.approx(1, abs=0.003)  # reached 0.0009
        assert row["trajectory_angle_ratio_white_median"] == pytest.approx(1, abs=0.003)


def test_a_nan_angle_never_makes_a_layer_pass(tmp_path, equilibrium_run, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(equilibrium_run, run)
    norms = pd.read_csv(run / "norms.csv")
    conv = norms.layer == "conv1.weight"
    norms.loc[conv, "angular_update"] *= 3  # a 3x angle miss ...
    norms.loc[conv & (norms.step == 0), "angular_update"] = np.nan  # ... hidden by one NaN
    norms.loc[conv & (norms.step == 500), "angular_update"] = np.nan
    norms.to_csv(run / "norms.csv", index=False)
    row = _check(run).layers.set_index("layer").loc["conv1.weight"]
    assert row["status_white"] != "ok" and row["trajectory_status_white"] != "ok"
    assert row["angle_ratio_white_median"] > 2  # the NaN does not poison the average either
    # the loader drops the non-finite row of step 500 and says so (step 0 needs only |w|)
    assert "layer conv1.weight: 1 of 200 row(s) with a non-finite" in capsys.readouterr().err


def test_run_without_the_power_column_validates_white_with_a_note(tmp_path, capsys):
    from training.config import TrainConfig
    from training.trainer import train

    sys_path = __import__("sys").path
    sys_path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_train import tiny_npz

    run = tmp_path / "run"
    train(TrainConfig(data=tiny_npz(tmp_path / "tiny.npz"), width=0.0625, batch_size=16, epochs=3,
                      lr=0.2, wd=5e-3, log_every=1, device="cpu", out=str(run)), verbose=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak out of validate
        result = _check(run)
    si = result.layers[result.layers.scale_invariant]
    assert len(si) == 8 and (si.trajectory_steps >= 0).all()
    steps = result.steps[result.steps.scale_invariant & (result.steps.step > 0)]
    for kind in ("white", "closure"):
        assert np.isfinite(steps[f"trajectory_norm_{kind}"]).all() and np.isfinite(steps[f"trajectory_angle_{kind}"]).all()
    assert (result.steps.groupby("layer").step.min() == 0).all()  # the trainer logs step 0
    assert result.steps.trajectory_note.iloc[0] == ""  # λ from the trainer's own schedule
    # an older run: no grad_power_ratio column
    norms = pd.read_csv(run / "norms.csv").drop(columns="grad_power_ratio")
    norms.to_csv(run / "norms.csv", index=False)
    capsys.readouterr()
    old = _check(run)
    assert "white-noise predictions only" in capsys.readouterr().out
    assert old.steps.trajectory_norm_closure.isna().all() and old.steps.trajectory_norm_white.notna().any()
    assert (old.layers[old.layers.scale_invariant].closure_status == "no statistic").all()


# ------------------------------------------------- prediction against closure (issue 21)
ONE = (("conv.weight", (16, 64), 1.0, True),)


def _row(path, layer="conv.weight", **kw):
    return _check(path, **kw).layers.set_index("layer").loc[layer]


def test_closure_fails_for_a_tensor_that_is_not_scale_invariant(tmp_path):
    # a radial part in g (g no longer ⟂ w) breaks the accounting the closure rests on
    row = _row(make_run(tmp_path / "run", warmup_constant(1000, LR, 100), rule="nesterov", wd=WD,
                        momentum=MOMENTUM, layers=ONE, radial=RADIAL))
    assert row["closure_status"] == "fails", (row["closure_norm_ratio"], row["closure_angle_ratio"])
    assert row["closure_cause"].startswith("not scale-invariant")
    assert "the closure fails (not scale-invariant" in row["notes"]


def test_closure_fails_for_a_run_with_skipped_steps(tmp_path):
    row = _row(make_run(tmp_path / "run", warmup_constant(1000, LR, 100), rule="nesterov", wd=WD,
                        momentum=MOMENTUM, layers=ONE, skip=0.2))
    assert row["closure_status"] == "fails"
    assert row["closure_cause"].startswith("steps skipped")
    # a fifth of the logged angles are 0: the mean cosine's angle is √0.8 of the taken steps
    assert row["closure_angle_ratio"] == pytest.approx(0.8 ** 0.5, abs=0.02)


def test_closure_names_a_log_gap(equilibrium_run):
    from dynamics.jobs.validate import _closure_cause

    steps = _check(equilibrium_run).steps
    one = steps[(steps.layer == "conv1.weight") & ~steps.step.between(400, 600)]
    assert _closure_cause(one) == "log gap: no row between steps 395 and 605"


@pytest.mark.parametrize("correlation", [0.0, 0.5])
def test_adamw_closure_with_kappa_and_xi_and_the_white_prediction(tmp_path, correlation, capsys):
    """AdamW with κ and ξ from the run itself closes whatever the noise; white noise
    agrees with it for independent gradients and misses for correlated ones."""
    lr, wd = 0.01, 1.0  # λα = 0.01: τ ≈ 50 steps; |w| starts at the white equilibrium (|g| steady, ŝ settles)
    w0 = float(predict("adamw", lr, wd, 0.9, 1.0, elements=1024).weight_norm)
    row = _row(make_run(tmp_path / "run", warmup_constant(1500, lr, 50), rule="adamw", wd=wd, momentum=0.9,
                        layers=ONE, correlation=correlation, init_norm=w0))
    assert row["closure_status"] == "closes" and row["closure_phase"] == "equilibrium"
    assert row["closure_norm_ratio"] == pytest.approx(1, abs=ADAMW_CLOSURE)
    assert row["closure_angle_ratio"] == pytest.approx(1, abs=ADAMW_CLOSURE)
    if correlation:
        assert row["status_white"] == "off" and row["norm_ratio_white_median"] > 1.2
        assert row["update_power_median"] > 1.5
    else:
        assert row["status_white"] == "ok"
        assert row["norm_ratio_white_median"] == pytest.approx(1, abs=ADAMW_WHITE)
        assert row["angle_ratio_white_median"] == pytest.approx(1, abs=ADAMW_WHITE)


def test_nan_rows_inside_the_phase_are_counted_and_fail_the_layer(tmp_path, equilibrium_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(equilibrium_run, run)
    norms = pd.read_csv(run / "norms.csv")
    norms.loc[(norms.layer == "conv1.weight") & norms.step.isin([600, 700, 800]), "angular_update"] = np.nan
    norms.to_csv(run / "norms.csv", index=False)
    layers = _check(run).layers.set_index("layer")
    row = layers.loc["conv1.weight"]
    assert row["missing_steps"] == 3 and row["missing_in_phase"] == 3
    assert row["status_white"] == "off (3 non-finite rows)" == row["trajectory_status_white"]
    assert "3 logged step(s) with non-finite values (3 inside the phase judged): no pass" in row["notes"]
    assert layers.loc["conv2.weight", "status_white"] == "ok"  # the other layer keeps its rows


def test_nan_predictions_inside_the_phase_are_reported(equilibrium_run):
    from dynamics.jobs.validate import summarise

    result = _check(equilibrium_run)
    steps = result.steps.copy()
    inside = steps.index[(steps.layer == "conv1.weight") & steps.equilibrium][:5]
    steps.loc[inside, "norm_ratio_white"] = np.nan
    row = summarise(steps, result.config).set_index("layer").loc["conv1.weight"]
    assert row["nonfinite_white"] == 5
    assert "5 white prediction(s) inside the phase not finite: left out of the medians" in row["notes"]


def test_adam_l2_relaxation_time_uses_the_layers_G(tmp_path):
    """For Adam-L2 τ depends on G (the decay is normalised with the gradient): each layer's own."""
    run = make_run(tmp_path / "run", warmup_constant(300, 1e-3, 10), rule="adam-l2", wd=0.1, momentum=0.9,
                   layers=(("a.weight", (16, 64), 1.0, True), ("b.weight", (16, 64), 10.0, True)))
    steps = _check(run).steps
    last = steps[steps.step == steps.step.max()].set_index("layer")
    for name in ("a.weight", "b.weight"):
        expected = predict("adam-l2", last.lr[name], 0.1, 0.9, last.G_smoothed[name],
                           elements=1024).relaxation_steps
        assert last.relaxation_steps[name] == pytest.approx(expected, rel=1e-3)
    assert last.relaxation_steps["b.weight"] > 2 * last.relaxation_steps["a.weight"]


def test_angle_average_follows_a_decaying_lr(tmp_path):
    """λ decaying linearly to 0: τ grows without bound, and an average over τ would freeze at
    the angles of long ago; the window is capped at ε/|d ln λ/dt|, for both sides alike."""
    t = np.arange(1000)
    lrs = LR * np.minimum((t + 1) / 100, (1000 - t) / 900)
    steps = _check(make_run(tmp_path / "run", lrs, rule="nesterov", wd=WD, momentum=MOMENTUM, layers=ONE,
                            log_every=1)).steps
    local = 2 * np.arcsin(np.sqrt((np.sin(steps.angular_update / 2) ** 2).rolling(25, center=True).mean()))
    late = steps.step.between(800, 950)
    ratio = (steps.measured_angle / local)[late]
    assert ratio.between(1 - ANGLE_LAG, 1 + ANGLE_LAG).all(), ratio.describe()
    # what the verdict compares, and the figure draws: both sides through the same window
    assert (steps.trajectory_angle_ratio_white[late]).between(0.97, 1.03).all()


# --------------------------------------------------------- validate's words (issue 27)
def test_a_run_with_only_step_0_is_too_short_not_damaged(tmp_path, equilibrium_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(equilibrium_run, run)
    norms = pd.read_csv(run / "norms.csv")
    norms[norms.step == 0].drop(columns=["grad_norm", "angular_update"]).to_csv(run / "norms.csv", index=False)
    result = runner.invoke(app, ["validate", str(run)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "too short: only step 0 (the initial weights) is logged" in " ".join(result.output.split())
    assert "lacks columns" not in result.output


def test_shared_reasons_are_said_once_and_no_exception_names(tmp_path):
    lrs = LR * np.exp(-np.arange(1000) / 100)
    run = make_run(tmp_path / "run", lrs, wd=WD, momentum=MOMENTUM)
    (run / "metrics.csv").unlink()
    result = runner.invoke(app, ["validate", str(run), "--out", str(tmp_path / "v")])
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert text.count("no equilibrium phase: the lr never holds still") == 1
    assert "all 2 layers: no equilibrium phase" in text
    assert "no schedule in the run directory (no readable metrics.csv)" in text
    assert "Error" not in text and "judged on the trajectory; too short" not in text


def test_a_closed_monitor_run_is_finished(tmp_path):
    import torch

    from test_monitor import _step, _two_group_model
    from training.monitor import Monitor

    model, _, _ = _two_group_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-3)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))
    monitor = Monitor(model, opt, out=tmp_path / "run", every=2, batch=x)
    for _ in range(20):
        _step(model, opt, x, y)
    monitor.close()
    result = runner.invoke(app, ["validate", str(tmp_path / "run"), "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    assert "not finished" not in result.output and "unfinished" not in result.output


def test_validation_figure_draws_distinct_things_in_distinct_colours(tmp_path, monkeypatch):
    """'instantaneous equilibrium' (a line) and 'equilibrium phase' (a shaded span) were
    both pale green: every entry of the legend now has its own colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.colors import to_rgb

    from figures.validation import plot_layers

    steps = pd.DataFrame({"step": range(10), "layer": "conv", "scale_invariant": True, "weight_norm": 1.0,
                          "predicted_norm_white": 1.1, "trajectory_norm_white": 1.05,
                          "trajectory_norm_transferred": 1.03, "trajectory_norm_closure": 1.02,
                          "equilibrium": [False] * 4 + [True] * 6})
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    plot_layers(steps, tmp_path / "norms.png")
    legend = figures[0].legends[0]
    colours = {t.get_text(): to_rgb(h.get_color() if hasattr(h, "get_xdata") else h.get_facecolor())
               for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert any(k.startswith("instantaneous equilibrium") for k in colours) and "equilibrium phase" in colours
    assert len(set(colours.values())) == len(colours), colours


def test_a_note_several_layers_share_is_said_once_naming_them():
    from dynamics.jobs.validate import _split_notes

    layers = pd.DataFrame({"layer": ["a", "b", "c", "d"], "scale_invariant": [True, True, True, False],
                           "notes": ["x; y", "x; y; z", "y", "not scale-invariant: the noise model does not apply"]})
    shared, own = _split_notes(layers)
    assert shared == ["2 layers (a, b): x", "all 3 layers: y"]
    assert own == {"b": ["z"]}
