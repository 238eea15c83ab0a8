"""Figures drawn from tidy result tables (never from logs)."""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mftl.curves import seed_statistics  # noqa: E402

PANELS = (
    ("energy_rmse_meV_atom", "energy RMSE (meV/atom)"),
    ("forces_rmse_meV_A", "force RMSE (meV/$\\AA$)"),
)


def learning_curves(curves: pd.DataFrame, title: str = "") -> plt.Figure:
    """Test RMSE vs training-set size, log-log, one line per series, band = min..max over seeds."""
    stats = seed_statistics(curves)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
    for ax, (metric, label) in zip(axes, PANELS):
        for series, group in stats.groupby("series", sort=True):
            group = group.sort_values("train_size")
            line, = ax.plot(group["train_size"], group[f"{metric}_mean"], marker="o", label=series)
            ax.fill_between(group["train_size"], group[f"{metric}_min"], group[f"{metric}_max"],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = sorted(stats["train_size"].unique())
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("high-fidelity training configurations")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def save(fig: plt.Figure, paths) -> None:
    from mftl.structures import atomic_path

    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1], dpi=150)
    plt.close(fig)
