"""Trajectory plots for ``ridgeline simulate``: |w| and the per-step angle against step,
with the predicted equilibria dashed in the same colour."""

from __future__ import annotations

from pathlib import Path

MAX_LINES = 8  # settings drawn; more would be unreadable


def trajectory_figure(trajectories, summary, path, *, config=None) -> Path:
    """Two panels (|w|, θ per step) for up to MAX_LINES settings; the caption gives, for
    the ``step`` schedule, the measured/predicted relaxation ratio of every setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib import patheffects

    from dynamics.sim.engine import DROP_FACTOR

    from dynamics.util.io import atomic_write

    sns.set_theme(style="whitegrid", context="paper")
    settings = list(dict.fromkeys(trajectories.setting))[:MAX_LINES]
    colours = sns.color_palette("tab10", len(settings))
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.0))
    for s, c in zip(settings, colours):
        d = trajectories[trajectories.setting == s]
        row = summary[summary.setting == s].iloc[0]
        lr = (f"λ={row.lr:.3g}→{row.lr * DROP_FACTOR:.3g}" if config is not None and config.schedule == "step"
              else f"peak λ={row.lr:.3g}" if config is not None and config.schedule == "piecewise"
              else f"λ={row.lr:.3g}")
        label = f"{lr} α={row.wd:.3g} ρ={row.momentum:.3g}" + (
            f" N={row.batch_size:.0f}" if trajectories.batch_size.nunique() > 1 else "")
        for ax, key in zip(axes, ("weight_norm", "angular_update")):
            ax.plot(d.step, d[key], color=c, lw=1.0, alpha=0.55, label=label, zorder=2)
            # the prediction on top, dashed and outlined, so it shows over the measured curve
            ax.plot(d.step, d["predicted_" + key], color=c, lw=1.8, ls=(0, (5, 3)), zorder=3,
                    path_effects=[patheffects.withStroke(linewidth=3.2, foreground="white")])
    for ax, name in zip(axes, ("|w| (mean over runs)", "angular update θ per step (rad)")):
        values = trajectories[trajectories.setting.isin(settings)][["weight_norm", "angular_update"]]
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        col = "weight_norm" if name.startswith("|w|") else "angular_update"
        v = values[col][values[col] > 0]
        if len(v) and v.max() / v.min() > 10:
            ax.set_yscale("log")
    caption = _caption(summary, settings)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.07 if caption else 0.0),
               ncol=min(4, len(labels)), fontsize=8, frameon=False,
               title="faint solid: measured (mean over runs); dashed: predicted", title_fontsize=8)
    title = f"{config.loss} loss, {config.rule}, {config.schedule} schedule" if config else ""
    if len(set(trajectories.setting)) > MAX_LINES:
        title += f" (first {MAX_LINES} of {trajectories.setting.nunique()} settings)"
    fig.suptitle(title, fontsize=10)
    if caption:
        fig.text(0.01, 0.005, caption, fontsize=8, ha="left", va="bottom", wrap=True)
    rows = -(-len(settings) // 4)  # legend rows under the panels
    bottom = 0.06 + 0.045 * rows + (0.07 if caption else 0)
    fig.tight_layout(rect=(0, bottom, 1, 0.95))
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
    plt.close(fig)
    return path


def _caption(summary, settings) -> str:
    if "relaxation_ratio" not in summary:
        return ""
    parts = []
    for s in settings:
        r = summary[summary.setting == s].iloc[0]
        parts.append(f"λ {r.lr:.3g}→{r.lr / 10:.3g}: τ {r.relaxation_measured:.0f} / {r.relaxation_predicted:.0f} "
                     f"steps = {r.relaxation_ratio:.3f}")
    return ("Relaxation after the 10x lr drop (e-folding time of the deviation of |w|², "
            "measured / predicted −1/ln μ): " + "; ".join(parts))
