"""Figures that only the report draws: a training run's curves."""

from __future__ import annotations

from pathlib import Path


def training_curves(metrics_csv, path) -> Path:
    """Loss and accuracy (train and test) per epoch, and the learning rate, of one run.

    Input: a run directory's ``metrics.csv`` (epoch, lr, train_loss, train_acc,
    test_loss, test_acc). Written atomically beside it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    from dynamics.io import atomic_write

    m = pd.read_csv(metrics_csv)
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    axes[0].plot(m["epoch"], m["train_loss"], "o-", ms=3, label="train")
    axes[0].plot(m["epoch"], m["test_loss"], "s-", ms=3, label="test")
    axes[0].set_ylabel("loss")
    axes[1].plot(m["epoch"], m["train_acc"], "o-", ms=3, label="train")
    axes[1].plot(m["epoch"], m["test_acc"], "s-", ms=3, label="test (1,000 images)")
    axes[1].set_ylabel("accuracy")
    axes[1].set_ylim(0, 1)
    axes[2].plot(m["epoch"], m["lr"], "o-", ms=3, color="tab:green")
    axes[2].set_ylabel("learning rate at the epoch's last step")
    axes[2].set_ylim(0, None)
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path
