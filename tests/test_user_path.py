"""The path a user with their own data takes: the commands they see, the report of any campaign."""

from __future__ import annotations

import contextlib
import html
import io
import re
from pathlib import Path

import pytest

from conftest import BIN, REPO, env_with_venv, run_snakemake
from mftl.cli import build_parser, main

GFN2 = '{"method": "GFN2-xTB"}'  # the method of the tiny source's labels: its isolated atoms are their E0s


def test_user_help_lists_init_and_not_the_rule_only_figure_notes():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["--help"])
    assert "init" in out.getvalue() and "check-config" in out.getvalue()
    assert "figure-notes" not in out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["figure-notes", "--skipped", '["demo/cost: no costs"]']) == 0  # the rule's step still runs
    assert out.getvalue() == "figures: skipped demo/cost: no costs\n"


def test_each_rule_runs_the_mftl_subcommand_of_its_name():
    """A rule and the step it runs carry one name (rule fidelity_comparison_table runs `mftl
    fidelity-comparison-table`), so that a log, a profile entry or a traceback leads to the step by name. The
    exceptions: a training rule is named for the method it trains (scratch; the others are `use rule scratch`
    and run its `mftl train`), figure rules draw with `mftl figure --kind`, and all_figures, the target of
    every figure, prints which were skipped."""
    steps = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for rule, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text(), flags=re.M | re.S):
            steps[rule] = re.search(r'"\{params\.mftl\} ([\w-]+)', body).group(1)
    [subcommands] = [action.choices for action in build_parser()._actions if action.dest == "command"]
    assert len(steps) >= 20 and set(steps.values()) <= set(subcommands), steps
    named_otherwise = {rule: step for rule, step in steps.items() if step != rule.replace("_", "-")}
    assert named_otherwise == {
        "scratch": "train",
        "all_figures": "figure-notes",
        "pretraining_fidelity": "figure",
        "cost_to_target_figure": "figure",
        "stability_figure": "figure",
    }


@pytest.mark.slow
def test_own_data_path_of_the_readme_init_check_plan_run_report(tiny_source, tmp_path):
    """README, "Your own data", followed literally on a file made here (the tiny source: GFN2-xTB labels
    under ref_energy/ref_forces, a molecule key): mftl init -> mftl check-config -> snakemake -n -> run
    -> report, in a fresh working directory with the file under a relative path."""
    import html
    import json
    import shutil
    import subprocess
    import time

    import pandas as pd

    from mftl.data.structures import read_structures

    shutil.copy(tiny_source, tmp_path / "my.extxyz")
    start = time.perf_counter()

    def mftl(*args: str) -> subprocess.CompletedProcess:
        command = [str(BIN / "python"), "-m", "mftl", *args]
        return subprocess.run(command, cwd=tmp_path, env=env_with_venv(), capture_output=True, text=True, timeout=300)

    init = mftl("init", "my.extxyz", "--preset", "quick", "--e0s-labeller", "tblite", "--e0s-options", GFN2)
    assert init.returncode == 0, init.stderr
    (tmp_path / "my.yaml").write_text(init.stdout)
    check = mftl("check-config", "my.yaml")
    assert check.returncode == 0 and "my.yaml: a valid campaign (my)" in check.stdout, check.stderr
    plan = run_snakemake(["-n", "--configfile", "my.yaml"], tmp_path)
    assert plan.returncode == 0, plan.stderr[-3000:]
    run = run_snakemake(["--cores", "2", "--configfile", "my.yaml"], tmp_path, timeout=1800)
    assert run.returncode == 0, run.stderr[-5000:]
    report = run_snakemake(["--configfile", "my.yaml", "--report", "results/report.html"], tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    print(f"own-data path: init to report in {time.perf_counter() - start:.0f} s")

    summary = pd.read_csv(tmp_path / "results/my/summary.csv")
    assert set(summary["method"]) == {"scratch", "mftl", "delta"}
    page = (tmp_path / "results/report.html").read_text()
    text = html.unescape(page)
    assert "Campaign results" in text and "Dataset my" in text
    for _, row in summary.iterrows():  # each mean energy and force RMSE of summary.csv, as the page rounds them
        assert f"{row['energy_rmse_meV_atom_mean']:.1f}" in text
        assert f"{row['forces_rmse_meV_A_mean']:.1f}" in text

    # quality flags: three epochs end no run early, so every trained model is flagged, in curves.csv (as its
    # training.json says), in the warnings printed last by the run and on the report's first page
    curves = pd.read_csv(tmp_path / "results/my/curves.csv")
    for _, row in curves.iterrows():
        tag = f"n{row.train_size}_s{row.seed}"
        if row.method == "mftl":
            tag = f"p{int(row.pretrain_size)}_e{int(row.epoch_cap)}_{tag}"
        info = json.loads((tmp_path / f"results/my/models/{row.method}/{tag}/training.json").read_text())
        assert row.reached_max_epochs == (not info["stopped_early"] and info["epochs_run"] == info["max_epochs"])
        if row.method == "mftl":  # the pre-training's own validation error after epoch_cap epochs (mace counts from 0)
            log = pd.read_json(next((tmp_path / "results/my/pretrain").glob("*/results/*_train.txt")), lines=True)
            at_cap = log[(log["mode"] == "eval") & (log["epoch"] == row.epoch_cap - 1)].iloc[0]
            assert row.pretrain_valid_energy_rmse_meV_atom == pytest.approx(1000 * at_cap.rmse_e_per_atom)
            assert row.pretrain_valid_forces_rmse_meV_A == pytest.approx(1000 * at_cap.rmse_f)
    assert curves.reached_max_epochs.all()
    # per molecule (the made file has a molecule key): one row per model and molecule of its test set
    by_molecule = pd.read_csv(tmp_path / "results/my/tables/errors_by_molecule.csv")
    test_molecules = {a.info["molecule"] for a in read_structures(tmp_path / "results/my/splits/test.extxyz")}
    assert len(by_molecule) == len(curves) * len(test_molecules)
    assert by_molecule.groupby(["method", "train_size"]).n_test.sum().eq(curves.n_test.iloc[0]).all()
    warning = f"my: {len(curves)} of {len(curves)} trained models ended at max_epochs without early stopping"
    assert warning in run.stdout.split("Quality warnings")[-1]
    assert warning in text.split("Warnings")[1]


def test_report_page_holds_each_datasets_summary_as_docutils_renders_it(tmp_path, monkeypatch):
    """The report's first page from a made curves.csv (summary.csv by mftl summary's function) and costs.csv:
    means and sds over seeds computed here with numpy, the cost a mean over seeds; valid reStructuredText."""
    import numpy as np
    import pandas as pd
    from docutils.core import publish_parts

    from mftl.analysis.tables import summary_table
    from mftl.report.report_page import report_page

    rng = np.random.default_rng(0)
    rows = []
    for method, fidelities, pre, cap in (("scratch", "pbe0", None, None), ("mftl", "gfn1->pbe0", 100, 12)):
        for size in (10, 30):
            for seed in (0, 1, 2):
                rmse = rng.uniform(5, 50, 4)
                rows.append([method, fidelities, pre, cap, size, seed, *rmse, 20])
    curves = pd.DataFrame(
        rows,
        columns=["method", "fidelities", "pretrain_size", "epoch_cap", "train_size", "seed"]
        + ["energy_rmse_meV_atom", "forces_rmse_meV_A", "energy_mae_meV_atom", "forces_mae_meV_A"]
        + ["n_test"],
    )
    curves.insert(0, "dataset", "mine")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/mine").mkdir(parents=True)
    summary_table(curves).to_csv("results/mine/summary.csv", index=False)
    costs = curves[["dataset", "method", "fidelities", "pretrain_size", "epoch_cap", "train_size", "seed"]].copy()
    costs["total_s"] = np.arange(len(costs)) * 10.0
    costs.to_csv("results/mine/costs.csv", index=False)
    ds = {
        "source": "my.extxyz",
        "fidelities": {
            "pbe0": {"energy_key": "E", "forces_key": "F"},
            "gfn1": {"labeller": "tblite", "options": {"method": "GFN1-xTB"}},
        },
        "high_fidelity": "pbe0",
        "low_fidelity": "gfn1",
        "split": {"seed": 0, "test": 20, "validation": 10, "pretrain_pool": 100},
        "train_sizes": [10, 30],
        "pretrain_sizes": [100],
        "epoch_caps": [12],
        "seeds": [0, 1, 2],
        "methods": ["scratch", "mftl"],
    }
    (tmp_path / "results/mine/tables").mkdir()
    statistics = pd.DataFrame(
        [["gfn1", "pbe0", "all", 20, 35.24, 30.0, 0.8271, 274.4, 200.0, 0.9801]],
        columns=["compared", "high_fidelity", "molecule", "n_configs", "energy_rmsd_meV_atom", "energy_mad_meV_atom"]
        + ["energy_correlation", "forces_rmsd_meV_A", "forces_mad_meV_A", "forces_correlation"],
    )
    statistics.to_csv("results/mine/tables/fidelity_statistics.csv", index=False)
    page = report_page({"datasets": {"mine": ds}})
    body = publish_parts(page, writer="html", settings_overrides={"halt_level": 2})["html_body"]
    assert "Dataset mine" in body and 'read from <tt class="docutils literal">E</tt>' in body or "read from" in body
    for (method, size), group in curves.groupby(["method", "train_size"]):
        e, f = group["energy_rmse_meV_atom"].to_numpy(), group["forces_rmse_meV_A"].to_numpy()
        assert f"{e.mean():.1f} +- {e.std(ddof=1):.1f}" in body
        assert f"{f.mean():.1f} +- {f.std(ddof=1):.1f}" in body
        cost = costs.loc[group.index, "total_s"].mean()
        assert f"<td>{cost:.0f}</td>" in body
        if method == "mftl":
            scratch = curves[(curves.method == "scratch") & (curves.train_size == size)]
            assert f"{e.mean() / scratch['energy_rmse_meV_atom'].mean():.2f}" in body
    assert "advise" not in body  # no advice.txt yet: no advice section

    # with the campaign's advice.txt (rule advice), the page shows it as written, line for line
    advice = "Advice for mine: learning curves of up to 2 training size(s)\n  cheapest: mftl (pre 100, cap 12): 7 <x>\n"
    Path("results/mine/advice.txt").write_text(advice)
    body = publish_parts(report_page({"datasets": {"mine": ds}}), writer="html")["html_body"]
    block = body.split("<pre", 1)[1].split("</pre>", 1)[0]
    for line in advice.splitlines():
        assert html.escape(line.strip(), quote=False) in block
