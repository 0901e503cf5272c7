"""Sweep throughput on the quadratic toy: one vectorised call per grid vs one per trial.

    python benchmarks/sweep_vectorised.py                 # 7 x 7 grid, 700 steps
    python benchmarks/sweep_vectorised.py --points 9 --steps 300

``ridgeline sweep --objective quadratic`` evaluates all pending trials of a seed in
one simulator call (:meth:`training.search.objectives.QuadraticObjective.evaluate`). The
plain baseline calls the objective once per trial, as a per-run executor would. Both
paths go through the same objective code and must give the same losses (checked);
repetitions alternate between the two so that load from other processes hits both
alike, and the table gives the median.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from training.search.objectives import QuadraticObjective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=7, help="grid points per axis (lr x wd)")
    parser.add_argument("--steps", type=int, default=700, help="toy steps at batch size 512")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions of each path")
    args = parser.parse_args()

    objective = QuadraticObjective.from_options(["--steps", str(args.steps)])
    trials = [objective.trial({"lr": lr, "wd": wd})
              for lr in np.logspace(-1.3, 0.5, args.points) for wd in np.logspace(-4.2, -2.4, args.points)]
    objective.evaluate(trials[:1], ".")  # warm-up: imports, sympy equilibrium for |w0|

    def vectorised():
        return [r["score"] for r in objective.evaluate(trials, ".")]

    def per_trial():
        return [objective.evaluate([t], ".")[0]["score"] for t in trials]

    times: dict[str, list[float]] = {"one call per trial (baseline)": [], "one call per grid": []}
    scores = {}
    for _ in range(args.repeats):
        for name, run in zip(times, (per_trial, vectorised)):
            start = time.perf_counter()
            scores[name] = run()
            times[name].append(time.perf_counter() - start)
    a, b = scores.values()
    assert np.allclose(a, b, rtol=1e-6, equal_nan=True), "the two paths disagree"

    base = statistics.median(times["one call per trial (baseline)"])
    table = Table(title=f"quadratic toy: {len(trials)} trials ({args.points} x {args.points}), "
                        f"{args.steps} steps, median of {args.repeats}")
    for column in ("path", "seconds", "trials/s", "speed-up"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for name, values in times.items():
        t = statistics.median(values)
        table.add_row(name, f"{t:.2f}", f"{len(trials) / t:.1f}", f"{base / t:.1f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
