"""Test errors per molecule: in each evaluation record and in tables/errors_by_molecule.csv."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule

from mftl.cli import main
from mftl.data.structures import set_labels
from mftl.evaluation.error_statistics import errors
from mftl.evaluation.molecules import errors_by_molecule, molecule_table


def frames(with_key=True):
    rng = np.random.default_rng(4)
    out = []
    for i, name in enumerate(["H2O", "CH4", "H2O", "NH3", "CH4"]):
        atoms = molecule(name)
        set_labels(atoms, "ref", -10.0 * len(atoms) + rng.normal(), rng.normal(size=(len(atoms), 3)))
        atoms.info["config_id"] = i
        if with_key:
            atoms.info["molecule"] = name
        out.append(atoms)
    return out


def predictions(reference):
    rng = np.random.default_rng(5)
    energies = np.array([a.info["ref_energy"] + rng.normal(0, 0.05) for a in reference])
    forces = [a.arrays["ref_forces"] + rng.normal(0, 0.1, (len(a), 3)) for a in reference]
    return energies, forces


def test_errors_per_molecule_are_the_overall_errors_of_that_molecules_configurations():
    reference = frames()
    energies, forces = predictions(reference)
    by_molecule = errors_by_molecule(reference, "ref", energies, forces)
    assert list(by_molecule) == ["CH4", "H2O", "NH3"]
    for name, stats in by_molecule.items():
        index = [i for i, a in enumerate(reference) if a.info["molecule"] == name]
        expected = errors([reference[i] for i in index], "ref", energies[index], [forces[i] for i in index])
        assert stats == pytest.approx(expected)
        de = [(energies[i] - reference[i].info["ref_energy"]) / len(reference[i]) * 1000 for i in index]
        assert stats["energy_rmse_meV_atom"] == pytest.approx(np.sqrt(np.mean(np.square(de))))
    assert by_molecule["H2O"]["n_test"] == 2
    assert errors_by_molecule(frames(with_key=False), "ref", energies, forces) == {}


def test_the_curves_command_writes_one_row_per_model_and_molecule(tmp_path):
    import json

    import pandas as pd

    reference = frames()
    energies, forces = predictions(reference)
    base = {"dataset": "d", "fidelities": "ref", "pretrain_size": None, "epoch_cap": None, "seed": 0}
    records = []
    for method, size in (("scratch", 5), ("delta", 5)):
        record = {**base, "method": method, "train_size": size, **errors(reference, "ref", energies, forces)}
        record["by_molecule"] = errors_by_molecule(reference, "ref", energies, forces)
        records.append(record)
    inputs = []
    for k, record in enumerate(records):
        inputs.append(tmp_path / f"{k}.json")
        inputs[-1].write_text(json.dumps(record))
    out, by_molecule = tmp_path / "curves.csv", tmp_path / "errors_by_molecule.csv"
    assert main(["curves", *map(str, inputs), "--out", str(out), "--by-molecule", str(by_molecule)]) == 0
    table = pd.read_csv(by_molecule)
    assert list(zip(table.method, table.molecule, strict=True)) == [
        ("delta", "CH4"),
        ("delta", "H2O"),
        ("delta", "NH3"),
        ("scratch", "CH4"),
        ("scratch", "H2O"),
        ("scratch", "NH3"),
    ]
    water = table[(table.method == "scratch") & (table.molecule == "H2O")].iloc[0]
    assert water.energy_rmse_meV_atom == pytest.approx(records[0]["by_molecule"]["H2O"]["energy_rmse_meV_atom"])
    assert water.n_test == 2
    assert molecule_table([{**base, "method": "scratch", "train_size": 5}]).empty  # no molecule key: no rows
