"""Quality flags in curves.csv and summary.csv, the run's last lines and the report's first page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mftl import paths
from mftl.curves import curves_table
from mftl.quality import pretrain_validation_error, quality_warnings, run_flags, with_quality_columns
from mftl.report_page import report_page
from mftl.tables import summary_table


def training_json(folder, max_epochs, epochs_run, stopped_early):
    folder.mkdir(parents=True, exist_ok=True)
    info = {"max_epochs": max_epochs, "epochs_run": epochs_run, "stopped_early": stopped_early}
    (folder / "training.json").write_text(json.dumps(info))
    return folder


@pytest.mark.parametrize(
    "max_epochs, epochs_run, stopped_early, reached",
    [(40, 40, False, True), (40, 23, True, False), (40, 40, True, False)],
)
def test_a_run_that_used_all_its_epochs_without_early_stopping_is_flagged(
    tmp_path, max_epochs, epochs_run, stopped_early, reached
):
    assert run_flags(training_json(tmp_path / "run", max_epochs, epochs_run, stopped_early)) == {
        "reached_max_epochs": reached
    }
    assert run_flags(tmp_path / "no run") == {}


def mace_results(folder, rmse_e_per_atom: list[float], rmse_f: list[float]):
    """A mace results file as mace-torch 0.3.16 writes it: an eval line before training (epoch null), then per
    epoch (counted from 0) optimizer lines and one eval line with the validation errors in eV/atom and eV/A."""
    lines = [{"loss": 1.0, "rmse_e_per_atom": 9.0, "rmse_f": 9.0, "mode": "eval", "epoch": None, "head": "Default"}]
    for epoch, (e, f) in enumerate(zip(rmse_e_per_atom, rmse_f, strict=True)):
        lines.append({"loss": 0.5, "time": 0.1, "mode": "opt", "epoch": epoch})
        lines.append(
            {"loss": 0.1, "rmse_e_per_atom": e, "rmse_f": f, "mode": "eval", "epoch": epoch, "head": "Default"}
        )
    (folder / "results").mkdir(parents=True, exist_ok=True)
    (folder / "results" / "mace_run-0_train.txt").write_text("\n".join(map(json.dumps, lines)) + "\n")


def test_the_pretrained_models_own_validation_error_is_read_at_its_epoch_cap(tmp_path):
    mace_results(tmp_path, [0.30, 0.20, 0.10], [1.5, 1.0, 0.5])
    assert pretrain_validation_error(tmp_path, 2) == pytest.approx((200.0, 1000.0))  # after 2 epochs: epoch index 1
    assert pretrain_validation_error(tmp_path, 3) == pytest.approx((100.0, 500.0))
    assert np.isnan(pretrain_validation_error(tmp_path, 7)).all()


def records():
    rows = []
    for method, pre, cap in (("scratch", None, None), ("mftl", 40, 2), ("mftl", 40, 3)):
        for size in (5, 10):
            for seed in (0, 1):
                reached = method == "scratch" and size == 10  # two scratch runs ran out of epochs
                rows.append(
                    {
                        "dataset": "d",
                        "method": method,
                        "fidelities": "ref" if method == "scratch" else "gfn1->ref",
                        "pretrain_size": pre,
                        "epoch_cap": cap,
                        "train_size": size,
                        "seed": seed,
                        "energy_rmse_meV_atom": 10.0,
                        "forces_rmse_meV_A": 100.0,
                        "energy_mae_meV_atom": 8.0,
                        "forces_mae_meV_A": 80.0,
                        "n_test": 10,
                        "reached_max_epochs": reached,
                    }
                )
    return rows


def test_curves_and_summary_carry_the_flags_and_the_warnings_name_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for seed, errors in ((0, [0.3, 0.2, 0.1]), (1, [0.4, 0.3, 0.25])):
        mace_results(tmp_path / paths.pretrain_dir("d", paths.pretrain_tag(40, seed)), errors, [2 * e for e in errors])
    curves = with_quality_columns(curves_table(records()))
    mftl = curves[curves.method == "mftl"].set_index(["epoch_cap", "seed", "train_size"])
    assert mftl.loc[(2, 0, 5), "pretrain_valid_energy_rmse_meV_atom"] == pytest.approx(200.0)
    assert mftl.loc[(3, 1, 10), "pretrain_valid_forces_rmse_meV_A"] == pytest.approx(500.0)
    assert curves[curves.method == "scratch"]["pretrain_valid_energy_rmse_meV_atom"].isna().all()
    assert list(curves[curves.method == "scratch"].reached_max_epochs) == [False, False, True, True]

    curves.to_csv("curves.csv", index=False)  # as the rule writes it and summary reads it back
    summary = summary_table(pd.read_csv("curves.csv")).set_index(["method", "epoch_cap", "train_size"])
    assert summary.loc[("scratch", pd.NA, 10), "n_reached_max_epochs"].item() == 2
    assert summary.loc[("scratch", pd.NA, 5), "n_reached_max_epochs"].item() == 0
    assert summary.loc[("mftl", 2, 5), "pretrain_valid_energy_rmse_meV_atom"].item() == pytest.approx(250.0)

    warnings = quality_warnings(pd.read_csv("curves.csv"))
    assert warnings == [
        "d: 2 of 12 trained models ended at max_epochs without early stopping (probably under-trained; "
        "raise max_epochs of their stage): scratch n=10"
    ]
    undetermined = pd.read_csv("curves.csv").assign(n_test_undetermined=[0] * 11 + [3])
    assert "d: 1 models have test configurations whose reference energies" in quality_warnings(undetermined)[1]


def test_the_report_page_opens_with_the_warnings():
    ds = {
        "source": "x.extxyz",
        "fidelities": {"ref": {"energy_key": "E", "forces_key": "F"}, "gfn1": {"labeller": "tblite"}},
        "high_fidelity": "ref",
        "low_fidelity": "gfn1",
        "split": {"seed": 0, "test": 10, "validation": 5, "pretrain_pool": 40},
        "train_sizes": [5],
        "seeds": [0],
        "methods": ["scratch"],
    }
    page = report_page({"datasets": {"d": ds}}, ["d: 2 of 12 trained models ended at max_epochs"])
    assert "Warnings\n--------\n\n* d: 2 of 12 trained models ended at max_epochs\n" in page
    assert "None: every model stopped early" in report_page({"datasets": {"d": ds}}, [])
