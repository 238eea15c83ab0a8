"""The ``cost`` figure: test error versus what each point cost, and the cost split per series (from ``costs.csv``;
not in the paper)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import numpy as np
import pandas as pd

from mftl.analysis.curves import series_label
from mftl.analysis.tables import with_series_keys
from mftl.report.colours import COST_PART_COLOURS, route_colours
from mftl.report.figure_parts import (
    MISSING_ENERGIES,
    PANELS,
    FigureSkipped,
    empty_panel,
    has_values,
    plain_log_axis,
    tiny_note,
)
from mftl.report.matplotlib_agg import plt

COST_PARTS = (
    ("high-fidelity labels", ["hf_labels_s"]),
    ("low-fidelity labels (sampled by MD, too)", ["lf_labels_s", "sampling_s"]),
    (
        "pre-training, foundation, earlier chain stages (with their labels)",
        ["pretrain_s", "foundation_s", "chain_stages_s"],
    ),
    ("training", ["training_s"]),
    ("evaluation", ["evaluation_s"]),
)


#: names of the cost components, as the figure's caption names the unknown ones
COMPONENT_NAMES = {
    "hf_labels_s": "high-fidelity labels",
    "lf_labels_s": "low-fidelity labels",
    "sampling_s": "low-fidelity sampling",
    "pretrain_s": "pre-training",
    "foundation_s": "foundation model",
    "chain_stages_s": "earlier chain stages",
    "training_s": "training",
    "evaluation_s": "evaluation",
}


def _unknown_parts(rows: pd.DataFrame) -> list[str]:
    """Names of the cost components that are NaN in any of ``rows``."""
    return [COMPONENT_NAMES[c] for c in COMPONENT_NAMES if rows[c].isna().any()]


def unknown_cost_caption(costs: pd.DataFrame) -> str:
    """'cost unknown: <series>: <parts>; ...' naming, per series, the cost components that are NaN
    in any of its rows; empty when every cost is known."""
    table = with_series_keys(costs).assign(series=lambda t: t.apply(series_label, axis=1))
    named = []
    for series, rows in table.groupby("series", sort=True):
        parts = _unknown_parts(rows)
        if parts:
            named.append(f"{series}: {', '.join(parts)}")
    return "cost unknown: " + "; ".join(named) if named else ""


def _known_cost_means(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per training size: mean ``metric``, mean known cost (s; the total where every part is known, a
    lower bound otherwise) and whether every part of every seed's cost is known."""
    parts = rows[list(COMPONENT_NAMES)]
    per_row = pd.DataFrame(
        {
            "train_size": rows["train_size"],
            metric: rows[metric],
            "known_s": parts.sum(axis=1, skipna=True),
            "complete": parts.notna().all(axis=1),
        }
    )
    return per_row.groupby("train_size").agg({metric: "mean", "known_s": "mean", "complete": "all"}).sort_index()


#: units of the cost figure, (name, seconds), chosen by :func:`cost_unit` from the data
COST_UNITS = (("s", 1.0), ("min", 60.0), ("h", 3600.0))


def cost_unit(seconds: Iterable[float]) -> tuple[str, float]:
    """The unit a cost axis reads best in: seconds up to 2 minutes, minutes up to 2 hours, else hours
    (the largest finite value decides); returns (name, seconds per unit)."""
    values = np.asarray([v for v in seconds if np.isfinite(v)], dtype=float)
    largest = values.max() if values.size else 0.0
    for name, scale in COST_UNITS:
        if largest < 120 * scale or name == COST_UNITS[-1][0]:
            return name, scale
    raise AssertionError("unreachable")


def _draw_cost_panel(
    ax: plt.Axes, table: pd.DataFrame, metric: str, label: str, unit: tuple[str, float], colours: dict[str, str]
) -> None:
    """RMSE against cost per series (in its route's ``colours``): filled markers where the cost is complete, open
    where part is unknown; each point labelled with its training size (n=...); log axes with plain-number ticks.
    Without any value of ``metric`` (energies with allow_undetermined_e0s) the panel says so."""
    name_unit, scale = unit
    xlabel = f"total cost per point ({name_unit} of the jobs' resources)"
    if not has_values(table[metric]):
        empty_panel(ax, MISSING_ENERGIES if metric.startswith("energy") else f"no {label}", xlabel, label)
        return
    for name, rows in table.groupby("series", sort=True):
        means = _known_cost_means(rows, metric)
        cost_in_unit = means["known_s"] / scale
        (line,) = ax.plot(cost_in_unit, means[metric], label=name, color=colours[name])
        complete = means["complete"].to_numpy()
        ax.plot(cost_in_unit[complete], means[metric][complete], "o", color=line.get_color(), label="_filled")
        ax.plot(
            cost_in_unit[~complete],
            means[metric][~complete],
            "o",
            color=line.get_color(),
            markerfacecolor="white",
            label="_open",
        )
        for size, x, y in zip(means.index, cost_in_unit, means[metric], strict=True):
            tiny_note(ax, f"n={int(size)}", (x, y), (4, 4), color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        plain_log_axis(axis)
    ax.tick_params(axis="x", labelsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(label)
    ax.grid(True, which="both", alpha=0.3)


def _draw_cost_split(ax: plt.Axes, table: pd.DataFrame, unit: tuple[str, float]) -> None:
    """Known cost parts per series at the largest training size (in ``unit``); '+ unknown: ...' after a bar
    whose cost is incomplete."""
    largest = table[table["train_size"] == table["train_size"].max()]
    split = (
        pd.DataFrame({part: largest[cols].sum(axis=1, skipna=True) for part, cols in COST_PARTS})
        .assign(series=largest["series"])
        .groupby("series")
        .mean()
        / unit[1]
    )
    bottom = np.zeros(len(split))
    for part, colour in zip(split.columns, COST_PART_COLOURS, strict=True):
        ax.barh(split.index, split[part], left=bottom, label=part, color=colour, edgecolor="black", linewidth=0.5)
        bottom += split[part].to_numpy()
    for row, (series, end) in enumerate(zip(split.index, bottom)):
        unknown = _unknown_parts(largest[largest["series"] == series])
        if unknown:
            ax.set_xlim(right=1.5 * bottom.max())  # room for the note
            tiny_note(ax, f"+ unknown: {', '.join(unknown)}", (end, row), (3, 0), va="center")
    ax.set_xlabel(f"{unit[0]} per point at {int(table['train_size'].max())} training configurations")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.tick_params(axis="y", labelsize="x-small")


def cost(costs: pd.DataFrame, title: str = "") -> plt.Figure:
    """Energy and force RMSE versus total cost (in s, min or h, chosen from the data: :func:`cost_unit`;
    mean over seeds per series and training size, each point labelled n=<training size>), and the cost
    split per series at the largest training size.

    A point whose cost is partly unknown (NaN components, e.g. high-fidelity labels of a user's
    own data) is drawn at its known part, a lower bound, with an open marker; the unknown parts are
    named per series below the figure and in the files' metadata (:func:`save`)."""
    if costs.empty:
        raise FigureSkipped("costs.csv has no rows")
    if "sampling_s" not in costs:  # a costs.csv from before pretrain_sampling: nothing sampled
        costs = costs.assign(sampling_s=0.0)
    table = with_series_keys(costs).assign(series=lambda t: t.apply(series_label, axis=1))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    known = table[list(COMPONENT_NAMES)].sum(axis=1, skipna=True)
    unit = cost_unit(known.groupby([table["series"], table["train_size"]]).mean())
    colours = route_colours(costs)
    for ax, (metric, label) in zip(axes[:2], PANELS):
        _draw_cost_panel(ax, table, metric, label, unit, colours)
    next(ax for ax in axes if ax.get_lines()).legend(fontsize="x-small")
    _draw_cost_split(axes[2], table, unit)
    caption = unknown_cost_caption(costs)
    if caption:
        fig.description = caption
        fig.supxlabel(
            "\n".join(textwrap.wrap(f"{caption} (open markers: the known part, a lower bound)", 160)), fontsize="small"
        )
    if title:
        fig.suptitle(title)
    return fig
