"""What the decisions stand on, checked before the advice answers (columns added to ``learning_curve_fits.csv``).

* ``low_fidelity`` -- the low fidelity's method as the config names it (``fidelities.<f>.options.method``),
  else its key.
* ``baseline``, ``baseline_rmse`` -- the cheap method alone: the low fidelity's own error against the high
  fidelity (``tables/fidelity_statistics.csv``, row ``compared`` = the low fidelity, ``molecule`` = all:
  ``energy_rmsd_meV_atom``, ``forces_rmsd_meV_A``), named by its method where the config gives one
  (``fidelities.<f>.options.method``), e.g. "GFN1-xTB alone (gfn1)". None without the table (a dataset
  whose low fidelity is not compared with its high fidelity).
* ``final_rmse``, ``worse_than_baseline`` -- the route's mean error over seeds at its largest measured size,
  and whether it is above the baseline in that metric.
* ``under_trained`` -- why a route is under-trained, empty if it is not: models that ended at
  ``max_epochs`` without early stopping (curves.csv ``reached_max_epochs``), with how much their validation
  loss still fell over the last 10% of their epochs (mace's ``results/*_train.txt`` of the run folder),
  and mftl models whose pre-training was still on the steep part of its validation curve at the cap
  (curves.csv ``pretrain_still_falling``, where the column exists).
* ``lf_s_per_prediction`` -- Delta-learning predicts high-fidelity energies from a low-fidelity calculation
  at every prediction: the low fidelity's recorded labelling cost per configuration (costs.csv: Delta's
  ``lf_labels_s`` per configuration of training, validation and test), NaN where unknown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mftl import paths
from mftl.analysis.cost_to_target import DELTA
from mftl.analysis.costs import row_run_tag
from mftl.analysis.fidelity_names import dataset_fidelity_name
from mftl.analysis.fidelity_statistics import low_fidelity_level
from mftl.analysis.learning_curve_fits import ROUTE_KEYS, RouteFit
from mftl.analysis.tables import with_series_keys
from mftl.methods import ZEROSHOT
from mftl.training.mace_results import validation_curve

COLUMNS = [
    "low_fidelity",
    "baseline",
    "baseline_rmse",
    "final_rmse",
    "worse_than_baseline",
    "under_trained",
    "lf_s_per_prediction",
]
#: curves.csv metric -> its column in tables/fidelity_statistics.csv
STATISTICS = {"energy_rmse_meV_atom": "energy_rmsd_meV_atom", "forces_rmse_meV_A": "forces_rmsd_meV_A"}
#: the share of a run's last epochs over which its validation loss is still falling
LAST_EPOCHS = 0.1


def baseline(statistics: pd.DataFrame | None, spec: Mapping) -> tuple[str, dict]:
    """(name, {metric: error}) of the low fidelity alone against the high fidelity; ('', {}) without one."""
    low = spec.get("low_fidelity")
    level = low_fidelity_level(statistics, low) if statistics is not None and low else None
    if level is None:
        return "", {}
    method = dataset_fidelity_name(spec, low)
    name = f"{method} alone ({low})" if method != low else f"{low} alone"
    return name, dict(zip(STATISTICS, level))


def validation_drop(run_dir: str | Path) -> float:
    """Relative fall of the validation loss over the last 10% of a run's epochs, (loss then - loss at the end)
    / loss then (:func:`mftl.training.mace_results.validation_curve`); NaN with fewer than two validations."""
    curve = validation_curve(run_dir).dropna(subset=["valid_loss"])
    if len(curve) < 2:
        return math.nan
    loss = dict(zip(curve["epoch"], curve["valid_loss"]))
    epochs = sorted(loss)
    window = max(1, round(LAST_EPOCHS * epochs[-1]))
    start = max((e for e in epochs if e <= epochs[-1] - window), default=epochs[0])
    return (loss[start] - loss[epochs[-1]]) / loss[start]


def _flag(rows: pd.DataFrame, column: str) -> pd.Series:
    if column not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows[column].astype("boolean").fillna(False).astype(bool)


def _run_dir(row: pd.Series, results: Path) -> Path:
    method = "mftl" if row["method"] == "mftl_auto" else row["method"]
    return Path(paths.model_dir(row["dataset"], method, row_run_tag(row, method), results=results))


def under_trained_note(rows: pd.DataFrame, results: Path | None) -> str:
    """Why a route's curves.csv ``rows`` are under-trained ('' if they are not); ``results``: the folder holding
    results/<dataset>/models (None: the validation losses are not read)."""
    notes = []
    capped = rows[_flag(rows, "reached_max_epochs")]
    if len(capped):
        note = f"{len(capped)} of {len(rows)} models ended at max_epochs"
        drops = [validation_drop(_run_dir(row, results)) for _, row in capped.iterrows()] if results else []
        drops = [d for d in drops if np.isfinite(d)]
        if drops:
            note += f", validation loss still falling by up to {max(drops):.1%} over their last 10% of epochs"
        notes.append(note)
    steep = rows[_flag(rows, "pretrain_still_falling")]
    if len(steep):
        notes.append(f"{len(steep)} of {len(rows)} fine-tuned from a pre-training still falling steeply at its cap")
    return "; ".join(notes)


def lf_seconds_per_prediction(costs: pd.DataFrame, spec: Mapping) -> float:
    """Delta-learning's low-fidelity seconds per configuration (costs.csv), NaN where unknown or no rows."""
    if costs.empty or "lf_labels_s" not in costs.columns:
        return math.nan
    delta = costs[costs["method"] == DELTA]
    per_config = delta["lf_labels_s"] / (delta["train_size"] + spec["split"]["validation"] + spec["split"]["test"])
    return float(per_config.mean()) if len(delta) and per_config.notna().all() else math.nan


def with_footing(
    table: pd.DataFrame,
    fits: list[RouteFit],
    curves: pd.DataFrame,
    spec: Mapping,
    costs: pd.DataFrame | None = None,
    statistics: pd.DataFrame | None = None,
    results: str | Path | None = None,
) -> pd.DataFrame:
    """``table`` (learning_curve_fits.csv rows of ``fits``, in their order) with the columns of the module's
    docstring; ``results`` is the folder holding ``<dataset>/models`` (curves.csv's folder's parent)."""
    name, errors = baseline(statistics, spec)
    per_prediction = lf_seconds_per_prediction(costs if costs is not None else pd.DataFrame(), spec)
    notes = {}
    for values, rows in with_series_keys(curves).groupby(ROUTE_KEYS, dropna=False, sort=True):
        key = tuple(None if pd.isna(v) else v for v in values)
        # the route's rows as curves.csv has them: mftl_auto's series blanks its epoch cap, its run folder has one
        notes[key] = under_trained_note(curves.loc[rows.index], Path(results) if results is not None else None)
    columns = {c: [] for c in COLUMNS}
    for fit in fits:
        final = float(fit.means[-1]) if len(fit.sizes) else math.nan
        reference = errors.get(fit.metric, math.nan)
        columns["low_fidelity"].append(dataset_fidelity_name(spec, spec.get("low_fidelity")))
        columns["baseline"].append(name)
        columns["baseline_rmse"].append(reference)
        columns["final_rmse"].append(final)
        columns["worse_than_baseline"].append(bool(final > reference) if np.isfinite(reference) else pd.NA)
        trained = fit.key["method"] != ZEROSHOT
        columns["under_trained"].append(notes.get(tuple(fit.key[k] for k in ROUTE_KEYS), "") if trained else "")
        columns["lf_s_per_prediction"].append(per_prediction if fit.key["method"] == DELTA else math.nan)
    out = table.copy()
    for column, values in columns.items():
        out[column] = values
    return out.astype({"worse_than_baseline": "boolean"})
