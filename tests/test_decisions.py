"""From curves to decisions: power-law fits, data efficiency, cost to a target and the advice, on small
tables built here and checked against computations written here (numpy.polyfit on log values)."""

from __future__ import annotations

import copy
import itertools
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_config
from mftl.analysis.cost_to_target import cost_to_target_table
from mftl.analysis.costs import COMPONENTS
from mftl.analysis.curves import COLUMNS
from mftl.analysis.data_efficiency import data_efficiency_table
from mftl.analysis.learning_curve_fits import BOOTSTRAP_DRAWS, EXACT, fits_table
from mftl.cli import main as mftl_main
from mftl.planning.config import ConfigError, check_config
from mftl.report import plots

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"
VALIDATION, TEST = 10, 20
SPEC = {"split": {"validation": VALIDATION, "test": TEST}}
#: route -> (method, fidelities, pre-training size, epoch cap, a of energy, b of energy); forces are 3x energies
ROUTES = {
    "scratch": ("scratch", "hi", None, None, 300.0, 0.5),
    "mftl": ("mftl", "lo->hi", 1000, 5, 80.0, 0.3),
    "delta": ("delta", "hi-lo", None, None, 60.0, 0.45),
}


def curve_rows(route: str, sizes, seeds, noise: float, rng: np.random.Generator) -> list[dict]:
    """curves.csv rows of one route drawn from a * n**-b with log-normal seed noise."""
    method, fidelities, pre, cap, a, b = ROUTES[route]
    rows = []
    for n, seed in itertools.product(sizes, seeds):
        energy = a * n**-b * math.exp(noise * rng.standard_normal())
        rows.append(
            {
                "dataset": "d",
                "method": method,
                "fidelities": fidelities,
                "pretrain_size": pre if pre is not None else pd.NA,
                "epoch_cap": cap if cap is not None else pd.NA,
                "train_size": n,
                "seed": seed,
                "energy_rmse_meV_atom": energy,
                "forces_rmse_meV_A": 3 * energy,
                "energy_mae_meV_atom": 0.8 * energy,
                "forces_mae_meV_A": 2.4 * energy,
                "n_test": TEST,
                "n_test_undetermined": 0,
            }
        )
    return rows


def curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2, 3), noise=0.05, seed=0, routes=tuple(ROUTES)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [row for route in routes for row in curve_rows(route, sizes, seeds, noise, rng)]
    return pd.DataFrame(rows)[COLUMNS]


def polyfit(table: pd.DataFrame, method: str, metric: str) -> tuple[float, float]:
    """(a, b) of numpy.polyfit on the log of the seed means of one method."""
    means = table[table["method"] == method].groupby("train_size")[metric].mean()
    slope, intercept = np.polyfit(np.log(means.index.to_numpy(float)), np.log(means.to_numpy()), 1)
    return math.exp(intercept), -slope


def fit_row(fits: pd.DataFrame, method: str, metric: str) -> pd.Series:
    rows = fits[(fits["method"] == method) & (fits["metric"] == metric)]
    assert len(rows) == 1
    return rows.iloc[0]


# ---- fits -----------------------------------------------------------------------------


def test_fits_match_numpy_polyfit_on_the_logs_of_the_seed_means():
    table = curves(noise=0.2)
    fits = fits_table(table)
    assert len(fits) == len(ROUTES) * 2
    for method, metric in itertools.product(
        ["scratch", "mftl", "delta"], ["energy_rmse_meV_atom", "forces_rmse_meV_A"]
    ):
        row = fit_row(fits, method, metric)
        a, b = polyfit(table, method, metric)
        assert row["a"] == pytest.approx(a, rel=1e-9) and row["b"] == pytest.approx(b, rel=1e-9)
        means = table[table["method"] == method].groupby("train_size")[metric].mean()
        residual = np.log(means.to_numpy()) - np.log(a * means.index.to_numpy(float) ** -b)
        r2 = 1 - np.sum(residual**2) / np.sum((np.log(means) - np.log(means).mean()) ** 2)
        assert row["r2"] == pytest.approx(r2, rel=1e-9)
        assert (row["n_min"], row["n_max"], row["n_sizes"], row["n_seeds"]) == (10, 300, 4, 4)
        assert row["bootstrap_draws"] == BOOTSTRAP_DRAWS and row["a_low"] < row["a"] < row["a_high"]


def test_a_noisy_power_law_is_recovered_within_the_interval():
    """Drawn from a known power law with 10% seed noise, 8 seeds: the true a and b lie in the 95% intervals in
    at least 16 of 20 independent draws of the data (and the intervals are not absurdly wide). With 4 seeds
    the same intervals cover in about 14 of 20: a bootstrap over few seeds is too narrow (README)."""
    covered = 0
    for seed in range(20):
        table = curves(sizes=(10, 30, 100, 300, 1000), seeds=range(8), noise=0.1, seed=seed)
        row = fit_row(fits_table(table), "scratch", "energy_rmse_meV_atom")
        covered += row["a_low"] <= 300.0 <= row["a_high"] and row["b_low"] <= 0.5 <= row["b_high"]
        assert row["b_high"] - row["b_low"] < 0.2
    assert covered >= 16


def test_the_bootstrap_resamples_seeds_as_units_shared_by_every_route():
    """A seed that scales every error of every route by the same factor (its training configurations) moves
    no slope and no data factor: resampled as units, paired across routes, the intervals collapse."""
    table = curves(noise=0.0)
    factor = 1.0 + 0.1 * table["seed"]
    for metric in ("energy_rmse_meV_atom", "forces_rmse_meV_A"):
        table[metric] *= factor
    fits = fits_table(table)
    assert (fits["bootstrap_draws"] == BOOTSTRAP_DRAWS).all()
    np.testing.assert_allclose(fits["b_low"], fits["b"], rtol=1e-9)
    np.testing.assert_allclose(fits["b_high"], fits["b"], rtol=1e-9)
    assert (fits["a_high"] > fits["a_low"] * 1.01).all()  # the level does move with the seeds drawn
    efficiency = data_efficiency_table(table)
    np.testing.assert_allclose(efficiency["data_factor_low"], efficiency["data_factor"], rtol=1e-9)
    np.testing.assert_allclose(efficiency["data_factor_high"], efficiency["data_factor"], rtol=1e-9)


def test_two_sizes_give_an_exact_line_without_an_interval_and_one_size_no_fit():
    two = fits_table(curves(sizes=(20, 60)))
    row = fit_row(two, "mftl", "energy_rmse_meV_atom")
    assert row["interval"] == EXACT and np.isnan([row["a_low"], row["b_high"], row["r2"]]).all()
    assert row["bootstrap_draws"] == 0
    table = curves(sizes=(20, 60))
    means = table[table["method"] == "mftl"].groupby("train_size")["energy_rmse_meV_atom"].mean()
    assert row["a"] * 20 ** -row["b"] == pytest.approx(means[20]) and row["a"] * 60 ** -row["b"] == pytest.approx(
        means[60]
    )
    one = fit_row(fits_table(curves(sizes=(20,))), "mftl", "energy_rmse_meV_atom")
    assert np.isnan(one["a"]) and one["interval"] == "no fit: 1 training size"


def test_nan_errors_are_left_out_and_counted():
    table = curves(noise=0.2)
    undetermined = (table["method"] == "delta") & (table["train_size"] == 30) & (table["seed"] < 2)
    table.loc[undetermined, "energy_rmse_meV_atom"] = np.nan
    row = fit_row(fits_table(table), "delta", "energy_rmse_meV_atom")
    assert row["n_nan_skipped"] == 2 and row["n_seeds"] == 2
    assert (row["a"], row["b"]) == pytest.approx(polyfit(table[~undetermined], "delta", "energy_rmse_meV_atom"))
    assert fit_row(fits_table(table), "delta", "forces_rmse_meV_A")["n_nan_skipped"] == 0


def test_the_learning_curve_figure_draws_each_fit_dashed_over_the_measured_sizes():
    table = curves(noise=0.2)
    fig = plots.learning_curves(table)
    for ax, metric in zip(fig.axes, ["energy_rmse_meV_atom", "forces_rmse_meV_A"], strict=True):
        dashed = [line for line in ax.get_lines() if line.get_label() == "_fit"]
        assert len(dashed) == len(ROUTES) and all(line.get_linestyle() == "--" for line in dashed)
        a, b = polyfit(table, "delta", metric)  # routes in legend order: delta, mftl, scratch
        x, y = dashed[0].get_xdata(), dashed[0].get_ydata()
        assert (x.min(), x.max()) == pytest.approx((10, 300))
        np.testing.assert_allclose(y, a * x**-b, rtol=1e-9)


# ---- data efficiency ------------------------------------------------------------------


def log_interp(table: pd.DataFrame, method: str, metric: str, error: float) -> float:
    """The size at which a (falling) curve's seed means reach ``error``, by numpy.interp on their logs."""
    means = table[table["method"] == method].groupby("train_size")[metric].mean()
    x, y = np.log(means.index.to_numpy(float)), np.log(means.to_numpy())
    assert (np.diff(y) < 0).all()
    return float(np.exp(np.interp(np.log(error), y[::-1], x[::-1])))


def test_data_factor_is_the_scratch_size_of_the_same_error_on_scratch_s_measured_means_then_its_fit():
    """Inside scratch's measured errors the equivalent size is read off its measured means (log-log between
    the bracketing sizes); beyond them, off its fit."""
    table = curves(noise=0.2)
    efficiency = data_efficiency_table(table)
    a_s, b_s = polyfit(table, "scratch", "energy_rmse_meV_atom")
    scratch = table[table["method"] == "scratch"].groupby("train_size")["energy_rmse_meV_atom"].mean()
    mftl = efficiency[(efficiency["method"] == "mftl") & (efficiency["metric"] == "energy_rmse_meV_atom")]
    assert list(mftl["train_size"]) == [10, 30, 100, 300]
    for _, row in mftl.iterrows():
        error = table[(table["method"] == "mftl") & (table["train_size"] == row["train_size"])]
        mean = error["energy_rmse_meV_atom"].mean()
        inside = scratch.min() <= mean <= scratch.max()
        if inside:
            equivalent = log_interp(table, "scratch", "energy_rmse_meV_atom", mean)
        else:
            equivalent = (a_s / mean) ** (1 / b_s)
        assert row["equivalent_scratch_size"] == pytest.approx(equivalent)
        assert row["data_factor"] == pytest.approx(equivalent / row["train_size"])
        assert row["extrapolated"] == (not inside)
        assert row["beyond_bound"] == (not 1 <= equivalent <= 3000)  # targets.max_extrapolation 10
        assert row["equivalent_low"] < equivalent < row["equivalent_high"]
    assert mftl["extrapolated"].any() and not mftl["extrapolated"].all()
    # the fits cross where a_m n^-b_m = a_s n^-b_s; mftl (flatter) beats scratch below the crossing
    a_m, b_m = polyfit(table, "mftl", "energy_rmse_meV_atom")
    crossing = (a_m / a_s) ** (1 / (b_m - b_s))
    assert mftl["crossover_size"].iloc[0] == pytest.approx(crossing)
    assert mftl["transfer_better"].iloc[0] == "below crossover"
    assert not (efficiency["method"] == "scratch").any()


# ---- cost to a target -----------------------------------------------------------------


def costs_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A hand-made costs.csv: HF labels 2 s and training 0.5 s per configuration of training and
    validation; mftl shares a pre-training (1000 s for seed 0, 1200 s for seed 1, ...) and 300 s of
    low-fidelity labels per seed; evaluation 5 s."""
    costs = table.copy()
    per_config = costs["train_size"] + VALIDATION
    costs["hf_labels_s"], costs["training_s"] = 2.0 * per_config, 0.5 * per_config
    mftl = costs["method"] == "mftl"
    costs["lf_labels_s"] = np.where(mftl, 300.0, 0.0)
    costs["pretrain_s"] = np.where(mftl, 1000.0 + 200.0 * costs["seed"], 0.0)
    costs["lf_labels_s"] = np.where(costs["method"] == "delta", 0.1 * (per_config + TEST), costs["lf_labels_s"])
    costs["foundation_s"] = costs["chain_stages_s"] = 0.0
    costs["evaluation_s"] = 5.0
    return costs


def test_cost_to_target_counts_shared_work_once_and_scales_labels_and_training_to_the_size():
    table = curves(noise=0.2)
    scratch_at_largest = table[(table["method"] == "scratch") & (table["train_size"] == 300)]
    target = scratch_at_largest["energy_rmse_meV_atom"].mean()
    cost = cost_to_target_table(table, costs_rows(table), SPEC)
    energy = cost[cost["metric"] == "energy_rmse_meV_atom"].set_index("method")
    assert np.allclose(energy["target"], target)
    assert energy["target_source"].iloc[0] == "scratch at its largest size, n=300"
    for method in ROUTES:  # inside the measured errors off the means, beyond them off the fit
        means = table[table["method"] == method].groupby("train_size")["energy_rmse_meV_atom"].mean()
        if means.min() <= target <= means.max():
            size = math.ceil(round(log_interp(table, method, "energy_rmse_meV_atom", target), 6))
            assert energy.loc[method, "size_status"] == "interpolated"
        else:
            a, b = polyfit(table, method, "energy_rmse_meV_atom")
            size = math.ceil((a / target) ** (1 / b))
        assert energy.loc[method, "size"] == size
    assert energy.loc["scratch", "size"] == 300
    mftl = energy.loc["mftl"]
    pretrain_once = (1000 + 1200 + 1400 + 1600) / 4  # one pre-training per model, mean over the seeds
    expected = 2.5 * (mftl["size"] + VALIDATION) + 300 + pretrain_once + 5
    assert mftl["pretrain_s"] == pretrain_once and mftl["lf_labels_s"] == 300
    assert mftl["total_s"] == pytest.approx(expected)
    delta = energy.loc["delta"]
    assert delta["lf_labels_s"] == pytest.approx(0.1 * (delta["size"] + VALIDATION + TEST))
    assert list(cost[cost["metric"] == "energy_rmse_meV_atom"]["total_s"]) == sorted(energy["total_s"])
    low, high = mftl["size_low"], mftl["size_high"]
    assert low <= mftl["size"] <= high
    assert mftl["total_high_s"] == pytest.approx(2.5 * (high + VALIDATION) + 300 + pretrain_once + 5)


@pytest.mark.parametrize(
    "target, status",
    [
        (0.5, "interpolated"),  # between the errors at 10 and 300 (times a, below)
        (0.1, "extrapolated"),  # past the largest size, within 10x
        (0.01, "beyond bound (10x the largest size, 3000)"),
        (2.0, "extrapolated below"),  # reached before the smallest size
        (5.0, "met at the smallest measured size (the fit says 0.4, under 1/10 of it)"),
    ],
)
def test_sizes_from_the_fit_are_flagged_interpolated_or_extrapolated_and_bounded(target, status):
    table = curves(noise=0.0, routes=("scratch",))
    error = 300.0 * target * 10**-0.5  # scratch's error at 10 is 300 * 10**-0.5: target is a fraction of it
    spec = {**SPEC, "targets": {"energy_meV_atom": error, "max_extrapolation": 10}}
    row = cost_to_target_table(table, costs_rows(table), spec).iloc[0]
    assert row["target_source"] == "config targets.energy_meV_atom"
    assert row["size_status"] == status
    size = (300.0 / error) ** (1 / 0.5)
    if status.startswith("beyond"):
        assert size > 3000 and np.isnan(row["size"]) and np.isnan(row["total_s"])
    elif status.startswith("met"):
        assert size < 1 and row["size"] == 10 and not row["extrapolated"]
    else:
        assert row["size"] == math.ceil(size) and row["extrapolated"] == (status != "interpolated")


def test_a_route_measured_at_one_size_meets_a_target_there_or_has_no_size():
    table = curves(sizes=(20,), noise=0.0)
    mftl_error = 80.0 * 20**-0.3  # mftl's error at 20 (no noise); scratch's is 300 * 20**-0.5, higher
    spec = {**SPEC, "targets": {"energy_meV_atom": mftl_error * 1.01}}
    cost = cost_to_target_table(table, costs_rows(table), spec)
    cost = cost[cost["metric"] == "energy_rmse_meV_atom"].set_index("method")
    assert cost.loc["mftl", "size"] == 20 and "needs at most this size" in cost.loc["mftl", "size_status"]
    assert cost.loc["mftl", "total_s"] == pytest.approx(2.5 * (20 + VALIDATION) + 300 + 1300 + 5)
    assert (
        np.isnan(cost.loc["scratch", "size"])
        and cost.loc["scratch", "size_status"] == "misses it at its one measured size, 20 (no fit)"
    )


def test_unknown_costs_stay_unknown_and_named():
    table = curves(noise=0.2)
    costs = costs_rows(table)
    costs.loc[costs["method"] == "delta", "hf_labels_s"] = np.nan  # e.g. a dataset's labels without a cost
    costs.loc[(costs["method"] == "mftl") & (costs["seed"] == 1), "pretrain_s"] = np.nan
    cost = cost_to_target_table(table, costs, SPEC)
    for method, part in (("delta", "hf_labels_s"), ("mftl", "pretrain_s")):
        row = cost[(cost["method"] == method) & (cost["metric"] == "forces_rmse_meV_A")].iloc[0]
        assert np.isnan(row["total_s"]) and np.isnan(row[part]) and row["unknown"] == part
        known = sum(row[c] for c in COMPONENTS if c != part)
        assert row["known_total_s"] == pytest.approx(known) and np.isfinite(row["size"])
    scratch = cost[(cost["method"] == "scratch")].iloc[0]
    assert np.isfinite(scratch["total_s"]) and scratch["unknown"] == ""


def test_a_zero_shot_foundation_reaches_a_force_target_at_size_zero_or_not_at_all():
    """Its energies (relative to per-element energies fitted on the test set) are not compared with a target."""
    table = curves(noise=0.2)
    zeroshot = table.iloc[[0]].assign(method="foundation_zeroshot", fidelities="found", train_size=0)
    zeroshot["energy_rmse_meV_atom"] = 1.0
    zeroshot["forces_rmse_meV_A"] = 1.0
    both = pd.concat([table, zeroshot], ignore_index=True)
    costs = pd.concat([costs_rows(table), costs_rows(zeroshot).assign(hf_labels_s=0.0, training_s=0.0)])
    cost = cost_to_target_table(both, costs, {**SPEC, "targets": {"forces_meV_A": [0.5, 2.0]}})
    found = cost[cost["method"] == "foundation_zeroshot"]
    forces = found[found["metric"] == "forces_rmse_meV_A"].set_index("target")
    assert forces.loc[2.0, "size"] == 0 and forces.loc[2.0, "total_s"] == 5.0  # its evaluation, nothing trained
    assert np.isnan(forces.loc[0.5, "size"]) and "misses" in forces.loc[0.5, "size_status"]
    assert cost[cost["target"] == 2.0]["method"].iloc[0] == "foundation_zeroshot"  # the cheapest way there
    energy = found[found["metric"] == "energy_rmse_meV_atom"].iloc[0]
    assert np.isnan(energy["size"]) and energy["size_status"].startswith("not compared: zero-shot energies")
    assert not (data_efficiency_table(both)["method"] == "foundation_zeroshot").any()


def test_the_cost_to_target_figure_has_a_bar_per_route_reaching_a_target_hatched_where_extrapolated():
    table = curves(sizes=(20, 60), noise=0.2)
    spec = {**SPEC, "targets": {"energy_meV_atom": [10, 0.01]}}  # 0.01 meV/atom: no route within 10x
    cost = cost_to_target_table(table, costs_rows(table), spec)
    fig = plots.cost_to_target(cost)
    for ax, (_, rows) in zip(fig.axes, cost.groupby(["metric", "target"], sort=False), strict=True):
        reached = rows[rows["size"].notna()]
        assert len(ax.patches) == len(reached)
        hatched = sorted(bool(bar.get_hatch()) for bar in ax.patches)
        assert hatched == sorted(reached["extrapolated"].astype(bool))
        hours = sorted(bar.get_width() for bar in ax.patches)
        np.testing.assert_allclose(hours, sorted(reached["total_s"] / 3600))
    assert "not reached: " in fig.description and "beyond bound" in fig.description


# ---- the commands and the config ---------------------------------------------------------


def _decision_tables(folder: Path) -> dict[str, str]:
    """results/<dataset> with curves.csv, costs.csv and the decision tables mftl decision-tables makes of them."""
    table = curves(sizes=(20, 60), noise=0.2)
    (folder / "tables").mkdir(parents=True)
    table.to_csv(folder / "curves.csv", index=False)
    costs_rows(table).to_csv(folder / "costs.csv", index=False)
    names = {"fits": "learning_curve_fits", "efficiency": "data_efficiency", "cost": "cost_to_target"}
    out = {key: str(folder / "tables" / f"{name}.csv") for key, name in names.items()}
    args = ["decision-tables", "--curves", str(folder / "curves.csv"), "--costs", str(folder / "costs.csv")]
    args += ["--dataset-config", '{"split": {"validation": 10, "test": 20}, "targets": {"forces_meV_A": [50, 80]}}']
    args += ["--fits", out["fits"], "--efficiency", out["efficiency"], "--cost-to-target", out["cost"]]
    assert mftl_main(args) == 0
    return out


def test_decision_tables_and_advise_from_files(tmp_path, capsys):
    """What the rules decision_tables and advice run; two sizes: an exact line, so no route is
    distinguishable from another."""
    folder = tmp_path / "results" / "d"
    out = _decision_tables(folder)
    capsys.readouterr()
    cost = pd.read_csv(out["cost"])
    assert sorted(cost.groupby("metric")["target"].unique().map(list).loc["forces_rmse_meV_A"]) == [50, 80]
    assert mftl_main(["advice", str(folder), "--out", str(folder / "advice.txt")]) == 0
    printed, err = capsys.readouterr()
    assert (folder / "advice.txt").read_text() == printed and "WARNING" not in err
    energy = cost[cost["metric"] == "energy_rmse_meV_atom"].sort_values("total_s")
    assert f"  cheapest: {energy['route'].iloc[0]}: {int(energy['size'].iloc[0])} training configurations" in printed
    assert f"  runner-up: {energy['route'].iloc[1]}:" in printed
    assert "not distinguishable" in printed and "Target force RMSE <= 50 meV/A" in printed
    assert "Data factor of mftl (pre 1000, cap 5) at n=20" in printed
    assert (
        mftl_main(["figure", "--kind", "cost_to_target", "--table", out["cost"], "--out", str(tmp_path / "c.png")]) == 0
    )


def test_advise_names_the_missing_tables(tmp_path, capsys):
    assert mftl_main(["advice", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}: missing tables/learning_curve_fits.csv, tables/data_efficiency.csv" in err
    assert f"snakemake --cores 1 {tmp_path}/advice.txt (with the campaign's --configfile" in err


def test_advice_from_tables_older_than_the_curves_says_it_is_stale_and_how_to_refresh(tmp_path, capsys):
    """Curves or costs rewritten after the tables (a rerun that stopped before them, a hand edit): the advice
    printed is the earlier results', and says so, with the command that remakes it."""
    folder = tmp_path / "results" / "d"
    _decision_tables(folder)
    capsys.readouterr()
    assert mftl_main(["advice", str(folder)]) == 0
    fresh = capsys.readouterr()
    assert "WARNING" not in fresh.err
    later = (folder / "tables/cost_to_target.csv").stat().st_mtime + 60
    os.utime(folder / "curves.csv", (later, later))
    assert mftl_main(["advice", str(folder)]) == 0
    stale = capsys.readouterr()
    assert stale.out == fresh.out  # the advice itself, to stdout (advice.txt) as before
    assert f"WARNING: {folder}: curves.csv changed after the decision tables were made" in stale.err
    assert f"refresh it with snakemake --cores 1 {folder}/advice.txt" in stale.err
    os.utime(folder / "costs.csv", (later, later))
    assert mftl_main(["advice", str(folder)]) == 0
    assert "curves.csv, costs.csv changed after" in capsys.readouterr().err


def test_advice_on_the_campaigns_results_folder_names_its_datasets(tmp_path, capsys):
    """results/ holds results/curves.csv of all datasets but no tables: the advice is per dataset folder."""
    for name in ("d", "e"):
        _decision_tables(tmp_path / "results" / name)
    (tmp_path / "results/curves.csv").write_text((tmp_path / "results/d/curves.csv").read_text())
    capsys.readouterr()
    assert mftl_main(["advice", str(tmp_path / "results")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'results'} is the campaign's folder of datasets d, e; the advice is per dataset" in err
    assert f"mftl advice {tmp_path / 'results/d'} or mftl advice {tmp_path / 'results/e'}" in err
    assert "advice.txt" not in err  # no target under results/ itself


@pytest.mark.parametrize(
    "targets, message",
    [
        ({"energy": 5}, "config key 'datasets.tiny.targets.energy': unknown key"),
        ({"forces_meV_A": -1}, "config key 'datasets.tiny.targets.forces_meV_A'"),
        ({"max_extrapolation": 0.5}, "config key 'datasets.tiny.targets.max_extrapolation'"),
    ],
)
def test_bad_targets_name_the_key(targets, message):
    config = copy.deepcopy(tiny_config(Path("x.extxyz")))
    config["datasets"]["tiny"]["targets"] = {"energy_meV_atom": [5, 10], "forces_meV_A": 50}
    check_config(copy.deepcopy(config), SCHEMA)  # valid before the mutation
    config["datasets"]["tiny"]["targets"] = targets
    with pytest.raises(ConfigError, match=message):
        check_config(config, SCHEMA)


def test_the_campaign_ends_with_the_decision_tables_figure_and_advice(tiny_campaign, capsys):
    """The tiny campaign's real run (slow): every route of its curves is fitted, and advice.txt is what
    `mftl advice` prints from the tables it wrote."""
    results = tiny_campaign / "results/tiny"
    fits = pd.read_csv(results / "tables/learning_curve_fits.csv")
    curves = pd.read_csv(results / "curves.csv")
    assert set(fits["method"]) == set(curves["method"]) and len(fits) % 2 == 0
    for name in ("data_efficiency", "cost_to_target"):
        assert (results / f"tables/{name}.csv").is_file()
    assert all((results / f"figures/cost_to_target.{ext}").stat().st_size > 0 for ext in ("png", "pdf"))
    assert mftl_main(["advice", str(results)]) == 0
    assert capsys.readouterr().out == (results / "advice.txt").read_text()
