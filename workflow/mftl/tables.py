"""Tidy tables the paper's figures and tables are drawn from (which figures a campaign makes: mftl.figure_catalogue).

* :func:`fidelity_comparison_table` -- low vs high fidelity labels of the test set (and a
  foundation's zero-shot predictions vs the high fidelity, the same way);
* :func:`fidelity_outliers` -- the worst configurations of each comparison;
* :func:`summary_table` -- mean and spread over seeds of every learning-curve point,
  relative to training from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mftl.curves import METRICS

# A method whose epoch cap is chosen per point (on validation): the cap is a result, not a series key.
CAP_SELECTING_METHODS = ("mftl_auto",)
SERIES_KEYS = ["method", "fidelities", "pretrain_size", "epoch_cap"]

FIDELITY_COLUMNS = ["config_id", "quantity", "atom", "axis", "high", "low", "high_fidelity", "low_fidelity"]
RELATIVE_ENERGY = "relative_energy_eV_atom"
FORCE = "force_eV_A"


# ---- low vs high fidelity -------------------------------------------------------


def fidelity_comparison_table(high_frames: Sequence, low_frames: Sequence, high: str, low: str) -> pd.DataFrame:
    """Long table of the labels of the configurations present in both fidelities (joined on config_id).

    Rows with ``quantity == "relative_energy_eV_atom"`` hold, per configuration, the energy
    per atom (eV/atom) relative to each fidelity's own least-squares atomic reference
    energies (fitted on the joined configurations, as for training), so totals with
    different references compare and composition differences drop out; ``atom`` and
    ``axis`` are empty.
    Rows with ``quantity == "force_eV_A"`` hold one force component (eV/A) per atom and axis.
    Columns ``high`` and ``low`` are the two fidelities' values.
    """
    from mftl.reference_energies import fit_e0s, reference_energy
    from mftl.structures import by_config_id, labels

    low_by_id = by_config_id(low_frames)
    joined = [(a, low_by_id[int(a.info["config_id"])]) for a in high_frames if int(a.info["config_id"]) in low_by_id]
    if not joined:
        raise ValueError(f"no configuration carries both {high} and {low} labels (joined on config_id)")
    high_e0s = fit_e0s([h for h, _ in joined], high)
    low_e0s = fit_e0s([lo for _, lo in joined], low)
    ids, energies, forces = [], [], []
    for atoms, low_atoms in joined:
        config_id = int(atoms.info["config_id"])
        high_energy, high_forces = labels(atoms, high)
        low_energy, low_forces = labels(low_atoms, low)
        ids.append(config_id)
        energies.append(
            (
                (high_energy - reference_energy(atoms, high_e0s)) / len(atoms),
                (low_energy - reference_energy(low_atoms, low_e0s)) / len(atoms),
            )
        )
        forces.append(_force_rows(config_id, np.asarray(high_forces), np.asarray(low_forces)))
    relative = np.array(energies)
    energy_rows = pd.DataFrame(
        {
            "config_id": ids,
            "quantity": RELATIVE_ENERGY,
            "atom": pd.NA,
            "axis": pd.NA,
            "high": relative[:, 0],
            "low": relative[:, 1],
        }
    )
    table = pd.concat([energy_rows, *forces], ignore_index=True)
    table["high_fidelity"], table["low_fidelity"] = high, low
    return table[FIDELITY_COLUMNS].astype({"atom": "Int64"})


def _force_rows(config_id: int, high: np.ndarray, low: np.ndarray) -> pd.DataFrame:
    n_atoms = len(high)
    return pd.DataFrame(
        {
            "config_id": config_id,
            "quantity": FORCE,
            "atom": np.repeat(np.arange(n_atoms), 3),
            "axis": np.tile(list("xyz"), n_atoms),
            "high": high.reshape(-1),
            "low": low.reshape(-1),
        }
    )


def fidelity_errors(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Low minus high fidelity: relative energies (meV/atom) and force components (meV/A)."""

    def difference(quantity: str) -> np.ndarray:
        rows = table[table["quantity"] == quantity]
        return 1000.0 * (rows["low"].to_numpy(float) - rows["high"].to_numpy(float))

    return {"energy_meV_atom": difference(RELATIVE_ENERGY), "forces_meV_A": difference(FORCE)}


def zeroshot_name(foundation: str) -> str:
    """The ``low_fidelity`` value of a foundation's zero-shot rows in the fidelity table."""
    return f"{foundation} zero-shot"


def compared_sources(table: pd.DataFrame) -> list[str]:
    """What the table compares with the high fidelity, in table order: the low fidelity, then each
    foundation's zero-shot predictions."""
    return list(dict.fromkeys(table["low_fidelity"].astype(str)))


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
    if "reached_max_epochs" in curves.columns:  # quality flags (mftl.quality): runs without early stopping
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
