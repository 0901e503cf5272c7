"""Had the weight norms settled along a slice's ridge? Read from the runs' own norms.csv.

Page's flat directions hold once the weight-norm control loop has settled: then a
scale-invariant layer turns by the equilibrium angle per step, at leading order
θ(λ, α, ρ) = √(2λα (1 + 2ρ − 2ρ³)/(1 + ρ)) for Nesterov momentum
(:func:`dynamics.theory.symbolic.equilibrium`, derived from the update rule's code), which
depends on λα, not on λ and α apart. Where |w| has not yet reached its equilibrium,
the layer turns by more or less than θ, λ and α matter separately, and the ridge can
bend (docs/real-slices.md: the ``--init-scale`` runs test whether it does).

For each row of a sweep, at the grid λ nearest the row's ridge point, this reads every
run's ``norms.csv`` (every seed) and reports, over the scale-invariant layers (medians):

- **angle / θ**: the measured angle per step over the equilibrium angle at that step's
  own λ_t (and the run's α, ρ), in two windows: around the peak λ (the end of Page's
  warm-up, ±10% of the run) and mid-run (40–60% of the steps). 1 is settled; above 1,
  |w| is still below its equilibrium (the effective step is too large); below 1, above it.
  (Late in the decay every run falls below 1: λ_t drops faster than |w| can follow.)
- **|w| end / start**: how far the norm travelled, the last logged |w| over the first.

Only logged angles and norms enter, and they are compared with the prediction, never fed
into it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RowSettling:
    y: float  # the row's value (N, 1−ρ or α)
    lr: float  # the grid λ nearest the row's ridge point
    angle_peak: float  # median measured angle / θ(λ_t) around the peak λ, mean over seeds
    angle_mid: float  # the same, 40-60% of the run
    norm_growth: float  # median |w| last / first, mean over seeds
    seeds: int  # runs read


def _angle_rate(rule: str):
    """θ(λ, α, ρ), the equilibrium angle per step at leading order, derived from the rule."""
    from training.report.slices import equilibrium_numeric

    return equilibrium_numeric(rule, lambda e: e.angular_update_leading)


def _one_run(run: Path, theta, momentum: float, wd: float) -> tuple[float, float, float]:
    from dynamics.analysis.runtable import read_norms

    frame = read_norms(run / "norms.csv", strict=False).frame
    frame = frame[frame["scale_invariant"].astype(bool)]
    steps, peak = frame["step"].max(), frame.loc[frame["lr"].idxmax(), "step"]  # peak: the end of the warm-up
    ratio = frame["angular_update"] / theta(frame["lr"].to_numpy(), wd, momentum)
    window = lambda lo, hi: float(ratio[(frame["step"] >= lo) & (frame["step"] <= hi)].median())  # noqa: E731
    first = frame[frame["step"] == frame["step"].min()].set_index("layer")["weight_norm"]
    last = frame[frame["step"] == steps].set_index("layer")["weight_norm"]
    return window(peak - 0.1 * steps, peak + 0.1 * steps), window(0.4 * steps, 0.6 * steps), float((last / first).median())


def settling(summary) -> list[RowSettling]:
    """One :class:`RowSettling` per row of ``summary`` (a
    :class:`training.report.slices.SliceSummary`) whose ridge point exists."""
    import json

    from dynamics.analysis.runtable import read_config

    path = Path(summary.path)
    if summary.fit is None:
        return []
    records = [json.loads(p.read_text()) for p in sorted((path / "records").glob("*.json"))]
    ys = {"one_minus_momentum": lambda p: round(1 - p["momentum"], 12)}.get(summary.y, lambda p: p[summary.y])
    out, theta = [], None
    for best, y in summary.fit.points:
        row = [r for r in records if math.isclose(ys(r["params"]), y, rel_tol=1e-9)]
        if not row:
            continue
        grid = sorted({r["params"]["lr"] for r in row})
        lr = min(grid, key=lambda v: abs(math.log(v / best)))
        results = []
        for r in (r for r in row if r["params"]["lr"] == lr):
            run = path / "runs" / r["key"]
            if not (run / "norms.csv").is_file():
                continue
            config = read_config(run / "config.json")
            if theta is None:
                theta = _angle_rate(config.get("rule", "nesterov"))
            results.append(_one_run(run, theta, config["momentum"], config["wd"]))
        if results:
            mean = [sum(col) / len(results) for col in zip(*results)]
            out.append(RowSettling(y, lr, *mean, len(results)))
    return out


def settling_markdown(summary, rows: list[RowSettling]) -> str:
    symbol = {"batch_size": "N", "one_minus_momentum": "1−ρ", "wd": "α"}[summary.y]
    lines = [f"{summary.name}: had |w| settled at the ridge? (scale-invariant layers, medians; 1 is "
             "settled; above 1, |w| is below its equilibrium; below 1, above it)\n",
             f"| {symbol} | grid λ nearest the ridge | angle / equilibrium θ at the peak λ | "
             "angle / θ mid-run | |w| end / start | seeds |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.y:g} | {r.lr:g} | {r.angle_peak:.2f} | {r.angle_mid:.2f} | {r.norm_growth:.2f} | {r.seeds} |"
              for r in rows]
    return "\n".join(lines) + "\n"
