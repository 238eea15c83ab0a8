"""Quality flags of a campaign's models, where people look: curves.csv, summary.csv, the report, the run's end.

* ``reached_max_epochs``: the run trained for all its ``max_epochs`` and early stopping (``patience``)
  never ended it: the validation error was still improving, so the model is probably under-trained
  (raise ``max_epochs`` of its stage). From the run's ``training.json``, written into its evaluation.
* ``pretrain_valid_energy_rmse_meV_atom`` / ``pretrain_valid_forces_rmse_meV_A`` (mftl, mftl_auto): the
  pre-trained model's own error on its low-fidelity validation split (mace's ``valid_fraction`` of the
  pre-training pool) after ``epoch_cap`` epochs, from mace's results file of the pre-training run: a
  pre-training that has not learnt the low fidelity transfers little.
* ``n_test_undetermined`` (when curves.csv has it): test configurations whose reference energies the
  training data cannot determine; their energy errors mean nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mftl import paths
from mftl.methods import PRETRAINED_METHODS
from mftl.series import series_label

#: the columns this module adds to curves.csv
FLAG_COLUMNS = ["reached_max_epochs", "pretrain_valid_energy_rmse_meV_atom", "pretrain_valid_forces_rmse_meV_A"]


def run_flags(model_dir: Path) -> dict:
    """``reached_max_epochs`` of a trained model from its ``training.json`` ({} without one)."""
    info_file = Path(model_dir) / "training.json"
    if not info_file.is_file():
        return {}
    info = json.loads(info_file.read_text())
    if info.get("max_epochs") is None or info.get("epochs_run") is None:
        return {}
    return {"reached_max_epochs": bool(not info.get("stopped_early") and info["epochs_run"] >= info["max_epochs"])}


def pretrain_validation_error(pretrain_dir: str | Path, cap: int) -> tuple[float, float]:
    """(energy meV/atom, forces meV/A) RMSE on the pre-training's validation split after ``cap`` epochs: mace's
    ``mode: eval`` line of epoch ``cap - 1`` (mace counts from 0) in ``results/*_train.txt``; NaN if absent."""
    for results in sorted(Path(pretrain_dir).glob("results/*_train.txt")):
        for line in results.read_text().splitlines():
            record = json.loads(line) if line.startswith("{") else {}
            if record.get("mode") == "eval" and record.get("epoch") == cap - 1:
                return 1000.0 * record["rmse_e_per_atom"], 1000.0 * record["rmse_f"]
    return np.nan, np.nan


def with_quality_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (curves) with the pre-training validation errors filled in from the runs under results/."""
    table = table.copy()
    for column in FLAG_COLUMNS:
        if column not in table.columns:
            table[column] = pd.NA
    energy, forces = [], []
    for _, row in table.iterrows():
        pretrained = (
            row["method"] in PRETRAINED_METHODS and pd.notna(row["pretrain_size"]) and pd.notna(row["epoch_cap"])
        )
        if pretrained:
            folder = paths.pretrain_dir(row["dataset"], paths.pretrain_tag(int(row["pretrain_size"]), int(row["seed"])))
            e, f = pretrain_validation_error(folder, int(row["epoch_cap"]))
        else:
            e, f = np.nan, np.nan
        energy.append(e)
        forces.append(f)
    table["pretrain_valid_energy_rmse_meV_atom"] = energy
    table["pretrain_valid_forces_rmse_meV_A"] = forces
    return table


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
    return warnings


def print_warnings(path: str = paths.campaign_file("warnings.txt")) -> None:
    """The Snakefile's ``onsuccess``: the quality warnings of the finished run, last on the screen."""
    text = Path(path).read_text() if Path(path).is_file() else ""
    if text:
        print(f"\nQuality warnings (also on the first page of the report):\n{text}", end="")
