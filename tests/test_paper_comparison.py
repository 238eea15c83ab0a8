"""The paper's reported errors beside a campaign's: the real ``mftl paper-comparison`` on the
tiny campaign's curves.csv, checked against the rows of curves.csv read directly."""

from __future__ import annotations

import csv
import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import BIN, REPO, env_with_venv, job_counts, run_snakemake
from mftl.planning.paper_results import PAPER_COLUMNS, PaperResultsError, planned_paper_results, read_paper_results

ROWS = [  # figure, dataset, method, train_size, pretrain_size, epoch_cap, metric, value, unit, relative_to, qualifier,
    # source
    ["fig. 4", "tiny", "scratch", 5, "", "", "energy_rmse", 50.0, "meV/atom", "", "", "made up for the test"],
    ["fig. 4", "tiny", "mftl", 10, "", "", "forces_rmse", 400.0, "meV/A", "", "", "open cap: validation chooses"],
    ["fig. 3", "tiny", "mftl", 10, 40, 1, "forces_rmse", 400.0, "meV/A", "", "", "cap 1 only"],
    ["fig. 8", "tiny", "chain_triple", 5, "", "", "energy_rmse", 30.0, "%", "scratch", "", "chain vs scratch"],
    ["fig. 4", "tiny", "foundation", 999, "", "", "energy_rmse", 7.17, "meV/atom", "", "", "no such point"],
    ["fig. 8", "tiny", "chain_triple", "", "", "", "forces_rmse", 30.0, "%", "scratch", "up_to", "best over sizes"],
    ["fig. 2", "tiny", "low_fidelity", 0, "", "", "forces_rmse", 0.5, "eV/A", "", "", "GFN1 against ref"],
    ["fig. S4", "tiny", "mftl", "", "", "", "best_epoch_cap", 3, "epochs", "", "", "cap chosen on validation"],
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


def _compare(tmp_path, curves, rows, validation=(), extra=(), figure=()) -> tuple[pd.DataFrame, str]:
    """The real ``mftl paper-comparison`` (as the rule runs it): its table and what it printed."""
    paper = _write(tmp_path / "paper_results.csv", rows)
    out = tmp_path / "comparison.csv"
    args = ["--curves", str(curves), "--paper", str(paper), "--out", str(out), *extra]
    if validation:
        args += ["--validation", *map(str, validation)]
    if figure:
        args += ["--figure", *map(str, figure)]
    result = subprocess.run(
        [str(BIN / "python"), "-m", "mftl", "paper-comparison", *args],
        env=env_with_venv(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return pd.read_csv(out), result.stdout


def _validation_table(campaign, tmp_path):
    """valid_curves.csv of the tiny campaign's mftl models, written by the real ``mftl curves`` from the
    evaluate_validation rule's results (as the rule validation_curves does), and those results read as plain JSON."""
    results = sorted((campaign / "results/tiny/valid/mftl").glob("*.json"))
    assert len(results) == 4  # 2 caps x 2 training sizes, one pre-training size and seed
    out = tmp_path / "valid_curves.csv"
    subprocess.run([str(BIN / "python"), "-m", "mftl", "curves", *map(str, results), "--out", str(out)], check=True)
    return out, [json.loads(p.read_text()) for p in results]


def _labels(path, fidelity):
    from ase.io import read

    return {int(a.info["config_id"]): np.asarray(a.arrays[f"{fidelity}_forces"]) for a in read(path, ":")}


@pytest.mark.slow
def test_comparison_of_the_tiny_campaign_matches_its_curves(tiny_campaign, tmp_path):
    results = tiny_campaign / "results"
    curves = results / "curves.csv"
    valid_curves, valid = _validation_table(tiny_campaign, tmp_path)
    png, pdf = tmp_path / "comparison.png", tmp_path / "comparison.pdf"
    table, stdout = _compare(
        tmp_path,
        curves,
        ROWS,
        validation=[valid_curves],
        extra=["--fidelity-table", f"tiny={results / 'tiny/tables/fidelity_comparison.csv'}"],
        figure=[png, pdf],
    )
    assert "7 of 8 paper numbers have a campaign point" in stdout
    assert png.stat().st_size > 10_000 and pdf.stat().st_size > 5_000

    with open(curves) as handle:  # the independent path: curves.csv as text, no pandas grouping
        rows = [r for r in csv.DictReader(handle) if r["dataset"] == "tiny"]
    scratch_e = _mean(rows, "energy_rmse_meV_atom", method="scratch", train_size=5)
    by_cap = {cap: _mean(rows, "forces_rmse_meV_A", method="mftl", train_size=10, epoch_cap=cap) for cap in (1, 3)}
    valid_f = {r["epoch_cap"]: r["forces_rmse_meV_A"] for r in valid if r["train_size"] == 10}
    chosen = min(valid_f, key=valid_f.get)  # the validation set chooses, whatever the test errors say
    chain_e = _mean(rows, "energy_rmse_meV_atom", method="chain_triple", train_size=5)
    gain = {
        n: 100
        * (
            1
            - _mean(rows, "forces_rmse_meV_A", method="chain_triple", train_size=n)
            / _mean(rows, "forces_rmse_meV_A", method="scratch", train_size=n)
        )
        for n in (5, 10)
    }
    ref, low = (_labels(results / f"tiny/labels/test.{f}.extxyz", f) for f in ("ref", "gfn1"))
    low_f = 1000 * np.sqrt(np.mean(np.concatenate([(low[i] - ref[i]).ravel() for i in ref]) ** 2))
    scores = {}  # per training size: energy and force validation RMSE each over its best, summed over sizes
    for n in (5, 10):
        at = [r for r in valid if r["train_size"] == n]
        e_best = min(r["energy_rmse_meV_atom"] for r in at)
        f_best = min(r["forces_rmse_meV_A"] for r in at)
        for r in at:
            scores[r["epoch_cap"]] = (
                scores.get(r["epoch_cap"], 0) + r["energy_rmse_meV_atom"] / e_best + r["forces_rmse_meV_A"] / f_best
            )
    expected = [
        scratch_e,
        by_cap[chosen],
        by_cap[1],
        100 * (1 - chain_e / scratch_e),
        math.nan,
        max(gain.values()),
        low_f,
        min(scores, key=scores.get),
    ]
    assert table["reproduced"].tolist() == pytest.approx(expected, rel=1e-6, nan_ok=True)
    paper_values = [r[7] for r in ROWS]
    paper_values[6] = 500.0  # 0.5 eV/A in the campaign's meV/A
    assert table["paper_value"].tolist() == pytest.approx(paper_values)
    assert table["difference"].tolist() == pytest.approx(np.subtract(expected, paper_values).tolist(), nan_ok=True)
    assert table["ratio"].tolist() == pytest.approx(np.divide(expected, paper_values).tolist(), nan_ok=True)
    assert table.loc[1, ["reproduced_epoch_cap", "n_candidates"]].tolist() == [chosen, 2]
    assert table.loc[1, "chosen_by"].startswith(f"validation: pre-training 40, cap {chosen} has the lowest")
    assert table.loc[2, ["reproduced_epoch_cap", "n_candidates", "n_seeds"]].tolist() == [1, 1, 1]
    assert table.loc[5, "reproduced_train_size"] == max(gain, key=gain.get)
    assert table["campaign_unit"].tolist() == ["meV/atom", "meV/A", "meV/A", "%", "meV/atom", "%", "meV/A", "epochs"]
    missing = table.iloc[4]
    assert math.isnan(missing["reproduced"]) and math.isnan(missing["ratio"]) and missing["n_candidates"] == 0


@pytest.mark.slow
def test_an_open_row_is_chosen_by_validation_and_the_test_set_never_decides(tiny_campaign, tmp_path):
    """Curves edited so that the validation-best cap is the test-worst: the comparison still takes it;
    with the validation errors flipped it takes the other; without validation errors it takes none."""
    valid_curves, valid = _validation_table(tiny_campaign, tmp_path)
    valid_f = {r["epoch_cap"]: r["forces_rmse_meV_A"] for r in valid if r["train_size"] == 10}
    best, other = sorted(valid_f, key=valid_f.get)
    curves = pd.read_csv(tiny_campaign / "results/curves.csv")
    at = (curves["method"] == "mftl") & (curves["train_size"] == 10)
    curves.loc[at & (curves["epoch_cap"] == best), "forces_rmse_meV_A"] = 1e6  # the test set's worst
    curves.loc[at & (curves["epoch_cap"] == other), "forces_rmse_meV_A"] = 1.0  # the test set's best
    edited = tmp_path / "curves.csv"
    curves.to_csv(edited, index=False)
    row = [ROWS[1]]

    table, stdout = _compare(tmp_path, edited, row, validation=[valid_curves])
    assert table.loc[0, ["reproduced", "reproduced_epoch_cap"]].tolist() == [1e6, best]
    assert f"cap {best} has the lowest mean validation forces_rmse_meV_A ({valid_f[best]:.4g})" in stdout

    flipped = pd.read_csv(valid_curves)
    swap = (flipped["train_size"] == 10) & flipped["epoch_cap"].isin([best, other])
    flipped.loc[swap, "forces_rmse_meV_A"] = flipped.loc[swap, "epoch_cap"].map({best: 9e9, other: 1e-3})
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    table, _ = _compare(tmp_path, edited, row, validation=[tmp_path / "flipped.csv"])
    assert table.loc[0, ["reproduced", "reproduced_epoch_cap"]].tolist() == [1.0, other]

    table, _ = _compare(tmp_path, edited, row)  # no validation errors: no number, not the test-best
    assert math.isnan(table.loc[0, "reproduced"]) and pd.isna(table.loc[0, "reproduced_epoch_cap"])
    assert (
        table.loc[0, "chosen_by"] == "not chosen: no validation errors of the 2 candidates (the test set never chooses)"
    )


@pytest.mark.slow
def test_a_config_naming_paper_results_runs_the_comparison_rule_and_nothing_else(tiny_campaign, fresh_copy, tmp_path):
    campaign = fresh_copy(tiny_campaign)
    config = yaml.safe_load((campaign / "config.yaml").read_text())
    config["paper_results"] = str(_write(tmp_path / "paper results.csv", ROWS))  # a space: quoted in the shell
    (campaign / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["--configfile", str(campaign / "config.yaml"), "--cores", "1"], campaign)
    assert result.returncode == 0, result.stderr[-3000:]
    # only the comparison: the campaign already made valid_curves.csv (its delta_vs_single_fidelity figure shows the
    # mftl series its validation errors choose among two epoch caps), on which the comparison chooses too
    assert job_counts(result.stdout + result.stderr) == {"paper_comparison": 1, "all": 1}
    assert (campaign / "results/tiny/valid_curves.csv").is_file()
    table = pd.read_csv(campaign / "results/paper_comparison.csv")
    assert table["reproduced"].notna().tolist() == [True, True, True, True, False, True, True, True]
    assert (campaign / "results/figures/paper_comparison.png").stat().st_size > 10_000


def _row(**changes) -> list:
    """A good row (scratch energy RMSE at n=5) with some columns changed."""
    row = dict(
        zip(PAPER_COLUMNS, ["", "tiny", "scratch", 5, "", "", "energy_rmse", 5.0, "meV/atom", "", "", "s"], strict=True)
    )
    return list({**row, **changes}.values())


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_row(unit="meV/A"), r"row 1 \(line 2\): unit 'meV/A' of energy_rmse must be one of \['meV', 'meV/atom'\]"),
        (
            _row(relative_to="scratch"),
            r"row 1 \(line 2\): unit 'meV/atom' of energy_rmse relative to scratch must be one of \['%', 'x'\]",
        ),
        (_row(metric="energy_rsme"), r"metric 'energy_rsme' is not one of \['best_epoch_cap', 'energy_mae'"),
        (_row(train_size="0.5k"), r"train_size '0.5k' is not a positive integer"),
        (_row(train_size=0), r"train_size 0 is not a positive integer"),
        (_row(train_size=""), r"train_size nan is not a positive integer"),
        (_row(method="low_fidelity", train_size=5), r"low_fidelity trains nothing: train_size must be 0 or empty"),
        (_row(qualifier="about"), r"qualifier 'about' is not one of \['approximately', 'up_to'\]"),
        (_row(qualifier="up_to", unit="%", relative_to="mftl"), r"up_to needs relative_to and an empty train_size"),
        (_row(metric="best_epoch_cap", unit="meV/atom"), r"best_epoch_cap has unit 'epochs', no relative_to"),
        (_row(value="n/a"), r"value 'n/a' is not a finite number"),
        (_row(source=""), r"source is empty"),
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


def test_the_shipped_paper_results_are_the_papers_numbers_with_their_sections(tmp_path):
    """Every row cites a section or caption of the paper, never a ticket; each number is printed in the
    paper's text where it is given (shared/paper, when present); QM7-X's MFTL rows are fig. 4's model."""
    table = read_paper_results(REPO / "config/paper_results.csv")
    assert table["figure"].str.match(r"^sec\. 2\.[1-4](, figs?\. [0-9S]+( and S?[0-9]+)?)?$").all()
    assert not table["source"].str.contains("issue|derived", case=False).any()
    key = [c for c in PAPER_COLUMNS if c not in ("figure", "value", "source")]
    reported = {tuple(None if pd.isna(v) else v for v in r[key]): r["value"] for _, r in table.iterrows()}
    assert reported == {
        ("qm7x", "mftl", 500, 50000, 200, "energy_rmse", "meV/atom", None, ""): 6.1,
        ("qm7x", "mftl", 500, 50000, 200, "forces_rmse", "meV/A", None, ""): 92.5,
        ("qm7x", "scratch", 500, None, None, "energy_rmse", "meV/atom", None, ""): 11.8,
        ("qm7x", "scratch", 500, None, None, "forces_rmse", "meV/A", None, ""): 195.0,
        ("qm7x", "foundation", 500, None, None, "energy_rmse", "meV/atom", None, ""): 7.17,
        ("qm7x", "foundation", 500, None, None, "forces_rmse", "meV/A", None, ""): 127.87,
        ("qm7x", "foundation_zeroshot", 0, None, None, "energy_rmse", "meV/atom", None, ""): 107.94,
        ("qm7x", "low_fidelity", 0, None, None, "energy_rmse", "meV/atom", None, ""): 101.67,
        ("tungsten", "low_fidelity", 0, None, None, "energy_rmse", "meV", None, ""): 251.15,
        ("tungsten", "low_fidelity", 0, None, None, "forces_rmse", "eV/A", None, ""): 5.28,
        ("tungsten", "mftl", 100, 7600, None, "energy_rmse", "x", "scratch", "approximately"): 4.0,
        ("tungsten", "mftl", None, 7600, None, "best_epoch_cap", "epochs", None, ""): 6.0,
        ("ccsdt", "chain_triple", 100, None, None, "energy_rmse", "meV/atom", None, ""): 0.49,
        ("ccsdt", "chain_triple", 100, None, None, "forces_rmse", "meV/A", None, ""): 25.59,
        ("ccsdt", "chain_triple", None, None, None, "energy_rmse", "%", "scratch", "up_to"): 59.75,
        ("ccsdt", "chain_triple", None, None, None, "forces_rmse", "%", "scratch", "up_to"): 45.09,
    }
    paper = REPO.parent / "shared/paper/cui_reuter_margraf_2025.txt"
    if not paper.is_file():
        pytest.skip(f"{paper}: the paper's text is not beside this checkout")
    text = paper.read_text()
    for value, unit in zip(table["value"], table["unit"], strict=True):
        printed = f"{value:g}" if unit != "meV/A" or value != 195.0 else "195.0"
        assert printed in text or unit in ("x", "epochs"), f"{value} {unit} is not printed in the paper"
    assert "almost four-fold" in text and "after just 6 epochs" in text
