"""Cost of training.monitor.Monitor in a plain PyTorch loop: every 10 steps against none.

    python benchmarks/monitor_overhead.py                 # ResNet-18 (examples/), width 1/8, batch 32
    python benchmarks/monitor_overhead.py --width 0.25 --batch-size 128 --threads 2

One model, optimiser and batch (the same run): blocks of ``--steps`` steps with no monitor
(the baseline) and with a monitor measuring every 10th step, interleaved (A B, B A, …) so
load from other processes hits both alike, at the same thread count; the table gives the
median seconds per step of each and their ratio. Because a shared machine's noise can
exceed the monitor's cost, the monitor's hooks are also timed on their own (median over
repeats): on a logged step (both hooks) and on an unlogged one (the pre-step hook still
updates the gradient power ratio's filter, training.gradstats); one logged plus nine
unlogged, divided by 10, is the cost per step it adds.
The monitor's host copy (fetch) happens once per block, as a run's flush would.
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


def block(model, optimizer, x, y, steps: int, every: int | None) -> float:
    """Seconds per step over ``steps`` steps, with a fresh monitor (or none)."""
    monitor = Monitor(model, optimizer, every=every) if every else None
    start = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if monitor is not None:
        monitor.fetch()
        monitor.close()
    return (time.perf_counter() - start) / steps


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
    variants = {"no monitor (baseline)": None, f"monitor every {EVERY} steps": EVERY}
    block(model, optimizer, x, y, 3, None)  # warm-up
    seconds = {name: [] for name in variants}
    order = list(variants.items())
    for rep in range(args.reps):
        for name, every in (order if rep % 2 == 0 else order[::-1]):
            seconds[name].append(block(model, optimizer, x, y, args.steps, every))
    hooks = (hooks_alone(model, optimizer, x, y, 10, logged=True)
             + (EVERY - 1) * hooks_alone(model, optimizer, x, y, 10, logged=False))

    base = statistics.median(seconds["no monitor (baseline)"])
    table = Table(title=f"Monitor overhead: ResNet-18 width {args.width}, batch {args.batch_size}, "
                        f"cpu {torch.get_num_threads()} threads, {args.reps}x{args.steps} steps")
    for col in ("variant", "s/step (median)", "ratio to baseline"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name, values in seconds.items():
        median = statistics.median(values)
        table.add_row(name, f"{median:.4f}", f"{median / base:.3f}")
    table.add_row(f"hooks alone, (1 logged + {EVERY - 1} unlogged) / {EVERY}", f"{hooks / EVERY:.4f}",
                  f"{1 + hooks / EVERY / base:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
