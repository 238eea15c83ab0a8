"""The ``cost_to_target`` figure: what each route costs to reach each target error (from ``cost_to_target.csv``)."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mftl.analysis.advice import UNITS  # noqa: E402
from mftl.report.colours import route_colours  # noqa: E402


def _panel(ax: plt.Axes, rows: pd.DataFrame) -> list[str]:
    """Bars of one target; returns notes on the routes that do not reach it."""
    first = rows.iloc[0]
    reached = rows[rows["size"].notna()].iloc[::-1]  # cheapest at the top
    hours = reached["total_s"].fillna(reached["known_total_s"]).fillna(0.0) / 3600
    known = reached["total_s"].notna().to_numpy()
    extrapolated = reached["extrapolated"].astype("boolean").fillna(False).to_numpy()
    labels = [f"{r['route']}: n={int(r['size'])}" for _, r in reached.iterrows()]
    colours = [route_colours(rows)[route] for route in reached["route"]]
    bars = ax.barh(labels, hours, color=[c if k else "white" for c, k in zip(colours, known)], edgecolor=colours)
    for bar, extra in zip(bars, extrapolated):
        if extra:
            bar.set_hatch("//")
            bar.set_edgecolor("black")
    low = reached["total_low_s"].to_numpy(float) / 3600
    high = reached["total_high_s"].to_numpy(float) / 3600
    finite = np.isfinite(low) & np.isfinite(high)
    y = np.arange(len(reached))
    ax.errorbar(
        hours.to_numpy()[finite],
        y[finite],
        xerr=[hours.to_numpy()[finite] - low[finite], high[finite] - hours.to_numpy()[finite]],
        fmt="none",
        ecolor="black",
        capsize=3,
    )
    for row, (is_known, unknown) in enumerate(zip(known, reached["unknown"].astype("string").fillna(""))):
        if not is_known:
            ax.annotate(
                f"+ unknown: {unknown}",
                (hours.iloc[row], row),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize="xx-small",
            )
    if reached.empty:
        ax.text(0.5, 0.5, "no route reaches it", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    name, unit = UNITS[first["metric"]]
    ax.set_title(f"{name} <= {first['target']:.3g} {unit}\n({first['target_source']})", fontsize="small")
    ax.set_xlabel("cost to reach it (hours of the jobs' resources)")
    ax.tick_params(axis="y", labelsize="x-small")
    return [f"{r['route']}: {r['size_status']}" for _, r in rows[rows["size"].isna()].iterrows()]


def cost_to_target(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """One panel per target, one bar per route that reaches it, in the route's colour
    (:func:`mftl.report.colours.route_colours`): its total cost (hours) at the training size
    its fit needs, black whiskers the bootstrap interval, hatched where the size is extrapolated, open (the
    known part, a lower bound) where part of the cost is unknown; routes that do not reach it are named
    below the figure."""
    groups = list(table.groupby(["metric", "target"], sort=False)) if len(table) else []
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(5.5 * max(1, len(groups)), 4.2), squeeze=False)
    notes = []
    for ax, (_, rows) in zip(axes[0], groups):
        notes += _panel(ax, rows)
    if not groups:
        axes[0, 0].text(0.5, 0.5, "no target: no configured targets\nand no scratch curve", ha="center", va="center")
        axes[0, 0].set_axis_off()
    caption = "hatched: extrapolated size; open: known part of the cost (a lower bound)"
    if notes:
        caption += "; not reached: " + "; ".join(dict.fromkeys(notes))
    fig.supxlabel("\n".join(textwrap.wrap(caption, 150)), fontsize="x-small")
    fig.description = caption
    fig.suptitle(title or "cost to reach each target")
    fig.set_layout_engine("constrained")
    return fig
