"""The paper's reported errors beside a campaign's: ``config/paper_results.csv`` against ``curves.csv``.

A paper-results file has one row per reported number, with the columns of
:data:`PAPER_COLUMNS`:

* ``figure`` -- where the paper reports it (empty when the source does not say);
* ``dataset``, ``method``, ``train_size`` -- the campaign's dataset name, method name
  (``scratch``, ``mftl``, ``foundation``, ``chain_<name>``, ...) and training-set size;
* ``pretrain_size``, ``epoch_cap`` -- optional: empty means the best (lowest mean
  error) of the campaign's points that differ only in them, recorded in the result;
* ``metric`` -- ``energy_rmse`` (unit ``meV/atom``), ``forces_rmse`` (``meV/A``),
  ``energy_mae`` or ``forces_mae``; with ``relative_to`` a method name, the value is
  the percentage by which ``method`` is better than ``relative_to`` (unit ``%``):
  ``100 * (1 - method / relative_to)`` of the mean errors;
* ``value``, ``unit``, ``source`` -- the number, its unit, where it comes from.

The reproduced value is the mean over the campaign's seeds; a point the campaign
lacks is NaN, never guessed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PAPER_COLUMNS = [
    "figure",
    "dataset",
    "method",
    "train_size",
    "pretrain_size",
    "epoch_cap",
    "metric",
    "value",
    "unit",
    "relative_to",
    "source",
]
#: metric name -> (curves.csv column, unit)
METRICS = {
    "energy_rmse": ("energy_rmse_meV_atom", "meV/atom"),
    "forces_rmse": ("forces_rmse_meV_A", "meV/A"),
    "energy_mae": ("energy_mae_meV_atom", "meV/atom"),
    "forces_mae": ("forces_mae_meV_A", "meV/A"),
}
RESULT_COLUMNS = [
    "reproduced",
    "difference",
    "ratio",
    "n_seeds",
    "reproduced_pretrain_size",
    "reproduced_epoch_cap",
    "n_candidates",
]


class PaperResultsError(ValueError):
    """A paper-results file that cannot be compared; the message names the file and row."""


def _integer(value, where: str, column: str, optional: bool) -> int | None:
    if optional and pd.isna(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not number.is_integer() or number < 1:
        raise PaperResultsError(f"{where}: {column} {value!r} is not a positive integer")
    return int(number)


def check_paper_results(table: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """``table`` with integer sizes, checked row by row; errors name ``path``, row and column."""
    missing = [c for c in PAPER_COLUMNS if c not in table.columns]
    if missing:
        raise PaperResultsError(f"{path}: missing column(s) {missing} (columns: {', '.join(PAPER_COLUMNS)})")
    if table.empty:
        raise PaperResultsError(f"{path}: holds no result")
    table = table[PAPER_COLUMNS].copy()
    for index, row in table.iterrows():
        where = f"{path} row {index + 1} (line {index + 2})"
        for column in ("dataset", "method", "metric", "unit", "source"):
            if pd.isna(row[column]) or not str(row[column]).strip():
                raise PaperResultsError(f"{where}: {column} is empty")
        table.loc[index, "train_size"] = _integer(row["train_size"], where, "train_size", optional=False)
        for column in ("pretrain_size", "epoch_cap"):
            table.loc[index, column] = _integer(row[column], where, column, optional=True)
        if row["metric"] not in METRICS:
            raise PaperResultsError(f"{where}: metric '{row['metric']}' is not one of {sorted(METRICS)}")
        unit = "%" if pd.notna(row["relative_to"]) else METRICS[row["metric"]][1]
        if row["unit"] != unit:
            raise PaperResultsError(
                f"{where}: unit '{row['unit']}' of {row['metric']}"
                f"{' relative to ' + str(row['relative_to']) if unit == '%' else ''} "
                f"must be '{unit}'"
            )
        if not np.isfinite(pd.to_numeric(row["value"], errors="coerce")):
            raise PaperResultsError(f"{where}: value {row['value']!r} is not a finite number")
    return table.astype({"train_size": int, "pretrain_size": "Int64", "epoch_cap": "Int64", "value": float})


def read_paper_results(path: str | os.PathLike) -> pd.DataFrame:
    """The checked paper-results CSV at ``path`` (see the module docstring for its columns)."""
    if not Path(path).is_file():
        raise PaperResultsError(f"{path}: file does not exist")
    text_columns = {c: "string" for c in ("figure", "dataset", "method", "metric", "unit", "relative_to", "source")}
    table = pd.read_csv(path, dtype=text_columns, skipinitialspace=True, keep_default_na=False, na_values=[""])
    return check_paper_results(table, path)


def planned_paper_results(path: str, checkout: str | os.PathLike) -> str:
    """The config's ``paper_results`` file, checked when planning: ``path`` as given when it
    exists (relative to the working directory), else relative to the workflow's checkout, so
    ``config/paper_results.csv`` also works with ``--directory``. Errors name the config key."""
    candidates = [Path(path)] if Path(path).is_absolute() else [Path(path), Path(checkout) / path]
    found = next((str(p) for p in candidates if p.is_file()), str(path))
    try:
        read_paper_results(found)
    except PaperResultsError as err:
        raise PaperResultsError(f"config key 'paper_results': {err}") from None
    return found


def _best_point(
    curves: pd.DataFrame, dataset: str, method: str, train_size: int, column: str, pretrain_size=None, epoch_cap=None
) -> dict:
    """Mean over seeds of the best campaign point matching the row (NaN when there is none)."""
    rows = curves[(curves["dataset"] == dataset) & (curves["method"] == method) & (curves["train_size"] == train_size)]
    for key, value in (("pretrain_size", pretrain_size), ("epoch_cap", epoch_cap)):
        if value is not None and not pd.isna(value):
            rows = rows[rows[key] == value]
    if rows.empty:
        return {
            "reproduced": math.nan,
            "n_seeds": 0,
            "reproduced_pretrain_size": pd.NA,
            "reproduced_epoch_cap": pd.NA,
            "n_candidates": 0,
        }
    points = (
        rows.groupby(["pretrain_size", "epoch_cap"], dropna=False)
        .agg(mean=(column, "mean"), n_seeds=("seed", "nunique"))
        .reset_index()
    )
    best = points.loc[points["mean"].idxmin()]
    return {
        "reproduced": float(best["mean"]),
        "n_seeds": int(best["n_seeds"]),
        "reproduced_pretrain_size": best["pretrain_size"],
        "reproduced_epoch_cap": best["epoch_cap"],
        "n_candidates": len(points),
    }


def paper_comparison(curves: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Each paper row with the campaign's value beside it.

    Parameters
    ----------
    curves
        The campaign's ``curves.csv`` (one row per model and seed; errors in meV/atom, meV/A).
    paper
        Checked paper results (:func:`read_paper_results`).

    Returns
    -------
    The paper's columns plus ``reproduced`` (mean over seeds, in the row's unit),
    ``difference`` (reproduced - paper), ``ratio`` (reproduced / paper), ``n_seeds``,
    the pre-training size and epoch cap of the point used and ``n_candidates`` (how many
    points matched, the best of which was used); NaN where the campaign has no such point.
    """
    results = []
    for _, row in paper.iterrows():
        column = METRICS[row["metric"]][0]
        point = _best_point(
            curves, row["dataset"], row["method"], row["train_size"], column, row["pretrain_size"], row["epoch_cap"]
        )
        if pd.notna(row["relative_to"]):
            reference = _best_point(curves, row["dataset"], row["relative_to"], row["train_size"], column)
            point["reproduced"] = 100.0 * (1.0 - point["reproduced"] / reference["reproduced"])
        results.append(point)
    table = pd.concat([paper.reset_index(drop=True), pd.DataFrame(results)], axis=1)
    table["difference"] = table["reproduced"] - table["value"]
    table["ratio"] = table["reproduced"] / table["value"]
    sizes = {c: "Int64" for c in ("reproduced_pretrain_size", "reproduced_epoch_cap")}
    return table[PAPER_COLUMNS + RESULT_COLUMNS].astype(sizes)


def _row_label(row: pd.Series) -> str:
    relative = f" vs {row['relative_to']}" if pd.notna(row["relative_to"]) else ""
    fixed = [
        f"{key} {row[column]}"
        for key, column in (("pre", "pretrain_size"), ("cap", "epoch_cap"))
        if pd.notna(row[column])
    ]
    setting = f" ({', '.join(fixed)})" if fixed else ""
    return (
        f"{row['figure'] if pd.notna(row['figure']) else ''} {row['dataset']} {row['method']}{setting}"
        f"{relative}, n={row['train_size']}: {row['metric']} ({row['unit']})"
    ).strip()


def comparison_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """Reproduced / paper value per reported number (log scale, 1 = reproduced exactly), with both
    values written beside each point; numbers the campaign has no point for are listed as such."""
    from mftl.plots import plt  # matplotlib only here: planning imports this module (0.4 s saved per plan)

    fig, ax = plt.subplots(figsize=(9.0, 1.2 + 0.3 * len(table)))
    positions = np.arange(len(table))[::-1]
    drawable = (table["ratio"] > 0).fillna(False).to_numpy()
    ratios = table["ratio"].to_numpy(dtype=float)
    low = min([1.0, *ratios[drawable]]) / 3.0
    high = max([1.0, *ratios[drawable]]) * 3.0
    ax.axvline(1.0, color="0.5", lw=0.8, zorder=0)
    ax.plot(ratios[drawable], positions[drawable], "o", color="tab:blue")
    for y, (_, row), shown in zip(positions, table.iterrows(), drawable):
        if shown:
            ax.annotate(
                f"{row['reproduced']:.3g} vs {row['value']:.3g}",
                (row["ratio"], y),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        else:
            why = "no campaign point" if pd.isna(row["reproduced"]) else f"reproduced {row['reproduced']:.3g}"
            ax.text(low * 1.1, y, f"{why} (paper {row['value']:.3g})", va="center", fontsize=7, color="0.4")
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(-0.7, len(table) - 0.3)
    ax.set_yticks(positions, [_row_label(row) for _, row in table.iterrows()], fontsize=7)
    ax.set_xlabel("reproduced / paper (reproduced: mean over seeds)")
    ax.set_title(title or "campaign against the paper's reported errors", fontsize=10)
    fig.tight_layout()
    return fig
