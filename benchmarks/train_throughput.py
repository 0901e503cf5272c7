"""Trainer throughput: images/s of training steps with and without per-layer norm logging.

    python benchmarks/train_throughput.py                     # CPU: width 1/4, batch 256
    python benchmarks/train_throughput.py --device cuda --width 1 --batch-size 512 --compile

Times exactly the steps a run takes (training.loop.train_epoch: on-device augmentation,
per-step learning rate, forward, backward, SGD) on synthetic CIFAR-shaped uint8 data,
for: no logging (the baseline), norm logging every 10 steps (the default), and every
step (the worst case). Repetitions are interleaved (A B C, B C A, …) so that load from
other processes hits every variant alike, with the order rotated each round; the
table gives the median. Because a shared machine's noise (±5%) can exceed the cost
of logging, the cost of the monitor's two step hooks is also timed on its own. On CUDA it also
gives the model FLOP utilisation: 3 x forward FLOPs (forward + backward ≈ 3 forwards;
0.76 GFLOP per image at width 1) x images/s over the device's dense bf16 peak.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from training.config import TrainConfig
from training.data import PAD, DeviceImages
from training.loop import build, resolve_device, train_epoch
from training.model import forward_flops
from training.monitor import Monitor

# dense bf16 tensor-core peaks, TFLOP/s (vendor data sheets); --peak-tflops overrides
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
               "A10": 125.0, "V100": 125.0, "T4": 65.0, "RTX 4090": 165.0}


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def time_steps(config: TrainConfig, device: torch.device, images: DeviceImages, steps: int,
               every: int | None, setup=None) -> tuple[float, object]:
    """Seconds for ``steps`` training steps (after the caller's warm-up)."""
    setup = setup or build(config, device)
    logger = Monitor(setup.model, setup.optimizer, every=every) if every else None
    gen = torch.Generator(device=device).manual_seed(0)
    batches = images.train_batches(config.batch_size, gen, config.cutout)
    batches = (b for _, b in zip(range(steps), batches))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    train_epoch(setup, config, batches, 1, 0, steps, logger)
    if logger is not None:
        logger.fetch()  # the once-per-epoch host copy is part of the cost
        logger.close()  # detach its hooks: the next repetition attaches a fresh one
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, setup


def logging_cost(setup, device: torch.device, wd: float, repeats: int = 20) -> float:
    """Seconds per logged step spent in the monitor's pre- and post-step hooks alone (median)."""
    logger = Monitor(setup.model, setup.optimizer, every=1)
    opt = setup.optimizer
    times = []
    for step in range(1, repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        logger._pre(opt, (), {})
        logger._post(opt, (), {})
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    logger.fetch()
    logger.close()
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--width", type=float, default=None, help="default: 0.25 on CPU, 1 on CUDA")
    p.add_argument("--batch-size", type=int, default=None, help="default: 256 on CPU, 512 on CUDA")
    p.add_argument("--steps", type=int, default=None, help="timed steps per repetition (default 8 CPU, 50 CUDA)")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions per variant")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for the MFU column")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    width = args.width or (1.0 if cuda else 0.25)
    batch = args.batch_size or (512 if cuda else 256)
    steps = args.steps or (50 if cuda else 8)
    config = TrainConfig(width=width, batch_size=batch, epochs=1, schedule="constant", warmup_epochs=0,
                         device=str(device), compile=args.compile)
    rng = np.random.default_rng(0)
    n = batch * steps
    images = DeviceImages(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n),
                          device, pad=PAD)

    variants = {"no logging (baseline)": None, "log every 10 steps": 10, "log every step": 1}
    setups = {}
    for name, every in variants.items():  # warm-up: allocator, cuDNN autotuning, compilation
        _, setups[name] = time_steps(config, device, images, min(steps, 3 if not cuda else 20), every)
    seconds = {name: [] for name in variants}
    order = list(variants.items())
    for rep in range(args.reps):  # rotate the order, so no variant always runs first
        for name, every in order[rep % len(order):] + order[:rep % len(order)]:
            seconds[name].append(time_steps(config, device, images, steps, every, setups[name])[0])

    log_ms = logging_cost(setups["log every step"], device, config.wd) * 1e3
    flops = forward_flops(setups["no logging (baseline)"].model)
    peak = args.peak_tflops or peak_tflops(device)
    name = torch.cuda.get_device_name(device) if cuda else f"cpu, {torch.get_num_threads()} threads"
    table = Table(title=f"trainer throughput: {name}, width {width}, batch {batch}, "
                        f"{steps} steps x {args.reps} reps (median)")
    for col in ("variant", "images/s", "vs baseline", "overhead", "MFU"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    base = batch * steps / statistics.median(seconds["no logging (baseline)"])
    for variant, times in seconds.items():
        rate = batch * steps / statistics.median(times)
        mfu = f"{3 * flops * rate / (peak * 1e12):.1%}" if cuda and peak else "-"
        table.add_row(variant, f"{rate:,.0f}", f"{rate / base:.3f}", f"{base / rate - 1:+.1%}", mfu)
    console = Console()
    console.print(table)
    step_ms = 1e3 * statistics.median(seconds["no logging (baseline)"]) / steps
    console.print(f"norm logging alone (before + after, timed in isolation): {log_ms:.2f} ms per logged "
                  f"step = {log_ms / step_ms:.2%} of a {step_ms:.0f} ms step when logging every step, "
                  f"{log_ms / step_ms / 10:.2%} at every 10")
    console.print(f"forward {flops / 1e9:.3f} GFLOP/image at width {width}; all reps (s): "
                  + "; ".join(f"{k}: {', '.join(f'{t:.2f}' for t in v)}" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
