"""Figure of ``ridgeline forecast``: the forecast |w| and angle per layer, beside the pilot's.

Input: forecast.csv's rows (:func:`dynamics.jobs.forecast.forecast`) and the pilot's norms.csv
rows of the same layers (step, layer, weight_norm, angular_update).
"""

from __future__ import annotations

import math
from pathlib import Path


def plot_forecast(rows, pilot_norms, path: Path, title: str = "") -> Path:
    """One column per layer: |w| (top) and angle per step (bottom, log), forecast with the
    pilot's k (solid), white (dotted), and what the pilot measured (grey dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dynamics.util.io import atomic_write

    layers = list(dict.fromkeys(rows["layer"]))
    cols = min(len(layers), 4)
    blocks = math.ceil(len(layers) / cols)
    fig, axes = plt.subplots(2 * blocks, cols, figsize=(3.2 * cols, 4.6 * blocks), squeeze=False)
    for i, layer in enumerate(layers):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        df, p = rows[rows["layer"] == layer], pilot_norms[pilot_norms["layer"] == layer]
        top.plot(p["step"], p["weight_norm"], ".", color="grey", ms=2, label="pilot, measured")
        top.plot(df["step"], df["weight_norm"], color="black", lw=1.2, label="forecast, pilot's k")
        top.plot(df["step"], df["weight_norm_white"], color="tab:blue", ls=":", lw=1.2, label="forecast, white")
        bottom.plot(p["step"], p["angular_update"], ".", color="grey", ms=2)
        bottom.plot(df["step"], df["angular_update"], color="black", lw=1.0)
        bottom.plot(df["step"], df["angular_update_white"], color="tab:blue", ls=":", lw=1.0)
        bottom.set_yscale("log")
        top.set_title(layer, fontsize=8)
        top.set_ylabel("|w|")
        bottom.set_ylabel("angle per step (rad)")
        bottom.set_xlabel("step")
    for j in range(len(layers), blocks * cols):
        axes[2 * (j // cols), j % cols].axis("off")
        axes[2 * (j // cols) + 1, j % cols].axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path
