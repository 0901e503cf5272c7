"""Figures for ``ridgeline validate``: measured against predicted, per layer and overall.

Input is the per-step table of :func:`dynamics.validate.compare` (columns step, layer,
scale_invariant, weight_norm, predicted_norm, angular_update, measured_angle,
predicted_angle, equilibrium) and its per-layer summary.
"""

from __future__ import annotations

import math
from pathlib import Path


def _setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def _shade_equilibrium(ax, df) -> None:
    """Shade the runs of consecutive logged steps flagged as equilibrium phase."""
    steps, flags = df["step"].to_numpy(), df["equilibrium"].to_numpy(bool)
    start = None
    for i, f in enumerate(flags):
        if f and start is None:
            start = steps[i]
        if start is not None and (not f or i == len(flags) - 1):
            ax.axvspan(start, steps[i], color="tab:green", alpha=0.12, lw=0)
            start = None


def plot_layers(steps, path: str | Path, quantity: str = "norm", cols: int = 5) -> Path:
    """A grid of small panels, one per layer: measured and predicted |w| or angle vs step.

    ``quantity`` "norm": |w| (solid) and the predicted equilibrium |w|* (dashed).
    ``quantity`` "angle": the per-step angle (faint dots), its mean-cosine average
    (solid), the predicted equilibrium angle (dashed) and the angle of the drifting
    equilibrium at the measured rate of change of |w| (dotted). The equilibrium phase is
    shaded green; titles of layers that are not scale-invariant are grey.
    """
    plt, _ = _setup()
    import numpy as np

    layers = list(dict.fromkeys(steps["layer"]))
    cols = min(cols, len(layers))
    rows = math.ceil(len(layers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.2 * rows), squeeze=False)
    for ax, layer in zip(axes.flat, layers):
        df = steps[steps["layer"] == layer].sort_values("step")
        si = bool(df["scale_invariant"].iloc[0])
        _shade_equilibrium(ax, df)
        if quantity == "norm":
            ax.plot(df["step"], df["weight_norm"], color="tab:blue", lw=1.2, label="measured |w|")
            ax.plot(df["step"], df["predicted_norm"], color="black", ls="--", lw=1,
                    label="predicted |w|*")
        else:
            ax.plot(df["step"], df["angular_update"], ".", color="tab:orange", ms=1.5,
                    alpha=0.35, label="per-step angle")
            ax.plot(df["step"], df["measured_angle"], color="tab:red", lw=1.2,
                    label="mean-cosine angle")
            ax.plot(df["step"], df["predicted_angle"], color="black", ls="--", lw=1,
                    label="predicted θ*")
            if "predicted_angle_drift" in df:
                ax.plot(df["step"], df["predicted_angle_drift"], color="grey", ls=":", lw=1,
                        label="θ of the drifting equilibrium")
            smooth = np.concatenate([df["measured_angle"], df["predicted_angle"]]).astype(float)
            smooth = smooth[smooth > 0]
            smooth = smooth[np.isfinite(smooth)]
            if len(smooth):  # per-step dots of the first steps may be far above: clip them
                ax.set_ylim(0, 1.3 * np.percentile(smooth, 99))
        ax.set_title(str(layer) + ("" if si else " (not SI)"), fontsize=8,
                     color="black" if si else "grey")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(layers):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    from matplotlib.patches import Patch

    handles.append(Patch(color="tab:green", alpha=0.25))
    labels.append("equilibrium phase")
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, frameon=False)
    ylabel = "weight norm |w|" if quantity == "norm" else "angular update per step (rad)"
    fig.supxlabel("step", fontsize=9)
    fig.supylabel(ylabel, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.2 * rows)))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_scatter(steps, layers, path: str | Path) -> Path:
    """Measured against predicted on log-log axes, all layers, with y = x and ±10%.

    Faint points: every logged step in a layer's equilibrium phase; large markers:
    the layer's medians (filled: scale-invariant, hollow: not). Left |w|, right angle.
    """
    plt, sns = _setup()
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    palette = dict(zip(layers["layer"], sns.color_palette("husl", len(layers))))
    eq = steps[steps["equilibrium"]]
    for ax, (meas, pred, name) in zip(axes, [("weight_norm", "predicted_norm", "|w|"),
                                             ("measured_angle", "predicted_angle", "angle per step (rad)")]):
        for layer, df in eq.groupby("layer", sort=False):
            ax.scatter(df[pred], df[meas], s=4, alpha=0.15, color=palette[layer], lw=0)
        for r in layers.to_dict("records"):
            x, y = r[f"predicted_{'norm' if meas == 'weight_norm' else 'angle'}_median"], \
                r[f"measured_{'norm' if meas == 'weight_norm' else 'angle'}_median"]
            if np.isfinite(x) and np.isfinite(y):
                ax.scatter([x], [y], s=55, color=palette[r["layer"]] if r["scale_invariant"] else "none",
                           edgecolor=palette[r["layer"]], lw=1.5, zorder=3,
                           label=r["layer"] if meas == "weight_norm" else None)
        vals = np.concatenate([eq[pred].to_numpy(float), eq[meas].to_numpy(float)]) if len(eq) else np.array([])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals):
            lo, hi = vals.min() / 1.3, vals.max() * 1.3
            line = np.geomspace(lo, hi, 50)
            ax.plot(line, line, color="black", lw=1, label="measured = predicted" if meas == "weight_norm" else None)
            ax.fill_between(line, line * 0.9, line * 1.1, color="grey", alpha=0.15,
                            label="±10%" if meas == "weight_norm" else None)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
        else:
            ax.text(0.5, 0.5, "no layer reached an equilibrium phase", ha="center",
                    va="center", transform=ax.transAxes)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"predicted {name}")
        ax.set_ylabel(f"measured {name}")
        ax.set_aspect("equal", adjustable="box")
    if axes[0].get_legend_handles_labels()[0]:
        fig.legend(loc="center right", fontsize=7, frameon=False)
    fig.suptitle("equilibrium phase: measured vs predicted (filled: scale-invariant, hollow: not)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
