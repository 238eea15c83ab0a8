"""The stability checks of a dataset's models as one table (issue 33): records written here as ``mftl stability``
writes them (/work/stability_format.md), aggregated per route and training size by ``mftl stability-table``, drawn by
``mftl figure --kind stability``'s function, and read by the advice from real decision tables and the report page."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from mftl.analysis.cost_to_target import cost_to_target_table
from mftl.analysis.learning_curve_fits import fits_table
from mftl.analysis.series import series_label
from mftl.analysis.stability import COLUMNS, stability_table
from mftl.cli import main as mftl_main
from mftl.evaluation.stability_settings import StabilitySettings
from mftl.report import plots
from mftl.report.colours import route_colours
from mftl.report.matplotlib_agg import plt
from mftl.report.report_page import stability_section
from mftl.report.stability_figure import stability
from test_advice_footing import SPEC, campaign_files
from test_decisions import costs_rows, curves

SETTINGS = StabilitySettings(steps=200, timestep_fs=0.5, max_unstable_fraction=0.25)  # 100 fs runs
START = "results/d/labels/test.lo.extxyz"


def md_run(i: int, failure_fs: float | None, drift: float = 0.2) -> dict:
    """One MD run: stable (``failure_fs`` None, with an NVE drift) or failed by a close contact at ``failure_fs``."""
    stable = failure_fs is None
    return {
        "config_id": i,
        "molecule": "water",
        "n_atoms": 3,
        "seed": i,
        "stable": stable,
        "failure": None if stable else "close_contact",
        "failure_fs": failure_fs,
        "detail": "" if stable else "O-H at 0.3 A",
        "nve_drift_meV_atom_ps": drift if stable else None,
    }


def record(meta: dict, failures=(None, None), non_repulsive=(), forgetting=None, settings=SETTINGS, **skipped) -> dict:
    """A stability record of one model (curves.csv ``meta``): one MD run per entry of ``failures`` (None: stable,
    else its failure time), the ``non_repulsive`` notes, ``forgetting`` (before, after) force RMSEs or skipped;
    ``skipped``: check -> reason."""
    runs = [md_run(i, fs, drift=0.1 * (i + 1)) for i, fs in enumerate(failures)]
    failed = [r["failure_fs"] for r in runs if not r["stable"]]
    drifts = [abs(r["nve_drift_meV_atom_ps"]) for r in runs if r["stable"]]
    md = {
        "runs": runs,
        "n_runs": len(runs),
        "n_stable": len(runs) - len(failed),
        "stable_fraction": (len(runs) - len(failed)) / len(runs),
        "run_fs": settings.run_fs,
        "median_failure_fs": statistics.median(failed) if failed else None,
        "median_abs_drift_meV_atom_ps": statistics.median(drifts) if drifts else None,
    }
    pairs = [
        {"pair": note.split()[0], "config_id": 0, "molecule": "water", "d_train_min_A": 0.9, "d_scan_min_A": 0.45,
         "repulsive": False, "first_drop_A": float(note.split()[2])}
        for note in non_repulsive
    ]  # fmt: skip
    lost = {
        "data": START,
        "fidelity": "lo",
        "n_configs": 20,
        "start_model": "results/d/pretrain/p1000_s0/model.model",
        "before": {"energy_rmse_meV_atom": None, "forces_rmse_meV_A": forgetting[0]},
        "after": {"energy_rmse_meV_atom": None, "forces_rmse_meV_A": forgetting[1]},
    } if forgetting else {"skipped": "no start data (scratch)"}  # fmt: skip
    checks = {"md": md, "repulsion": {"pairs": pairs, "non_repulsive": list(non_repulsive)}, "forgetting": lost}
    checks.update({check: {"skipped": reason} for check, reason in skipped.items()})
    return {**meta, "model": "results/d/models/x/model.model", "settings": settings.as_dict(), **checks, "wall_s": 9.0}


def meta(method: str, size: int, seed: int, fidelities: str = "hi", pre=None, cap=None, **extra) -> dict:
    out = {"dataset": "d", "method": method, "fidelities": fidelities, "train_size": size, "seed": seed, **extra}
    return out if pre is None else {**out, "pretrain_size": pre, "epoch_cap": cap}


def mftl(size: int, seed: int) -> dict:
    return meta("mftl", size, seed, "lo->hi", 1000, 5)


# ---- the table -----------------------------------------------------------------------------------------------


def test_runs_failures_drift_pairs_and_forgetting_are_aggregated_over_a_routes_models():
    records = [
        record(mftl(300, 0), (None, 40.0), ["C-H below 0.62 A"], (120.0, 180.0)),
        record(mftl(300, 1), (None, None, 80.0), ["C-H below 0.55 A", "O-H below 0.5 A"], (100.0, 140.0)),
        record(mftl(300, 2), (None, None), [], (110.0, 130.0)),
        record(mftl(60, 0), (None,), [], (150.0, 150.0)),
        record(meta("scratch", 300, 0), (None, None), repulsion="no pairs below the training data's distances"),
        record(meta("scratch", 300, 1), (None, 10.0)),
    ]
    table = stability_table(records)
    assert list(table.columns) == COLUMNS
    assert list(zip(table["route"], table["train_size"], strict=True)) == [
        ("mftl (pre 1000, cap 5)", 60),
        ("mftl (pre 1000, cap 5)", 300),
        ("scratch", 300),
    ]
    big = table.iloc[1]
    assert (big["n_models"], big["md_runs"]) == (3, 7)
    assert big["md_stable_fraction"] == pytest.approx(5 / 7) and big["md_unstable_fraction"] == pytest.approx(2 / 7)
    assert big["md_median_failure_fs"] == 60.0  # over the two failed runs, 40 and 80 fs
    assert big["md_run_fs"] == 100.0 and big["md_temperature_K"] == 300.0
    # each model's median |drift| of its stable runs: 0.1; 0.15; 0.15 -> their median
    assert big["nve_drift_meV_atom_ps"] == pytest.approx(0.15)
    assert big["n_models_non_repulsive"] == 2
    assert big["non_repulsive_pairs"] == "C-H below 0.55..0.62 A (2 of 3 models); O-H below 0.5 A (1 of 3 models)"
    assert big["forgetting_data"] == START
    assert big["forgetting_forces_before_meV_A"] == pytest.approx(110.0)
    assert big["forgetting_forces_after_meV_A"] == pytest.approx(150.0)
    assert np.isnan(big["forgetting_energy_before_meV_atom"]) and big["skipped"] == ""
    scratch = table.iloc[2]
    assert scratch["md_stable_fraction"] == 0.75 and scratch["md_median_failure_fs"] == 10.0
    assert scratch["n_models_non_repulsive"] == 0 and scratch["non_repulsive_pairs"] == ""
    assert np.isnan(scratch["forgetting_forces_after_meV_A"]) and scratch["forgetting_data"] == ""
    assert scratch["skipped"] == (
        "repulsion: no pairs below the training data's distances; forgetting: no start data (scratch)"
    )


def test_a_route_is_unstable_only_above_the_records_max_unstable_fraction():
    """max_unstable_fraction 0.25: 1 of 4 runs failed is not unstable, 2 of 4 is; a route without MD runs is not."""
    at = [record(meta("scratch", 100, s), (None, 5.0 if s == 0 else None)) for s in (0, 1)]
    above = [record(meta("delta", 100, s, "hi-lo"), (None, 5.0)) for s in (0, 1)]
    no_md = [record(meta("scratch", 200, 0), md="delta's low fidelity has no labeller")]
    table = stability_table(at + above + no_md).set_index(["route", "train_size"])
    assert table.loc[("scratch", 100), "md_unstable_fraction"] == 0.25
    assert not table.loc[("scratch", 100), "unstable_in_md"]
    assert table.loc[("delta", 100), "unstable_in_md"] and table.loc[("delta", 100), "max_unstable_fraction"] == 0.25
    assert table.loc[("scratch", 200), "md_runs"] == 0 and not table.loc[("scratch", 200), "unstable_in_md"]
    assert (
        table.loc[("scratch", 200), "skipped"]
        == "md: delta's low fidelity has no labeller; forgetting: no start data (scratch)"
    )
    looser = StabilitySettings(max_unstable_fraction=0.6)
    looser = stability_table([record(meta("delta", 100, 0, "hi-lo"), (None, 5.0), settings=looser)])
    assert looser["md_unstable_fraction"].iloc[0] == 0.5 and not looser["unstable_in_md"].iloc[0]


def test_route_labels_are_the_ones_learning_curve_fits_gives_the_same_curves_rows():
    """curves.csv rows of every kind of series (mftl_auto over its caps, a foundation, a chain, scratch, delta);
    records with their metadata get the routes learning_curve_fits.csv gives them."""
    table = curves(sizes=(10, 30), seeds=(0, 1), routes=("scratch", "mftl", "delta"))
    extra = []
    for size in (10, 30):
        for seed in (0, 1):
            extra.append(meta("mftl_auto", size, seed, "lo->hi", 1000, [2, 5][seed]))
            extra.append(meta("foundation", size, seed, "mace_mp->hi", foundation="mace_mp"))
            extra.append(meta("chain_triple", size, seed, "lo->mid->hi", 500, 3))
    for row in extra:
        row.update(energy_rmse_meV_atom=10.0 / row["train_size"], forces_rmse_meV_A=30.0 / row["train_size"])
    table = pd.concat([table, pd.DataFrame(extra)], ignore_index=True)
    fits = fits_table(table)
    records = [record({k: v for k, v in row.items() if pd.notna(v)}) for row in table.to_dict("records")]
    stable = stability_table(records)
    assert set(stable["route"]) == set(fits["route"])
    for method, route in zip(fits["method"], fits["route"], strict=True):
        assert set(stable.loc[stable["method"] == method, "route"]) == {route}
    assert "mftl_auto (pre 1000)" in set(stable["route"]) and "foundation (mace_mp)" in set(stable["route"])
    assert stable.loc[stable["method"] == "foundation", "foundation"].eq("mace_mp").all()


def test_the_command_writes_the_table_and_names_a_record_without_a_check(tmp_path, capsys):
    files = []
    for seed, failures in enumerate([(None, None), (3.0, 4.0)]):
        files.append(tmp_path / f"n300_s{seed}.json")
        files[-1].write_text(json.dumps(record(meta("scratch", 300, seed), failures)))
    out = tmp_path / "tables/stability.csv"
    assert mftl_main(["stability-table", *map(str, files), "--out", str(out)]) == 0
    assert "stability-table: 2 models, 1 route-size rows" in capsys.readouterr().out
    written = pd.read_csv(out)
    assert list(written.columns) == COLUMNS and written["md_runs"].iloc[0] == 4 and written["unstable_in_md"].iloc[0]
    broken = record(meta("scratch", 300, 2))
    del broken["repulsion"]
    files[0].write_text(json.dumps(broken))
    assert mftl_main(["stability-table", *map(str, files), "--out", str(out)]) == 1
    assert f"{files[0]}: stability record without repulsion" in capsys.readouterr().err


# ---- the figure ----------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_the_figure_draws_each_routes_stable_share_in_its_colour_the_threshold_and_the_forgetting(tmp_path):
    records = [record(mftl(300, s), (None, None, 50.0 if s else None), forgetting=(100.0, 160.0)) for s in (0, 1)]
    records += [record(meta("scratch", 300, s), (20.0, 30.0)) for s in (0, 1)]
    table = stability_table(records)
    table.to_csv(tmp_path / "stability.csv", index=False)
    table = pd.read_csv(tmp_path / "stability.csv")
    fig = stability(table, title="d")
    plots.save(fig, [str(tmp_path / "stability.png")])
    assert (tmp_path / "stability.png").stat().st_size > 0
    fig = stability(table, title="d")
    fig.canvas.draw()
    md, repulsion, forgetting = fig.axes
    colours = route_colours(table)
    ticks = [t.get_text() for t in md.get_yticklabels()]
    assert ticks == ["scratch: n=300", "mftl (pre 1000, cap 5): n=300"]  # the first route at the top
    drawn = {
        label: (to_hex(bar.get_facecolor()), bar.get_width()) for label, bar in zip(ticks, md.patches, strict=True)
    }
    assert drawn["scratch: n=300"] == (colours["scratch"], 0.0)
    assert drawn["mftl (pre 1000, cap 5): n=300"] == (colours["mftl (pre 1000, cap 5)"], pytest.approx(5 / 6))
    notes = [t.get_text() for t in md.texts]
    assert "5/6" in notes and "0/4 unstable" in notes
    threshold = [line for line in md.get_lines() if line.get_linestyle() == "--"]
    assert [line.get_xdata()[0] for line in threshold] == [pytest.approx(0.75)]
    route_lines = [line for line in forgetting.get_lines() if line.get_label() == "mftl (pre 1000, cap 5)"]
    assert [list(line.get_xdata()) for line in route_lines] == [[100.0, 160.0]]
    assert to_hex(route_lines[0].get_color()) == colours["mftl (pre 1000, cap 5)"]
    assert all(t.get_text() == "" or t.get_text()[0].isdigit() for t in forgetting.get_xticklabels())
    # the share of each route's models with a pair that is not repulsive, the pairs beside it
    shares = {
        t.get_text(): bar.get_width() for t, bar in zip(repulsion.get_yticklabels(), repulsion.patches, strict=True)
    }
    expected = table.set_index("route")["n_models_non_repulsive"] / table.set_index("route")["n_models"]
    assert shares == {f"{route}: n=300": pytest.approx(share) for route, share in expected.items()}


def test_without_forgetting_the_panel_says_why_and_an_empty_table_is_skipped():
    table = stability_table([record(meta("scratch", 300, 0))])
    _, _, forgetting = stability(table).axes
    assert "no forgetting check: no start data (scratch)" in forgetting.texts[0].get_text().replace("\n", " ")
    with pytest.raises(plots.FigureSkipped, match="no rows"):
        stability(stability_table([]))


# ---- the advice and the report page --------------------------------------------------------------------------


def _routes_by_cost() -> tuple[pd.DataFrame, list[str]]:
    """test_decisions' curves (scratch, mftl, delta) and their routes by energy-target cost, cheapest first."""
    table = curves(sizes=(10, 30, 100, 300), seeds=(0, 1, 2))
    cost = cost_to_target_table(table, costs_rows(table), SPEC)
    energy = cost[cost["metric"] == "energy_rmse_meV_atom"].dropna(subset=["total_s"])
    return table, list(energy.sort_values("total_s", kind="stable")["route"])


def _write_stability(folder, table: pd.DataFrame, failures_of: dict[str, tuple], non_repulsive=None) -> None:
    """tables/stability.csv by mftl stability-table from a record per model at the largest size of ``table``: its
    route's MD ``failures_of``, the ``non_repulsive`` notes of a route, forgetting 120 -> 180 meV/A of mftl."""
    largest = table[table["train_size"] == table["train_size"].max()]
    files = []
    (folder / "stability").mkdir(parents=True)
    for i, row in enumerate(largest.to_dict("records")):
        row = {k: v for k, v in row.items() if pd.notna(v)}
        route = series_label(pd.Series(row))
        lost = (120.0, 180.0) if row["method"] == "mftl" else None
        pairs = (non_repulsive or {}).get(route, [])
        files.append(folder / "stability" / f"record{i}.json")
        files[-1].write_text(json.dumps(record(row, failures_of[route], pairs, forgetting=lost)))
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    assert mftl_main(["stability-table", *map(str, files), "--out", str(folder / "tables/stability.csv")]) == 0


def test_the_advice_does_not_rank_a_route_unstable_in_md_and_says_how_stable_its_choice_was(tmp_path):
    table, (first, second, third) = _routes_by_cost()  # delta, scratch, mftl
    folder = tmp_path / "results" / "d"
    failures = {first: (None, 30.0), second: (30.0, 40.0), third: (None, None)}  # 3 and 6 of 6 runs fail
    _write_stability(folder, table, failures, {second: ["C-H below 0.62 A"]})
    _, advice = campaign_files(tmp_path, table, None)
    target = advice.split("Target energy RMSE")[1].split("Target")[0]
    assert f"  cheapest: {third}:" in target and "runner-up" not in target
    assert f"  not ranked, unstable in MD: {first} (" in target and f"), {second} (" in target
    assert "; MD: 6/6 stable" in target.split("\n")[1]
    lines = advice.splitlines()
    assert lines[0] == "Stability (tables/stability.csv, 300 K, 100 fs Langevin from test molecules):"
    assert lines[1] == (
        f"  {third} (recommended): 6 of 6 runs stable, NVE drift 0.15 meV/atom/ps, repulsive for every pair;"
        " forgets: forces on lo test labels of d 120 -> 180 meV/A (partly the lo-hi difference it was fine-tuned to learn)"
    )
    assert f"  {first}: unstable in MD (3 of 6 runs failed within 100 fs)" in lines
    assert (
        f"  {second}: unstable in MD (6 of 6 runs failed within 100 fs); not repulsive: C-H below 0.62 A (3 of 3 models)"
        in lines
    )


def test_a_cheaper_stable_route_is_ranked_before_one_unstable_in_md(tmp_path):
    table, (first, second, third) = _routes_by_cost()
    _write_stability(tmp_path / "results/d", table, {first: (None, 30.0), second: (None,), third: (None,)})
    _, advice = campaign_files(tmp_path, table, None)
    target = advice.split("Target energy RMSE")[1].split("Target")[0]
    assert f"  cheapest: {second}:" in target and f"  runner-up: {third}:" in target
    assert "; MD: 3/3 stable" in target.split("\n")[1]
    assert f"  not ranked, unstable in MD: {first}" in target
    assert advice.splitlines()[1].startswith(f"  {second} (recommended): 3 of 3 runs stable")


def test_every_route_unstable_still_ranks_and_no_table_leaves_the_advice_as_it_was(tmp_path):
    table, routes = _routes_by_cost()
    _, before = campaign_files(tmp_path / "none", table, None)
    folder = tmp_path / "all" / "results" / "d"
    _write_stability(folder, table, dict.fromkeys(routes, (1.0, 2.0)))
    _, advice = campaign_files(tmp_path / "all", table, None)
    target = advice.split("Target energy RMSE")[1].split("Target")[0]
    assert f"  cheapest: {routes[0]}:" in target and "not ranked" not in target
    flag = " -- unstable in MD (6 of 6 runs failed within 100 fs)"
    assert "; MD: 0/6 stable" + flag in target
    # the advice without the table: the same but for the stability lines at its top and the notes the table adds
    lines = advice.splitlines()
    first = 1 + next(i for i, line in enumerate(lines[1:]) if not line.startswith("  "))
    assert lines[0].startswith("Stability") and "Stability" not in before and "MD:" not in before
    assert "\n".join(lines[first:]).replace("; MD: 0/6 stable", "").replace(flag, "") + "\n" == before


def test_the_report_page_has_a_stability_section_with_the_run_length(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert stability_section("d") == []
    folder = tmp_path / "results/d/tables"
    folder.mkdir(parents=True)
    records = [record(mftl(300, 0), (None, 12.0), ["C-H below 0.62 A"], (100.0, 160.0))]
    stability_table(records).to_csv(folder / "stability.csv", index=False)
    text = "\n".join(stability_section("d"))
    assert "Langevin MD at 300 K for 100 fs from test molecules" in text
    assert "What it cannot show at this length: slow drifts and rare events of longer runs" in text
    assert "   * - mftl (pre 1000, cap 5)\n     - 300\n     - 1\n     - 1 of 2 (unstable)\n     - 12" in text
    assert "C-H below 0.62 A (1 of 1 model)" in text and "100 -> 160" in text
    assert "results/d/figures/stability.png" in text
