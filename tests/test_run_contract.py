"""The run-directory contract (docs/run-directory.md, "What every command promises"):
each command writes only inside its own folder, never through a symlink that leaves
it; refuses a folder another command kind made, naming it; "finished" is one marker
written last; derived files name their records; records are checked on load.
Every test here failed before issue 28.
"""

import json
import os

import pytest
from typer.testing import CliRunner

from cli import app
from dynamics.util.errors import RidgelineError
from dynamics.util.io import DirectoryLock
from synthetic_run import make_run
from test_one_line_errors import one_line_error

runner = CliRunner()
SWEEP = ["sweep", "--objective", "quadratic", "--x", "lr=0.1:1:3", "--y", "wd=1e-4:1e-3:3",
         "--steps", "5", "--dim", "8", "--head", "0"]
SIMULATE = ["simulate", "--steps", "20", "--repeats", "2", "--dim", "8", "--device", "cpu",
            "--record-every", "5"]


def files(path):
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def run_dir(tmp_path, name="run"):
    return make_run(tmp_path / name, [0.1] * 60, log_every=5)


# ------------------------------------------------------------------ writes stay inside
def test_validate_refuses_a_validation_link_that_leaves_the_run(tmp_path):
    run, elsewhere = run_dir(tmp_path), tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, run / "validation")
    one_line_error(runner.invoke(app, ["validate", str(run)]), "symbolic link", "outside")
    assert list(elsewhere.iterdir()) == []


def test_validate_out_never_writes_into_another_run(tmp_path):
    a, b = run_dir(tmp_path, "a"), run_dir(tmp_path, "b")
    before = files(b)
    one_line_error(runner.invoke(app, ["validate", str(a), "--out", str(b)]),
                   "holds the output of `ridgeline train`")
    assert files(b) == before


def test_a_lock_symlink_is_not_followed(tmp_path):
    run, target = run_dir(tmp_path), tmp_path / "outside" / "planted"
    target.parent.mkdir()
    os.symlink(target, run / ".lock")
    with pytest.raises(RidgelineError, match="symbolic link"):
        DirectoryLock(run).acquire()
    assert not target.exists()
    out = tmp_path / "s"  # the same through a command: a sweep's folder
    assert runner.invoke(app, SWEEP + ["--out", str(out)]).exit_code == 0
    (out / ".lock").unlink()
    os.symlink(target, out / ".lock")
    one_line_error(runner.invoke(app, SWEEP + ["--out", str(out)]), "symbolic link")
    assert not target.exists()


def test_sweep_refuses_a_records_link_that_leaves_its_folder(tmp_path):
    out, elsewhere = tmp_path / "s", tmp_path / "elsewhere"
    out.mkdir(), elsewhere.mkdir()
    os.symlink(elsewhere, out / "records")
    one_line_error(runner.invoke(app, SWEEP + ["--out", str(out)]), "symbolic link")
    assert list(elsewhere.iterdir()) == []


# ------------------------------------------------------------ one kind per folder
def test_simulate_refuses_a_train_run_naming_it(tmp_path):
    run = run_dir(tmp_path)
    before = files(run)
    one_line_error(runner.invoke(app, SIMULATE + ["--out", str(run)]), "`ridgeline train`", "metrics.csv")
    assert files(run) == before


def test_train_and_validate_refuse_a_simulation(tmp_path):
    sim = tmp_path / "sim"
    assert runner.invoke(app, SIMULATE + ["--out", str(sim)]).exit_code == 0
    before = files(sim)
    one_line_error(runner.invoke(app, ["train", "--out", str(sim), "--resume"]), "`ridgeline simulate`")
    one_line_error(runner.invoke(app, SWEEP + ["--out", str(sim)]), "`ridgeline simulate`")
    assert files(sim) == before


# ------------------------------------------------------------ records checked on load
def _edit_a_record(out, change):
    path = sorted((out / "records").glob("*.json"))[0]
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))
    return path


def test_a_record_whose_params_were_edited_is_refused_naming_it(tmp_path):
    out = tmp_path / "s"
    assert runner.invoke(app, SWEEP + ["--out", str(out)]).exit_code == 0
    path = _edit_a_record(out, lambda r: r["params"].update(lr=r["params"]["lr"] * 2))
    one_line_error(runner.invoke(app, SWEEP + ["--out", str(out)]), path.name, "disagree with its own config")


def test_a_record_whose_config_was_edited_is_refused(tmp_path):
    out = tmp_path / "s"
    assert runner.invoke(app, SWEEP + ["--out", str(out)]).exit_code == 0
    path = _edit_a_record(out, lambda r: (r["params"].update(lr=0.5), r["config"].update(lr=0.5)))
    one_line_error(runner.invoke(app, SWEEP + ["--out", str(out)]), path.name, "key")


def test_a_string_lr_in_a_record_is_one_line(tmp_path):
    out = tmp_path / "s"
    assert runner.invoke(app, SWEEP + ["--out", str(out)]).exit_code == 0
    path = _edit_a_record(out, lambda r: r["params"].update(lr="0.4"))
    one_line_error(runner.invoke(app, SWEEP + ["--out", str(out)]), path.name, "params.lr = '0.4'")


# ------------------------------------------------- "finished" last, stale results removed
def test_simulate_killed_after_its_new_config_leaves_no_old_summary(tmp_path, monkeypatch):
    out = tmp_path / "sim"
    assert runner.invoke(app, SIMULATE + ["--out", str(out)]).exit_code == 0
    assert (out / "summary.json").is_file()
    import dynamics.util.io

    def killed(path, frame):  # the process dies right after config.json is rewritten
        raise KeyboardInterrupt

    monkeypatch.setattr(dynamics.util.io, "write_csv", killed)
    result = runner.invoke(app, SIMULATE + ["--lr", "0.2", "--out", str(out)])
    assert result.exit_code == 130
    assert json.loads((out / "config.json").read_text())["lr"] == 0.2
    assert not (out / "summary.json").exists()


def test_a_grown_sweep_drops_its_old_ridge_until_it_is_complete_again(tmp_path):
    out = tmp_path / "s"
    assert runner.invoke(app, SWEEP + ["--out", str(out)]).exit_code == 0
    assert json.loads((out / "ridge.json").read_text())["records"]["count"] == 9
    partial = runner.invoke(app, SWEEP + ["--repeats", "2", "--max-runs", "5", "--out", str(out)])
    assert partial.exit_code == 0, partial.output
    assert not (out / "ridge.json").exists() and not (out / "heatmap.png").exists()
    assert runner.invoke(app, SWEEP + ["--repeats", "2", "--out", str(out)]).exit_code == 0
    made = json.loads((out / "ridge.json").read_text())["records"]
    assert (made["count"], made["repeats"]) == (18, 2) and (out / "heatmap.png").is_file()
    names = [p.name for p in sorted(out.iterdir(), key=lambda p: p.stat().st_mtime_ns)]
    assert names.index("ridge.json") > names.index("heatmap.png")  # the marker is written last


def test_a_tune_refused_before_its_first_run_leaves_nothing(tmp_path, monkeypatch):
    import training.search.tune as tune

    def refused(*args, **kwargs):
        raise RidgelineError("refused")

    monkeypatch.setattr(tune, "descend", refused)
    out = tmp_path / "t"
    one_line_error(runner.invoke(app, ["tune", "--objective", "quadratic", "--out", str(out),
                                       "--steps", "5", "--dim", "8"]), "refused")
    assert not out.exists()


# ------------------------------------------------------------------ a large log
def test_validation_steps_csv_is_no_larger_than_norms_csv(tmp_path, monkeypatch):
    import pandas as pd

    import dynamics.util.output

    monkeypatch.setattr(dynamics.util.output, "SMALL_BYTES", 0)  # a large log, in miniature

    run = make_run(tmp_path / "run", [0.1] * 400, log_every=1)
    result = runner.invoke(app, ["validate", str(run)])
    assert result.exit_code == 0, result.output
    written, norms = run / "validation" / "validation_steps.csv", run / "norms.csv"
    assert written.stat().st_size <= norms.stat().st_size
    steps = pd.read_csv(written)["step"]
    logged = pd.read_csv(norms)["step"]
    assert steps.min() == logged.min() and steps.max() == logged.max()  # first and last kept
    assert "keeps every" in result.output
