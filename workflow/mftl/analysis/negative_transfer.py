"""Negative transfer (the paper's fig. S1): the pre-trained model at each epoch cap on the low-fidelity
test labels, beside the high-fidelity test errors of the models fine-tuned from it.

"training for more epochs increases the error on the high-fidelity data (even when it still decreases
the error on the low-fidelity data, see figure S1)" (sec. 2.2): where the two curves over the cap
diverge, pre-training longer helps the low fidelity and hurts the transfer.

Beside it, :func:`pretrain_curve_table` (``tables/pretrain_validation.csv``): each pre-training run's
low-fidelity validation loss and RMSEs per epoch up to the largest cap, from mace's results file, so the
figure shows where the curve flattens and whether the caps lie on its steep part (:mod:`mftl.analysis.quality`).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from mftl import paths
from mftl.analysis.quality import pretrain_validation_curve
from mftl.planning.campaign import PRETRAINED  # the method of a pre-trained model's evaluation records
from mftl.training.mace_results import CURVE_COLUMNS

KEYS = ["dataset", "pretrain_size", "epoch_cap"]
COLUMNS = [
    *KEYS,
    "train_size",
    "low_fidelity",
    "high_fidelity",
    "lf_n_seeds",
    "lf_energy_rmse_meV_atom",
    "lf_forces_rmse_meV_A",
    "hf_n_seeds",
    "hf_energy_rmse_meV_atom",
    "hf_forces_rmse_meV_A",
]
METRICS = {"energy_rmse_meV_atom": "energy", "forces_rmse_meV_A": "forces"}


def _means(rows: pd.DataFrame, keys: list[str], prefix: str) -> pd.DataFrame:
    """Mean over seeds of the RMSEs per ``keys`` (NaN is no number, left out), and the seeds with a number."""
    grouped = rows.groupby(keys, dropna=False)
    out = grouped[list(METRICS)].mean().add_prefix(f"{prefix}_")
    out[f"{prefix}_n_seeds"] = grouped["energy_rmse_meV_atom"].count()
    return out.reset_index()


def negative_transfer_table(records: Iterable[dict], curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, pre-training size, epoch cap, training size): the mean over seeds of the
    pre-trained model's low-fidelity test RMSEs at that cap (``lf_``, meV/atom and meV/A, the same on
    every training size's row) and of the high-fidelity test RMSEs of the mftl models fine-tuned from
    it on that many configurations (``hf_``, from ``curves``); NaN where one side has no number."""
    lf = pd.DataFrame(list(records))
    if lf.empty:
        raise ValueError("no evaluation of a pre-trained model")
    wrong = sorted(set(lf["method"]) - {PRETRAINED})
    if wrong:
        raise ValueError(f"evaluation records of method(s) {wrong}, expected only '{PRETRAINED}'")
    lf_means = _means(lf, KEYS, "lf")
    lf_means["low_fidelity"] = lf.groupby(KEYS)["fidelities"].first().to_numpy()
    mftl = curves[curves["method"] == "mftl"].astype({"pretrain_size": int, "epoch_cap": int})
    hf_means = _means(mftl, [*KEYS, "train_size"], "hf")
    hf_means["high_fidelity"] = (
        mftl.groupby([*KEYS, "train_size"])["fidelities"].first().str.split("->").str[-1].to_numpy()
    )
    table = lf_means.merge(hf_means, on=KEYS, how="outer")
    table = table.astype({"pretrain_size": int, "epoch_cap": int, "train_size": "Int64"})
    table = table.astype({"lf_n_seeds": "Int64", "hf_n_seeds": "Int64"})
    return table[COLUMNS].sort_values(["dataset", "pretrain_size", "train_size", "epoch_cap"]).reset_index(drop=True)


#: columns of tables/pretrain_validation.csv
CURVE_TABLE_COLUMNS = ["dataset", "pretrain_size", "seed", *CURVE_COLUMNS]


def pretrain_curve_table(records: Iterable[dict], results: str = paths.RESULTS) -> pd.DataFrame:
    """One row per (dataset, pre-training size, seed, epoch): the validation loss and RMSEs of every pre-training
    run the pre-trained models' evaluation ``records`` come from, up to the largest of their caps (the run
    trains to it); epoch 0 is mace's evaluation before training. Runs without a results file give no rows."""
    lf = pd.DataFrame(list(records))
    if lf.empty:
        return pd.DataFrame(columns=CURVE_TABLE_COLUMNS)
    parts = []
    for (dataset, pre, seed), rows in lf.groupby(["dataset", "pretrain_size", "seed"], sort=True):
        folder = paths.pretrain_dir(dataset, paths.pretrain_tag(int(pre), int(seed)), results)
        curve = pretrain_validation_curve(folder)
        curve = curve[curve["epoch"] <= int(rows["epoch_cap"].max())]
        parts.append(curve.assign(dataset=dataset, pretrain_size=int(pre), seed=int(seed)))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CURVE_TABLE_COLUMNS)
    return table[CURVE_TABLE_COLUMNS].reset_index(drop=True)
