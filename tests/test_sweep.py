"""ridgeline sweep: grids, the record store, resume, refusal of bad input (toy objective).

The slopes of the toy's ridges are in test_sweep_slices.py, the real trainer as an
objective in test_sweep_train.py, Ray in test_ray.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from dynamics.util.errors import RidgelineError
from training.search.records import RecordStore, claim_directory
from training.search.sweep import Axis, SweepConfig, parse_axis, run_sweep

runner = CliRunner()


def snapshot(directory: Path) -> dict:
    """Every file under ``directory`` with its bytes (to prove nothing was overwritten)."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file() and not p.name.startswith(".lock")}


def toy(out, x="lr=0.01:1:3", y="wd=1e-4:1e-2:3", **kw) -> SweepConfig:
    return SweepConfig(objective="quadratic", x=parse_axis(x, "--x"), y=parse_axis(y, "--y"),
                       out=str(out), **kw)


def records(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


# ------------------------------------------------------------------------- grids
def test_axis_values_are_log_spaced_and_batch_sizes_whole():
    assert parse_axis("lr=0.01:1:3", "--x").values() == pytest.approx([0.01, 0.1, 1.0])
    assert parse_axis("batch_size=16:256:5", "--x").values() == [16, 32, 64, 128, 256]
    assert parse_axis("batch_size=10:100:3", "--x").values() == [10, 32, 100]
    omm = parse_axis("one_minus_momentum=0.01:1:3", "--y")
    assert omm.params(0.1) == {"momentum": pytest.approx(0.9)}
    assert Axis("wd", 1e-3, 1e-5, 3).values() == pytest.approx([1e-3, 1e-4, 1e-5])


@pytest.mark.parametrize("text, message", [
    ("lr=0.01:1:1", "at least 2 distinct points"),
    ("lr=0.1:0.1:4", "at least 2 distinct points"),
    ("lr=0:1:3", "LO and HI > 0"),
    ("wd=-1e-4:1e-3:3", "LO and HI > 0"),
    ("momentum=0.1:0.9:3", "unknown parameter 'momentum'"),
    ("lr=0.01:1", "NAME=LO:HI:POINTS"),
    ("lr=a:1:3", "NAME=LO:HI:POINTS"),
    ("one_minus_momentum=0.1:2:3", "must be in (0, 1]"),
    ("batch_size=2:4:5", "repeat after rounding"),
])
def test_parse_axis_refuses_bad_grids(text, message):
    with pytest.raises(RidgelineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_axis(text, "--x")


def test_one_row_on_y_gives_its_best_lr_and_no_slope(tmp_path):
    with pytest.raises(RidgelineError, match="one row as LO:LO:1"):
        parse_axis("wd=5e-4:6e-4:1", "--y")  # one point needs LO == HI
    assert parse_axis("batch_size=64:64:1", "--y").values() == [64]
    out = tmp_path / "row"
    result = run_sweep(toy(out, x="lr=0.1:1.6:5", y="wd=5e-4:5e-4:1", options=("--steps", "100")))
    assert result.total == 5 and len(result.fit.points) == 1
    (lr, wd), inside = result.fit.points[0], result.fit.interior[0]
    frame = pd.read_csv(out / "records.csv")
    best = frame.loc[frame.score.idxmin(), "lr"]
    assert wd == 5e-4 and math.isnan(result.fit.slope)
    assert inside == (best not in (0.1, 1.6)) and lr / best <= 2 and best / lr <= 2  # the parabola's vertex


# ------------------------------------------------------------------ the store
def test_sweep_writes_one_record_per_run_and_the_tables(tmp_path):
    out = tmp_path / "s"
    result = run_sweep(toy(out, repeats=2))
    assert result.total == result.new == 18
    assert len(records(out)) == 18
    frame = pd.read_csv(out / "records.csv")
    assert list(frame.columns[:8]) == ["lr", "batch_size", "momentum", "one_minus_momentum", "wd",
                                       "seed", "score", "diverged"]
    assert sorted(frame.seed.unique()) == [0, 1] and len(frame) == 18
    ridge = json.loads((out / "ridge.json").read_text())["lr_x_wd"]
    assert {"slope", "slope_err", "points"} <= set(ridge) and len(ridge["points"]) >= 2
    assert (out / "heatmap.png").stat().st_size > 1000
    assert json.loads((out / "sweep.json").read_text())["repeats"] == 2
    # the key is the hash of the full trial: the same grid point with another seed differs
    assert frame.groupby(["lr", "wd"]).key.nunique().eq(2).all()


def test_rerun_recomputes_nothing(tmp_path):
    out = tmp_path / "s"
    run_sweep(toy(out))
    before = {p: p.stat().st_mtime_ns for p in (out / "records").glob("*.json")}
    again = run_sweep(toy(out))
    assert again.new == 0 and len(again.records) == 9
    assert {p: p.stat().st_mtime_ns for p in (out / "records").glob("*.json")} == before


def test_stopped_after_k_runs_and_resumed_equals_uninterrupted(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run_sweep(toy(whole, repeats=2))
    first = run_sweep(toy(parts, repeats=2, max_runs=5))
    assert first.new == 5 and len(records(parts)) == 5 and first.fit is None
    assert not (parts / "ridge.json").exists()
    second = run_sweep(toy(parts, repeats=2))
    assert second.new == 13
    assert records(parts) == records(whole)
    assert (parts / "records.csv").read_bytes() == (whole / "records.csv").read_bytes()
    assert (parts / "ridge.json").read_bytes() == (whole / "ridge.json").read_bytes()


def test_a_run_killed_mid_way_is_simply_rerun(tmp_path, monkeypatch):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run_sweep(toy(whole))
    write = RecordStore.write
    calls = []

    def dying_write(self, record):  # the process dies while the 4th result comes in
        calls.append(record["key"])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return write(self, record)

    monkeypatch.setattr(RecordStore, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(toy(killed))
    assert len(records(killed)) == 3
    assert not list((killed / "records").glob(".*tmp"))  # no half-written record
    monkeypatch.setattr(RecordStore, "write", write)
    assert run_sweep(toy(killed)).new == 6
    assert records(killed) == records(whole)


def test_local_worker_processes_write_the_same_records(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    light = ("--init-norm", "1", "--steps", "100")  # a fixed |w0| spares each worker sympy
    run_sweep(toy(one, repeats=2, options=light))
    run_sweep(toy(two, repeats=2, options=light, workers=2))
    assert records(one) == records(two)


def test_two_drivers_never_share_a_directory(tmp_path):
    out = tmp_path / "s"
    lock = claim_directory(out, "sweep", {"kind": "sweep", "a": 1})
    try:
        with pytest.raises(RidgelineError, match="another ridgeline process"):
            claim_directory(out, "sweep", {"kind": "sweep", "a": 1})
    finally:
        lock.release()
    claim_directory(out, "sweep", {"kind": "sweep", "a": 1}).release()


# -------------------------------------------------------------------- the CLI
ARGS = ["sweep", "--objective", "quadratic", "--x", "lr=0.01:1:3", "--y", "wd=1e-4:1e-2:3"]


def test_cli_sweep_prints_the_table_and_the_ridge(tmp_path):
    result = runner.invoke(app, ["sweep", "--objective", "quadratic", "--x", "lr=0.1:3.2:6",
                                 "--y", "wd=2.5e-4:1e-3:3", "--out", str(tmp_path / "s"),
                                 "--momentum", "0.8"])
    assert result.exit_code == 0, result.output
    assert "mean final_loss" in result.output and "ridge: log wd =" in result.output
    assert "from 3 of 3 rows" in result.output
    frame = pd.read_csv(tmp_path / "s" / "records.csv")
    assert (frame.momentum == 0.8).all() and len(frame) == 18


def test_cli_executor_outside_the_choices_is_refused_by_the_parser(tmp_path):
    result = runner.invoke(app, ARGS + ["--out", str(tmp_path / "s"), "--executor", "spark"])
    assert result.exit_code == 2 and "Invalid value for '--executor'" in result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("extra, message", [
    (["--x", "lr=0.01:1:1"], "at least 2 distinct points"),
    (["--y", "wd=0:1e-2:3"], "LO and HI > 0"),
    (["--y", "alpha=1e-4:1e-2:3"], "unknown parameter 'alpha'"),
    (["--bogus", "3"], "unknown option --bogus"),
    (["--lr", "0.1"], "--lr is swept"),
    (["--momentum", "1.5"], "momentum must be in [0, 1)"),
    (["--repeats", "0"], "--repeats must be >= 1"),
    (["--y", "lr=0.01:1:3"], "both lr"),
    (["--head", "-1"], "head >= 0"),
    (["--noise", "0"], "noise must be > 0"),
    (["--device", "bogus"], "device 'bogus' is not available here"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, extra, message):
    out = tmp_path / "s"
    result = runner.invoke(app, ARGS + ["--out", str(out)] + extra)
    assert result.exit_code == 2
    assert "error: " in result.output and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_refuses_a_directory_holding_a_different_sweep(tmp_path):
    out = tmp_path / "s"
    assert runner.invoke(app, ARGS + ["--repeats", "2", "--out", str(out)]).exit_code == 0
    before = snapshot(out)
    for args in (ARGS[:-1] + ["wd=1e-4:1e-2:4"], ARGS + ["--momentum", "0.5"],
                 ARGS + ["--repeats", "1"]):  # fewer seeds than the sweep has: refused
        result = runner.invoke(app, args + ["--out", str(out)])
        assert result.exit_code == 2, args
        assert "holds a different sweep" in result.output
    tune = runner.invoke(app, ["tune", "--objective", "quadratic", "--out", str(out)])
    assert tune.exit_code == 2 and "holds the output of `ridgeline sweep` (sweep.json)" in tune.output
    assert snapshot(out) == before


def test_raising_repeats_adds_seeds_and_keeps_every_record(tmp_path):
    out = tmp_path / "s"
    first = run_sweep(toy(out, repeats=2))
    kept = {k: (out / "records" / f"{k}.json").read_bytes() for k in records(out)}
    more = run_sweep(toy(out, repeats=3))
    assert (first.total, more.total, more.new) == (18, 27, 9)  # only the third seed ran
    assert all((out / "records" / f"{k}.json").read_bytes() == v for k, v in kept.items())
    assert json.loads((out / "sweep.json").read_text())["repeats"] == 3
    assert sorted(pd.read_csv(out / "records.csv").seed.unique()) == [0, 1, 2]


def test_cli_refuses_a_directory_holding_something_else(tmp_path):
    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = runner.invoke(app, ARGS + ["--out", str(out)])
    assert result.exit_code == 2 and "does not hold a ridgeline sweep" in result.output
    assert snapshot(out) == {"notes.txt": b"mine"}


def test_a_ridge_outside_the_grid_is_reported_not_fitted(tmp_path):
    out = tmp_path / "s"  # lr far below the toy's best: every row's optimum on the right edge
    result = runner.invoke(app, ["sweep", "--objective", "quadratic", "--x", "lr=1e-4:4e-4:3",
                                 "--y", "wd=1e-5:1e-4:3", "--out", str(out), "--steps", "100"])
    assert result.exit_code == 0, result.output
    assert "no ridge inside the grid" in result.output and "0.0004" in result.output
    ridge = json.loads((out / "ridge.json").read_text())["lr_x_wd"]
    assert ridge["slope"] is None and ridge["interior"] == [False, False, False]
    assert (out / "heatmap.png").exists()


def test_grid_points_shorter_than_a_few_relaxation_times_are_warned(tmp_path):
    """τ = (1−ρ)/(4λα) at λ = 0.01, α = 1e-5 is 250,000 steps: far beyond a 100-step toy."""
    from training.search.objectives import make_objective
    from training.search.sweep import grid_trials, short_runs_note

    short = toy(tmp_path / "a", x="lr=0.01:1:3", y="wd=1e-5:1e-3:3", options=("--steps", "100"))
    note = short_runs_note(short, objective := make_objective("quadratic", ["--steps", "100"]),
                           grid_trials(short, objective))
    assert note.startswith("9 of 9 grid points run fewer than 3 relaxation times of |w| (the fewest: 0.0002, "
                           "at lr=0.01 batch_size=512 momentum=0.9 wd=1e-05)"), note
    long = toy(tmp_path / "b", x="lr=0.2:0.8:3", y="wd=5e-3:2e-2:3", options=("--steps", "2000"))
    objective = make_objective("quadratic", ["--steps", "2000"])
    assert short_runs_note(long, objective, grid_trials(long, objective)) is None
    result = runner.invoke(app, ["sweep", "--objective", "quadratic", "--x", "lr=0.01:1:3", "--y", "wd=1e-5:1e-3:3",
                                 "--steps", "100", "--out", str(tmp_path / "c")], env={"COLUMNS": "400"})
    assert result.exit_code == 0 and "warning: too short: 9 of 9 grid points" in result.output


def test_cli_resume_alone_continues_a_sweep_with_its_own_settings(tmp_path):
    """`sweep --out DIR --resume` needs no other option (the objective, axes and pass-through
    options come from sweep_config.json); a given axis that differs is still refused."""
    out = tmp_path / "s"
    first = runner.invoke(app, ARGS + ["--out", str(out), "--steps", "100", "--max-runs", "4"])
    assert first.exit_code == 0, first.output
    assert len(records(out)) == 4
    refused = runner.invoke(app, ["sweep", "--out", str(out), "--resume", "--x", "lr=0.01:1:4"])
    assert refused.exit_code == 2 and "holds a different sweep" in refused.output
    rest = runner.invoke(app, ["sweep", "--out", str(out), "--resume", "--max-runs", "100"])
    assert rest.exit_code == 0, rest.output
    assert "9/9 runs finished (5 new)" in rest.output
    assert json.loads((out / "sweep_config.json").read_text())["options"] == ["--steps", "100"]
