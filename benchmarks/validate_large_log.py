"""``ridgeline validate`` on a large norms.csv: rows per second, peak memory, output size.

    python benchmarks/validate_large_log.py                      # 1e5 and 1e6 rows
    python benchmarks/validate_large_log.py --rows 20000 100000

The log is a synthetic run (tests/synthetic_run.py: the noise model advanced by the
rules, so every layer settles into its equilibrium) of 10 tensors logged on every step
at a constant λ; a large log is that run's last 1,000 steps repeated, with the steps
renumbered (a stationary equilibrium, so the tiling changes no verdict). Each size
runs ``validate`` (figures on, as the command's default) in a fresh process; the table
gives the input and validation_steps.csv sizes, the wall time, rows per second and
the peak resident memory (``ru_maxrss``). The plain baseline is the size
validation_steps.csv would have with every step (the frame validate compares, written
whole, as before issue 28): "ratio" is the file written over norms.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, os, resource, sys, time
from rich.console import Console
from dynamics.jobs.validate import ValidateConfig, validate
run = sys.argv[1]
start = time.perf_counter()
result = validate(ValidateConfig(run), console=Console(file=open(os.devnull, "w"), width=160))
seconds = time.perf_counter() - start
full = len(result.steps.to_csv(index=False).encode()) if len(result.steps) <= 200_000 else \
    len(result.steps.iloc[:200_000].to_csv(index=False).encode()) * len(result.steps) / 200_000
print(json.dumps({"seconds": seconds, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "written": os.path.getsize(os.path.join(run, "validation", "validation_steps.csv")),
                  "full": full}))
"""

LAYERS = tuple((f"layer{i}.conv.weight", (16, 36), 1.0 + 0.2 * i, True) for i in range(10))


def make_log(path: str, rows: int) -> None:
    """A synthetic run of ``rows`` norms.csv rows (10 tensors per logged step)."""
    import numpy as np
    import pandas as pd

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from synthetic_run import make_run

    base = make_run(path, [0.1] * 3000, layers=LAYERS, log_every=1, momentum=0.9, wd=5e-3)
    frame = pd.read_csv(base / "norms.csv")
    tail = frame[frame["step"] > frame["step"].max() - 1000]
    head = frame[frame["step"] <= frame["step"].max() - 1000]
    steps = rows // len(LAYERS)
    blocks, start = [head], head["step"].max()
    while start < steps:
        block = tail.copy()
        block["step"] = block["step"] - block["step"].min() + start + 1
        blocks.append(block)
        start = block["step"].max()
    frame = pd.concat(blocks, ignore_index=True)
    frame = frame[frame["step"] <= steps].copy()
    frame["epoch"] = frame["step"] // 100
    frame.to_csv(base / "norms.csv", index=False)
    summary = json.loads((base / "summary.json").read_text()) | {"steps": int(steps)}
    (base / "summary.json").write_text(json.dumps(summary))
    config = json.loads((base / "config.json").read_text()) | {"epochs": int(steps // 100)}
    (base / "config.json").write_text(json.dumps(config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e5, 1e6], help="norms.csv rows")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(args.rows):
            run = os.path.join(tmp, f"run{i}")
            make_log(run, int(n))
            size = os.path.getsize(os.path.join(run, "norms.csv"))
            done = subprocess.run([sys.executable, "-c", CHILD, run], env=env, capture_output=True,
                                  text=True, check=True)
            rows.append({"rows": int(n), "input": size, **json.loads(done.stdout.strip().splitlines()[-1])})

    from rich.console import Console
    from rich.table import Table

    from dynamics.util.output import print_table

    table = Table(title="ridgeline validate on a large norms.csv")
    for col in ("rows", "norms.csv MB", "seconds", "rows/s", "peak MB", "validation_steps.csv MB",
                "ratio", "every step (baseline) MB", "baseline ratio"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['rows']:,}", f"{r['input'] / 1e6:.1f}", f"{r['seconds']:.1f}",
                      f"{r['rows'] / r['seconds']:,.0f}", f"{r['peak'] / 1e6:.0f}", f"{r['written'] / 1e6:.1f}",
                      f"{r['written'] / r['input']:.2f}", f"{r['full'] / 1e6:.1f}", f"{r['full'] / r['input']:.2f}")
    print_table(Console(), table)


if __name__ == "__main__":
    main()
