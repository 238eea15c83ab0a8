"""Quality flags in curves.csv and summary.csv, the run's last lines and the report's first page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mftl import paths
from mftl.analysis.curves import curves_table
from mftl.analysis.quality import pretrain_validation_error, quality_warnings, with_quality_columns
from mftl.analysis.tables import summary_table
from mftl.report.report_page import report_page
from mftl.training.steps import run_flags


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


def mace_results(folder, rmse_e_per_atom: list[float], rmse_f: list[float], losses=None, initial_loss=None):
    """A mace results file as mace-torch 0.3.16 writes it: an eval line before training (epoch null), then per
    epoch (counted from 0) optimizer lines and one eval line with the validation loss (``losses``, else a flat 0.1;
    before training ``initial_loss``, else the first epoch's) and errors in eV/atom and eV/A."""
    losses = losses or [0.1] * len(rmse_e_per_atom)
    initial_loss = losses[0] if initial_loss is None else initial_loss
    lines = [
        {"loss": initial_loss, "rmse_e_per_atom": 9.0, "rmse_f": 9.0, "mode": "eval", "epoch": None, "head": "Default"}
    ]
    for epoch, (e, f, loss) in enumerate(zip(rmse_e_per_atom, rmse_f, losses, strict=True)):
        lines.append({"loss": 0.5, "time": 0.1, "mode": "opt", "epoch": epoch})
        lines.append(
            {"loss": loss, "rmse_e_per_atom": e, "rmse_f": f, "mode": "eval", "epoch": epoch, "head": "Default"}
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


#: validation loss after 1..12 epochs (mace's epochs 0..11) of a pre-training run; 12.0 before training
STEEP_LOSSES = [8.0, 6.0, 5.0, 4.5, 4.2, 4.0, 3.9, 3.85, 3.84, 3.83, 3.82, 3.81]


def independent_drop(losses_by_epoch: dict[int, float], cap: int) -> float:
    """The module docstring's definition, spelled out here: percent drop of the best loss so far over the last
    max(3, ceil(0.2 cap)) epochs before the cap, from the earliest epoch when the cap is shorter."""
    window = max(3, -(-cap // 5))
    start = max(cap - window, 0)
    best = {k: min(v for e, v in losses_by_epoch.items() if e <= k) for k in losses_by_epoch}
    return 100.0 * (best[start] - best[cap]) / best[start]


def test_a_cap_on_the_steep_part_of_the_pretraining_validation_curve_is_flagged_with_its_drop(tmp_path, monkeypatch):
    """pretrain_still_falling / pretrain_falling_pct from a results file of mace's shape: caps 2 and 4 lie where
    the loss still falls fast (50%, 43.75%), cap 12 where it has flattened (0.8%)."""
    monkeypatch.chdir(tmp_path)
    by_epoch = {0: 12.0, **{k + 1: loss for k, loss in enumerate(STEEP_LOSSES)}}
    n = len(STEEP_LOSSES)
    mace_results(
        tmp_path / paths.pretrain_dir("d", paths.pretrain_tag(40, 0)), [0.1] * n, [0.2] * n, STEEP_LOSSES, 12.0
    )
    rows = []
    for method, cap in (("mftl", 2), ("mftl", 4), ("mftl", 12), ("mftl_auto", 4), ("scratch", None)):
        row = {**records()[0], "method": method, "seed": 0, "train_size": 5}
        row.update(pretrain_size=None if cap is None else 40, epoch_cap=cap)
        rows.append(row)
    curves = with_quality_columns(curves_table(rows))
    curves.to_csv("curves.csv", index=False)
    read = pd.read_csv("curves.csv")  # as the advice reads it: True/False/empty
    for _, row in read.iterrows():
        if row.method == "scratch":
            assert pd.isna(row.pretrain_still_falling) and np.isnan(row.pretrain_falling_pct)
            continue
        cap = int(row.epoch_cap)
        expected = independent_drop(by_epoch, cap)
        assert row.pretrain_falling_pct == pytest.approx(expected)
        assert bool(row.pretrain_still_falling) is (expected > 10.0)
    by_cap = read[read.method == "mftl"].set_index("epoch_cap")
    assert by_cap.pretrain_falling_pct.to_dict() == pytest.approx({2: 50.0, 4: 43.75, 12: 100 * 0.03 / 3.84})
    assert list(by_cap.pretrain_still_falling) == [True, True, False]
    assert curves.pretrain_still_falling.dtype == "boolean"

    assert not any("steep part" in w for w in quality_warnings(read))  # cap 12 has flattened
    steep = read[read.epoch_cap.fillna(0) < 12]
    (warning,) = [w for w in quality_warnings(steep) if "steep part" in w]
    assert warning.startswith("all epoch caps of d lie on the steep part of the pre-training validation curve: ")
    assert "cap 2: the validation loss fell 50% over its last 3 epochs; cap 4: the validation loss fell 44%" in warning


def test_a_noisy_validation_before_the_cap_is_no_fall(tmp_path, monkeypatch):
    """The demo's pre-training (seed 2) had a validation spike three epochs before its cap (0.045 after
    0.033): measured from the spike the loss 'fell' 43%, from the best model so far 23%; a flat, noisy curve
    whose best model does not improve over the window is not on the steep part."""
    monkeypatch.chdir(tmp_path)
    noisy = [0.31, 0.13, 0.095, 0.083, 0.055, 0.037, 0.033, 0.039, 0.045, 0.028, 0.042, 0.0255]
    flat = [0.31, 0.13, 0.095, 0.083, 0.055, 0.029, 0.026, 0.038, 0.023, 0.032, 0.034, 0.025]
    for seed, losses in enumerate((noisy, flat)):
        mace_results(
            tmp_path / paths.pretrain_dir("d", paths.pretrain_tag(40, seed)), [0.1] * 12, [0.2] * 12, losses, 1.6
        )
    rows = [{**records()[0], "method": "mftl", "seed": s, "pretrain_size": 40, "epoch_cap": 12} for s in (0, 1)]
    curves = with_quality_columns(curves_table(rows)).set_index("seed")
    assert curves.pretrain_falling_pct[0] == pytest.approx(100 * (0.033 - 0.0255) / 0.033)
    assert curves.pretrain_falling_pct[1] == pytest.approx(0.0)
    assert list(curves.pretrain_still_falling) == [True, False]
    for seed, losses in enumerate((noisy, flat)):
        assert curves.pretrain_falling_pct[seed] == pytest.approx(
            independent_drop({0: 1.6, **{k + 1: v for k, v in enumerate(losses)}}, 12)
        )


def test_a_cap_missing_from_the_results_file_leaves_the_flag_empty(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mace_results(tmp_path / paths.pretrain_dir("d", paths.pretrain_tag(40, 0)), [0.1] * 3, [0.2] * 3, [3.0, 2.0, 1.0])
    row = {**records()[0], "method": "mftl", "seed": 0, "pretrain_size": 40, "epoch_cap": 7}
    curves = with_quality_columns(curves_table([row, {**row, "pretrain_size": 80, "epoch_cap": 3}]))
    assert curves.pretrain_still_falling.isna().all() and curves.pretrain_falling_pct.isna().all()
    assert quality_warnings(curves) == []


def test_the_tiny_campaigns_pretraining_curve_and_flags_come_from_maces_own_results_file(tiny_campaign):
    """A real pre-training (caps 1 and 3): curves.csv's pretrain_falling_pct and tables/pretrain_validation.csv
    against the eval lines of mace's results file read here; the figures that draw them were made."""
    results = tiny_campaign / "results/tiny"
    (results_file,) = (results / "pretrain/p40_s0/results").glob("*_train.txt")
    evals = [json.loads(line) for line in results_file.read_text().splitlines() if line.startswith("{")]
    loss = {}
    for record in evals:
        if record.get("mode") == "eval":
            loss.setdefault(0 if record["epoch"] is None else record["epoch"] + 1, record["loss"])
    curve = pd.read_csv(results / "tables/pretrain_validation.csv")
    mine = curve[(curve.pretrain_size == 40) & (curve.seed == 0)].set_index("epoch")
    assert list(mine.index) == sorted(k for k in loss if k <= 3)
    assert mine.valid_loss.to_dict() == pytest.approx({k: loss[k] for k in mine.index})
    curves = pd.read_csv(results / "curves.csv")
    rows = curves[(curves.method == "mftl") & (curves.seed == 0) & (curves.pretrain_size == 40)]
    assert set(rows.epoch_cap) == {1, 3}
    for row in rows.itertuples():
        expected = independent_drop(loss, row.epoch_cap)
        assert row.pretrain_falling_pct == pytest.approx(expected)
        assert bool(row.pretrain_still_falling) is (expected > 10)
    for figure in ("negative_transfer", "learning_curves"):
        assert (results / f"figures/{figure}.png").stat().st_size > 5000
