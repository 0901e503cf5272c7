"""Figures for ``ridgeline validate``: measured against predicted, per layer and overall.

Input is the per-step table of :func:`dynamics.validate.compare` (columns step, layer,
scale_invariant, weight_norm, predicted_norm, angular_update, measured_angle,
predicted_angle, equilibrium) and its per-layer summary.
"""

from __future__ import annotations

import math
from pathlib import Path


#: distinct things get distinct colours: the instantaneous equilibrium (a line) is purple,
#: the equilibrium phase (a shaded span of steps) green; neither is the measured blue or red
EQUILIBRIUM_LINE = "tab:purple"
EQUILIBRIUM_PHASE = "tab:green"


def _predictions(ax, df, equilibrium: str, white: str, correlated: str) -> None:
    """The instantaneous equilibrium (faint) and the two predicted trajectories."""
    ax.plot(df["step"], df[equilibrium], color=EQUILIBRIUM_LINE, lw=3, alpha=0.35,
            label="instantaneous equilibrium")
    ax.plot(df["step"], df[white], color="grey", ls=":", lw=1.4, label="trajectory, white noise")
    ax.plot(df["step"], df[correlated], color="black", ls="--", lw=1.2,
            label="trajectory, measured correlation")

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
            ax.axvspan(start, steps[i], color=EQUILIBRIUM_PHASE, alpha=0.12, lw=0)
            start = None


def plot_layers(steps, path: str | Path, quantity: str = "norm", cols: int = 4) -> Path:
    """One panel per layer: measured |w| or angle against the predicted trajectory.

    ``quantity`` "norm": measured |w| (blue), the predicted trajectory with the measured
    gradient correlation (black dashed) and white (grey dotted), and the instantaneous
    equilibrium (faint). "angle": the per-step angle (faint dots), its mean-cosine
    average (red), the trajectory's angle averaged the same way (black dashed, grey
    dotted white), the instantaneous equilibrium angle (faint purple). Layers that are not
    scale-invariant get no prediction. Green: equilibrium phase.
    """
    plt, _ = _setup()
    import numpy as np

    layers = list(dict.fromkeys(steps["layer"]))
    cols = min(cols, len(layers))
    rows = math.ceil(len(layers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax, layer in zip(axes.flat, layers):
        df = steps[steps["layer"] == layer].sort_values("step")
        si = bool(df["scale_invariant"].iloc[0])
        _shade_equilibrium(ax, df)
        if quantity == "norm":
            ax.plot(df["step"], df["weight_norm"], color="tab:blue", lw=1.6, label="measured")
            if si:
                _predictions(ax, df, "predicted_norm", "trajectory_norm_white", "trajectory_norm")
        else:
            ax.plot(df["step"], df["angular_update"], ".", color="tab:orange", ms=2,
                    alpha=0.3, label="per-step angle")
            ax.plot(df["step"], df["measured_angle"], color="tab:red", lw=1.6,
                    label="measured (mean cosine)")
            if si:
                _predictions(ax, df, "predicted_angle", "trajectory_angle_smoothed_white",
                             "trajectory_angle_smoothed")
            smooth = df[["measured_angle", "trajectory_angle_smoothed"]].to_numpy(float).ravel()
            smooth = smooth[np.isfinite(smooth) & (smooth > 0)]
            if len(smooth):  # per-step dots of the first steps may be far above: clip them
                ax.set_ylim(0, 1.3 * np.percentile(smooth, 99))
        ax.set_title(str(layer) + ("" if si else " (not scale-invariant)"), fontsize=11,
                     color="black" if si else "grey")
        ax.tick_params(labelsize=9)
    for ax in list(axes.flat)[len(layers):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    from matplotlib.patches import Patch

    handles.append(Patch(color=EQUILIBRIUM_PHASE, alpha=0.25))
    labels.append("equilibrium phase")
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4), fontsize=10, frameon=False)
    ylabel = "weight norm |w|" if quantity == "norm" else "angular update per step (rad)"
    fig.supxlabel("step", fontsize=11)
    fig.supylabel(ylabel, fontsize=11)
    fig.tight_layout(rect=(0.015, 0, 1, 1 - 0.8 / (2.8 * rows)))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_ratios(steps, path: str | Path, tolerance: float = 0.05, cols: int = 4) -> Path:
    """One panel per scale-invariant layer: measured / predicted trajectory against step,
    |w| (blue) and angle (red), with the measured correlation (solid) and white
    (dotted); grey band ±``tolerance``; the first relaxation time is left blank."""
    plt, _ = _setup()

    si = steps[steps["scale_invariant"]]
    layers = list(dict.fromkeys(si["layer"]))
    if not layers:
        layers = list(dict.fromkeys(steps["layer"]))
        si = steps
    cols = min(cols, len(layers))
    rows = math.ceil(len(layers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False, sharey=True)
    for ax, layer in zip(axes.flat, layers):
        df = si[(si["layer"] == layer) & si["trajectory_phase"]].sort_values("step")
        ax.axhspan(1 - tolerance, 1 + tolerance, color="grey", alpha=0.15, lw=0)
        ax.axhline(1, color="black", lw=0.8)
        ax.plot(df["step"], df["trajectory_norm_ratio"], color="tab:blue", lw=1.4, label="|w|, correlated")
        ax.plot(df["step"], df["trajectory_norm_ratio_white"], color="tab:blue", ls=":", lw=1.2,
                label="|w|, white")
        ax.plot(df["step"], df["trajectory_angle_ratio"], color="tab:red", lw=1.4, label="angle, correlated")
        ax.plot(df["step"], df["trajectory_angle_ratio_white"], color="tab:red", ls=":", lw=1.2,
                label="angle, white")
        ax.set_title(str(layer), fontsize=11)
        ax.tick_params(labelsize=9)
        ax.set_ylim(0.6, 1.4)
    for ax in list(axes.flat)[len(layers):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=10, frameon=False)
    fig.supxlabel("step", fontsize=11)
    fig.supylabel("measured / predicted trajectory", fontsize=11)
    fig.tight_layout(rect=(0.015, 0, 1, 1 - 0.6 / (2.6 * rows)))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
