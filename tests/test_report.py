"""``ridgeline report`` with tiny settings: no CIFAR-10 anywhere, a failing step, resume.

The profile's sizes are replaced through :class:`training.report.ReportConfig` so the
whole report takes seconds; what is checked is the machinery: every file there and
not empty, the skip message in the terminal and in report.md, a failed step reported
while the others finish, and a rerun that recomputes nothing.
"""

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli import app
from training.report.steps import ReportConfig, report

TINY = dict(derive_rules=("heavy-ball",), sim_rules=("nesterov",), sim_settings=((0.2, 1e-2, 0.9),),
            sim_steps=300, sim_runs=2, sim_dim=16, relax_lr=(0.4,), relax_steps=300, relax_runs=2,
            slice_points=3, slice_rows=3, slice_repeats=1, slice_steps=40)


@pytest.fixture
def no_cifar(monkeypatch, tmp_path):
    """No RIDGELINE_DATA and an empty torchvision cache (HOME points at an empty dir)."""
    monkeypatch.delenv("RIDGELINE_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _report(out, **kw):
    console = Console(record=True, width=200)
    summary = report(ReportConfig.for_profile("quick", str(out), **(TINY | kw)), console=console)
    return summary, console.export_text()


def test_report_without_data_completes_the_rest_and_says_so(no_cifar, tmp_path):
    out = tmp_path / "report"
    summary, terminal = _report(out)
    assert summary["data_found"] is False
    assert summary["steps"] == {"derive": "done", "simulate-nesterov": "done", "relaxation": "done",
                                "slices": "done", "train-quick": "skipped", "validate-quick": "skipped",
                                "train-quick-piecewise": "skipped", "validate-quick-piecewise": "skipped"}
    assert "real-run part was skipped" in terminal
    md = (out / "report.md").read_text()
    assert "The real-run part was skipped" in md and "RIDGELINE_DATA" in md and "--data PATH" in md
    assert "ridgeline simulate slices" in md and "ridgeline train --out" in md
    html = (out / "report.html").read_text()
    assert "<table>" in html and "real-run part was skipped" in html
    for name in ["derive/derivations.json", "derive/derivations.tex",
                 "simulate/nesterov/trajectories.png", "simulate/nesterov/summary.json",
                 "simulate/relaxation/trajectories.png", "slices/ridge.json",
                 "slices/lr_x_batch_size.png", "slices/lr_x_one_minus_momentum.png", "slices/lr_x_wd.png"]:
        assert (out / name).stat().st_size > 0, name
        if name.endswith(".png"):
            assert f"]({name})" in md, f"{name} is not shown in report.md"


def test_a_failing_step_is_reported_and_the_rest_still_run(no_cifar, tmp_path, monkeypatch):
    import dynamics.slices

    def broken(config):
        raise RuntimeError("slices exploded")

    monkeypatch.setattr(dynamics.slices, "run_slices", broken)
    out = tmp_path / "report"
    summary, terminal = _report(out)
    assert summary["steps"]["slices"] == "failed"
    assert summary["steps"]["derive"] == summary["steps"]["relaxation"] == "done"
    assert "slices exploded" in terminal
    assert "This step failed**: RuntimeError: slices exploded" in (out / "report.md").read_text()
    assert "Traceback" in (out / ".steps" / "slices.log").read_text()
    monkeypatch.undo()  # fixed: the rerun retries only the failed step
    monkeypatch.delenv("RIDGELINE_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    summary, terminal = _report(out)
    assert summary["steps"]["slices"] == "done"
    assert summary["steps"]["derive"] == "done earlier"


def test_rerun_recomputes_nothing_finished(no_cifar, tmp_path):
    out = tmp_path / "report"
    _report(out)
    before = (out / "simulate" / "nesterov" / "summary.json").stat().st_mtime_ns
    summary, terminal = _report(out)
    assert set(summary["steps"].values()) == {"done earlier", "skipped"}
    assert (out / "simulate" / "nesterov" / "summary.json").stat().st_mtime_ns == before
    assert "done earlier, not recomputed" in terminal
    record = json.loads((out / ".steps" / "derive.json").read_text())
    assert record["status"] == "done" and record["params"]["rules"] == ["heavy-ball"]


def test_cli_rejects_an_unknown_profile(tmp_path):
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--profile", "huge"])
    assert result.exit_code == 2
    assert "unknown profile 'huge'" in result.output and "Traceback" not in result.output
