"""Cost of training.monitor.Monitor in a plain PyTorch loop: every 10 steps against none.

    python benchmarks/monitor_overhead.py                 # ResNet-18 (examples/), width 1/8, batch 32
    python benchmarks/monitor_overhead.py --width 0.25 --batch-size 128 --threads 2

One model, optimiser and batch (the same run): blocks of ``--steps`` steps with no monitor
(the baseline) and with a monitor measuring every 10th step, interleaved (A B, B A, …) so
load from other processes hits both alike, at the same thread count. The table gives the
median seconds per step of each, their ratio, and the median of the ratios of neighbouring
blocks (each monitored block against the baseline block next to it: slow drifts of the
machine's load cancel in it), with its quartiles; the same for the process's CPU time,
which other processes disturb less than the wall clock (at one thread; with more, waiting
threads may spin).
A monitored block includes the monitor's host copy (fetch), which a run makes once per
flush; the monitor is built before its block's clock starts, as a run builds it once
(both costs are printed below the table). Because a shared machine's noise can exceed the
monitor's cost, the monitor's hooks are also timed on their own (median over repeats): on
a logged step (both hooks) and on an unlogged one (the pre-step hook still updates the
gradient power ratio's filter, training.gradstats); one logged plus nine unlogged,
divided by 10, is the cost per step they add.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from training.monitor import Monitor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # scripts, not a package
from resnet18_cifar import ResNet18Cifar  # noqa: E402

EVERY = 10


def block(model, optimizer, x, y, steps: int, every: int | None) -> tuple[float, float, float, float]:
    """(seconds per step over ``steps`` steps, process CPU seconds per step, seconds to build
    the monitor, seconds to fetch), with a fresh monitor (or none, then the last two are 0)."""
    start = time.perf_counter()
    monitor = Monitor(model, optimizer, every=every) if every else None
    built = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    fetch = 0.0
    if monitor is not None:
        before_fetch = time.perf_counter()
        monitor.fetch()
        fetch = time.perf_counter() - before_fetch
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if monitor is not None:
        monitor.close()
    return seconds / steps, cpu / steps, built, fetch


def hooks_alone(model, optimizer, x, y, repeats: int, logged: bool) -> float:
    """Median seconds of the monitor's pre- and post-step hooks on a logged (or unlogged) step."""
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    monitor = Monitor(model, optimizer, every=1 if logged else 10**9, step=1)  # step=1: no step-0 row
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        monitor._pre(optimizer, (), {})
        monitor._post(optimizer, (), {})
        times.append(time.perf_counter() - start)
    monitor.fetch()
    monitor.close()
    return statistics.median(times)


def quartiles(values: list[float]) -> str:
    """'median (lower quartile–upper quartile)' of ``values``."""
    low, median, high = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return f"{median:.3f} ({low:.3f}–{high:.3f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=float, default=0.125)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20, help="steps per block (a multiple of 10)")
    p.add_argument("--reps", type=int, default=3, help="interleaved blocks per variant")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ResNet18Cifar(args.width)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x, y = torch.randn(args.batch_size, 3, 32, 32), torch.randint(0, 10, (args.batch_size,))
    base_name, name = "no monitor (baseline)", f"monitor every {EVERY} steps"
    for every in (None, EVERY):  # warm-up: first-call costs (imports, allocations) of both
        block(model, optimizer, x, y, EVERY, every)
    seconds, cpu = {base_name: [], name: []}, {base_name: [], name: []}
    built, fetched = [], []
    for rep in range(args.reps):
        for every in ((None, EVERY) if rep % 2 == 0 else (EVERY, None)):
            per_step, cpu_per_step, build, fetch = block(model, optimizer, x, y, args.steps, every)
            seconds[name if every else base_name].append(per_step)
            cpu[name if every else base_name].append(cpu_per_step)
            if every:
                built.append(build)
                fetched.append(fetch)
    hooks = (hooks_alone(model, optimizer, x, y, 50, logged=True)
             + (EVERY - 1) * hooks_alone(model, optimizer, x, y, 50, logged=False))

    base, cpu_base = statistics.median(seconds[base_name]), statistics.median(cpu[base_name])
    table = Table(title=f"Monitor overhead: ResNet-18 width {args.width}, batch {args.batch_size}, "
                        f"cpu {torch.get_num_threads()} threads, {args.reps}x{args.steps} steps")
    for col in ("variant", "s/step (median)", "ratio", "CPU s/step", "CPU ratio"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for label, values in seconds.items():
        median, cpu_median = statistics.median(values), statistics.median(cpu[label])
        table.add_row(label, f"{median:.4f}", f"{median / base:.3f}", f"{cpu_median:.4f}",
                      f"{cpu_median / cpu_base:.3f}")
    paired = [quartiles([m / b for m, b in zip(c[name], c[base_name])]) for c in (seconds, cpu)]
    table.add_row("  median ratio of neighbouring blocks", "", paired[0], "", paired[1])
    table.add_row(f"hooks alone, (1 logged + {EVERY - 1} unlogged) / {EVERY}", f"{hooks / EVERY:.4f}",
                  f"{1 + hooks / EVERY / base:.3f}")
    Console(width=120).print(table)
    print(f"building a monitor: {statistics.median(built) * 1e3:.1f} ms (once per run); fetching "
          f"{args.steps // EVERY} logged steps: {statistics.median(fetched) * 1e3:.1f} ms (once per flush)")


if __name__ == "__main__":
    main()
