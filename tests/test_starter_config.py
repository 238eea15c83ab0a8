"""``mftl init``: a starter campaign from one's own extxyz file that passes the planning checks unchanged."""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from pathlib import Path

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import molecule
from ase.calculators.emt import EMT

from conftest import REPO, run_snakemake
from mftl.cli import main

DEMO = REPO / "resources" / "demo" / "demo.extxyz"


def init(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["init", *map(str, args)])
    return rc, out.getvalue(), err.getvalue()


def check_config(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["check-config", str(path)])
    return rc, out.getvalue() + err.getvalue()


def made_file(path: Path, extra_info: dict | None = None, calculator_keys: bool = False) -> Path:
    """40 rattled H2O, CH4 and NH3 (NH3 rarer); 30 carry EMT labels as dft_energy / dft_forces with
    the seconds of each 'calculation' as dft_wall_s; each has its molecule under 'system'."""
    rng = np.random.default_rng(3)
    frames = []
    for i in range(40):
        name = "NH3" if i % 8 == 0 else ("H2O", "CH4")[i % 2]
        atoms = molecule(name)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.info.update(system=name, config_id=100 + i, **(extra_info or {}))
        if i < 30:
            atoms.calc = EMT()
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
            atoms.calc = None
            if calculator_keys:
                from ase.calculators.singlepoint import SinglePointCalculator

                atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
            else:
                atoms.info.update(dft_energy=energy, dft_wall_s=1.5 + i)
                atoms.arrays["dft_forces"] = forces
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")
    return path


def test_init_on_the_demo_file_names_its_keys_molecules_and_cost_and_passes_check_config(tmp_path):
    rc, text, err = init(DEMO)
    assert rc == 0, err
    frames = ase.io.read(DEMO, ":")
    labelled = [a for a in frames if "pbe0_energy" in a.info]
    molecules = Counter(a.info["molecule"] for a in frames)
    assert f"{len(frames)} configurations, {len(labelled)} with 'pbe0_energy' and 'pbe0_forces'" in text
    assert "elements H C N O" in text
    assert ", ".join(f"{m} ({n})" for m, n in sorted(molecules.items())) in text
    config = yaml.safe_load(text)
    ds = config["datasets"]["demo"]
    hf = ds["fidelities"][ds["high_fidelity"]]
    assert hf == {"energy_key": "pbe0_energy", "forces_key": "pbe0_forces", "cost": {"info_key": "pbe0_cpu_s"}}
    assert ds["fidelities"][ds["low_fidelity"]] == {"labeller": "tblite", "options": {"method": "GFN1-xTB"}}
    split = ds["split"]
    assert split["test"] + split["validation"] + max(ds["train_sizes"]) <= len(labelled)
    assert split["pretrain_pool"] <= len(frames) - split["test"] - split["validation"]
    assert "mftl atom-energies --labeller pyscf" in text and "--elements H C N O" in text
    path = tmp_path / "my.yaml"
    path.write_text(text)
    rc, message = check_config(path)
    assert rc == 0, message
    assert "a valid campaign (demo)" in message


def test_init_on_a_made_file_reads_its_own_keys_and_the_dry_run_plans_it_unchanged(tmp_path):
    source = made_file(tmp_path / "my data.extxyz")
    rc, text, err = init(source)
    assert rc == 0, err
    config = yaml.safe_load(text)
    name, ds = next(iter(config["datasets"].items()))
    assert name == "my_data"
    assert ds["high_fidelity"] == "dft"
    assert ds["fidelities"]["dft"] == {
        "energy_key": "dft_energy",
        "forces_key": "dft_forces",
        "cost": {"info_key": "dft_wall_s"},
    }
    counts = Counter(a.info["system"] for a in ase.io.read(source, ":"))
    assert f"molecules (info key 'system'): CH4 ({counts['CH4']}), H2O ({counts['H2O']}), NH3 (5)" in text
    assert "elements H C N O" in text
    split = ds["split"]
    assert split["test"] + split["validation"] + max(ds["train_sizes"]) <= 30
    assert split["pretrain_pool"] <= 40 - split["test"] - split["validation"]
    path = tmp_path / "my.yaml"
    path.write_text(text)
    rc, message = check_config(path)
    assert rc == 0, message
    result = run_snakemake(["-n", "--configfile", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(f"\nrule {rule}:" in result.stdout for rule in ("pretrain", "mftl", "delta")), result.stdout[-3000:]


def test_init_writes_the_e0s_it_is_asked_to_compute(tmp_path):
    from ase import Atoms
    from tblite.ase import TBLite

    source = made_file(tmp_path / "my.extxyz")
    rc, text, err = init(source, "--e0s-labeller", "tblite", "--e0s-options", '{"method": "GFN2-xTB"}')
    assert rc == 0, err
    e0s = yaml.safe_load(text)["datasets"]["my"]["fidelities"]["dft"]["e0s"]
    assert list(e0s) == ["H", "C", "N", "O"]
    for symbol, value in e0s.items():
        atom = Atoms(symbol)
        atom.calc = TBLite(method="GFN2-xTB", verbosity=0)
        assert value == pytest.approx(atom.get_potential_energy(), abs=1e-6)
    path = tmp_path / "my.yaml"
    path.write_text(text)
    assert check_config(path)[0] == 0


def test_init_asks_for_the_key_when_several_fit_and_takes_the_one_given(tmp_path):
    source = made_file(tmp_path / "two.extxyz", extra_info={"xtb_energy": -1.0})
    rc, _, err = init(source)
    assert rc == 1
    assert "several energy-like info keys (dft_energy, xtb_energy): choose one with --energy-key" in err
    rc, text, err = init(source, "--energy-key", "dft_energy")
    assert rc == 0, err
    assert yaml.safe_load(text)["datasets"]["two"]["fidelities"]["dft"]["forces_key"] == "dft_forces"


def test_init_refuses_energy_and_forces_that_ase_reads_as_a_calculator(tmp_path):
    source = made_file(tmp_path / "calc.extxyz", calculator_keys=True)
    assert "energy=" in source.read_text()
    rc, _, err = init(source)
    assert rc == 1
    assert "ASE reads the key(s) energy, forces as a calculator's results" in err
    assert "rename them in the file" in err


def test_init_refuses_too_few_labelled_configurations(tmp_path):
    frames = ase.io.read(made_file(tmp_path / "all.extxyz"), ":")
    few = [a for a in frames if "dft_energy" in a.info][:6]
    ase.io.write(tmp_path / "few.extxyz", few, format="extxyz")
    rc, _, err = init(tmp_path / "few.extxyz")
    assert rc == 1
    assert "6 labelled configurations: too few" in err


def test_the_starter_states_its_runtime_from_the_measured_rates_and_its_trainings_converge(tmp_path):
    """The runtime comment adds up, by hand here, one term per training and evaluation the starter plans."""
    from mftl.planning import runtime_estimate as rates

    source = made_file(tmp_path / "mine.extxyz")
    rc, text, _ = init(source)
    assert rc == 0
    config = yaml.safe_load(text)
    ds = next(iter(config["datasets"].values()))
    assert ds["seeds"] == [0, 1, 2]
    for stage in ("scratch", "finetune"):  # converging settings: the rate halves well before patience ends it
        flags = config["training"][stage]
        assert flags["scheduler_patience"] < flags["patience"] and flags["max_epochs"] >= 1000
    atoms = np.mean([len(a) for a in ase.io.read(source, ":")])
    valid, caps = ds["split"]["validation"], ds["epoch_caps"]
    per_run = {
        stage: [
            rates.TRAINING_FIXED_S
            + rates.EPOCHS_TO_PLATEAU[stage]
            * atoms
            * (n * rates.TRAIN_S_PER_ATOM_EPOCH + valid * rates.VALID_S_PER_ATOM)
            for n in ds["train_sizes"]
        ]
        for stage in ("scratch", "finetune")
    }
    seeds = len(ds["seeds"])
    trainings = seeds * (2 * sum(per_run["scratch"]) + len(caps) * sum(per_run["finetune"]))  # scratch, delta, mftl
    pool = ds["pretrain_sizes"][0]
    pretraining = seeds * (
        rates.TRAINING_FIXED_S
        + max(caps)
        * atoms
        * (int(0.9 * pool) * rates.TRAIN_S_PER_ATOM_EPOCH + int(0.1 * pool) * rates.VALID_S_PER_ATOM)
    )
    labelling = (pool + ds["split"]["test"] + valid + max(ds["train_sizes"])) * atoms * rates.GFN1_S_PER_ATOM
    evaluations = 3 * seeds * len(ds["train_sizes"]) * rates.EVALUATION_S
    minutes = (trainings + pretraining + labelling + evaluations) / 2 / 60
    assert f"# Expected runtime on 2 CPU cores: about {minutes:.0f} min (" in text
    assert f"trainings {trainings / 60:.0f} min" in text


def test_the_quick_preset_writes_short_stability_checks_and_the_first_the_defaults_as_a_comment(tmp_path):
    """A quick first look should not spend minutes of MD per model: its starter config sets the checks short; the
    default preset leaves the schema's defaults (a comment shows them)."""
    from mftl.evaluation.stability_settings import StabilitySettings
    from mftl.planning.config import check_config as checked
    from mftl.planning.starter_config import QUICK_STABILITY

    rc, quick, err = init(DEMO, "--preset", "quick")
    assert rc == 0, err
    ds = yaml.safe_load(quick)["datasets"]["demo"]
    assert ds["stability"] == QUICK_STABILITY and QUICK_STABILITY["steps"] < StabilitySettings().steps
    rc, first, err = init(DEMO)
    assert rc == 0, err
    assert "stability" not in yaml.safe_load(first)["datasets"]["demo"]
    assert "    # stability: {temperature_K: 300, steps: 1000, starts_per_molecule: 2}" in first
    config = checked(yaml.safe_load(first), REPO / "workflow/schemas/config.schema.yaml")
    assert StabilitySettings.from_config(config["datasets"]["demo"]["stability"]) == StabilitySettings()
