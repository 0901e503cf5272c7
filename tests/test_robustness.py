"""Issue 11: concurrent and killed commands, damaged inputs, absurd sizes: one line, exit 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> list[int]:
    """Every process below ``pid`` (test_security's /proc walk)."""
    from test_security import _descendants

    return sorted(_descendants(pid) - {pid})


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent has not reaped it


def _wait(predicate, timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from Linux /proc")
def test_kill_9_of_a_sweep_driver_takes_its_workers_with_it(tmp_path):
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "cli", "sweep", "--objective", "quadratic", "--x", "lr=0.01:1:4",
               "--y", "wd=1e-4:1e-2:4", "--out", str(out), "--workers", "2", "--init-norm", "1",
               "--steps", "10000000"]  # far longer than the test: the workers are busy when killed
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        workers = lambda: [p for p in _children(driver.pid)  # noqa: E731
                           if b"multiprocessing" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert _wait(lambda: len(workers()) >= 3, 120), "the sweep never started its 2 workers"
        time.sleep(1.0)  # let the workers take their tasks
        family = _children(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert _wait(lambda: not any(_alive(p) for p in family), 5), \
            f"processes of the sweep outlived its driver: {[p for p in family if _alive(p)]}"
    finally:
        if driver.poll() is None:
            driver.kill()
    from dynamics.util.io import DirectoryLock

    DirectoryLock(out).acquire().release()  # the directory is free for a rerun at once


def test_a_rerun_cannot_start_beside_a_leftover_worker(tmp_path):
    from dynamics.util.errors import RidgelineError
    from dynamics.util.io import DirectoryLock

    leftover = subprocess.Popen([sys.executable, "-c", "import sys, time; from dynamics.util.io import "
                                 "hold_worker_lock; hold_worker_lock(sys.argv[1]); print('held', flush=True); "
                                 "time.sleep(60)", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert leftover.stdout.readline().strip() == "held"
        with pytest.raises(RidgelineError, match="worker processes of an earlier ridgeline command are still"):
            DirectoryLock(tmp_path).acquire()
    finally:
        leftover.kill()
        leftover.wait()
    DirectoryLock(tmp_path).acquire().release()  # free once the leftover is gone


# ------------------------------------------------------------------ resume: every file checked first
import shutil  # noqa: E402

import numpy as np  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from cli import app  # noqa: E402
from dynamics.util.errors import RidgelineError  # noqa: E402
from test_train import killed_run, tiny_config  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """An unfinished tiny run (killed in epoch 2 of 2, checkpoint after epoch 1), made once."""
    base = tmp_path_factory.mktemp("killed")
    killed_run(base, epochs=2)
    return base


@pytest.fixture
def run_copy(killed, tmp_path):
    """A fresh copy of the killed run and its data, and a resume that fails on any step."""
    shutil.copytree(killed, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _resume(base, **change):
    """Resume the copy; training a single step is a failure of the check under test."""
    from training import train

    def never(*_):
        raise AssertionError("training started before the damage was found")

    return train(tiny_config(base, epochs=2, **change), resume=True, verbose=False, on_step=never)


def test_resume_on_other_data_is_refused_naming_both(run_copy):
    other = run_copy / "other.npz"
    with np.load(run_copy / "tiny.npz") as f:
        arrays = dict(f)
    arrays["x_train"] = arrays["x_train"][::-1].copy()  # same shapes, other images
    np.savez(other, **arrays)
    with pytest.raises(RidgelineError, match=r"other data: it was trained on npz:.*tiny.npz \(fingerprint "
                                             r"sha256:\w+\), now npz:.*other.npz \(fingerprint sha256:\w+\)"):
        _resume(run_copy, data=str(other))


def test_resume_without_config_json_is_checked_against_the_checkpoint(run_copy):
    (run_copy / "run" / "config.json").unlink()
    with pytest.raises(RidgelineError, match=r"lr: 0.4 then, 0.2 now.*per its checkpoint.pt"):
        _resume(run_copy, lr=0.2)


def test_train_refuses_a_directory_another_process_is_writing(run_copy):
    from dynamics.util.io import DirectoryLock

    with DirectoryLock(run_copy / "run"):
        with pytest.raises(RidgelineError, match="another ridgeline process is working in"):
            _resume(run_copy)


def _insert_line(path, line):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + [line] + lines[3:]) + "\n")


def _drop_column(path):
    import pandas as pd

    pd.read_csv(path).drop(columns=["weight_norm"]).to_csv(path, index=False)


def _text_in_numbers(path):
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    fields[0] = "abc"
    path.write_text("\n".join(lines[:2] + [",".join(fields)] + lines[3:]) + "\n")


@pytest.mark.parametrize("damage, message", [
    (lambda run: (run / "norms.csv").unlink(), r"norms.csv is missing; delete checkpoint.pt"),
    (lambda run: _insert_line(run / "norms.csv", "%$#garbage, not a row"),
     r"norms.csv is damaged: 1 row\(s\) with '%\$#garbage' in int column step"),
    (lambda run: _insert_line(run / "norms.csv", "," * 30), r"norms.csv is damaged \(.*Expected \d+ fields"),
    (lambda run: _text_in_numbers(run / "norms.csv"), r"norms.csv is damaged: 1 row\(s\) with 'abc' in int column step"),
    (lambda run: _drop_column(run / "norms.csv"), r"norms.csv lacks columns weight_norm"),
    (lambda run: (run / "config.json").write_text("[]"), r"config.json holds a JSON list, not an object"),
    (lambda run: (run / "config.json").write_text('{"lr": 0.4, "wd": "abc"}'), r"wd is 'abc', not a finite number"),
])
def test_resume_checks_every_table_before_training(run_copy, damage, message):
    damage(run_copy / "run")
    with pytest.raises(RidgelineError, match=message):
        _resume(run_copy)


def test_a_truncated_summary_is_one_line(run_copy):
    (run_copy / "run" / "summary.json").write_text('{"test_acc": 0.1, "div')
    with pytest.raises(RidgelineError, match=r"summary.json is not valid JSON .*damaged or truncated"):
        _resume(run_copy)


# ------------------------------------------------------------------ validate on damaged run directories
import pandas as pd  # noqa: E402

from synthetic_run import make_run, warmup_constant  # noqa: E402


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """A small synthetic run directory and its validation.csv."""
    run = make_run(tmp_path_factory.mktemp("clean") / "run", warmup_constant(600, 0.4, 50),
                   rule="nesterov", wd=5e-3, momentum=0.9)
    result = runner.invoke(app, ["validate", str(run), "--out", str(run.parent / "v")])
    # nothing repaired: the loader's repair notes name norms.csv (validate's own notes may appear)
    assert result.exit_code == 0 and "norms.csv:" not in result.output, result.output
    return run, pd.read_csv(run.parent / "v" / "validation.csv")


def _copy_run(clean_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(clean_run[0], run)
    return run


def _validate(run):
    result = runner.invoke(app, ["validate", str(run), "--out", str(run.parent / "v")])
    table = pd.read_csv(run.parent / "v" / "validation.csv") if result.exit_code == 0 else None
    return result, table


@pytest.mark.parametrize("content", ["[]", "null", '"a string"', "{\"lr\": 0.4, \"wd\": [1]}", "{trunc"])
def test_validate_a_config_that_is_not_an_object_is_one_line(clean_run, tmp_path, content):
    run = _copy_run(clean_run, tmp_path)
    (run / "config.json").write_text(content)
    result, _ = _validate(run)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert "config.json" in result.output


def test_validate_drops_garbage_rows_and_text_with_notes(clean_run, tmp_path):
    run = _copy_run(clean_run, tmp_path)
    lines = (run / "norms.csv").read_text().splitlines()
    fields = lines[5].split(",")
    fields[0] = "abc"
    lines[5] = ",".join(fields)
    lines.insert(9, "#!garbage line")
    (run / "norms.csv").write_text("\n".join(lines) + "\n")
    result, table = _validate(run)
    assert result.exit_code == 0, result.output
    assert "note: " in result.output and "with 'abc' in int column step: dropped" in result.output
    assert set(table["layer"]) == set(clean_run[1]["layer"])


def test_one_nan_poisons_only_its_own_row_not_the_layer(clean_run, tmp_path):
    run = _copy_run(clean_run, tmp_path)
    norms = pd.read_csv(run / "norms.csv")
    first = norms.index[norms["layer"] == "conv1.weight"][10]
    norms.loc[first, "weight_norm"] = float("nan")
    norms.to_csv(run / "norms.csv", index=False)
    result, table = _validate(run)
    assert result.exit_code == 0, result.output
    assert "layer conv1.weight: 1 of" in result.output
    clean = clean_run[1].set_index("layer")
    got = table.set_index("layer")
    numbers = clean.select_dtypes("number").columns
    assert np.isfinite(got.loc["conv1.weight", "norm_ratio_white_median"])
    pd.testing.assert_series_equal(got.loc["conv2.weight", numbers], clean.loc["conv2.weight", numbers])


def test_duplicated_rows_validate_like_the_clean_run(clean_run, tmp_path):
    run = _copy_run(clean_run, tmp_path)
    norms = pd.read_csv(run / "norms.csv")
    pd.concat([norms, norms]).to_csv(run / "norms.csv", index=False)
    result, table = _validate(run)
    assert result.exit_code == 0, result.output
    assert "duplicated (step, layer) row(s) kept once" in result.output
    pd.testing.assert_frame_equal(table, clean_run[1])


# ------------------------------------------------------------------ absurd sizes: refused with the numbers
@pytest.fixture
def eight_gb(monkeypatch):
    """The memory check sees 8 GB available, whatever the machine has."""
    import dynamics.util.io

    monkeypatch.setattr(dynamics.util.io, "available_memory", lambda: 8 * 10**9)


@pytest.mark.parametrize("args, numbers", [
    (["--steps", "1000000000"], r"16 runs × dim 256 for 1000000000 steps \(state .*, records 1\d\d GB\) "
                                r"needs about 1\d\d GB of memory but only 8 GB is available"),
    (["--dim", "1000000000"], r"16 runs × dim 1000000000 .* needs about 512 GB of memory but only 8 GB"),
])
def test_simulate_refuses_what_cannot_fit_and_writes_nothing(tmp_path, eight_gb, args, numbers):
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    import re

    assert re.search(numbers, result.output), result.output
    assert not out.exists()


@pytest.mark.parametrize("args, runs", [
    (["--x", "lr=0.01:1:100000", "--y", "wd=1e-4:1e-2:100000"], "100000 × 100000 points × 1 repeats = 10,000,000,000 runs"),
    (["--x", "lr=0.01:1:3", "--y", "wd=1e-4:1e-2:3", "--repeats", "1000000000"], "= 9,000,000,000 runs"),
])
def test_sweep_refuses_a_grid_that_cannot_fit(tmp_path, eight_gb, args, runs):
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", "--objective", "quadratic", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert runs in result.output and "TB of memory but only 8 GB is available" in result.output
    assert not out.exists()


def test_a_memory_error_while_simulating_is_one_line_and_leaves_no_out(tmp_path, monkeypatch):
    import dynamics.jobs.simulate

    def out_of_memory(*a, **k):
        raise MemoryError("cannot allocate")

    monkeypatch.setattr(dynamics.jobs.simulate, "simulate", out_of_memory)
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--out", str(out), "--steps", "20"])
    assert result.exit_code == 2 and "out of memory while simulating" in result.output
    assert not out.exists()


# ------------------------------------------------------------------ the small ones
def test_out_empty_string_is_refused(tmp_path):
    result = runner.invoke(app, ["train", "--out", "", "--data", str(tmp_path / "none.npz")])
    assert result.exit_code == 2 and "out must be a directory path" in result.output


def test_a_seed_beyond_torch_range_is_refused_before_the_data(tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--seed", "100000000000000000000",
                                 "--data", str(tmp_path / "none.npz")])
    assert result.exit_code == 2, result.output
    assert "seed must be an integer in [0, 9223372036854775807]" in result.output
    assert not (tmp_path / "r").exists()


def test_ctrl_c_during_simulate_says_nothing_can_resume(tmp_path, monkeypatch):
    import dynamics.jobs.simulate

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(dynamics.jobs.simulate, "simulate", interrupt)
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "sim"), "--steps", "20"])
    assert result.exit_code == 130
    assert "simulate cannot resume" in result.output and "saved" not in result.output
    assert not (tmp_path / "sim").exists()


def test_stale_temporaries_of_a_killed_write_are_removed_when_the_directory_is_locked(tmp_path):
    from dynamics.util.io import DirectoryLock

    (tmp_path / "records").mkdir()
    stale = [tmp_path / ".norms.csv.x1y2.tmp", tmp_path / "records" / ".abc.json.k9.tmp"]
    for path in stale:
        path.write_text("half")
    keep = tmp_path / "notes.tmp"
    keep.write_text("a user's file")
    with DirectoryLock(tmp_path):
        pass
    assert not any(p.exists() for p in stale) and keep.exists()


def test_data_empty_dir_names_the_option_it_came_from(tmp_path, monkeypatch):
    from training.data import load_arrays

    monkeypatch.delenv("RIDGELINE_DATA", raising=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RidgelineError, match=r"in --data '.*empty'; pass --download") as e:
        load_arrays(str(tmp_path / "empty"), str(tmp_path / "cache"), download=False)
    assert "RIDGELINE_DATA unset" not in str(e.value)


@pytest.mark.parametrize("failure", [OSError("network unreachable"),
                                     RuntimeError("Dataset not found or corrupted. You can use download=True to download it")])
def test_a_failed_download_does_not_suggest_download_again(tmp_path, monkeypatch, failure):
    import torchvision.datasets

    from training.data import load_arrays

    def fail(*a, **k):
        raise failure

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fail)
    monkeypatch.delenv("RIDGELINE_DATA", raising=False)
    with pytest.raises(RidgelineError) as e:
        load_arrays(None, str(tmp_path / "cache"), download=True)
    message = str(e.value)
    assert "--download" not in message.replace("after --download", "") and "download=True" not in message
    assert "--data PATH" in message
