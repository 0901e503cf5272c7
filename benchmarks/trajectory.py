"""Benchmark: the trajectory prediction on a full-size log, against a plain per-layer loop.

A 24-epoch run of Page's ResNet-9 at batch 512 on 50,000 images: 97 steps per epoch,
2,328 steps, every step logged, 25 tensors. ``dynamics.theory.trajectory.trajectory``
iterates the moment map for all tensors at once; the baseline is the same recursion
written plainly, one tensor at a time, with Python floats. Both give the same numbers.

    python benchmarks/trajectory.py
"""

from __future__ import annotations

import math
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from dynamics.theory.trajectory import _coefficients, step_lrs, trajectory

RULE, WD, MOMENTUM, LAYERS = "nesterov", 5e-4, 0.9, 25
STEPS = 24 * (50_000 // 512)


def plain(lr, G2, power, w0):
    """The recursion per tensor and per step, Python floats (the baseline)."""
    M, h0, h1, c = (a.tolist() for a in _coefficients(RULE, lr, WD, MOMENTUM))
    norms = np.empty((len(lr) + 1, len(w0)))
    for j in range(len(w0)):
        x, y, z = w0[j] ** 2, 0.0, 0.0
        norms[0, j] = w0[j]
        for t in range(len(lr)):
            s, e = G2[t, j] / x, (power[t, j] - 1) * G2[t, j] / x
            m = M[t]
            x, y, z = (m[i][0] * x + m[i][1] * y + m[i][2] * z + h0[t][i] * s + h1[t][i] * e for i in range(3))
            norms[t + 1, j] = math.sqrt(x)
    return norms


def main() -> None:
    rng = np.random.default_rng(0)
    lr = step_lrs(0.4, 5.0, 24.0, "piecewise", STEPS // 24, STEPS)
    G2 = rng.uniform(0.5, 2.0, (STEPS, LAYERS))
    power = rng.uniform(0.4, 1.0, (STEPS, LAYERS))
    w0 = rng.uniform(1.0, 10.0, LAYERS)
    trajectory(RULE, lr[:10], WD, MOMENTUM, G2[:10], w0, power[:10])  # sympy and lambdify, once
    times = {}
    for name, fn in [("vectorised", lambda: trajectory(RULE, lr, WD, MOMENTUM, G2, w0, power).weight_norm),
                     ("plain loop", lambda: plain(lr, G2, power, w0))]:
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        times[name] = (best, out)
    assert np.allclose(times["vectorised"][1], times["plain loop"][1], rtol=1e-9)
    table = Table(title=f"trajectory: {STEPS} steps x {LAYERS} tensors ({RULE}), best of 3")
    for col in ("method", "seconds", "ratio to plain"):
        table.add_column(col, justify="right")
    base = times["plain loop"][0]
    for name, (sec, _) in times.items():
        table.add_row(name, f"{sec:.3f}", f"{base / sec:.1f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
