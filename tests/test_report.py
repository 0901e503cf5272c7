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
from dynamics.util.errors import RidgelineError
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
                                "slices": "done", "real-slices": "skipped", "train-quick": "skipped", "validate-quick": "skipped",
                                "train-quick-piecewise": "skipped", "validate-quick-piecewise": "skipped"}
    assert "real-run part was skipped" in terminal
    md = (out / "report.md").read_text()
    assert "The real-run part was skipped" in md and "RIDGELINE_DATA" in md and "--data PATH" in md
    assert "ridgeline simulate slices" in md and "ridgeline train --out" in md
    # the real slices: not given, so one line on how to produce them, with the exact commands
    assert "Not shown: no sweep directories given" in md and "--slices lr_batch" in md
    assert "ridgeline sweep --objective train --repeats 3 --width 0.125" in md
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
    import dynamics.jobs.slices

    def broken(config):
        raise RuntimeError("slices exploded")

    monkeypatch.setattr(dynamics.jobs.slices, "run_slices", broken)
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


def test_the_default_derive_step_takes_every_rule_at_page_s_point(tmp_path):
    """The quick profile's own derive rules (plain sgd among them, which has no momentum)."""
    from training.report.steps import _derive_step

    cfg = ReportConfig.for_profile("quick", str(tmp_path))
    _derive_step(cfg, tmp_path)
    derived = json.loads((tmp_path / "derive" / "derivations.json").read_text())
    assert sorted(derived) == sorted(cfg.derive_rules) and "sgd" in derived
    for rule in cfg.derive_rules:  # evaluated at Page's lr 0.4, wd 5e-4
        assert derived[rule]["formulas"]["rescaling_invariant"]["value"] == pytest.approx(0.4 * 5e-4), rule


def test_cli_rejects_an_unknown_profile(tmp_path):
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--profile", "huge"])
    assert result.exit_code == 2
    assert "Invalid value for '--profile'" in result.output and "Traceback" not in result.output


@pytest.fixture
def tiny_cli(monkeypatch, no_cifar):
    """`ridgeline report` through the CLI with the tiny sizes."""
    from training.report import steps

    monkeypatch.setitem(steps.PROFILES, "quick", steps.PROFILES["quick"] | TINY)
    return lambda *args: CliRunner().invoke(app, ["report", *map(str, args)])


def _last_line(result) -> str:
    return result.output.strip().splitlines()[-1]


def test_cli_exit_codes_skip_fail_and_require_data(tiny_cli, tmp_path, monkeypatch):
    skipped = tiny_cli("--out", tmp_path / "a")
    assert skipped.exit_code == 0, skipped.output
    assert _last_line(skipped).startswith("INCOMPLETE: the real-run part was skipped")
    refused = tiny_cli("--out", tmp_path / "b", "--require-data")
    assert refused.exit_code == 2 and "--require-data" in refused.output
    assert not (tmp_path / "b").exists()
    import dynamics.jobs.slices

    monkeypatch.setattr(dynamics.jobs.slices, "run_slices", lambda config: 1 / 0)
    failed = tiny_cli("--out", tmp_path / "c")
    assert failed.exit_code == 3, failed.output
    assert _last_line(failed).startswith("FAILED: slices")


def test_full_profile_on_a_cpu_needs_an_explicit_device(monkeypatch):
    """The estimate is 3 F(width) · images · epochs / R over the runs, R measured; refused
    under --device auto without CUDA, printed under --device cpu."""
    import torch

    from training.config import TrainConfig
    from training.model import ResNet9, forward_flops
    from training.report import estimate

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(estimate, "measured_flop_rate", lambda: 1e10)
    runs = [("a", TrainConfig(epochs=24)), ("b", TrainConfig(epochs=24))]
    hours = 2 * 3 * forward_flops(ResNet9(width=1.0)) * 50_000 * 24 / 1e10 / 3600
    with pytest.raises(RidgelineError, match=rf"about {hours:.1f} h .*pass --device cpu"):
        estimate.check_cpu_time(runs, "auto", "full", Console())
    console = Console(record=True, width=300)
    estimate.check_cpu_time(runs, "cpu", "full", console)
    assert f"about {hours:.1f} h for 2 run(s)" in console.export_text()
    estimate.check_cpu_time(runs, "auto", "quick", console)  # quick: no estimate, no refusal


def _headings(md: str) -> list[str]:
    import re

    return re.findall(r"(?m)^## (\d+)\. ", md)


def test_sections_are_numbered_once_and_the_time_is_kept_across_reruns(no_cifar, tmp_path, monkeypatch):
    """Sections 1, 2, 3, … each once (were 4, 5, 4, 5 with two runs); the header's time
    is the steps' own, kept on a rerun that recomputes nothing (was "in 0 s"); the
    reproduce commands carry the data path of $RIDGELINE_DATA and a --download given
    to an earlier run of the same report."""
    import re

    out = tmp_path / "report"
    _report(out)
    md = (out / "report.md").read_text()
    numbers = _headings(md)
    assert numbers == [str(i) for i in range(1, len(numbers) + 1)] and len(numbers) >= 8, numbers
    took = re.search(r"its steps took (.+?) in all", md).group(1)
    saved = json.loads((out / "report_config.json").read_text())
    (out / "report_config.json").write_text(json.dumps({**saved, "download": True}))  # as after --download
    monkeypatch.setenv("RIDGELINE_DATA", str(tmp_path / "elsewhere.npz"))  # not there: skipped again
    summary, _ = _report(out)
    assert set(summary["steps"].values()) == {"done earlier", "skipped"}
    md = (out / "report.md").read_text()
    assert re.search(r"its steps took (.+?) in all", md).group(1) == took
    assert "in this run: steps done earlier were not recomputed" in md
    everything = re.search(r"Everything here:\n\n```\n(.+)\n```", md).group(1)
    assert "--download" in everything and f"--data {tmp_path / 'elsewhere.npz'}" in everything
    trains = [line for line in md.splitlines() if line.startswith("ridgeline train --out")]
    assert trains and all(f"--data {tmp_path / 'elsewhere.npz'}" in t and "--download" in t for t in trains)


def test_derivation_tables_are_folded_below_the_first_figure(no_cifar, tmp_path):
    from training.report.text import to_html

    out = tmp_path / "report"
    _report(out)
    html = to_html((out / "report.md").read_text(), "t")
    start = html.index("Derivations</h2>")
    before_figures = html[start:html.index("<h2>2. ")]  # section 1, before the first figure
    unfolded = before_figures[:before_figures.index("<details>")] + before_figures[before_figures.index("</details>"):]
    assert "<table>" in before_figures and "<table>" not in unfolded  # every formula table folded


def test_report_inside_the_repository_is_ignored_by_git(no_cifar, tmp_path, monkeypatch):
    from pathlib import Path

    from training.report import steps

    assert steps.in_repository(Path(steps.__file__).parent) and not steps.in_repository(tmp_path)
    monkeypatch.setattr(steps, "in_repository", lambda out: True)
    _report(tmp_path / "inside")
    assert (tmp_path / "inside" / ".gitignore").read_text().splitlines()[-1] == "*"
    monkeypatch.setattr(steps, "in_repository", lambda out: False)
    _report(tmp_path / "outside")
    assert not (tmp_path / "outside" / ".gitignore").exists()


def test_report_resume_alone_takes_the_report_s_own_settings(tiny_cli, tmp_path):
    out = tmp_path / "r"
    first = tiny_cli("--out", out, "--device", "cpu")
    assert first.exit_code == 0, first.output
    again = tiny_cli("--out", out, "--resume")
    assert again.exit_code == 0, again.output
    assert json.loads((out / "report_config.json").read_text())["device"] == "cpu"  # kept, not auto
    assert "done earlier, not recomputed" in again.output
    nothing = tiny_cli("--out", tmp_path / "none", "--resume")
    assert nothing.exit_code == 2 and "holds no report_config.json, nothing to resume" in nothing.output
