"""What every figure draws with: the panels, the low fidelity alone as a level, seed bands, log axes with plain-number
ticks, the note in a panel without data, and the refusal of a figure whose data is absent."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib.axis
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
    """Log-log axes, x ticks at ``ticks`` (training sizes, epoch caps), y ticks plain numbers (:func:`plain_log_axis`)."""
    ticks = sorted(int(t) for t in ticks)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    plain_log_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def plain_number(value: float, _position: int | None = None) -> str:
    """A tick label as a chemist reads it: 60, 2000, 0.5 (never 6x10^1 or 1e+03)."""
    return np.format_float_positional(value, precision=6, trim="-")


class PlainLogLocator(matplotlib.ticker.Locator):
    """Major ticks of a log axis, at least three in view where the data allow: decades, else 1, 2 and 5 per decade,
    else every integer multiple, else four evenly spaced values (a range narrower than a factor of about 2)."""

    SUBS = ((1.0,), (1.0, 2.0, 5.0), tuple(float(k) for k in range(1, 10)))

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float):
        low, high = sorted((vmin, vmax))
        if high <= 0:
            return []
        for subs in self.SUBS:
            ticks = matplotlib.ticker.LogLocator(subs=subs, numticks=12).tick_values(max(low, high * 1e-12), high)
            if np.sum((ticks >= low) & (ticks <= high)) >= 3:
                return ticks
        return matplotlib.ticker.MaxNLocator(4).tick_values(low, high)


def plain_log_axis(axis: matplotlib.axis.Axis) -> None:
    """Plain-number labels at :class:`PlainLogLocator`'s ticks of a log axis, none at the minor ticks."""
    axis.set_major_locator(PlainLogLocator())
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(plain_number))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


#: the note in the energy panel of a figure whose energies are all empty (curves.csv: n_test_undetermined)
MISSING_ENERGIES = (
    "energies not determined: allow_undetermined_e0s (the training sets leave the test configurations' "
    "reference energies undetermined; n_test_undetermined in curves.csv)"
)


def has_values(values: Iterable[float]) -> bool:
    """Whether any of ``values`` can be drawn on a log axis (finite and positive)."""
    values = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
    return bool(np.any(np.isfinite(values) & (values > 0)))


def empty_panel(ax: plt.Axes, note: str, xlabel: str, ylabel: str) -> None:
    """A panel with nothing to draw: its axis labels, no ticks, and ``note`` in its middle saying why."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(note, 40)), transform=ax.transAxes, ha="center", va="center",
            fontsize="small", color="0.3")  # fmt: skip


def tiny_note(ax: plt.Axes, text: str, xy: tuple[float, float], offset: tuple[float, float], **style) -> None:
    """A small text ``offset`` points from a data point (``style``: the text's, e.g. colour; xx-small unless given)."""
    ax.annotate(text, xy, xytext=offset, textcoords="offset points", **{"fontsize": "xx-small", **style})
