"""Tidy tables the paper's figures and tables are drawn from (which figures a campaign makes: mftl.planning.figure_catalogue).

* :func:`fidelity_outliers` -- the worst configurations of each comparison of
  :func:`mftl.evaluation.fidelity_comparison.fidelity_comparison_table`;
* :func:`summary_table` -- mean and spread over seeds of every learning-curve point,
  relative to training from scratch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mftl.analysis.curves import METRICS
from mftl.evaluation.fidelity_comparison import FORCE, RELATIVE_ENERGY

# A method whose epoch cap is chosen per point (on validation): the cap is a result, not a series key.
CAP_SELECTING_METHODS = ("mftl_auto",)
SERIES_KEYS = ["method", "fidelities", "pretrain_size", "epoch_cap"]


#: columns of the outlier table
OUTLIER_COLUMNS = [
    "compared",
    "high_fidelity",
    "config_id",
    "energy_error_meV_atom",
    "max_force_error_meV_A",
    "energy_rank",
    "force_rank",
]


def fidelity_outliers(table: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The worst configurations of each compared source (low fidelity, zero-shot foundations): the ``n``
    largest absolute relative-energy errors (meV/atom) and the ``n`` largest absolute force-component
    errors (meV/A, the largest per configuration), with their ranks (1 = worst; empty outside the top n)."""
    frames = []
    for compared, rows in table.groupby("low_fidelity", sort=False):
        energy = rows[rows["quantity"] == RELATIVE_ENERGY]
        forces = rows[rows["quantity"] == FORCE]
        per_config = pd.DataFrame(
            {
                "config_id": energy["config_id"].to_numpy(),
                "energy_error_meV_atom": 1000.0 * (energy["low"].to_numpy(float) - energy["high"].to_numpy(float)),
            }
        ).set_index("config_id")
        force_error = (1000.0 * (forces["low"] - forces["high"]).abs()).groupby(forces["config_id"]).max()
        per_config["max_force_error_meV_A"] = force_error.reindex(per_config.index)
        per_config["energy_rank"] = per_config["energy_error_meV_atom"].abs().rank(ascending=False, method="first")
        per_config["force_rank"] = per_config["max_force_error_meV_A"].rank(ascending=False, method="first")
        worst = per_config[(per_config["energy_rank"] <= n) | (per_config["force_rank"] <= n)].reset_index()
        for rank in ("energy_rank", "force_rank"):
            worst[rank] = worst[rank].where(worst[rank] <= n).astype("Int64")
        worst.insert(0, "compared", compared)
        worst.insert(1, "high_fidelity", rows["high_fidelity"].iloc[0])
        frames.append(worst.sort_values(["energy_rank", "force_rank"], na_position="last"))
    return pd.concat(frames, ignore_index=True)[OUTLIER_COLUMNS]


def rmse(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(errors))))


# ---- learning-curve statistics ----------------------------------------------------


def with_series_keys(curves: pd.DataFrame) -> pd.DataFrame:
    """Curves whose epoch_cap is blank where the method picks the cap per point (mftl_auto),
    so that such a method forms one series over training sizes."""
    curves = curves.copy()
    curves["epoch_cap"] = curves["epoch_cap"].astype("Int64")
    curves["pretrain_size"] = curves["pretrain_size"].astype("Int64")
    curves.loc[curves["method"].isin(CAP_SELECTING_METHODS), "epoch_cap"] = pd.NA
    return curves


def summary_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Per series (method, fidelities, pre-training size, epoch cap) and training size: the mean
    and sample standard deviation (ddof 1; NaN for one seed) over seeds of every metric (meV/atom,
    meV/A), ``n_seeds``, and ``<metric>_ratio_to_scratch``: the mean over the mean of ``scratch``
    at the same training size (NaN where scratch has no such point).

    mftl_auto picks its cap per point, so its rows have an empty epoch_cap.
    """
    keys = ["dataset", *SERIES_KEYS, "train_size"]
    grouped = with_series_keys(curves).groupby(keys, dropna=False, sort=True)
    stats = grouped[METRICS].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    stats.insert(0, "n_seeds", grouped["seed"].nunique())
    if "reached_max_epochs" in curves.columns:  # quality flags (mftl.analysis.quality): runs without early stopping
        stats["n_reached_max_epochs"] = grouped["reached_max_epochs"].agg(lambda v: int(v.astype("boolean").sum()))
        for column in ("pretrain_valid_energy_rmse_meV_atom", "pretrain_valid_forces_rmse_meV_A"):
            stats[column] = grouped[column].agg(lambda v: pd.to_numeric(v, errors="coerce").mean())
    stats = stats.reset_index()
    scratch = stats[stats["method"] == "scratch"].set_index(["dataset", "train_size"])
    reference = stats.set_index(["dataset", "train_size"]).index
    for metric in METRICS:
        scratch_mean = scratch[f"{metric}_mean"].reindex(reference).to_numpy()
        stats[f"{metric}_ratio_to_scratch"] = stats[f"{metric}_mean"].to_numpy() / scratch_mean
    return stats.astype({"pretrain_size": "Int64", "epoch_cap": "Int64", "train_size": int})
