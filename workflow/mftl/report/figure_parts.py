"""What every figure draws with: the panels, the low fidelity alone as a level, seed bands, log axes with plain-number
ticks, the note in a panel without data, and the refusal of a figure whose data is absent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib.ticker
import numpy as np
import pandas as pd

from mftl.report.matplotlib_agg import plt

PANELS = (
    ("energy_rmse_meV_atom", "energy RMSE (meV/atom)"),
    ("forces_rmse_meV_A", "force RMSE (meV/$\\AA$)"),
)
TRAIN_SIZE_LABEL = "high-fidelity training configurations"
LINESTYLES = ("-", "--", ":", "-.")


class FigureSkipped(ValueError):
    """The table holds none of the data a figure shows; the message says what is missing."""


@dataclass(frozen=True)
class Baseline:
    """The low fidelity alone: its error against the high fidelity on the test set (a row ``molecule`` all of
    ``tables/fidelity_statistics.csv``): relative energies per atom (meV/atom; each side's own least-squares
    atomic energies removed) and force components (meV/A). ``name``: the method (e.g. GFN1-xTB)."""

    name: str
    energy_rmse_meV_atom: float
    forces_rmse_meV_A: float

    def label(self, metric: str) -> str:
        """The legend entry in the panel of ``metric`` (energies say they are relative energies)."""
        return f"{self.name} alone" + (" (relative energies)" if metric.startswith("energy") else "")


BASELINE_STYLES = ("-", "--", ":", "-.")


def draw_baselines(ax: plt.Axes, baselines: Sequence[Baseline], metric: str) -> None:
    """Each baseline's ``metric`` as a black horizontal level (none where it is NaN)."""
    for style, baseline in zip(BASELINE_STYLES * len(baselines), baselines):
        value = getattr(baseline, metric)
        if np.isfinite(value):
            ax.axhline(value, color="black", linestyle=style, linewidth=1.2, label=baseline.label(metric))


def seed_band(rows: pd.DataFrame, x: str, metric: str) -> pd.DataFrame:
    """Mean, min and max of ``metric`` over seeds per value of ``x``, sorted by ``x``; rows without a value
    (energies of undetermined reference, NaN) are left out, a point without any is not drawn."""
    return rows.dropna(subset=[metric]).groupby(x)[metric].agg(["mean", "min", "max"]).sort_index()


def draw_band(ax: plt.Axes, band: pd.DataFrame, label: str, **style) -> None:
    (line,) = ax.plot(band.index, band["mean"], marker="o", label=label, **style)
    ax.fill_between(band.index, band["min"], band["max"], color=line.get_color(), alpha=0.2, linewidth=0)


def log_axis_with_ticks(ax: plt.Axes, ticks: Iterable[int], xlabel: str, ylabel: str) -> None:
    ticks = sorted(int(t) for t in ticks)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def tiny_note(ax: plt.Axes, text: str, xy: tuple[float, float], offset: tuple[float, float], **style) -> None:
    """A small text ``offset`` points from a data point."""
    ax.annotate(text, xy, xytext=offset, textcoords="offset points", fontsize="xx-small", **style)
