"""Figures for ``ridgeline validate``: measured against predicted, per layer and overall.

Input is the per-step table of :func:`dynamics.jobs.validate.compare` (columns step, layer,
scale_invariant, weight_norm, angular_update, measured_angle, equilibrium, and per
prediction kind K predicted_norm_K, predicted_angle_K, trajectory_norm_K,
trajectory_angle_smoothed_K, with the closure's trajectory_*_closure beside them).
What is drawn is what the verdicts compare: the measured |w| and the measured angle of
the mean cosine against each prediction's trajectory averaged by the same window.
"""

from __future__ import annotations

import math
from pathlib import Path



#: line style per prediction kind (dynamics.analysis.validation.PREDICTIONS); the closure is drawn apart.
#: Distinct things, distinct colours: the instantaneous equilibrium is purple, the
#: equilibrium phase green, the measured values blue (|w|) and red (angle)
KIND_STYLE = {"white": dict(color="black", ls="--", lw=1.3), "transferred": dict(color="tab:olive", ls="-.", lw=1.3),
              "forecast": dict(color="tab:brown", ls="-.", lw=1.3)}
CLOSURE_STYLE = dict(color="grey", ls=":", lw=1.3)


def _kinds(df) -> list[str]:
    from dynamics.analysis.validation import kinds_in

    return kinds_in(df)


def _predictions(ax, df, equilibrium: str, trajectory: str) -> None:
    """The instantaneous white equilibrium (faint), each prediction's trajectory, and the closure's."""
    from dynamics.analysis.validation import PREDICTION_TITLES

    ax.plot(df["step"], df[equilibrium], color="tab:purple", lw=2.5, alpha=0.25,
            label="instantaneous equilibrium (white)")
    for kind in _kinds(df):
        ax.plot(df["step"], df[trajectory.format(kind)], **KIND_STYLE.get(kind, {}),
                label=f"prediction: {PREDICTION_TITLES.get(kind, kind)} trajectory")
    if df[trajectory.format("closure")].notna().any():
        ax.plot(df["step"], df[trajectory.format("closure")], **CLOSURE_STYLE,
                label="closure: the run's own k (a check)")


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


def plot_layers(steps, path: str | Path, quantity: str = "norm", cols: int = 4) -> Path:
    """One panel per layer: measured |w| or angle against the predicted trajectory.

    ``quantity`` "norm": measured |w| (blue), each prediction's trajectory (black dashed:
    white noise), the closure's (grey dotted) and the instantaneous white equilibrium
    (faint purple). "angle": the per-step angle (faint dots), its mean-cosine average
    (red) and the trajectories' angles averaged by the same window (what the verdict
    compares). Layers that are not scale-invariant get no prediction. Green: equilibrium phase.
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
                _predictions(ax, df, "predicted_norm_white", "trajectory_norm_{}")
        else:
            ax.plot(df["step"], df["angular_update"], ".", color="tab:orange", ms=2,
                    alpha=0.3, label="per-step angle")
            ax.plot(df["step"], df["measured_angle"], color="tab:red", lw=1.6,
                    label="measured (mean cosine)")
            if si:
                _predictions(ax, df, "predicted_angle_white", "trajectory_angle_smoothed_{}")
            smooth = df[["measured_angle", "trajectory_angle_smoothed_white"]].to_numpy(float).ravel()
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

    handles.append(Patch(color="tab:green", alpha=0.25))
    labels.append("equilibrium phase")
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4), fontsize=10, frameon=False)
    ylabel = "weight norm |w|" if quantity == "norm" else "angular update per step (rad)"
    fig.supxlabel("step", fontsize=11)
    fig.supylabel(ylabel, fontsize=11)
    fig.tight_layout(rect=(0.015, 0, 1, 1 - 0.8 / (2.8 * rows)))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_ratios(steps, path: str | Path, tolerance: float = 0.10, cols: int = 4) -> Path:
    """One panel per scale-invariant layer: measured / predicted trajectory against step,
    |w| (blue) and angle (red), each prediction (solid: white noise) and the closure
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
        for kind in _kinds(df):
            for q, color in (("norm", "tab:blue"), ("angle", "tab:red")):
                ax.plot(df["step"], df[f"trajectory_{q}_ratio_{kind}"], color=color, lw=1.4,
                        ls=KIND_STYLE.get(kind, {}).get("ls", "-") if kind != "white" else "-",
                        label=f"{'|w|' if q == 'norm' else 'angle'}, {kind} prediction")
        for q, color in (("norm", "tab:blue"), ("angle", "tab:red")):
            if df[f"trajectory_{q}_ratio_closure"].notna().any():
                ax.plot(df["step"], df[f"trajectory_{q}_ratio_closure"], color=color, ls=":", lw=1.2,
                        label=f"{'|w|' if q == 'norm' else 'angle'}, closure (check)")
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
