"""The paper's reported errors beside a campaign's: the real ``mftl paper-comparison`` on the
tiny campaign's curves.csv, checked against the rows of curves.csv read directly."""

from __future__ import annotations

import csv
import math
import subprocess

import pandas as pd
import pytest
import yaml

from conftest import BIN, REPO, env_with_venv, run_snakemake
from mftl.paper_comparison import PAPER_COLUMNS, PaperResultsError, planned_paper_results, read_paper_results

ROWS = [  # figure, dataset, method, train_size, pretrain_size, epoch_cap, metric, value, unit, relative_to, source
    ["fig. 4", "tiny", "scratch", 5, "", "", "energy_rmse", 50.0, "meV/atom", "", "made up for the test"],
    ["fig. 4", "tiny", "mftl", 10, "", "", "forces_rmse", 400.0, "meV/A", "", "best of the caps"],
    ["fig. 3", "tiny", "mftl", 10, 40, 1, "forces_rmse", 400.0, "meV/A", "", "cap 1 only"],
    ["fig. 8", "tiny", "chain_triple", 5, "", "", "energy_rmse", 30.0, "%", "scratch", "chain vs scratch"],
    ["fig. 4", "tiny", "foundation", 999, "", "", "energy_rmse", 7.17, "meV/atom", "", "no such point"],
]


def _write(path, rows, columns=PAPER_COLUMNS):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def _mean(curves_rows: list[dict], column: str, **match) -> float:
    """Mean over seeds of the rows whose fields equal ``match``, read as plain dicts."""

    def same(text: str, value) -> bool:
        return float(text) == value if isinstance(value, int) else text == value

    values = [float(r[column]) for r in curves_rows if all(same(r[k], v) for k, v in match.items())]
    return sum(values) / len(values)


@pytest.mark.slow
def test_comparison_of_the_tiny_campaign_matches_its_curves(tiny_campaign, tmp_path):
    curves = tiny_campaign / "results/curves.csv"
    paper = _write(tmp_path / "paper_results.csv", ROWS)
    out, png, pdf = tmp_path / "comparison.csv", tmp_path / "comparison.png", tmp_path / "comparison.pdf"
    result = subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "mftl",
            "paper-comparison",
            "--curves",
            str(curves),
            "--paper",
            str(paper),
            "--out",
            str(out),
            "--figure",
            str(png),
            str(pdf),
        ],
        env=env_with_venv(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "4 of 5 paper numbers have a campaign point" in result.stdout
    table = pd.read_csv(out)
    assert png.stat().st_size > 10_000 and pdf.stat().st_size > 5_000

    with open(curves) as handle:  # the independent path: curves.csv as text, no pandas grouping
        rows = [r for r in csv.DictReader(handle) if r["dataset"] == "tiny"]
    scratch_e = _mean(rows, "energy_rmse_meV_atom", method="scratch", train_size=5)
    by_cap = {cap: _mean(rows, "forces_rmse_meV_A", method="mftl", train_size=10, epoch_cap=cap) for cap in (1, 3)}
    chain_e = _mean(rows, "energy_rmse_meV_atom", method="chain_triple", train_size=5)
    expected = [scratch_e, min(by_cap.values()), by_cap[1], 100 * (1 - chain_e / scratch_e)]
    assert table["reproduced"].iloc[:4].tolist() == pytest.approx(expected, rel=1e-9)
    assert table["difference"].iloc[:4].tolist() == pytest.approx(
        [e - r[7] for e, r in zip(expected, ROWS[:4], strict=True)]
    )
    assert table["ratio"].iloc[:4].tolist() == pytest.approx(
        [e / r[7] for e, r in zip(expected, ROWS[:4], strict=True)]
    )
    best_cap = min(by_cap, key=by_cap.get)
    assert table.loc[1, ["reproduced_epoch_cap", "n_candidates"]].tolist() == [best_cap, 2]
    assert table.loc[2, ["reproduced_epoch_cap", "n_candidates", "n_seeds"]].tolist() == [1, 1, 1]
    missing = table.iloc[4]
    assert math.isnan(missing["reproduced"]) and math.isnan(missing["ratio"]) and missing["n_candidates"] == 0


@pytest.mark.slow
def test_a_config_naming_paper_results_runs_the_comparison_rule_and_nothing_else(tiny_campaign, fresh_copy, tmp_path):
    campaign = fresh_copy(tiny_campaign)
    config = yaml.safe_load((campaign / "config.yaml").read_text())
    config["paper_results"] = str(_write(tmp_path / "paper results.csv", ROWS))  # a space: quoted in the shell
    (campaign / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["--configfile", str(campaign / "config.yaml"), "--cores", "1"], campaign)
    assert result.returncode == 0, result.stderr[-3000:]
    stats = (result.stdout + result.stderr).split("Job stats:")[1].split("total")[0]
    assert [line.split()[0] for line in stats.splitlines()[3:] if line.strip()] == ["paper_comparison", "all"]
    table = pd.read_csv(campaign / "results/paper_comparison.csv")
    assert table["reproduced"].notna().tolist() == [True, True, True, True, False]
    assert (campaign / "results/figures/paper_comparison.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ["", "tiny", "scratch", 5, "", "", "energy_rmse", 5.0, "meV/A", "", "s"],
            r"row 1 \(line 2\): unit 'meV/A' of energy_rmse must be 'meV/atom'",
        ),
        (
            ["", "tiny", "scratch", 5, "", "", "energy_rmse", 5.0, "meV/atom", "scratch", "s"],
            r"row 1 \(line 2\): unit 'meV/atom' of energy_rmse relative to scratch must be '%'",
        ),
        (
            ["", "tiny", "scratch", 5, "", "", "energy_rsme", 5.0, "meV/atom", "", "s"],
            r"metric 'energy_rsme' is not one of \['energy_mae', 'energy_rmse'",
        ),
        (
            ["", "tiny", "scratch", "0.5k", "", "", "energy_rmse", 5.0, "meV/atom", "", "s"],
            r"train_size '0.5k' is not a positive integer",
        ),
        (
            ["", "tiny", "scratch", 5, "", "", "energy_rmse", "n/a", "meV/atom", "", "s"],
            r"value 'n/a' is not a finite number",
        ),
        (["", "tiny", "scratch", 5, "", "", "energy_rmse", 5.0, "meV/atom", "", ""], r"source is empty"),
    ],
)
def test_a_bad_paper_row_is_named_by_file_row_and_column(tmp_path, row, message):
    path = _write(tmp_path / "paper.csv", [row])
    with pytest.raises(PaperResultsError, match=message):
        read_paper_results(path)


def test_planning_names_the_config_key_and_finds_the_shipped_file_from_any_directory(tmp_path, monkeypatch):
    _write(tmp_path / "short.csv", [["", "tiny", "scratch", 5]], columns=PAPER_COLUMNS[:4])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        PaperResultsError,
        match=r"config key 'paper_results': short\.csv: missing column\(s\) "
        r"\['pretrain_size'",
    ):
        planned_paper_results("short.csv", REPO)
    with pytest.raises(PaperResultsError, match=r"config key 'paper_results': nothere\.csv: file does not exist"):
        planned_paper_results("nothere.csv", REPO)
    shipped = planned_paper_results("config/paper_results.csv", REPO)
    assert shipped == str(REPO / "config/paper_results.csv")
    table = read_paper_results(shipped)
    reported = {(r.dataset, r.method, r.train_size, r.metric, r.unit): r.value for r in table.itertuples()}
    assert reported[("qm7x", "mftl", 500, "energy_rmse", "meV/atom")] == 6.1
    assert reported[("qm7x", "scratch", 500, "forces_rmse", "meV/A")] == 195.0
    assert reported[("qm7x", "foundation", 500, "forces_rmse", "meV/A")] == 127.87
    assert reported[("ccsdt", "chain_triple", 100, "energy_rmse", "%")] == 59.75
    assert reported[("ccsdt", "chain_triple", 100, "forces_rmse", "meV/A")] == 25.59
