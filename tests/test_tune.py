"""ridgeline tune on the quadratic toy: Page's descent from its bad start.

The toy's best loss is found independently, by one vectorised simulator call over a
fine grid in the rotated coordinates (u = lr·wd/(1 − momentum), momentum, wd); the
descent must come within 1% of it, and in the rotated coordinates with fewer runs than
in the naive ones. The toy's head (parameters without scale symmetry) is what makes wd
matter at fixed u, as Page's few layers without the symmetry do: without it the
toy would be exactly flat along wd and there would be nothing for rotation to gain.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from dynamics.util.errors import RidgelineError
from training.search.tune import TuneConfig, descend, move, run_tune

runner = CliRunner()
SEED_START = {"lr": 0.001, "momentum": 0.5, "wd": 0.01}  # Page's bad start
SEEDS = (0, 1, 2)  # toy noise streams: the comparison must hold for each


def best_toy_loss(seed: int) -> float:
    """The toy's lowest loss over a fine grid: u in steps of 2^(1/4) over a factor 64
    around 2e-3, 1 − momentum halved from 1 to 1/64, wd in steps of 10^(1/8) over three
    decades (one simulator call of 4,375 settings). The best must be inside the grid."""
    from dynamics.jobs.slices import TOY_DEFAULTS, quadratic_final_loss

    u = 2e-3 * 2.0 ** (np.arange(-12, 13)[:, None, None] / 4)
    omm = 2.0 ** -np.arange(7)[None, :, None]
    wd = 10 ** (np.arange(-36, -11)[None, None, :] / 8)
    loss = quadratic_final_loss(u * omm / wd, TOY_DEFAULTS["batch_size"], 1 - omm, wd, seed=seed)
    i, _, k = np.unravel_index(np.nanargmin(loss), loss.shape)
    assert 0 < i < u.size - 1 and 0 < k < wd.size - 1, "the toy's best lies on the grid's edge"
    return float(np.nanmin(loss))


def tune_both(out, start: dict, refine: int, seed: int = 0) -> dict:
    return {c: run_tune(TuneConfig("quadratic", str(out / c), **start, coordinates=c, refine=refine,
                                   options=("--seed", str(seed))))
            for c in ("rotated", "naive")}


def runs_to_reach(result, target: float) -> float:
    """Distinct runs until the first score <= target (inf if never)."""
    hits = result.trials[result.trials.score <= target]
    return float(hits.run.min() + 1) if len(hits) else float("inf")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> dict:
    """Seed 0 from Page's start: Page's doubling/halving, then one refinement to
    a √2 step (plain doubling stops about 2% above the best)."""
    return tune_both(tmp_path_factory.mktemp("tune"), SEED_START, refine=1)


@pytest.mark.parametrize("seed", SEEDS)
def test_rotated_coordinates_reach_the_best_toy_loss_in_fewer_runs(tuned, tmp_path, seed):
    target = 1.01 * best_toy_loss(seed)
    runs = tuned if seed == 0 else tune_both(tmp_path, SEED_START, refine=1, seed=seed)
    rotated, naive = runs["rotated"], runs["naive"]
    print(f"seed {seed}: rotated within 1% after {runs_to_reach(rotated, target):g} runs "
          f"({rotated.runs} in all), naive after {runs_to_reach(naive, target):g} ({naive.runs} in all); "
          f"best/target {rotated.best['score'] / target:.4f}, {naive.best['score'] / target:.4f}")
    assert rotated.converged and rotated.best["score"] <= target
    assert runs_to_reach(rotated, target) < runs_to_reach(naive, target)


def test_tune_csv_is_the_seeds_table(tuned):
    table = pd.read_csv(tuned["rotated"].out / "tune.csv")
    assert {"run", "lr", "momentum", "wd", "rotated", "score"} <= set(table.columns)
    assert table.iloc[0][["run", "lr", "momentum", "wd"]].tolist() == [0, 0.001, 0.5, 0.01]
    assert np.allclose(table.rotated, table.lr * table.wd / (1 - table.momentum))
    assert table.score.is_monotonic_decreasing and table.run.is_monotonic_increasing
    trials = pd.read_csv(tuned["rotated"].out / "trials.csv")
    assert len(trials) == tuned["rotated"].runs and trials.run.tolist() == list(range(len(trials)))


def test_rotated_moves_hold_lr_wd_over_one_minus_momentum_fixed():
    p = dict(SEED_START)
    u = p["lr"] * p["wd"] / (1 - p["momentum"])
    for coordinate, direction in (("momentum", -1), ("momentum", 1), ("wd", 1), ("wd", -1)):
        q = move(p, coordinate, direction, 2.0, rotated=True)
        assert q["lr"] * q["wd"] / (1 - q["momentum"]) == pytest.approx(u)
        assert move(p, coordinate, direction, 2.0, rotated=False)["lr"] == p["lr"]
    assert move(p, "momentum", -1, 2.0, True)["momentum"] == pytest.approx(0.75)  # 1 − ρ halved
    assert move({**p, "momentum": 0.0}, "momentum", 1, 2.0, True) is None  # ρ < 0


def test_descent_stops_when_a_full_cycle_brings_no_improvement():
    seen = []

    def bowl(point, coordinate):  # minimum at lr 0.4, 1 − ρ 0.125, wd 0.001 exactly
        seen.append(point)
        score = (np.log2(point["lr"] / 0.4) ** 2 + np.log2((1 - point["momentum"]) / 0.125) ** 2
                 + np.log2(point["wd"] / 0.001) ** 2)
        return len(seen) - 1, float(score)

    point, score, _ = descend(bowl, {"lr": 0.1, "momentum": 0.5, "wd": 0.004}, False, 2.0, False)
    assert point == pytest.approx({"lr": 0.4, "momentum": 0.875, "wd": 0.001}) and score < 1e-12


def test_rerun_replays_the_descent_without_recomputing(tuned):
    first = tuned["rotated"]
    config = json.loads((first.out / "tune_config.json").read_text())
    again = run_tune(TuneConfig(**{**config, "options": tuple(config["options"])}))
    assert again.new == 0 and again.runs == first.runs
    assert again.table.equals(first.table)


def test_stopped_tune_continues_where_it_stopped(tmp_path, tuned):
    out = tmp_path / "t"
    part = run_tune(TuneConfig("quadratic", str(out), **SEED_START, refine=1, max_runs=5))
    assert not part.converged and part.runs == 5
    rest = run_tune(TuneConfig("quadratic", str(out), **SEED_START, refine=1))
    assert rest.new == tuned["rotated"].runs - 5
    assert rest.table.equals(tuned["rotated"].table)


def test_cli_tune_prints_the_table_and_refuses_another_tune(tmp_path):
    out = tmp_path / "t"
    args = ["tune", "--objective", "quadratic", "--start", "lr=0.001,momentum=0.5,wd=0.01",
            "--out", str(out), "--max-runs", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rotated" in result.output and "3 runs (3 new)" in result.output
    other = runner.invoke(app, args[:4] + ["lr=0.002,momentum=0.5,wd=0.01"] + args[5:])
    assert other.exit_code == 2 and "holds a different tune (start.lr: 0.001 -> 0.002)" in other.output
    naive = runner.invoke(app, args + ["--coordinates", "naive"])
    assert naive.exit_code == 2 and "coordinates: 'rotated' -> 'naive'" in naive.output


@pytest.mark.parametrize("extra, message", [
    (["--start", "lr=0.001,rho=0.5"], "unknown name 'rho'"),
    (["--start", "lr=-1"], "lr must be a finite number > 0"),
    (["--start", "momentum=1"], "momentum must be in [0, 1)"),
    (["--coordinates", "polar"], "'polar' is not one of 'rotated', 'naive'"),
    (["--method", "grid"], "'grid' is not one of 'coordinate', 'tpe', 'random'"),
    (["--method", "tpe", "--bounds", "wd=1e-3:1e-2"], "the start has wd=0.0005, outside --bounds"),
    (["--method", "tpe", "--bounds", "wd=1e-3"], "--bounds: 'wd=1e-3' is not NAME=LO:HI"),
    (["--method", "random", "--bounds", "beta=1:2"], "--bounds: unknown name 'beta'"),
    (["--factor", "1"], "--factor must be > 1"),
    (["--refine", "-1"], "--refine and --tolerance must be >= 0"),
    (["--lr", "0.1"], "give the starting point with --start"),
    (["--objective", "sgd"], "Invalid value for '--objective'"),
    (["--head", "-1"], "head >= 0"),
])
def test_cli_tune_bad_input(tmp_path, extra, message):
    out = tmp_path / "t"
    result = runner.invoke(app, ["tune", "--objective", "quadratic", "--out", str(out)] + extra)
    flat = " ".join(result.output.replace("│", " ").split())  # typer's box wraps lines
    assert result.exit_code == 2 and message in flat, result.output
    assert not out.exists()


def test_tune_config_needs_a_known_objective(tmp_path):
    with pytest.raises(RidgelineError, match="unknown objective"):
        run_tune(TuneConfig("toy", str(tmp_path / "t")))


# ------------------------------------------------------------------ Optuna samplers
def optuna_tune(out, method="tpe", coordinates="rotated", max_runs=8, seed=0):
    pytest.importorskip("optuna")
    return run_tune(TuneConfig("quadratic", str(out), **SEED_START, method=method,
                               coordinates=coordinates, max_runs=max_runs, sampler_seed=seed))


def test_tpe_resumes_without_repeating_trials(tmp_path):
    whole = optuna_tune(tmp_path / "whole")
    part = optuna_tune(tmp_path / "part", max_runs=4)
    rest = optuna_tune(tmp_path / "part", max_runs=8)
    assert part.new == 4 and rest.new == 4 and rest.runs == 8  # only the missing four were run
    assert rest.trials.equals(whole.trials)  # the same points in the same order as one go
    assert len({tuple(r) for r in whole.trials[["lr", "momentum", "wd"]].to_numpy()}) == 8
    again = optuna_tune(tmp_path / "whole")
    assert again.new == 0 and again.table.equals(whole.table)
    records = pd.read_csv(tmp_path / "whole" / "records.csv")
    assert len(records) == 8 and set(records.key) == {p.stem for p in (tmp_path / "whole" / "records").iterdir()}


def test_samplers_search_the_space_they_are_given(tmp_path):
    rotated = optuna_tune(tmp_path / "r", method="random", max_runs=6)
    naive = optuna_tune(tmp_path / "n", method="random", coordinates="naive", max_runs=6)
    # the same seed draws the same uniforms: the first coordinate is u in one, lr in the other
    r, n = rotated.trials.iloc[1:], naive.trials.iloc[1:]
    assert np.allclose(np.log(r.rotated / 1e-6) / np.log(1e5), np.log(n.lr / 1e-4) / np.log(1e5))
    assert np.allclose(r.wd, n.wd) and np.allclose(r.momentum, n.momentum)
    assert rotated.trials.iloc[0][["lr", "momentum", "wd"]].tolist() == [0.001, 0.5, 0.01]
    assert not rotated.converged


def test_tpe_without_optuna_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    out = tmp_path / "t"
    result = runner.invoke(app, ["tune", "--objective", "quadratic", "--method", "tpe", "--out", str(out)])
    assert result.exit_code == 2 and "pip install 'ridgeline[optuna]'" in result.output, result.output
    assert not out.exists()


def test_cli_resume_alone_continues_a_tune_with_its_own_settings(tmp_path):
    out = tmp_path / "t"
    args = ["tune", "--objective", "quadratic", "--start", "lr=0.001,momentum=0.5,wd=0.01",
            "--out", str(out), "--max-runs", "3", "--steps", "100"]
    assert runner.invoke(app, args).exit_code == 0
    more = runner.invoke(app, ["tune", "--out", str(out), "--resume", "--max-runs", "5"])
    assert more.exit_code == 0, more.output
    assert "5 runs (2 new)" in more.output
    other = runner.invoke(app, ["tune", "--out", str(out), "--resume", "--coordinates", "naive"])
    assert other.exit_code == 2 and "coordinates: 'rotated' -> 'naive'" in other.output
