"""Quality flags of a campaign's models, where people look: curves.csv, summary.csv, the report, the run's end.

* ``reached_max_epochs``: the run trained for all its ``max_epochs`` and early stopping (``patience``)
  never ended it: the validation error was still improving, so the model is probably under-trained
  (raise ``max_epochs`` of its stage). From the run's ``training.json``, written into its evaluation.
* ``pretrain_valid_energy_rmse_meV_atom`` / ``pretrain_valid_forces_rmse_meV_A`` (mftl, mftl_auto): the
  pre-trained model's own error on its low-fidelity validation split (mace's ``valid_fraction`` of the
  pre-training pool) after ``epoch_cap`` epochs, from mace's results file of the pre-training run: a
  pre-training that has not learnt the low fidelity transfers little.
* ``pretrain_still_falling`` / ``pretrain_falling_pct`` (mftl, mftl_auto): whether the row's epoch cap lies on
  the steep part of the pre-training's validation curve. With L(k) the lowest validation loss (mace's ``loss``
  of the ``mode: eval`` lines) within the first k epochs (k = 0: mace's evaluation before training) -- the
  best model so far, so that one noisy validation does not count as a fall -- and a window of
  w = max(3, ceil(20% of the cap)) epochs, ``pretrain_falling_pct`` = 100 (L(cap - w) - L(cap)) / L(cap - w),
  the relative drop over the last w epochs before the cap (from the earliest evaluation when the cap is shorter
  than the window; the latest evaluated epoch at or before cap - w when mace did not evaluate every epoch), and
  ``pretrain_still_falling`` is True when that drop exceeds :data:`STILL_FALLING_PCT` (10%): pre-training was
  stopped while the low fidelity was still being learnt fast. Empty (NA) where the loss at the cap or before
  it is not in the results file. The epoch cap is the paper's variable and capping on purpose is fine;
  :func:`quality_warnings` warns when *every* cap of a dataset lies on the steep part, where the campaign
  never shows where the curve flattens (fig. S1 draws the curve).
* ``n_test_undetermined`` (when curves.csv has it): test configurations whose reference energies the
  training data cannot determine; their energy errors mean nothing.
* ``n_test_outside_span`` with a prior: test configurations whose reference energies are the prior's guess;
  the warning sets the energy RMSE without them (``energy_rmse_in_span_meV_atom``) beside the one with them.
* ``pretrain_size_trained`` / ``train_size_trained`` below the planned size (labelling failures) and
  ``resumed`` (a run continued from a checkpoint after an interruption) are warned about too.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mftl import paths
from mftl.analysis.series import series_label
from mftl.methods import PRETRAINED_METHODS
from mftl.training.mace_results import validation_curve

#: the columns this module adds to curves.csv
FLAG_COLUMNS = [
    "reached_max_epochs",
    "pretrain_valid_energy_rmse_meV_atom",
    "pretrain_valid_forces_rmse_meV_A",
    "pretrain_still_falling",
    "pretrain_falling_pct",
]

#: a cap is on the steep part of the pre-training validation curve when the loss fell more than this (percent)
#: over the window before it (:func:`falling_window`)
STILL_FALLING_PCT = 10.0


def pretrain_validation_curve(pretrain_dir: str | Path) -> pd.DataFrame:
    """The pre-training's validation errors per epoch (:func:`mftl.training.mace_results.validation_curve`)."""
    return validation_curve(pretrain_dir)


def pretrain_validation_error(pretrain_dir: str | Path, cap: int) -> tuple[float, float]:
    """(energy meV/atom, forces meV/A) RMSE on the pre-training's validation split after ``cap`` epochs: mace's
    ``mode: eval`` line of epoch ``cap - 1`` (mace counts from 0) in ``results/*_train.txt``; NaN if absent."""
    return _errors_at(pretrain_validation_curve(pretrain_dir), cap)


def _errors_at(curve: pd.DataFrame, cap: int) -> tuple[float, float]:
    """(energy, forces) validation RMSE of ``curve`` (:func:`pretrain_validation_curve`) after ``cap`` epochs."""
    at_cap = curve[curve["epoch"] == cap]
    if cap < 1 or at_cap.empty:
        return np.nan, np.nan
    return float(at_cap["valid_energy_rmse_meV_atom"].iloc[0]), float(at_cap["valid_forces_rmse_meV_A"].iloc[0])


def falling_window(cap: int) -> int:
    """Epochs before a cap over which :func:`falling_pct` measures the drop: max(3, ceil(20% of the cap))."""
    return max(3, math.ceil(0.2 * cap))


def falling_pct(curve: pd.DataFrame, cap: int) -> float:
    """Percent by which the validation loss fell over the :func:`falling_window` epochs before ``cap``
    (``curve``: :func:`pretrain_validation_curve`): from the latest evaluation at or before cap - window (the
    earliest one when the cap is shorter than the window) to the evaluation at the cap; NaN without both."""
    known = curve.dropna(subset=["valid_loss"]).copy()
    known["valid_loss"] = known["valid_loss"].cummin()  # the best model so far (curve is sorted by epoch)
    at_cap = known[known["epoch"] == cap]
    before = known[known["epoch"] < cap]
    if at_cap.empty or before.empty:
        return np.nan
    start = cap - falling_window(cap)
    earlier = before[before["epoch"] <= start]
    first = earlier.iloc[-1] if not earlier.empty else before.iloc[0]
    loss_then, loss_now = float(first["valid_loss"]), float(at_cap["valid_loss"].iloc[0])
    if loss_then <= 0:
        return np.nan
    return 100.0 * (loss_then - loss_now) / loss_then


def with_quality_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (curves) with the pre-training flags filled in from the runs under results/: the validation
    errors at the row's epoch cap and whether the cap lies on the steep part of the validation curve."""
    table = table.copy()
    for column in FLAG_COLUMNS:
        if column not in table.columns:
            table[column] = pd.NA
    curves: dict[str, pd.DataFrame] = {}  # one read of each pre-training run's results file
    energy, forces, falling = [], [], []
    for _, row in table.iterrows():
        pretrained = (
            row["method"] in PRETRAINED_METHODS and pd.notna(row["pretrain_size"]) and pd.notna(row["epoch_cap"])
        )
        if pretrained:
            folder = paths.pretrain_dir(row["dataset"], paths.pretrain_tag(int(row["pretrain_size"]), int(row["seed"])))
            if folder not in curves:
                curves[folder] = pretrain_validation_curve(folder)
            e, f = _errors_at(curves[folder], int(row["epoch_cap"]))
            pct = falling_pct(curves[folder], int(row["epoch_cap"]))
        else:
            e, f, pct = np.nan, np.nan, np.nan
        energy.append(e)
        forces.append(f)
        falling.append(pct)
    table["pretrain_valid_energy_rmse_meV_atom"] = energy
    table["pretrain_valid_forces_rmse_meV_A"] = forces
    table["pretrain_falling_pct"] = falling
    table["pretrain_still_falling"] = pd.array(
        [pd.NA if np.isnan(p) else bool(p > STILL_FALLING_PCT) for p in falling], dtype="boolean"
    )
    return table


def steep_caps_warning(dataset: str, rows: pd.DataFrame) -> str | None:
    """The warning when every epoch cap of ``dataset``'s pre-trained rows (curves.csv) with a known
    ``pretrain_still_falling`` lies on the steep part; None otherwise (or with no such row)."""
    if "pretrain_still_falling" not in rows.columns:
        return None
    known = rows[rows["method"].isin(PRETRAINED_METHODS)]
    known = known[known["pretrain_still_falling"].astype("boolean").notna()]
    if known.empty or not known["pretrain_still_falling"].astype("boolean").all():
        return None
    parts = []
    for cap, at_cap in known.groupby(known["epoch_cap"].astype(int), sort=True):
        pct = pd.to_numeric(at_cap["pretrain_falling_pct"])
        span = f"{pct.min():.0f}%" if round(pct.min()) == round(pct.max()) else f"{pct.min():.0f}-{pct.max():.0f}%"
        parts.append(f"cap {cap}: the validation loss fell {span} over its last {falling_window(cap)} epochs")
    return (
        f"all epoch caps of {dataset} lie on the steep part of the pre-training validation curve: {'; '.join(parts)} "
        f"(more than {STILL_FALLING_PCT:.0f}%); no cap shows where pre-training flattens: add a larger epoch cap "
        "(fig. S1, negative_transfer, draws the curve)"
    )


def _numbers(rows: pd.DataFrame, column: str) -> pd.Series:
    """``column`` of ``rows`` as numbers (NaN where empty or absent)."""
    return pd.to_numeric(rows[column], errors="coerce") if column in rows.columns else pd.Series(np.nan, rows.index)


def _models(rows: pd.DataFrame) -> str:
    return ", ".join(
        sorted({f"{series_label(r)} n={int(r['train_size'])} seed {int(r['seed'])}" for _, r in rows.iterrows()})
    )


def _span(values: pd.Series) -> str:
    low, high = float(values.min()), float(values.max())
    return f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f}"


def outside_span_warning(dataset: str, rows: pd.DataFrame) -> str | None:
    """The warning when models report energy errors over test configurations outside the span of their training
    compositions (``n_test_outside_span``; their reference energies are the prior's, not fitted), with the energy
    RMSE without them (``energy_rmse_in_span_meV_atom``) beside the one with them; None otherwise. Rows whose
    energies are undetermined (no prior) have their own warning."""
    outside = _numbers(rows, "n_test_outside_span").fillna(0)
    flagged = rows[(outside > 0) & (_numbers(rows, "n_test_undetermined").fillna(0) == 0)]
    if flagged.empty:
        return None
    return (
        f"{dataset}: {len(flagged)} models have test configurations outside the span of their training compositions "
        f"(up to {int(outside[flagged.index].max())} of {int(rows['n_test'].max())}, n_test_outside_span), whose "
        f"reference energies are the E0 prior's, not fitted: energy RMSE {_span(flagged['energy_rmse_meV_atom'])} "
        f"meV/atom with them, {_span(_numbers(flagged, 'energy_rmse_in_span_meV_atom'))} without them "
        f"(energy_rmse_in_span_meV_atom in curves.csv): {_models(flagged)}"
    )


def fewer_trained_warning(dataset: str, rows: pd.DataFrame) -> str | None:
    """The warning when models trained on fewer configurations than planned (``train_size_trained`` /
    ``pretrain_size_trained`` below ``train_size`` / ``pretrain_size``: labelling failures within
    ``labelling.max_failure_fraction``); None otherwise."""
    parts = []
    sizes = (
        ("pretrain_size", "pretrain_size_trained", "pre-training"),
        ("train_size", "train_size_trained", "training"),
    )
    for planned, trained, what in sizes:
        short = rows[_numbers(rows, trained) < _numbers(rows, planned)]
        for (size, actual), _ in short.groupby([short[planned].astype(int), short[trained].astype(int)]):
            parts.append(f"{what} size {size} trained on {actual} ({_models(short[short[planned] == size])})")
    if not parts:
        return None
    return (
        f"{dataset}: models trained on fewer configurations than planned (labels failed within "
        f"labelling.max_failure_fraction; curves.csv pretrain_size_trained, train_size_trained): {'; '.join(parts)}"
    )


def resumed_warning(dataset: str, rows: pd.DataFrame) -> str | None:
    """The warning when models were resumed from a checkpoint after an interruption (``resumed``): valid runs,
    but not an uninterrupted run's numbers (mftl.training.resume); None otherwise."""
    if "resumed" not in rows.columns:
        return None
    flagged = rows[rows["resumed"].astype("boolean").fillna(False)]
    if flagged.empty:
        return None
    return (
        f"{dataset}: {len(flagged)} models were resumed from a checkpoint after an interruption (curves.csv resumed): "
        "valid runs, but their errors differ slightly from an uninterrupted run's (mace does not restore the data "
        "order, the lowest validation loss or the EMA); for exact numbers delete their run folders and rerun: "
        f"{_models(flagged)}"
    )


def quality_warnings(curves: pd.DataFrame) -> list[str]:
    """One line per dataset and problem, for the end of the run and the report (empty: nothing to flag)."""
    warnings = []
    for dataset, rows in curves.groupby("dataset", sort=False):
        trained = rows[rows["train_size"] > 0]
        if "reached_max_epochs" in trained.columns:
            flagged = trained[trained["reached_max_epochs"].astype("boolean").fillna(False)]
            if len(flagged):
                series = sorted({f"{series_label(r)} n={int(r['train_size'])}" for _, r in flagged.iterrows()})
                warnings.append(
                    f"{dataset}: {len(flagged)} of {len(trained)} trained models ended at max_epochs without early "
                    f"stopping (probably under-trained; raise max_epochs of their stage): {', '.join(series)}"
                )
        if "n_test_undetermined" in rows.columns:
            undetermined = rows[pd.to_numeric(rows["n_test_undetermined"], errors="coerce").fillna(0) > 0]
            if len(undetermined):
                worst = int(pd.to_numeric(undetermined["n_test_undetermined"]).max())
                warnings.append(
                    f"{dataset}: {len(undetermined)} models have test configurations whose reference energies the "
                    f"training data cannot determine (up to {worst} of {int(rows['n_test'].max())}): give the high "
                    "fidelity e0s (mftl atom-energies)"
                )
        for warning in (steep_caps_warning, outside_span_warning, fewer_trained_warning, resumed_warning):
            found = warning(str(dataset), rows)
            if found:
                warnings.append(found)
    return warnings


def print_warnings(path: str = paths.campaign_file("warnings.txt")) -> None:
    """The Snakefile's ``onsuccess``: the quality warnings of the finished run, last on the screen."""
    text = Path(path).read_text() if Path(path).is_file() else ""
    if text:
        print(f"\nQuality warnings (also on the first page of the report):\n{text}", end="")
