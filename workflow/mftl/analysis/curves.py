"""Learning-curve tables: one tidy row per evaluated model."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mftl.analysis.quality import FLAG_COLUMNS
from mftl.analysis.series import series_label  # noqa: F401 (re-exported: mftl.report.plots imports it from here)

COLUMNS = [
    "dataset",
    "method",
    "fidelities",
    "pretrain_size",
    "epoch_cap",
    "train_size",
    "seed",
    "energy_rmse_meV_atom",
    "forces_rmse_meV_A",
    "energy_mae_meV_atom",
    "forces_mae_meV_A",
    "n_test",
    "n_test_undetermined",
]
#: what an evaluation record says beside the plan, empty where it does not (zero-shot, records of older runs): the
#: sizes as trained (fewer than planned when labelling failures left fewer, mftl.training.steps.draw), test
#: configurations outside the span of the training compositions and the energy RMSE without them, and whether
#: a run was resumed from a checkpoint after an interruption (mftl.training.steps.trained_as)
TRAINED_COLUMNS = [
    "pretrain_size_trained",
    "train_size_trained",
    "n_test_outside_span",
    "energy_rmse_in_span_meV_atom",
    "resumed",
]
#: every column of curves.csv: the required ones, what was trained and the quality flags (mftl.analysis.quality),
#: each size as trained beside its planned one
TABLE_COLUMNS = [
    *COLUMNS[: COLUMNS.index("epoch_cap")],
    "pretrain_size_trained",
    *COLUMNS[COLUMNS.index("epoch_cap") : COLUMNS.index("seed")],
    "train_size_trained",
    *COLUMNS[COLUMNS.index("seed") :],
    *TRAINED_COLUMNS[2:],
    *FLAG_COLUMNS,
]

METRICS = ["energy_rmse_meV_atom", "forces_rmse_meV_A", "energy_mae_meV_atom", "forces_mae_meV_A"]


def curves_table(records: Iterable[dict]) -> pd.DataFrame:
    """Tidy table of evaluation records, sorted; pre-training columns are empty for scratch."""
    frame = pd.DataFrame(list(records))
    for optional in ("pretrain_size", "epoch_cap", *TRAINED_COLUMNS, *FLAG_COLUMNS):  # absent when no method
        if optional not in frame.columns:  # pre-trains; flags
            frame[optional] = pd.NA
    frame.loc[frame["pretrain_size"].isna(), "pretrain_size_trained"] = pd.NA  # a chain starting from scratch
    frame["energy_rmse_in_span_meV_atom"] = pd.to_numeric(frame["energy_rmse_in_span_meV_atom"])  # None, NA: NaN
    # test configurations whose reference energy the model's E0 fit left undetermined: the energy
    # errors are then empty (NaN), never a number (zero-shot results and older records: 0)
    frame["n_test_undetermined"] = frame.get("n_test_undetermined", pd.Series(0, index=frame.index)).fillna(0)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"evaluation records lack column(s) {missing}")
    frame = frame[TABLE_COLUMNS].astype(
        {
            "pretrain_size": "Int64",
            "epoch_cap": "Int64",
            "train_size": int,
            "seed": int,
            "n_test_undetermined": int,
            "pretrain_size_trained": "Int64",
            "train_size_trained": "Int64",
            "n_test_outside_span": "Int64",
            "energy_rmse_in_span_meV_atom": float,
            "resumed": "boolean",
            **dict.fromkeys(METRICS, float),
        }
    )
    return frame.sort_values(["method", "pretrain_size", "epoch_cap", "train_size", "seed"]).reset_index(drop=True)


def read_records(paths: Iterable[str | Path]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def campaign_curves(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One curves table of several datasets' curves.csv (``results/curves.csv``); a dataset's table written
    before a column existed gets it empty."""
    tables = [pd.read_csv(path) for path in paths]
    merged = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return merged.reindex(columns=TABLE_COLUMNS)
