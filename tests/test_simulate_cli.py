"""ridgeline simulate and simulate slices through the CLI: outputs, JSON, bad input."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
SMALL = ["--steps", "200", "--repeats", "2", "--dim", "32", "--record-every", "20"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_simulate_writes_its_files_and_prints_the_table(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["simulate", "--rule", "nesterov", "--lr", "0.2,0.4", "--wd", "1e-2",
                                 "--momentum", "0.5", "--init-norm", "0", "--out", str(out)] + SMALL)
    assert result.exit_code == 0, result.output
    assert "late-time means" in result.output and "|w|*" in result.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".lock")) == [
        "config.json", "summary.csv", "summary.json", "trajectories.csv", "trajectories.png"]
    assert json.loads((out / "config.json").read_text())["lr"] == [0.2, 0.4]


def test_simulate_json_has_measured_and_predicted_per_setting(tmp_path):
    # D = 512, 8 runs, float64: |w| within 0.08% and θ within 0.15% of the prediction; 0.5% leaves 3x
    result = runner.invoke(app, ["simulate", "--lr", "0.2,0.4", "--wd", "1e-2", "--momentum", "0.9",
                                 "--init-norm", "0", "--format", "json", "--out", str(tmp_path / "j"),
                                 "--steps", "400", "--repeats", "8", "--dim", "512", "--record-every", "20",
                                 "--dtype", "float64"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [s["lr"] for s in payload["settings"]] == [0.2, 0.4]
    for s in payload["settings"]:
        assert s["measured"]["weight_norm"] == pytest.approx(s["predicted"]["weight_norm"], rel=0.005)
        assert s["measured"]["angular_update"] == pytest.approx(s["predicted"]["angular_update"], rel=0.005)


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "steps must be >= 1"),
    (["--repeats", "-1"], "runs must be >= 1"),
    (["--momentum", "1"], "momentum must be in [0, 1)"),
    (["--momentum", "0.5,1.5"], "momentum must be in [0, 1)"),
    (["--lr", "fast"], "--lr: 'fast' is not a number"),
])
def test_bad_input_is_one_line_exit_2_and_no_files(tmp_path, args, message):
    out = tmp_path / "bad"
    result = runner.invoke(app, ["simulate", "--out", str(out)] + args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {result.output.strip()[7:]}"]
    assert message in result.output
    assert not out.exists()


@pytest.mark.parametrize("option, value", [("--loss", "hinge"), ("--rule", "adam"),
                                           ("--schedule", "cosine"), ("--format", "yaml")])
def test_a_value_outside_the_choices_is_refused_by_the_parser(tmp_path, option, value):
    """Choices come from the library's registries; click names the option and lists them."""
    out = tmp_path / "bad"
    result = runner.invoke(app, ["simulate", "--out", str(out), option, value])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output and value in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_bn_net_runs_with_its_defaults(tmp_path):
    """Every loss runs with the command's defaults (bn-net's batch norm needs N >= 2)."""
    from dynamics.jobs.simulate import default_batch_size

    assert default_batch_size("bn-net") == 16 and default_batch_size("noise") == 1
    result = runner.invoke(app, ["simulate", "--loss", "bn-net", "--out", str(tmp_path / "bn"),
                                 "--steps", "20", "--record-every", "10", "--repeats", "2", "--dim", "16"])
    assert result.exit_code == 0, result.output


def test_missing_out_and_unwritable_out(tmp_path):
    result = runner.invoke(app, ["simulate"])
    assert result.exit_code == 2 and "--out DIR is required" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["simulate", "--out", str(blocker / "sub")] + SMALL)
    assert result.exit_code == 2 and "cannot write to output directory" in result.output
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = runner.invoke(app, ["simulate", "--out", str(locked)] + SMALL)
        assert result.exit_code == 2 and "cannot write" in result.output
        assert list(locked.iterdir()) == []


def test_interrupted_write_leaves_no_complete_looking_summary(tmp_path, monkeypatch):
    """A failure while writing the figure leaves no summary.json (the file that says 'done')."""
    import figures.dynamics

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(figures.dynamics, "trajectory_figure", boom)
    out = tmp_path / "cut"
    result = runner.invoke(app, ["simulate", "--out", str(out)] + SMALL)
    assert result.exit_code == 130
    assert not (out / "summary.json").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_simulate_slices_small(tmp_path):
    out = tmp_path / "slices"
    args = ["simulate", "slices", "--out", str(out), "--points", "5", "--rows", "3", "--repeats", "1",
            "--steps", "60", "--dim", "16"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    fits = json.loads((out / "ridge.json").read_text())
    assert set(fits) == {"lr_x_batch_size", "lr_x_one_minus_momentum", "lr_x_wd"}
    for name, fit in fits.items():
        assert {"slope", "slope_err", "points", "claim", "expected_slope"} <= set(fit)
        assert (out / f"{name}.png").stat().st_size > 5000
    again = runner.invoke(app, args)  # resumes: same fits, nothing recomputed
    assert again.exit_code == 0 and json.loads((out / "ridge.json").read_text()) == fits
    bad = runner.invoke(app, ["simulate", "slices", "--out", str(out), "--points", "2"])
    assert bad.exit_code == 2 and "points >= 3" in bad.output


def test_simulate_correlation_sets_the_correlated_loss_weight(tmp_path):
    """--correlation b reaches SimConfig: config.json records it, and the prediction (which
    takes the process's power k) and the measured |w| both move with b, together."""
    norms = {}
    for b in (-0.5, 0.5):
        out = tmp_path / f"b{b}"
        result = runner.invoke(app, ["simulate", "--loss", "correlated", "--correlation", str(b),
                                     "--lr", "0.4", "--wd", "0.05", "--momentum", "0.9", "--format", "json",
                                     "--out", str(out), "--steps", "600", "--repeats", "4", "--dim", "64",
                                     "--record-every", "10"])
        assert result.exit_code == 0, result.output
        assert json.loads((out / "config.json").read_text())["correlation"] == b
        s = json.loads(result.stdout)["settings"][0]
        # reached 4.1% and 3.3% (λα = 0.02, D = 64): the correlated model's leading order, not noise
        # (D = 512 in float64 gives the same); 5% leaves little room, and is what it reaches
        assert s["measured"]["weight_norm"] == pytest.approx(s["predicted"]["weight_norm"], rel=0.05)
        norms[b] = s["predicted"]["weight_norm"]
    assert norms[0.5] > 1.1 * norms[-0.5]  # more low-frequency power, larger equilibrium norm


def test_simulate_correlation_needs_the_correlated_loss(tmp_path):
    result = runner.invoke(app, ["simulate", "--correlation", "0.5", "--out", str(tmp_path / "x")] + SMALL)
    assert result.exit_code == 2
    assert "used by --loss correlated only" in result.output
    assert "--correlation" in runner.invoke(app, ["simulate", "--help"]).output


def test_a_run_shorter_than_a_few_relaxation_times_is_warned_with_how_many_it_has(tmp_path):
    """--lr 0.01 --wd 1e-4: τ = (1−ρ)/(4λα) ≈ 25,000 steps in a run of 2,000 printed its
    ratios with no comment; the long-enough setting beside it gets no warning."""
    result = runner.invoke(app, ["simulate", "--rule", "heavy-ball", "--lr", "0.01,0.4", "--wd", "1e-4,2.5e-2",
                                 "--steps", "2000", "--repeats", "2", "--dim", "32", "--record-every", "20",
                                 "--out", str(tmp_path / "short")], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: too short")]
    assert len(warnings) == 1 and "lr=0.01 wd=0.0001 momentum=0.9 ran 0.079 relaxation times" in warnings[0], warnings
    assert "τ ≈ 24,991 steps; 0.039 before" in warnings[0] and "--steps 153,100 or more" in warnings[0] and "--init-norm 0" in warnings[0]
    started_there = runner.invoke(app, ["simulate", "--lr", "0.01", "--wd", "1e-4", "--init-norm", "0",
                                        "--out", str(tmp_path / "eq")] + SMALL)
    assert started_there.exit_code == 0 and "too short" not in started_there.output
