"""The Ray executor on a local instance (2 CPUs) leaves the same records as local.

Ray's start-up takes seconds, so one instance serves the whole module and the
sweeps are small; the executor finds Ray already initialised and leaves it running.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from training.search.executors import start_local_ray, stop_ray
from training.search.sweep import SweepConfig, parse_axis, run_sweep

ray = pytest.importorskip("ray")
runner = CliRunner()
LIGHT = ("--init-norm", "1", "--steps", "100")  # a fixed |w0| spares each Ray worker sympy


@pytest.fixture(scope="module")
def local_ray():
    from conftest import require_ray_headroom

    require_ray_headroom()
    start_local_ray(ray, num_cpus=2)
    yield
    stop_ray(ray)


def records(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def test_ray_sweep_leaves_the_same_records_as_local(tmp_path, local_ray):
    def config(out, executor):  # 2 seeds x 3 x 3, split into one task per CPU and seed
        return SweepConfig(objective="quadratic", x=parse_axis("lr=0.01:1:3", "--x"),
                           y=parse_axis("batch_size=128:512:3", "--y"), out=str(out), repeats=2,
                           executor=executor, options=LIGHT)

    local = run_sweep(config(tmp_path / "local", "local"))
    remote = run_sweep(config(tmp_path / "ray", "ray"))
    assert remote.new == local.new == 18
    assert records(tmp_path / "ray") == records(tmp_path / "local")
    assert (tmp_path / "ray" / "records.csv").read_bytes() == \
        (tmp_path / "local" / "records.csv").read_bytes()


def test_cli_tune_on_ray_matches_local(tmp_path, local_ray):
    base = ["tune", "--objective", "quadratic", "--start", "lr=0.001,momentum=0.5,wd=0.01",
            "--max-runs", "4", *LIGHT]
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--cpus-per-trial", "1"])):
        result = runner.invoke(app, base + ["--out", str(tmp_path / name)] + extra)
        assert result.exit_code == 0, result.output
    trials = [pd.read_csv(tmp_path / name / "trials.csv") for name in ("local", "ray")]
    assert trials[0].equals(trials[1]) and len(trials[0]) == 4
