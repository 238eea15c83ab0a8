"""A paper-results file (``config/paper_results.csv``, the config's ``paper_results``): its columns, read and
checked when planning; :mod:`mftl.analysis.paper_comparison` sets the campaign's numbers beside it.

A paper-results file has one row per number the paper prints, with the columns of
:data:`PAPER_COLUMNS`:

* ``figure`` -- the section and/or figure caption of the paper that prints it;
* ``dataset``, ``method``, ``train_size`` -- the campaign's dataset name, method name
  (``scratch``, ``mftl``, ``foundation``, ``chain_<name>``, ``foundation_zeroshot``, ...) and
  training-set size. Two methods train nothing and have ``train_size`` 0 (or empty):
  ``foundation_zeroshot`` (a foundation model as it is) and ``low_fidelity`` (the dataset's
  low-fidelity labels against its high fidelity, from ``tables/fidelity_comparison.csv``);
* ``pretrain_size``, ``epoch_cap`` -- optional: empty leaves the choice among the campaign's points
  that differ only in them open, and the campaign's **validation** errors choose (never the test
  errors); the output says which candidate was taken and why;
* ``metric`` -- ``energy_rmse``, ``forces_rmse``, ``energy_mae``, ``forces_mae`` (test errors), or
  ``best_epoch_cap`` (unit ``epochs``: the cap the campaign's validation errors choose);
* ``value``, ``unit`` -- the number as the paper prints it, in the paper's unit: energies in
  ``meV/atom`` or ``meV`` (read as meV/atom, see :data:`UNITS`), forces in ``meV/A`` or ``eV/A``;
  with ``relative_to`` a method, ``%`` (the percentage by which ``method`` beats it,
  ``100 * (1 - method / relative_to)``) or ``x`` (the factor, ``relative_to / method``);
* ``qualifier`` -- empty (the number as printed), ``up_to`` ("up to": the maximum over the
  training sizes of a relative number; ``train_size`` empty) or ``approximately`` (the paper
  prints an approximate number, e.g. "almost four-fold": compared as the number it names);
* ``source`` -- the paper's words, with section and caption.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mftl.methods import ZEROSHOT

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
    "qualifier",
    "source",
]
#: metric name -> (curves.csv column, quantity)
METRICS = {
    "energy_rmse": ("energy_rmse_meV_atom", "energy"),
    "forces_rmse": ("forces_rmse_meV_A", "forces"),
    "energy_mae": ("energy_mae_meV_atom", "energy"),
    "forces_mae": ("forces_mae_meV_A", "forces"),
}
#: the metric of a row that names the epoch cap the campaign chooses on validation (unit ``epochs``)
BEST_EPOCH_CAP = "best_epoch_cap"
#: the paper's unit -> (quantity, factor to the campaign's unit, the campaign's unit, how it is compared)
UNITS = {
    "meV/atom": ("energy", 1.0, "meV/atom", ""),
    "meV": (
        "energy",
        1.0,
        "meV/atom",
        "the paper prints meV without 'per atom' (sec. 2.3); compared with the campaign's relative-energy "
        "RMSE per atom, the quantity figs. 2 and 5 plot",
    ),
    "meV/A": ("forces", 1.0, "meV/A", ""),
    "eV/A": ("forces", 1000.0, "meV/A", "the paper's eV/A x 1000"),
}
#: unit of a row with ``relative_to`` -> how the campaign's number is computed from the two mean errors
RELATIVE_UNITS = {"%": "100 * (1 - {method} / {reference})", "x": "{reference} / {method}"}
QUALIFIERS = {
    "up_to": "'up to': the maximum over training sizes",
    "approximately": "the paper's number is approximate; compared as the number it names",
}
#: methods that train nothing: train_size 0
LOW_FIDELITY = "low_fidelity"
UNTRAINED_METHODS = (ZEROSHOT, LOW_FIDELITY)
CANDIDATE_KEYS = ["pretrain_size", "epoch_cap"]


class PaperResultsError(ValueError):
    """A paper-results file that cannot be compared; the message names the file and row."""


def _integer(value, where: str, column: str, optional: bool, minimum: int = 1) -> int | None:
    if optional and pd.isna(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not number.is_integer() or number < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise PaperResultsError(f"{where}: {column} {value!r} is not a {kind} integer")
    return int(number)


def _check_row(row: pd.Series, where: str) -> dict:
    """The row's sizes as integers (train_size None where open), or a PaperResultsError naming the column."""
    for column in ("dataset", "method", "metric", "unit", "source"):
        if pd.isna(row[column]) or not str(row[column]).strip():
            raise PaperResultsError(f"{where}: {column} is empty")
    metric, unit, relative, qualifier = row["metric"], row["unit"], row["relative_to"], row["qualifier"]
    if metric not in METRICS and metric != BEST_EPOCH_CAP:
        raise PaperResultsError(f"{where}: metric '{metric}' is not one of {sorted([*METRICS, BEST_EPOCH_CAP])}")
    if qualifier and qualifier not in QUALIFIERS:
        raise PaperResultsError(f"{where}: qualifier '{qualifier}' is not one of {sorted(QUALIFIERS)} (or empty)")
    untrained = row["method"] in UNTRAINED_METHODS
    open_size = qualifier == "up_to" or metric == BEST_EPOCH_CAP or untrained
    if qualifier == "up_to" and (pd.isna(relative) or pd.notna(row["train_size"])):
        raise PaperResultsError(f"{where}: qualifier up_to needs relative_to and an empty train_size")
    sizes = {"train_size": _integer(row["train_size"], where, "train_size", open_size, 0 if untrained else 1)}
    if untrained and sizes["train_size"] not in (None, 0):
        raise PaperResultsError(f"{where}: {row['method']} trains nothing: train_size must be 0 or empty")
    if untrained:
        sizes["train_size"] = 0
    for column in CANDIDATE_KEYS:
        sizes[column] = _integer(row[column], where, column, optional=True)
    if metric == BEST_EPOCH_CAP:
        if pd.notna(relative) or sizes["epoch_cap"] is not None or unit != "epochs":
            raise PaperResultsError(f"{where}: {BEST_EPOCH_CAP} has unit 'epochs', no relative_to and no epoch_cap")
    elif pd.notna(relative):
        if unit not in RELATIVE_UNITS:
            raise PaperResultsError(
                f"{where}: unit '{unit}' of {metric} relative to {relative} must be one of {sorted(RELATIVE_UNITS)}"
            )
    elif unit not in UNITS or UNITS[unit][0] != METRICS[metric][1]:
        allowed = sorted(u for u, spec in UNITS.items() if spec[0] == METRICS[metric][1])
        raise PaperResultsError(f"{where}: unit '{unit}' of {metric} must be one of {allowed}")
    if not np.isfinite(pd.to_numeric(row["value"], errors="coerce")):
        raise PaperResultsError(f"{where}: value {row['value']!r} is not a finite number")
    return sizes


def check_paper_results(table: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """``table`` with integer sizes, checked row by row; errors name ``path``, row and column."""
    missing = [c for c in PAPER_COLUMNS if c not in table.columns]
    if missing:
        raise PaperResultsError(f"{path}: missing column(s) {missing} (columns: {', '.join(PAPER_COLUMNS)})")
    if table.empty:
        raise PaperResultsError(f"{path}: holds no result")
    table = table[PAPER_COLUMNS].copy()
    table["qualifier"] = table["qualifier"].fillna("").astype(str)  # empty: the number as printed
    sizes = [_check_row(row, f"{path} row {index + 1} (line {index + 2})") for index, row in table.iterrows()]
    for column in ("train_size", *CANDIDATE_KEYS):
        table[column] = pd.array([s[column] for s in sizes], dtype="Int64")
    return table.astype({"value": float})


def read_paper_results(path: str | os.PathLike) -> pd.DataFrame:
    """The checked paper-results CSV at ``path`` (see the module docstring for its columns)."""
    if not Path(path).is_file():
        raise PaperResultsError(f"{path}: file does not exist")
    text_columns = {
        c: "string" for c in ("figure", "dataset", "method", "metric", "unit", "relative_to", "qualifier", "source")
    }
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
