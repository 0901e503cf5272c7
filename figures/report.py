"""Figures that only the report draws: a training run's curves."""

from __future__ import annotations

from pathlib import Path


def training_curves(run_dir, path) -> Path:
    """Loss and accuracy (train and test) per epoch, and the learning rate per step.

    Input: a run directory's ``metrics.csv`` (epoch, train_loss, train_acc, test_loss,
    test_acc) and, for the schedule, ``norms.csv`` (step, lr of every logged step;
    without it, the lr at each epoch's end). Written atomically.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    from dynamics.util.io import atomic_write

    run_dir = Path(run_dir)
    m = pd.read_csv(run_dir / "metrics.csv")
    if (run_dir / "norms.csv").exists():
        n = pd.read_csv(run_dir / "norms.csv", usecols=["step", "lr"]).drop_duplicates("step")
        schedule, x_label = (n["step"], n["lr"]), "step"
    else:
        schedule, x_label = (m["step"], m["lr"]), "step (epoch ends)"
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    counts = _image_counts(run_dir)
    for ax, what in zip(axes[:2], ("loss", "acc")):
        ax.plot(m["epoch"], m[f"train_{what}"], "o-", ms=3, label="train" + counts.get("train", ""))
        ax.plot(m["epoch"], m[f"test_{what}"], "s-", ms=3, label="test" + counts.get("test", ""))
        if f"val_{what}" in m:
            ax.plot(m["epoch"], m[f"val_{what}"], "^-", ms=3, label="held out" + counts.get("val", ""))
    axes[0].set_ylabel("loss")
    axes[1].set_ylabel("accuracy")
    axes[1].set_ylim(0, 1)
    axes[2].plot(*schedule, "-", color="tab:green")
    axes[2].set_ylabel("learning rate λ")
    axes[2].set_ylim(0, None)
    for ax in axes[:2]:
        ax.set_xlabel("epoch")
    axes[2].set_xlabel(x_label)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def _image_counts(run_dir: Path) -> dict[str, str]:
    """`` (N images)`` per split from the run's summary.json and config (empty if unknown)."""
    import json

    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    counts = {"train": summary.get("train_images"), "test": summary.get("test_images")}
    try:
        counts["val"] = json.loads((run_dir / "config.json").read_text()).get("holdout") or None
    except (OSError, ValueError):
        pass
    return {k: f" ({v:,} images)" for k, v in counts.items() if v}
