"""Page's slice heatmaps: a score over a log-spaced 2-D grid, with its ridge line.

Page ("How to Train Your ResNet 5") plots final test accuracy over (lr, batch size),
(lr, 1 − momentum) and (lr, weight decay) on log-log axes, floored at 91% to keep the
dynamic range, each point a mean of three runs. A loss is *capped* instead (its bad
side is high). :func:`slice_heatmap` draws the same
picture for any score (accuracy: ``maximize=True``; loss: ``maximize=False``), with
the ridge fitted by :func:`dynamics.analysis.ridge.fit_ridge` drawn over it.
"""

from __future__ import annotations

import math
from pathlib import Path

#: axis labels in Page's symbols
SYMBOLS = {"lr": "learning rate λ", "batch_size": "batch size N", "one_minus_momentum": "1 − ρ  (ρ momentum)",
           "momentum": "momentum ρ", "wd": "weight decay α"}


SHORT = {"lr": "λ", "batch_size": "N", "one_minus_momentum": "(1 − ρ)", "momentum": "ρ", "wd": "α"}


def symbol(name: str) -> str:
    """Page's symbol for a hyperparameter column (the name itself when it has none)."""
    return SYMBOLS.get(name, name)


def slope_text(slope: float, err: float) -> str:
    """``0.962 ± 0.005``: the error to one significant figure, the slope to the same decimal."""
    if not math.isfinite(err) or err <= 0:
        return f"{slope:.2f}"
    decimals = max(2, -math.floor(math.log10(err)))
    return f"{slope:.{decimals}f} ± {err:.{decimals}f}"


def _index(values, grid) -> "np.ndarray":  # noqa: F821
    """Heatmap cell coordinate of ``values`` on a log-spaced ``grid`` (cell centres at i + ½)."""
    import numpy as np

    lg, lv = np.log10(grid), np.log10(values)
    if len(grid) == 1:
        return np.full_like(lv, 0.5)
    slope = (len(grid) - 1) / (lg[-1] - lg[0])
    return 0.5 + (lv - lg[0]) * slope


def slice_heatmap(frame, x: str, y: str, score: str, path, *, maximize: bool,
                  floor: float | None = None, fit=None, title: str | None = None,
                  slope_err: float | None = None) -> Path:
    """Draw the mean ``score`` over the (``x``, ``y``) grid of ``frame`` and write a PNG.

    Cells are coloured by the score clipped at ``floor`` on its bad side (below for
    ``maximize``, above for a loss), so the ridge keeps the colour range; the best
    cells are bright. Positive losses spanning more than a decade get a log colour
    scale. ``fit``, a :class:`dynamics.analysis.ridge.RidgeFit`, adds its ridge points (open
    circles on the rows where the optimum is inside the grid, crosses on the edge)
    and its line, labelled with slope ± ``slope_err`` (default the fit's own error; the
    slices pass the error across seeds). Blank cells (no finite mean) are explained in
    the title. Written atomically; returns the path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from dynamics.util.io import atomic_write

    sns.set_theme(style="white", context="paper")
    fig, ax = plt.subplots(figsize=(6.8, 5.4))
    draw_slice(ax, frame, x, y, score, maximize=maximize, floor=floor, fit=fit, title=title,
               slope_err=slope_err)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
    plt.close(fig)
    return path


def draw_slice(ax, frame, x: str, y: str, score: str, *, maximize: bool, floor: float | None = None,
               fit=None, title: str | None = None, slope_err: float | None = None,
               title_size: float = 9, annotate: bool = True) -> None:
    """:func:`slice_heatmap`'s picture on the matplotlib axes ``ax`` (for figures of several);
    ``annotate=False`` leaves the slope label off the line (it stays in the title)."""
    import numpy as np
    import seaborn as sns
    from matplotlib.colors import LogNorm

    table = frame.pivot_table(index=y, columns=x, values=score, aggfunc="mean")
    table = table.sort_index(ascending=False).sort_index(axis=1)
    raw = table.to_numpy(float)  # the cells' labels: the scores themselves
    if floor is not None:  # the colours: clipped at the floor
        table = table.clip(lower=floor) if maximize else table.clip(upper=floor)
    values = table.to_numpy(float)
    finite = values[np.isfinite(values)]
    norm = None
    if not maximize and finite.size and finite.min() > 0 and finite.max() / finite.min() > 10:
        norm = LogNorm(vmin=finite.min(), vmax=finite.max())

    bound = "floored" if maximize else "capped"  # the bad side: low accuracy, high loss
    sns.heatmap(table, ax=ax, cmap="viridis" if maximize else "viridis_r", norm=norm, annot=False,
                xticklabels=[f"{v:.4g}" for v in table.columns],
                yticklabels=[f"{v:.4g}" for v in table.index],
                cbar_kws={"label": score + (f" ({bound} at {floor:.3g})" if floor is not None else "")})
    if values.size <= 120:  # cell values in the upper part of each cell, clear of the ridge markers
        mesh = ax.collections[0]
        top = np.abs(finite).max() if finite.size else 1.0
        exponent = math.floor(math.log10(top)) if top > 0 and not 1e-2 <= top < 1e3 else 0
        if exponent:
            mesh.colorbar.set_label(mesh.colorbar.ax.get_ylabel() + f"; cells in units of 1e{exponent}")
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                light = np.array(mesh.cmap(mesh.norm(v))[:3]) @ np.array([0.299, 0.587, 0.114]) > 0.5
                ax.text(j + 0.5, i + 0.22, f"{raw[i, j] / 10.0**exponent:.3g}", ha="center", va="center", fontsize=6.5,
                        color="black" if light else "white")
    blank = int((~np.isfinite(values)).sum())
    xs, ys_desc = table.columns.to_numpy(float), table.index.to_numpy(float)
    ys = ys_desc[::-1]
    to_row = lambda yv: len(ys) - _index(yv, ys)  # rows run top (largest y) to bottom  # noqa: E731
    subtitle = ""
    if fit is not None and fit.points:
        px = np.array([p[0] for p in fit.points])
        py = np.array([p[1] for p in fit.points])
        ok = np.array(fit.interior, dtype=bool) if fit.interior else np.ones(len(px), bool)
        ax.scatter(_index(px[ok], xs), to_row(py[ok]), s=30, facecolors="none", edgecolors="red",
                   linewidths=1.5, zorder=3, label=f"best {SHORT.get(x, x)} per row")
        if (~ok).any():
            ax.scatter(_index(px[~ok], xs), to_row(py[~ok]), s=30, marker="x", color="red",
                       zorder=3, label="optimum on the grid edge")
        if np.isfinite(fit.slope):
            gx = np.logspace(np.log10(xs[0]), np.log10(xs[-1]), 200)
            gy = fit.line(gx)
            keep = (gy >= ys[0]) & (gy <= ys[-1])
            ax.plot(_index(gx[keep], xs), to_row(gy[keep]), color="red", lw=1.5, zorder=2)
            label = f"slope {slope_text(fit.slope, fit.slope_err if slope_err is None else slope_err)}"
            subtitle = f"\nfitted ridge (red): {label}, d log {SHORT.get(y, y)} / d log {SHORT.get(x, x)}"
            end = np.flatnonzero(keep)
            if len(end) and annotate:
                tip = end[-1] if fit.slope > 0 else end[0]
                ax.annotate(label, (_index(gx[tip], xs), to_row(gy[tip])), xytext=(4, 4),
                            textcoords="offset points", color="red", fontsize=8, ha="left",
                            va="bottom", bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="red", alpha=0.85))
        ax.legend(loc="lower left", fontsize=7, framealpha=0.8)
    ax.set_xlabel(f"{symbol(x)} (log scale)")
    ax.set_ylabel(f"{symbol(y)} (log scale)")
    if blank:
        subtitle += f"\nblank: {blank} cell(s) without a finite mean (a diverged run, or not run yet)"
    ax.set_title((title or f"{score} over {symbol(x)} × {symbol(y)}") + subtitle, loc="left",
                 fontsize=title_size)


def panel_grid(rows: list[list[dict]], path, title: str, panel_size: tuple = (5.2, 4.3)) -> Path:
    """Several slices in one PNG: ``rows`` of panels, each a dict of :func:`draw_slice`'s
    arguments (frame, x, y, score, maximize and optionally floor, fit, title, slope_err);
    None leaves a panel empty with a note. Written atomically; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from dynamics.util.io import atomic_write

    sns.set_theme(style="white", context="paper")
    n_cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n_cols, squeeze=False,
                             figsize=(panel_size[0] * n_cols, panel_size[1] * len(rows)))
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax, panel = axes[r][c], row[c] if c < len(row) else None
            if panel is None or panel.get("frame") is None or not len(panel["frame"]):
                ax.axis("off")
                note = (panel or {}).get("title") or "no data"
                ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=8, wrap=True)
                continue
            draw_slice(ax, title_size=7.5, annotate=False, **panel)
            if ax.get_legend() is not None:  # said once, in the title: clear of the cells
                ax.get_legend().remove()
    title += ("\nred: best λ per row (circle: inside the grid, cross: on its edge) and the ridge "
              "fitted through the circles")
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path
