"""How long ``ridgeline --help`` takes from a cold start, beside a bare interpreter.

    python benchmarks/cli_help.py                  # 7 runs of each, median
    python benchmarks/cli_help.py --repeats 15 --imports 15

Each run is a new process (nothing imported or cached in Python between runs, as when
a user types the command): ``ridgeline --help`` through the console script installed
beside this interpreter (``python -m cli --help`` where there is none), and the
baseline ``python -c pass`` with the same interpreter, interleaved so a change in the
machine's load hits both. The table gives the first run, the median and the spread of
each, and the median's ratio to the baseline; the goal is a median under 0.5 s.
``--imports N`` adds the N slowest imports of ``import cli`` (``python -X importtime``,
cumulative microseconds), to find what a slow start spends its time on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.5


def _command() -> list[str]:
    script = Path(sys.executable).with_name("ridgeline")
    return [str(script), "--help"] if script.exists() else [sys.executable, "-m", "cli", "--help"]


def _env() -> dict[str, str]:
    """This checkout's code first, and a fixed terminal width (rich measures the terminal)."""
    path = os.environ.get("PYTHONPATH", "")
    return os.environ | {"PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""), "COLUMNS": "100"}


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def slowest_imports(n: int) -> list[tuple[int, str]]:
    """The ``n`` imports with the largest cumulative time under ``import cli``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import cli"], check=True, cwd=ROOT,
                          env=_env(), capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description="Time `ridgeline --help` from a cold start.")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--imports", type=int, default=0, help="also list the N slowest imports of cli")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    commands = {"ridgeline --help": _command(), "python -c pass (baseline)": [sys.executable, "-c", "pass"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():  # interleaved
            times[name].append(_time(command))
    base = statistics.median(times["python -c pass (baseline)"])
    table = Table(title=f"cold start, {args.repeats} runs each ({Path(sys.executable)})")
    for column in ("command", "first (s)", "median (s)", "min–max (s)", "median / baseline"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, values in times.items():
        table.add_row(name, f"{values[0]:.3f}", f"{statistics.median(values):.3f}",
                      f"{min(values):.3f}–{max(values):.3f}", f"{statistics.median(values) / base:.1f}x")
    console = Console()
    console.print(table)
    help_median = statistics.median(times["ridgeline --help"])
    verdict = "under" if help_median < GOAL_S else "OVER"
    console.print(f"ridgeline --help: median {help_median:.3f} s, {verdict} the {GOAL_S} s goal "
                  f"({help_median - base:.3f} s above a bare interpreter)")
    if args.imports:
        imports = Table(title=f"the {args.imports} slowest imports of `import cli` (python -X importtime)")
        imports.add_column("cumulative (ms)", justify="right")
        imports.add_column("module")
        for cumulative, name in slowest_imports(args.imports):
            imports.add_row(f"{cumulative / 1000:.1f}", name)
        console.print(imports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
