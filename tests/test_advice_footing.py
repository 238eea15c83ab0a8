"""The advice checks its footing before it answers (issue 29): the low fidelity alone is the baseline, under-trained
routes are named and not ranked, sizes come off the measured means where there are some and off a fit only
where it describes its route, and intervals need three seeds. Made-up campaigns written as files, the real
``mftl decision-tables`` and ``mftl advice`` commands, numbers checked by computations written here."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mftl.analysis.advice import advice_text
from mftl.analysis.cost_to_target import cost_to_target_table
from mftl.analysis.data_efficiency import data_efficiency_table
from mftl.analysis.fidelity_statistics import COLUMNS as STATISTICS_COLUMNS
from mftl.analysis.learning_curve_fits import BOOTSTRAP, TWO_SEEDS, fits_table
from mftl.cli import main as mftl_main
from test_decisions import TEST, VALIDATION, costs_rows, curves

ENERGY, FORCES = "energy_rmse_meV_atom", "forces_rmse_meV_A"
SPEC = {
    "split": {"validation": VALIDATION, "test": TEST},
    "high_fidelity": "pbe0",
    "low_fidelity": "gfn1",
    "fidelities": {
        "pbe0": {"keys": {"energy": "e"}},
        "gfn1": {"labeller": "tblite", "options": {"method": "GFN1-xTB"}},
    },
}


def statistics(energy: float, forces: float) -> pd.DataFrame:
    """A tables/fidelity_statistics.csv: the low fidelity (and a zero-shot foundation, and a molecule) against pbe0."""
    rows = [
        ["gfn1", "pbe0", "all", 20, energy, 0.8 * energy, 0.9, forces, 0.8 * forces, 0.9],
        ["gfn1", "pbe0", "water", 10, 2 * energy, energy, 0.9, 2 * forces, forces, 0.9],
        ["found zero-shot", "pbe0", "all", 20, 1.0, 1.0, 0.99, 1.0, 1.0, 0.99],
    ]
    return pd.DataFrame(rows, columns=STATISTICS_COLUMNS)


def campaign_files(tmp_path, table: pd.DataFrame, stats: pd.DataFrame | None, spec=SPEC) -> tuple:
    """results/d/{curves,costs}.csv and tables/fidelity_statistics.csv; the decision tables and advice made by
    the real commands. Returns (folder, advice text)."""
    folder = tmp_path / "results" / "d"
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "curves.csv", index=False)
    costs_rows(table).to_csv(folder / "costs.csv", index=False)
    args = ["decision-tables", "--curves", str(folder / "curves.csv"), "--costs", str(folder / "costs.csv")]
    args += ["--dataset-config", json.dumps(spec)]
    if stats is not None:
        stats.to_csv(folder / "tables/fidelity_statistics.csv", index=False)
        args += ["--fidelity-statistics", str(folder / "tables/fidelity_statistics.csv")]
    for option, name in (("--fits", "learning_curve_fits"), ("--efficiency", "data_efficiency")):
        args += [option, str(folder / "tables" / f"{name}.csv")]
    args += ["--cost-to-target", str(folder / "tables/cost_to_target.csv")]
    assert mftl_main(args) == 0
    assert mftl_main(["advice", str(folder), "--out", str(folder / "advice.txt")]) == 0
    return folder, (folder / "advice.txt").read_text()


# ---- the low fidelity alone is the baseline ------------------------------------------------------


def test_every_route_worse_than_the_low_fidelity_is_never_cheapest_without_saying_so(tmp_path, capsys):
    table = curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2))
    largest = table[table["train_size"] == 300].groupby("method")[[ENERGY, FORCES]].mean()
    energy, forces = 0.5 * largest[ENERGY].min(), 0.5 * largest[FORCES].min()  # better than every trained route
    folder, advice = campaign_files(tmp_path, table, statistics(energy, forces))
    capsys.readouterr()
    lines = advice.splitlines()
    assert lines[0].startswith(f"GFN1-xTB alone (gfn1): {energy:.3g} meV/atom, {forces:.3g} meV/A")
    cheapest = [line for line in lines if "cheapest:" in line]
    assert len(cheapest) == 2  # one per target (energy and forces: scratch at its largest size)
    assert all("worse than GFN1-xTB itself" in line for line in cheapest)
    assert all("worse than GFN1-xTB itself" in line for line in lines if "runner-up:" in line)
    for name in ("energy RMSE", "force RMSE"):
        assert f"  no trained route beats GFN1-xTB alone (gfn1) on {name}" in lines
    for method, errors in largest.iterrows():  # each route's error at its largest size beside the baseline
        line = next(line for line in lines if line.startswith(f"  {method}") and "worse than" in line)
        assert f"energy RMSE {errors[ENERGY]:.3g} > {energy:.3g} meV/atom" in line
        assert f"force RMSE {errors[FORCES]:.3g} > {forces:.3g} meV/A" in line
    fits = pd.read_csv(folder / "tables/learning_curve_fits.csv")
    assert fits["worse_than_baseline"].all() and (fits["baseline"] == "GFN1-xTB alone (gfn1)").all()
    # delta's low fidelity at every prediction: costs_rows charges 0.1 s per configuration
    assert "delta needs GFN1-xTB at every prediction as well: 0.1 s per configuration" in advice


def test_a_route_better_than_the_low_fidelity_is_not_flagged_and_no_statistics_no_baseline(tmp_path):
    table = curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2))
    largest = table[table["train_size"] == 300].groupby("method")[ENERGY].mean()
    energy = float(largest.sort_values().iloc[1])  # one route better (at 300), two worse or equal
    _, advice = campaign_files(tmp_path, table, statistics(energy, 1e6))
    best = largest.idxmin()
    assert not any(line.startswith(f"  {best}: worse than") for line in advice.splitlines())
    assert "no trained route beats" not in advice
    _, without = campaign_files(tmp_path / "none", table, None)
    assert "alone" not in without and without.startswith("delta needs GFN1-xTB")


def test_the_labels_to_buy_are_training_plus_validation_configurations(tmp_path):
    table = curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2))
    folder, advice = campaign_files(tmp_path, table, None)
    cost = pd.read_csv(folder / "tables/cost_to_target.csv")
    row = cost[cost["total_s"].notna()].iloc[0]
    n = int(row["size"])
    expected = f"{n} training + {VALIDATION} validation = {n + VALIDATION} pbe0 labels (+{TEST} test if you have none)"
    assert row["labels_to_buy"] == expected and expected in advice


# ---- under-trained routes ------------------------------------------------------------------------------


def test_under_trained_routes_are_named_with_their_falling_validation_loss_and_not_ranked(tmp_path):
    table = curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2))
    cost = cost_to_target_table(table, costs_rows(table), SPEC)
    energy = cost[cost["metric"] == ENERGY].dropna(subset=["total_s"])
    first, second = energy["route"].iloc[0], energy["route"].iloc[1]  # cheapest and runner-up, all trained
    method = energy["method"].iloc[0]
    table["reached_max_epochs"] = (table["method"] == method) & (table["train_size"] == 30) & (table["seed"] == 1)
    # its run folder: mace's results file, validation loss 1/(epoch+1) over 20 epochs
    tag = "n30_s1" if method != "mftl" else "p1000_e5_n30_s1"
    run = tmp_path / "results/d/models" / method / tag / "results"
    run.mkdir(parents=True)
    loss = [1.0 / (epoch + 1) for epoch in range(20)]
    lines = [{"mode": "eval", "epoch": None, "loss": 9.0}]
    lines += [{"mode": "eval", "epoch": e, "loss": value, "head": "Default"} for e, value in enumerate(loss)]
    (run / "mace_run-1_train.txt").write_text("\n".join(map(json.dumps, lines)) + "\n")
    _, advice = campaign_files(tmp_path, table, None)
    drop = (loss[17] - loss[19]) / loss[17]  # the last 10% of 20 epochs: epochs 18 and 19 after 17
    note = f"1 of 12 models ended at max_epochs, validation loss still falling by up to {drop:.1%}"
    assert f"{first}: {note}" in advice
    target = advice.split("Target energy RMSE")[1]
    assert f"  cheapest: {second}:" in target and f"  not ranked, under-trained: {first}" in target


def test_an_under_trained_mftl_auto_route_reads_the_run_folder_of_its_chosen_cap(tmp_path):
    """mftl_auto's series has no epoch cap (one series over sizes), its rows do: the note reads mftl's run folder
    at each row's cap instead of failing on the blank cap (the tiny workflow's decision-tables did)."""
    table = curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2), routes=("scratch", "mftl"))
    auto = table[table["method"] == "mftl"].assign(method="mftl_auto")
    table = pd.concat([table, auto], ignore_index=True)
    table["reached_max_epochs"] = (table["method"] == "mftl_auto") & (table["train_size"] == 30) & (table["seed"] == 1)
    run = tmp_path / "results/d/models/mftl/p1000_e5_n30_s1/results"
    run.mkdir(parents=True)
    loss = [1.0 / (epoch + 1) for epoch in range(20)]
    lines = [{"mode": "eval", "epoch": e, "loss": value, "head": "Default"} for e, value in enumerate(loss)]
    (run / "mace_run-1_train.txt").write_text("\n".join(map(json.dumps, lines)) + "\n")
    _, advice = campaign_files(tmp_path, table, None)
    drop = (loss[17] - loss[19]) / loss[17]
    assert f"1 of 12 models ended at max_epochs, validation loss still falling by up to {drop:.1%}" in advice


def test_pretrain_still_falling_counts_as_under_trained_and_every_route_under_trained_still_ranks(tmp_path):
    table = curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2))
    table["pretrain_still_falling"] = np.where(table["method"] == "mftl", True, pd.NA)
    _, advice = campaign_files(tmp_path, table, None)
    assert "mftl (pre 1000, cap 5): 12 of 12 fine-tuned from a pre-training still falling steeply" in advice
    table["reached_max_epochs"] = True  # every route: the cheapest is named, under-trained on its line
    _, advice = campaign_files(tmp_path / "all", table, None)
    cheapest = [line for line in advice.splitlines() if "cheapest:" in line]
    assert cheapest and all("under-trained (" in line for line in cheapest)


# ---- sizes off the measured means; the fit only where it describes its route -----------------------


#: scratch's measured means bend away from any power law (the fit misses 30 and 100 by more than 10%)
SCRATCH_MEANS = {10: 100.0, 30: 60.0, 100: 20.0, 300: 15.0}
#: mftl: worse than scratch at 100 (22 > 20) and at 300 (16 > 15), better at 10 and 30
MFTL_MEANS = {10: 70.0, 30: 45.0, 100: 22.0, 300: 16.0}


def bent_curves() -> pd.DataFrame:
    """Three seeds at each size, at 0.98, 1 and 1.02 times the means above."""
    table = curves(sizes=tuple(SCRATCH_MEANS), seeds=(0, 1, 2), noise=0.0, routes=("scratch", "mftl"))
    for method, means in (("scratch", SCRATCH_MEANS), ("mftl", MFTL_MEANS)):
        rows = table["method"] == method
        level = table.loc[rows, "train_size"].map(means) * (0.98 + 0.02 * table.loc[rows, "seed"])
        table.loc[rows, ENERGY], table.loc[rows, FORCES] = level, 3 * level
    return table


def interpolate(means: dict, error: float) -> float:
    """Where a falling curve's means reach ``error``: numpy.interp on the logs."""
    sizes, values = np.log(list(means)), np.log(list(means.values()))
    return float(np.exp(np.interp(np.log(error), values[::-1], sizes[::-1])))


def test_a_power_law_that_misses_its_points_is_not_followed_and_sizes_come_off_the_measured_means(tmp_path):
    table = bent_curves()
    fits = fits_table(table)
    scratch = fits[(fits["method"] == "scratch") & (fits["metric"] == ENERGY)].iloc[0]
    a, b = scratch["a"], scratch["b"]
    assert abs(a * 30**-b / 60 - 1) > 0.1 and abs(a * 100**-b / 20 - 1) > 0.1  # the fit misses them
    assert not scratch["describes"] and "n=30, n=100" in scratch["fit_note"]
    spec = {**SPEC, "targets": {"energy_meV_atom": [30.0, 10.0]}}
    folder, advice = campaign_files(tmp_path, table, None, spec)
    cost = pd.read_csv(folder / "tables/cost_to_target.csv").set_index(["method", "target"])
    assert cost.loc[("scratch", 30.0), "size"] == math.ceil(interpolate(SCRATCH_MEANS, 30.0))  # 30 -> 100
    assert cost.loc[("scratch", 30.0), "size_status"] == "interpolated"
    assert math.ceil(interpolate(SCRATCH_MEANS, 30.0)) != math.ceil((a / 30.0) ** (1 / b))  # not the fit's
    beyond = cost.loc[("scratch", 10.0)]  # below every measured mean: only the fit could say, and it may not
    assert np.isnan(beyond["size"]) and beyond["size_status"].startswith("the fit does not describe this route")
    energy30 = advice.split("Target energy RMSE <= 30")[1].split("Target")[0]
    assert f"scratch: {math.ceil(interpolate(SCRATCH_MEANS, 30.0))} training configurations (interpolated" in energy30
    assert "scratch (the fit does not describe this route" in advice.split("Target energy RMSE <= 10")[1]


def test_the_data_factor_never_contradicts_the_measured_means_at_scratch_s_sizes():
    table = bent_curves()
    efficiency = data_efficiency_table(table)
    mftl = efficiency[(efficiency["method"] == "mftl") & (efficiency["metric"] == ENERGY)].set_index("train_size")
    for n, mean in MFTL_MEANS.items():
        row = mftl.loc[n]
        assert row["rmse_mean"] == pytest.approx(mean)
        if mean > SCRATCH_MEANS[n]:  # worse than scratch at the same size: scratch reaches it before n
            assert row["data_factor"] <= 1
        else:
            assert row["data_factor"] >= 1
        if min(SCRATCH_MEANS.values()) <= mean <= max(SCRATCH_MEANS.values()):
            assert row["equivalent_scratch_size"] == pytest.approx(interpolate(SCRATCH_MEANS, mean))
            assert not row["extrapolated"]
    # scratch's own fit would have said otherwise at 100 (worse than scratch, yet a factor above 1)
    fits = fits_table(table)
    scratch = fits[(fits["method"] == "scratch") & (fits["metric"] == ENERGY)].iloc[0]
    assert (scratch["a"] / MFTL_MEANS[100]) ** (1 / scratch["b"]) / 100 > 1
    assert mftl.loc[100, "data_factor"] == pytest.approx(interpolate(SCRATCH_MEANS, 22.0) / 100)
    assert mftl.loc[100, "transfer_better"] == "no crossover: a fit does not describe its route"


# ---- intervals need three seeds ------------------------------------------------------------------------------------


def test_two_seeds_give_no_interval_and_three_do(tmp_path):
    two, three = (curves(sizes=(10, 30, 100, 300), seeds=seeds, noise=0.1) for seeds in ((0, 1), (0, 1, 2)))
    fits2, fits3 = fits_table(two), fits_table(three)
    assert (fits2["interval"] == TWO_SEEDS).all() and fits2[["a_low", "b_high"]].isna().all().all()
    assert (fits2["bootstrap_draws"] == 0).all()
    assert (fits3["interval"] == BOOTSTRAP).all() and np.isfinite(fits3[["a_low", "b_high"]]).all().all()
    assert (fits3["a_low"] < fits3["a"]).all() and (fits3["a"] < fits3["a_high"]).all()
    cost2, cost3 = (cost_to_target_table(t, costs_rows(t), SPEC) for t in (two, three))
    trained = cost3["size"].notna() & (cost3["method"] != "foundation_zeroshot")
    assert cost2["size_low"].isna().all() and cost2["total_low_s"].isna().all()
    assert np.isfinite(cost3.loc[trained, "size_low"]).all()
    assert data_efficiency_table(two)["data_factor_low"].isna().all()
    assert np.isfinite(data_efficiency_table(three)["data_factor_low"]).any()
    _, advice2 = campaign_files(tmp_path / "two", two, None)
    _, advice3 = campaign_files(tmp_path / "three", three, None)
    assert f"has no interval ({TWO_SEEDS})" in advice2 and "\n  distinguishable:" not in advice2
    assert "has no interval" not in advice3
    assert "the cost intervals" in advice3  # overlap or not: said from real intervals


def test_advice_text_of_fits_without_footing_columns_still_reads():
    """Tables written before the footing columns (or by fits_table alone) give the advice without a baseline."""
    table = curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2), routes=("scratch", "mftl"))
    text = advice_text(
        "d", fits_table(table), data_efficiency_table(table), cost_to_target_table(table, costs_rows(table), SPEC)
    )
    assert text.startswith("Advice for d:") and "cheapest:" in text
