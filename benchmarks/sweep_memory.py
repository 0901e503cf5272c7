"""The sweep's memory estimate against its measured peak, at two sizes.

    python benchmarks/sweep_memory.py                    # 20,000 and 80,000 runs, 1 step
    python benchmarks/sweep_memory.py --runs 10000 40000

``ridgeline sweep`` refuses a grid it cannot hold before building any of it
(:func:`training.search.sweep.check_size`), from :func:`estimate_memory`: every
per-run buffer times the run count, counted from the axes' specs, plus the simulator's
bounded chunk. This script runs real sweeps of the quadratic toy (a 100 × 100 grid of
lr × wd with as many repeats as the size needs, ``--steps`` toy steps, 1 by default so
the time goes to the bookkeeping the estimate is about), each in a fresh process, and compares the estimate
with the peak resident memory the sweep added (``ru_maxrss`` after the sweep minus
before it; numpy, torch, pandas and matplotlib are imported first). The plain baseline
is the estimate of the code before issue 28 (3 × one trial's size per run, no
simulator), shown for comparison; "ratio" is measured / estimate (within 0.75-1.25 is
the target).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, tempfile
import numpy, pandas, torch, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot, seaborn
from rich.console import Console
from training.search.objectives import make_objective
from training.search.sweep import SweepConfig, _deep_size, estimate_memory, parse_axis, run_sweep

runs, out = int(sys.argv[1]), sys.argv[2]
repeats = max(1, runs // 10_000)
options = ("--steps", sys.argv[3])
config = SweepConfig(objective="quadratic", x=parse_axis("lr=0.01:1:100", "--x"),
                     y=parse_axis("wd=1e-5:1e-2:100", "--y"), out=out, repeats=repeats, options=options)
objective = make_objective("quadratic", list(options))
run_sweep(SweepConfig(**{**config.__dict__, "out": out + "-warm", "repeats": 1,
                         "x": parse_axis("lr=0.01:1:3", "--x"), "y": parse_axis("wd=1e-5:1e-2:3", "--y")}),
          console=Console(file=open("/dev/null", "w")))  # warm-up: lazy imports, sympy
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
run_sweep(config, console=Console(file=open("/dev/null", "w")))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
estimate = estimate_memory(config, objective)
n = 100 * 100 * repeats
print(json.dumps({"runs": n, "measured": after - before, "estimate": estimate,
                  "old": 3 * _deep_size(objective.trial({})) * n}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs=2, default=[20_000, 80_000],
                        help="the two sizes (rounded down to whole 10,000-run repeats of the grid)")
    parser.add_argument("--steps", type=int, default=1, help="toy steps per run")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, runs in enumerate(args.runs):
            done = subprocess.run([sys.executable, "-c", CHILD, str(runs), os.path.join(tmp, f"s{i}"), str(args.steps)],
                                  env=env, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))

    from rich.console import Console
    from rich.table import Table

    table = Table(title="sweep memory: estimate vs measured peak (MB)")
    for col in ("runs", "trials", "index", "run or table phase", "estimate", "measured", "ratio",
                "old estimate (baseline)", "old ratio"):
        table.add_column(col, justify="right")
    for r in rows:
        total = sum(r["estimate"].values())
        e = {k: f"{v / 1e6:.0f}" for k, v in r["estimate"].items()}
        phase = next(k for k in r["estimate"] if k in ("run", "table"))
        table.add_row(f"{r['runs']:,}", e["trials"], e["index"], f"{e[phase]} ({phase})",
                      f"{total / 1e6:.0f}", f"{r['measured'] / 1e6:.0f}", f"{r['measured'] / total:.2f}",
                      f"{r['old'] / 1e6:.0f}", f"{r['measured'] / r['old']:.2f}")
    from dynamics.util.output import print_table

    print_table(Console(), table)


if __name__ == "__main__":
    main()
