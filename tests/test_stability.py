"""Stability checks of a trained model (issue 33): MD from test molecules, short-range repulsion, forgetting.

A MACE model is trained here on the tiny campaign's GFN1-xTB pre-training pool (60 epochs at most, early
stopping); its energy turned upside down (every interaction's readout negated: minima become maxima, the
short-range wall a well) is the broken model the checks must catch.
"""

import json
import subprocess

import numpy as np
import pytest
import torch
import yaml
from ase import units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from conftest import BIN, REPO, TINY_MODEL, env_with_venv
from mftl.cli.training import train_command
from mftl.data.labellers import make_calculator
from mftl.data.structures import read_structures
from mftl.evaluation.md_stability import md_run, starts
from mftl.evaluation.repulsion import pair_scans
from mftl.evaluation.stability_settings import StabilitySettings
from mftl.training.training_job import TrainingJob

pytestmark = pytest.mark.slow  # trains MACE on the tiny campaign's data

SCHEMA = "workflow/schemas/config.schema.yaml"

SETTINGS = {"temperature_K": 300, "steps": 100, "nve_steps": 40, "starts_per_molecule": 1}


@pytest.fixture(scope="module")
def trained(tiny_campaign, tmp_path_factory):
    """A run folder of a MACE model trained on 40 GFN1-xTB configurations of the tiny molecules."""
    labels = tiny_campaign / "results/tiny/labels"
    hyper = {**TINY_MODEL, "default_dtype": "float64", "batch_size": 5, "lr": 0.01, "patience": 10}
    hyper.update(energy_weight=1.0, forces_weight=10.0)
    out = tmp_path_factory.mktemp("stability") / "run"
    job = TrainingJob(
        labels / "pretrain_pool.gfn1.extxyz",
        "gfn1",
        40,
        0,
        60,
        valid=labels / "validation.gfn1.extxyz",
        hyperparameters=hyper,
        device="cpu",
    )
    subprocess.run(train_command(job, out), check=True, env=env_with_venv(), capture_output=True)
    return out


@pytest.fixture(scope="module")
def inverted(trained, tmp_path_factory):
    """The trained model with its interaction energy negated, in a copy of the run folder."""
    import shutil

    out = tmp_path_factory.mktemp("inverted") / "run"
    shutil.copytree(trained, out)
    model = torch.load(trained / "model.model", map_location="cpu", weights_only=False)
    with torch.no_grad():
        for readout in model.readouts:
            last = readout.linear_2 if hasattr(readout, "linear_2") else readout.linear
            last.weight.mul_(-1.0)
    torch.save(model, out / "model.model")
    return out


def _stability(run, test, tmp_path, name: str) -> dict:
    out = tmp_path / f"{name}.json"
    command = [
        f"{BIN}/python",
        "-m",
        "mftl",
        "stability",
        f"--model-dir={run}",
        f"--test={test}",
        f"--settings={json.dumps(SETTINGS)}",
        "--low-labeller=tblite",
        '--low-options={"method": "GFN1-xTB"}',
        "--device=cpu",
        f"--out={out}",
    ]
    result = subprocess.run(command, env=env_with_venv(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def test_md_run_equals_a_plain_ase_langevin_run_with_the_same_seed(trained, tiny_campaign):
    """The check's MD run from a test molecule ends where a plain ASE Langevin run with the same model, seed and
    protocol (Maxwell-Boltzmann velocities, FixCom, Langevin with its own rng) ends."""
    from mace.calculators import MACECalculator

    settings = StabilitySettings.from_config({**SETTINGS, "nve_steps": 0, "steps": 60})
    test = read_structures(tiny_campaign / "results/tiny/labels/test.gfn1.extxyz")
    start = starts(test, 1)[0]
    calc = MACECalculator(model_paths=str(trained / "model.model"), device="cpu", default_dtype="float64")
    record, final = md_run(start, calc, settings)

    atoms = start.copy()
    atoms.calc = MACECalculator(model_paths=str(trained / "model.model"), device="cpu", default_dtype="float64")
    atoms.set_constraint(FixCom())
    rng = np.random.default_rng(record["seed"])
    thermalize_momenta(atoms, 300, rng=rng)
    Stationary(atoms)
    Langevin(atoms, 0.5 * units.fs, temperature_K=300, friction=0.01 / units.fs, fixcm=False, rng=rng).run(60)

    assert record["stable"], record
    assert np.abs(final.positions - start.positions).max() > 1e-3  # it moved
    np.testing.assert_allclose(final.positions, atoms.positions, rtol=0, atol=1e-10)


def test_a_trained_model_is_stable_and_an_inverted_one_is_not(trained, inverted, tiny_campaign, tmp_path):
    test = tiny_campaign / "results/tiny/labels/test.gfn1.extxyz"
    good = _stability(trained, test, tmp_path, "trained")
    bad = _stability(inverted, test, tmp_path, "inverted")
    molecules = {a.info["molecule"] for a in read_structures(test)}
    assert good["md"]["n_runs"] == bad["md"]["n_runs"] == len(molecules)
    assert good["md"]["stable_fraction"] == 1.0, good["md"]["runs"]
    assert good["md"]["median_abs_drift_meV_atom_ps"] is not None
    assert bad["md"]["stable_fraction"] < 0.5, bad["md"]["runs"]
    failed = [run for run in bad["md"]["runs"] if not run["stable"]]
    assert all(run["failure"] and run["failure_fs"] <= 50 for run in failed), failed
    # the bonded pairs of the trained model rise where GFN1-xTB rises; inverted, they fall
    assert good["repulsion"]["non_repulsive"] == [] or len(good["repulsion"]["non_repulsive"]) < len(
        bad["repulsion"]["non_repulsive"]
    )
    assert "C-H" in {entry.split(" ")[0] for entry in bad["repulsion"]["non_repulsive"]}


def test_repulsion_scan_is_the_calculator_energy_along_the_line(trained, tiny_campaign):
    """A scan's energies are the calculator's energies of the geometries it describes (atom j moved along i-j),
    and its verdict follows them: a reference calculator (GFN1-xTB) rises for a C-H pair pulled together."""
    test = read_structures(tiny_campaign / "results/tiny/labels/test.gfn1.extxyz")
    training = read_structures(trained / "train.extxyz")
    gfn1 = make_calculator("tblite", {"method": "GFN1-xTB"})
    settings = StabilitySettings.from_config(SETTINGS)
    scans = pair_scans(starts(test, 1), training, gfn1, settings)
    ch = next(scan for scan in scans["pairs"] if scan["pair"] == "C-H")
    atoms = next(a for a in test if int(a.info["config_id"]) == ch["config_id"]).copy()
    i, j = ch["atoms"]
    d_top = ch["d_train_min_A"]
    direction = atoms.positions[j] - atoms.positions[i]
    atoms.positions[j] = atoms.positions[i] + d_top * direction / np.linalg.norm(direction)
    atoms.calc = make_calculator("tblite", {"method": "GFN1-xTB"})
    assert atoms.get_potential_energy() == pytest.approx(ch["energies_eV"][0], abs=1e-6)
    assert ch["repulsive"] and np.all(np.diff(ch["energies_eV"]) > 0)
    assert ch["d_scan_min_A"] == pytest.approx(0.5 * d_top)


def test_the_campaign_checks_every_route_and_the_advice_speaks_of_it(tiny_campaign):
    """A real run of the Snakefile: a stability record per trained route at the largest size, stability.csv with a
    row per route, whose MD runs are the records' (one per test molecule and model), and advice.txt's lines."""
    import pandas as pd

    from mftl.planning.campaign import Campaign
    from mftl.planning.config import check_config

    config = check_config(yaml.safe_load((tiny_campaign / "config.yaml").read_text()), REPO / SCHEMA)
    planned = Campaign(config, REPO).stability_results("tiny")
    records = [json.loads((tiny_campaign / path).read_text()) for path in planned]
    table = pd.read_csv(tiny_campaign / "results/tiny/tables/stability.csv")
    methods = {"scratch", "mftl", "delta", "foundation", "foundation_multihead", "chain_triple", "chain_double"}
    assert methods <= set(table["method"]) and set(table["train_size"]) == {10}
    molecules = {a.info["molecule"] for a in read_structures(tiny_campaign / "results/tiny/labels/test.ref.extxyz")}
    assert all(r["md"]["n_runs"] == len(molecules) for r in records if "runs" in r["md"])
    assert table["md_runs"].sum() == sum(r["md"].get("n_runs", 0) for r in records)
    mftl = [r for r in records if r["method"] == "mftl"]
    assert all(
        r["forgetting"]["fidelity"] == "gfn1" and r["forgetting"]["after"]["forces_rmse_meV_A"] > 0 for r in mftl
    )
    assert "skipped" in next(r for r in records if r["method"] == "scratch")["forgetting"]
    advice = (tiny_campaign / "results/tiny/advice.txt").read_text()
    assert "Stability (tables/stability.csv" in advice and "MD:" in advice
    assert (tiny_campaign / "results/tiny/figures/stability.png").stat().st_size > 0


def test_without_a_labeller_the_checks_run_unreferenced_and_a_delta_model_says_why_it_is_skipped(
    trained, tiny_campaign
):
    """Own data, labels from keys, no labeller: a model's scans have no reference; a Delta model, which needs its
    base fidelity's calculator under it, runs no MD and no scan, and the record says why."""
    from mftl.evaluation.stability_job import stability

    test = tiny_campaign / "results/tiny/labels/test.gfn1.extxyz"
    settings = StabilitySettings.from_config({**SETTINGS, "steps": 20, "nve_steps": 10})
    plain = stability(trained, test, settings, "cpu")
    assert plain["md"]["n_runs"] == 3 and plain["repulsion"]["reference"] is None
    assert all("reference_repulsive" not in scan for scan in plain["repulsion"]["pairs"])
    assert plain["repulsion"]["reference_not_repulsive_either"] == []
    assert "skipped" in plain["forgetting"]
    delta = stability(trained, test, settings, "cpu", delta=True)
    assert "no labeller" in delta["md"]["skipped"] and delta["repulsion"] == delta["md"]
