"""The ``stability`` figure (from ``tables/stability.csv``, :mod:`mftl.analysis.stability`): how many MD runs of each
route stayed stable, against the advice's threshold, which element pairs lack short-range repulsion, and what
fine-tuning did to the error on the starting model's
own data (forgetting)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from mftl.report.colours import route_colours
from mftl.report.figure_parts import FigureSkipped, empty_panel, plain_number, tiny_note
from mftl.report.matplotlib_agg import plt

MD_LABEL = "share of MD runs stable"
FORGETTING_LABEL = "force RMSE on the starting model's own test labels (meV/$\\AA$)"
REPULSION_LABEL = "share of models with a pair not repulsive"


def skipped_reasons(table: pd.DataFrame, check: str) -> list[str]:
    """The distinct reasons the table's ``skipped`` column gives for skipping ``check`` (md, forgetting)."""
    notes = (note for cell in table["skipped"].dropna().astype(str) for note in cell.split("; "))
    return list(dict.fromkeys(note.split(": ", 1)[1] for note in notes if note.startswith(f"{check}: ")))


def _md_panel(ax: plt.Axes, table: pd.DataFrame, colours: dict[str, str]) -> None:
    """One bar per route and training size (top: the first route), its stable share, 'k/n' beside it, and the
    advice's threshold (1 - max_unstable_fraction) as a dashed line."""
    rows = table[table["md_runs"] > 0].iloc[::-1]
    if rows.empty:
        reasons = "; ".join(skipped_reasons(table, "md"))
        empty_panel(ax, f"no MD run ({reasons or 'no model checked'})", MD_LABEL, "")
        return
    labels = [f"{r['route']}: n={int(r['train_size'])}" for _, r in rows.iterrows()]
    ax.barh(labels, rows["md_stable_fraction"], color=[colours[route] for route in rows["route"]])
    for y, (_, row) in enumerate(rows.iterrows()):
        stable = int(round(row["md_stable_fraction"] * row["md_runs"]))
        mark = " unstable" if bool(row["unstable_in_md"]) else ""
        tiny_note(ax, f"{stable}/{int(row['md_runs'])}{mark}", (row["md_stable_fraction"], y), (3, -2))
    for threshold in sorted(table["max_unstable_fraction"].dropna().unique()):
        ax.axvline(1 - threshold, color="black", linestyle="--", linewidth=1,
                   label=f"advice's threshold: at most {plain_number(100 * threshold)}% unstable")  # fmt: skip
    ax.set_xlim(0, 1.25)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.5", "0.75", "1"])
    ax.set_xlabel(MD_LABEL)
    ax.tick_params(axis="y", labelsize="x-small")
    ax.legend(fontsize="x-small", loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    length = ", ".join(plain_number(v) for v in sorted(table["md_run_fs"].dropna().unique()))
    ax.set_title(f"MD stability ({length} fs Langevin from test molecules)", fontsize="small", loc="right")


def _forgetting_panel(ax: plt.Axes, table: pd.DataFrame, colours: dict[str, str]) -> None:
    """Per route and size with forgetting errors: an open marker before fine-tuning, a filled one after, joined."""
    before, after = "forgetting_forces_before_meV_A", "forgetting_forces_after_meV_A"
    rows = table.dropna(subset=[before, after]).iloc[::-1]
    if rows.empty:
        reasons = "; ".join(skipped_reasons(table, "forgetting"))
        empty_panel(ax, f"no forgetting check: {reasons or 'no fine-tuned route'}", FORGETTING_LABEL, "")
        return
    labels = [f"{r['route']}: n={int(r['train_size'])}" for _, r in rows.iterrows()]
    y = np.arange(len(rows))
    for i, (_, row) in enumerate(rows.iterrows()):
        colour = colours[row["route"]]
        ax.plot([row[before], row[after]], [i, i], color=colour, label=row["route"])
        ax.plot(row[before], i, marker="o", markerfacecolor="white", markeredgecolor=colour, linestyle="none")
        ax.plot(row[after], i, marker="o", color=colour, linestyle="none")
    ax.set_yticks(y, labels)
    ax.tick_params(axis="y", labelsize="x-small")
    ax.set_xlim(0, 1.6 * float(rows[[before, after]].to_numpy().max()))
    ax.xaxis.set_major_formatter(plain_number)
    ax.set_xlabel(FORGETTING_LABEL)
    for i, (_, row) in enumerate(rows.iterrows()):
        tiny_note(ax, data_name(row["forgetting_data"]), (max(row[before], row[after]), i), (4, -2))
    ax.set_title("forgetting: open before fine-tuning, filled after", fontsize="small")


def data_name(path) -> str:
    """'gfn1 labels of demo's test set' of results/demo/labels/test.gfn1.extxyz; the file name otherwise."""
    match = re.search(r"results/([^/]+)/labels/test\.([^/.]+)\.extxyz$", str(path))
    return f"{match[2]} labels of {match[1]}'s test set" if match else Path(str(path)).name


def _repulsion_panel(ax: plt.Axes, table: pd.DataFrame, colours: dict[str, str]) -> None:
    """Per route and size: the share of its models with an element pair whose energy falls as the pair is pulled
    below the training data's shortest distance (where the low fidelity rises), the pairs written beside."""
    rows = table[table["n_models"] > 0].dropna(subset=["n_models_non_repulsive"]).iloc[::-1]
    if rows.empty:
        reasons = "; ".join(skipped_reasons(table, "repulsion"))
        empty_panel(ax, f"no repulsion scan ({reasons or 'no model checked'})", REPULSION_LABEL, "")
        return
    labels = [f"{r['route']}: n={int(r['train_size'])}" for _, r in rows.iterrows()]
    share = rows["n_models_non_repulsive"] / rows["n_models"]
    ax.barh(labels, share, color=[colours[route] for route in rows["route"]])
    for y, ((_, row), value) in enumerate(zip(rows.iterrows(), share, strict=True)):
        pairs = sorted({note.split(" ")[0].rstrip(":") for note in str(row["non_repulsive_pairs"]).split("; ")})
        text = ", ".join(p for p in pairs if p and p != "nan") or "every pair repulsive"
        tiny_note(ax, text, (value, y), (3, -2))
    ax.set_xlim(0, 1.6)
    ax.set_xticks([0, 0.5, 1.0], ["0", "0.5", "1"])
    ax.set_xlabel(REPULSION_LABEL)
    ax.tick_params(axis="y", labelsize="x-small")
    ax.set_title("short-range repulsion: pairs pulled below the training data's shortest distance", fontsize="small")


def stability(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Three panels, routes in their colours (:func:`mftl.report.colours.route_colours`): the share of each route's
    MD runs that stayed stable with the runs written beside each bar and the advice's threshold; the share of its
    models with a pair that is not repulsive, the pairs written beside; and the force RMSE on the starting model's
    own data before and after fine-tuning (a note where no route has it)."""
    if table.empty:
        raise FigureSkipped("tables/stability.csv has no rows (no model was checked)")
    colours = route_colours(table)
    height = max(2.2, 1.0 + 0.3 * len(table))
    fig, axes = plt.subplots(3, 1, figsize=(9, 3 * height), squeeze=False)
    _md_panel(axes[0, 0], table, colours)
    _repulsion_panel(axes[1, 0], table, colours)
    _forgetting_panel(axes[2, 0], table, colours)
    fig.suptitle(f"{title}: stability of the trained models" if title else "stability of the trained models")
    fig.set_layout_engine("constrained")
    return fig
