"""ridgeline tune on the quadratic toy: the seed's descent from its bad start.

The toy's best loss is found independently, by one vectorised simulator call over a
fine grid in (lr, 1 − momentum, wd); the descent must come within 1% of it, and in
the rotated coordinates with fewer runs than in the naive ones where the start is
off along the ridge (from the seed's start the toy is flat along it, see below).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from dynamics.errors import RidgelineError
from training.tune import TuneConfig, descend, move, run_tune

runner = CliRunner()
SEED_START = {"lr": 0.001, "momentum": 0.5, "wd": 0.01}  # the seed's bad start


@pytest.fixture(scope="module")
def best_toy_loss() -> float:
    """The toy's lowest loss over a fine log grid: lr in steps of 2^(1/4) over four
    decades, 1 − momentum in steps of √10, wd over three decades (one simulator call)."""
    from dynamics.slices import TOY_DEFAULTS, quadratic_final_loss

    lr = np.logspace(-3, 1, 17)[:, None, None]
    omm = np.logspace(-2, 0, 5)[None, :, None]
    wd = np.logspace(-4, -2, 3)[None, None, :]
    loss = quadratic_final_loss(lr, TOY_DEFAULTS["batch_size"], 1 - omm, wd, seed=0)
    return float(np.nanmin(loss))


def tune_both(out, start: dict, refine: int) -> dict:
    return {c: run_tune(TuneConfig("quadratic", str(out / c), **start, coordinates=c, refine=refine))
            for c in ("rotated", "naive")}


def runs_to_reach(result, target: float) -> float:
    """Distinct runs until the first score <= target (inf if never)."""
    hits = result.trials[result.trials.score <= target]
    return float(hits.run.min() + 1) if len(hits) else float("inf")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> dict:
    """The seed's start, the seed's doubling/halving, then one refinement to a √2 step."""
    return tune_both(tmp_path_factory.mktemp("tune"), SEED_START, refine=1)


def test_descent_from_the_seeds_start_reaches_the_best_toy_loss(tuned, best_toy_loss):
    target = 1.01 * best_toy_loss
    rotated, naive = tuned["rotated"], tuned["naive"]
    print(f"seed's start: rotated {rotated.runs} runs (within 1% after {runs_to_reach(rotated, target):g}),"
          f" naive {naive.runs} runs (within 1% after {runs_to_reach(naive, target):g}); "
          f"losses {rotated.best['score']:.5g}, {naive.best['score']:.5g}; grid best {best_toy_loss:.5g}")
    assert rotated.converged and rotated.best["score"] <= target
    # from here the toy's loss hardly depends on momentum at fixed lr wd/(1 - momentum),
    # and not at all on wd, so the naive descent is not penalised: it is no faster
    assert runs_to_reach(rotated, target) <= runs_to_reach(naive, target)


def test_rotated_coordinates_need_fewer_runs_when_the_start_is_off_along_the_ridge(
        tmp_path, best_toy_loss):
    """Momentum 0.99 is 18% worse than the best at any lr: reaching the best means moving
    along the ridge, which naive moves of momentum (lr held) cannot do without leaving it."""
    target = 1.01 * best_toy_loss
    runs = tune_both(tmp_path, {**SEED_START, "momentum": 0.99}, refine=1)
    rotated, naive = (runs_to_reach(runs[c], target) for c in ("rotated", "naive"))
    print(f"momentum 0.99 start: rotated within 1% after {rotated:g} runs ({runs['rotated'].runs} in all),"
          f" naive after {naive:g} ({runs['naive'].runs} in all, best {runs['naive'].best['score']:.5g})")
    assert rotated < naive


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
    (["--coordinates", "polar"], "--coordinates must be rotated or naive"),
    (["--factor", "1"], "--factor must be > 1"),
    (["--refine", "-1"], "--refine and --tolerance must be >= 0"),
    (["--lr", "0.1"], "give the starting point with --start"),
    (["--objective", "sgd"], "unknown objective 'sgd'"),
])
def test_cli_tune_bad_input(tmp_path, extra, message):
    out = tmp_path / "t"
    result = runner.invoke(app, ["tune", "--objective", "quadratic", "--out", str(out)] + extra)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


def test_tune_config_needs_a_known_objective(tmp_path):
    with pytest.raises(RidgelineError, match="unknown objective"):
        run_tune(TuneConfig("toy", str(tmp_path / "t")))
