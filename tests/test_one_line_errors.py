"""Bad numbers, full disks and Ray resources: one line and exit 2, or a valid result
(issue 28, item 7), and a property test over the option parsers."""

import errno
import math
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

import cli
from cli import app
from dynamics.util.errors import RidgelineError

runner = CliRunner()
TOY = ["--steps", "5", "--dim", "8", "--head", "0"]
SWEEP = ["sweep", "--objective", "quadratic", "--x", "lr=0.1:1:3", "--y", "wd=1e-4:1e-3:2", *TOY]


def one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()  # progress may come first; the error is one line
    assert "Traceback" not in result.output and lines[-1].startswith("error: "), result.output
    assert sum("error" in line for line in lines) == 1, result.output
    for word in words:
        assert word in result.output, result.output


@pytest.mark.parametrize("args, words", [
    (["--to", "batch_size=nan"], ["batch_size", "finite"]),
    (["--to", "batch_size=inf"], ["batch_size", "finite"]),
    (["--to", "wd=1e-320"], ["smallest normal float"]),
    (["--from", "lr=1e308", "--to", "wd=1e-3"], ["range of floats"]),
    (["--from", "batch_size=nan", "--to", "wd=1e-3"], ["batch_size", "finite"]),
    (["--to", "wd=1e308"], ["equivalent lr", "range of floats"]),
    (["--to", "wd=\uff11e-3"], ["ASCII"]),  # full-width 1
    (["--to", "batch_size=1e300"], ["larger than the training set"]),
])
def test_transfer_bad_numbers_are_one_line(args, words):
    one_line_error(runner.invoke(app, ["transfer", *args]), *words)


def test_transfer_far_wd_does_not_blame_lr_times_wd():
    result = runner.invoke(app, ["transfer", "--to", "wd=1e300"])  # λα unchanged: 2e-4
    assert result.exit_code == 0, result.output
    assert "too large" not in result.output and "no stable equilibrium" not in result.output


@pytest.mark.parametrize("axis, words", [
    ("batch_size=1:1e308:3", ["batch sizes must be whole numbers"]),
    ("lr=\uff11:\uff12:\uff13", ["ASCII"]),
    ("lr=nan:1:3", ["finite"]),
    ("lr=1e-320:1:3", ["smallest normal float"]),
])
def test_sweep_bad_axes_are_one_line(tmp_path, axis, words):
    out = tmp_path / "s"
    one_line_error(runner.invoke(app, ["sweep", "--objective", "quadratic", "--x", axis, "--y",
                                       "wd=1e-4:1e-3:2", "--out", str(out), *TOY]), *words)
    assert not out.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "1e-300", "2.5"])
def test_ray_resources_are_checked_before_ray_starts(tmp_path, monkeypatch, value):
    import training.search.executors as executors

    def started(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(executors, "start_local_ray", started)
    one_line_error(runner.invoke(app, SWEEP + ["--out", str(tmp_path / "s"), "--executor", "ray",
                                               "--cpus-per-trial", value]), "--cpus-per-trial")


def test_a_full_disk_in_a_sweep_is_one_line_and_resumes(tmp_path, monkeypatch):
    import dynamics.util.io as io

    replace, full = io.os.replace, {"on": True}

    def no_space(src, dst):
        if full["on"] and "records" in str(dst):
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(src, dst)

    monkeypatch.setattr(io.os, "replace", no_space)
    out = tmp_path / "s"
    one_line_error(runner.invoke(app, SWEEP + ["--out", str(out)]), "No space left", "free some disk space")
    assert not list((out / "records").glob("*.tmp")) and not list((out / "records").glob(".*.tmp"))
    full["on"] = False
    assert runner.invoke(app, SWEEP + ["--out", str(out)]).exit_code == 0


def test_a_full_disk_in_train_is_one_line(tmp_path, monkeypatch):
    import torch

    from test_train import tiny_npz

    def full(obj, f, *args, **kwargs):  # what torch.save raises when the disk fills
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0\n"
                           "PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--data", str(tiny_npz(tmp_path / "t.npz")),
                                 "--width", "0.0625", "--batch-size", "32", "--epochs", "1", "--device", "cpu"])
    one_line_error(result, "checkpoint.pt", "file write failed", "--resume")


def test_tune_from_lr_1e308_gives_a_result(tmp_path):
    result = runner.invoke(app, ["tune", "--objective", "quadratic", "--out", str(tmp_path / "t"),
                                 "--start", "lr=1e308", *TOY])
    assert result.exit_code == 0, result.output
    assert "converged" in result.output


@pytest.mark.parametrize("method", ["tpe", "random"])
def test_tune_samplers_without_max_runs_stop_at_the_documented_default(tmp_path, method):
    pytest.importorskip("optuna")
    from training.search.tune import SAMPLER_RUNS

    out = tmp_path / "t"
    result = runner.invoke(app, ["tune", "--objective", "quadratic", "--out", str(out), "--method", method, *TOY])
    assert result.exit_code == 0, result.output
    assert len(list((out / "records").glob("*.json"))) == SAMPLER_RUNS
    help_text = " ".join(runner.invoke(app, ["tune", "--help"], terminal_width=400).output.replace("│", " ").split())
    assert f"tpe and random, {SAMPLER_RUNS}" in help_text  # what --help says is what it does


def test_the_reports_data_hint_names_its_own_options(tmp_path):
    from test_train import tiny_npz
    from training.report.steps import ReportConfig, _train_step

    cfg = ReportConfig.for_profile("quick", str(tmp_path / "r"), data=str(tiny_npz(tmp_path / "t.npz")))
    name, fields = cfg.runs[0]
    with pytest.raises(RidgelineError) as e:
        _train_step(cfg, name, fields, tmp_path / "r")
    assert "--train-size" not in str(e.value) and "--data" in str(e.value)


# ------------------------------------------------------------------ property test
SPECIAL = ["nan", "-nan", "inf", "-inf", "infinity", "1e308", "-1e308", "1e309", "1e-308", "1e-320",
           "5e-324", "1e-400", "0", "-0", "", " ", "\uff11", "\u0663", "1\u00a0", "0x10", "1_0", "١.٥"]
numbers = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.integers(-10**6, 10**6).map(str), st.text(max_size=4))


def _ok_number(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and (x == 0 or abs(x) >= sys.float_info.min)


def _one_line(e):
    assert "\n" not in str(e) and str(e)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["lr", "wd", "momentum", "batch_size", "bogus", ""]), value=numbers)
def test_parse_assignments_gives_one_line_or_finite_numbers(name, value):
    try:
        parsed = cli.parse_assignments(f"{name}={value}", "--to", ("lr", "wd", "momentum", "batch_size"))
    except RidgelineError as e:
        _one_line(e)
    else:
        assert all(_ok_number(v) for v in parsed.values())


@settings(max_examples=150, deadline=None)
@given(lo=numbers, hi=numbers, points=st.one_of(numbers, st.integers(-3, 10**12).map(str)),
       name=st.sampled_from(["lr", "batch_size", "one_minus_momentum", "wd"]))
def test_parse_axis_gives_one_line_or_a_valid_axis(lo, hi, points, name):
    from training.search.sweep import parse_axis

    try:
        axis = parse_axis(f"{name}={lo}:{hi}:{points}", "--x")
    except RidgelineError as e:
        _one_line(e)
    else:
        assert _ok_number(axis.lo) and _ok_number(axis.hi) and axis.lo > 0 and axis.hi > 0 and axis.points >= 2


@settings(max_examples=150, deadline=None)
@given(lo=numbers, hi=numbers, text=numbers)
def test_bounds_floats_and_pass_through_options_give_one_line_or_finite_numbers(lo, hi, text):
    from training.search.options import convert

    for parse in (lambda: cli.parse_bounds(f"wd={lo}:{hi}"), lambda: cli._floats(text, "--lr"),
                  lambda: convert("steps", text, int), lambda: convert("noise", text, float)):
        try:
            parsed = parse()
        except RidgelineError as e:
            _one_line(e)
        else:
            values = parsed if isinstance(parsed, (list, tuple)) else [parsed]
            flat = [v for item in values for v in (item[1:] if isinstance(item, tuple) else [item])]
            assert all(_ok_number(v) for v in flat)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=numbers, name=st.sampled_from(["wd", "batch_size", "momentum", "train_size", "epochs", "width"]))
def test_transfer_on_any_number_exits_0_or_2_without_a_traceback(value, name):
    result = runner.invoke(app, ["transfer", "--to", f"{name}={value}"])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert len(result.output.strip().splitlines()) == 1, result.output
