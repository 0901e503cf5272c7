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
            if si and "predicted_angle_drift" in df:
                ax.plot(df["step"], df["predicted_angle_drift"], color="tab:purple", ls=":", lw=1.4,
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
    fig.tight_layout(rect=(0.015, 0, 1, 1 - 0.35 / (2.2 * rows)))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_scatter(steps, layers, path: str | Path) -> Path:
    """Measured against predicted on log-log axes, all layers, with y = x and ±10%.

    Faint points: every logged step in a scale-invariant layer's equilibrium phase;
    large markers: each layer's equilibrium-phase medians (coloured: scale-invariant,
    grey hollow: not). Left |w|, right the angle per step (the predicted angle does
    not depend on G, so at one λ every layer shares it: the panel shows the spread).
    """
    plt, sns = _setup()
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.8))
    si_layers = layers[layers["scale_invariant"]]
    palette = dict(zip(si_layers["layer"], sns.color_palette("husl", max(len(si_layers), 1))))
    eq = steps[steps["equilibrium"] & steps["scale_invariant"]]
    for ax, key, name in [(axes[0], "norm", "|w|"), (axes[1], "angle", "angle per step (rad)")]:
        meas_col = "weight_norm" if key == "norm" else "measured_angle"
        pred_col = f"predicted_{key}"
        for layer, df in eq.groupby("layer", sort=False):
            ax.scatter(df[pred_col], df[meas_col], s=4, alpha=0.15, color=palette[layer], lw=0)
        xs, ys = [], []
        first_grey = True
        for r in layers.to_dict("records"):
            x, y = r[f"predicted_{key}_median"], r[f"measured_{key}_median"]
            if not (np.isfinite(x) and np.isfinite(y) and x > 0 and y > 0):
                continue
            xs.append(x), ys.append(y)
            if r["scale_invariant"]:
                ax.scatter([x], [y], s=60, color=palette[r["layer"]], edgecolor="black", lw=0.6,
                           zorder=3, label=r["layer"] if key == "norm" else None)
            else:
                ax.scatter([x], [y], s=40, facecolor="none", edgecolor="grey", lw=1.0, zorder=2,
                           label="not scale-invariant" if key == "norm" and first_grey else None)
                first_grey = False
        if xs:
            lo, hi = min(xs + ys) / 1.5, max(xs + ys) * 1.5
            line = np.geomspace(lo, hi, 50)
            ax.plot(line, line, color="black", lw=1, label="measured = predicted" if key == "norm" else None)
            ax.fill_between(line, line * 0.9, line * 1.1, color="grey", alpha=0.2,
                            label="±10%" if key == "norm" else None)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
        else:
            ax.text(0.5, 0.5, "no layer reached an equilibrium phase", ha="center",
                    va="center", transform=ax.transAxes)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # ticks at 1, 2, 5 × 10^k, plainly labelled
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"predicted {name}")
        ax.set_ylabel(f"measured {name}")
        ax.set_aspect("equal", adjustable="box")
    if axes[0].get_legend_handles_labels()[0]:
        fig.legend(loc="center right", fontsize=7, frameon=False)
    fig.suptitle("equilibrium phase: measured vs predicted, medians per layer (faint: every logged step)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
