"""Labellers give the same numbers as a direct call of the underlying code."""

import numpy as np
import pytest
from ase.build import molecule
from ase.units import Hartree

from mftl.data.labellers import LabellerError, label_frames
from mftl.data.structures import labels


def test_tblite_labels_match_a_direct_tblite_call():
    from tblite.ase import TBLite

    frames = [molecule("CH3CH2OH"), molecule("C4H4O")]
    for i, atoms in enumerate(frames):
        atoms.rattle(0.05, seed=i)
        atoms.info["config_id"] = i
    labelled, report = label_frames(frames, "gfn1", "tblite", {"method": "GFN1-xTB"})
    assert report.n_labelled == 2 and not report.failures
    for atoms, out in zip(frames, labelled, strict=True):
        direct = atoms.copy()
        direct.calc = TBLite(method="GFN1-xTB", verbosity=0)
        energy, forces = labels(out, "gfn1")
        assert energy == pytest.approx(direct.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(forces, direct.get_forces(), atol=1e-8)


def _finite_difference_force(atoms, fidelity, options, step=1e-3):
    """-dE/dz of atom 0 by central differences of PySCF labels (eV/A)."""
    shifted = []
    for sign in (+1, -1):
        moved = atoms.copy()
        moved.positions[0, 2] += sign * step
        (lab,), _ = label_frames([moved], fidelity, "pyscf", options)
        shifted.append(labels(lab, fidelity)[0])
    return -(shifted[0] - shifted[1]) / (2 * step)


def test_pyscf_label_of_water_matches_direct_pyscf_and_finite_differences():
    from pyscf import dft, gto

    atoms = molecule("H2O")
    atoms.rattle(0.03, seed=3)
    atoms.info["config_id"] = 0
    options = {"xc": "pbe0", "basis": "6-31g*", "density_fit": False}
    (out,), report = label_frames([atoms], "pbe0", "pyscf", options)
    energy, forces = labels(out, "pbe0")

    mol = gto.M(
        atom=[(s, p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)],
        basis="6-31g*",
        unit="Angstrom",
        verbose=0,
    )
    mf = dft.RKS(mol)
    mf.xc = "pbe0"
    mf.conv_tol = 1e-9
    assert energy == pytest.approx(mf.kernel() * Hartree, abs=1e-6)

    # forces are minus the energy gradient, in eV/A
    assert forces[0, 2] == pytest.approx(_finite_difference_force(atoms, "pbe0", options), abs=2e-3)
    assert np.abs(forces.sum(axis=0)).max() < 1e-3
    assert report.n_labelled == 1


def test_pyscf_ccsd_t_label_of_water_matches_direct_pyscf_and_finite_differences():
    """The demo's third fidelity: CCSD(T)/cc-pVDZ energy and analytic (T) forces."""
    from pyscf import cc, gto, scf

    atoms = molecule("H2O")
    atoms.rattle(0.03, seed=4)
    atoms.info["config_id"] = 0
    options = {"method": "ccsd(t)", "basis": "cc-pvdz"}
    (out,), report = label_frames([atoms], "ccsdt", "pyscf", options)
    energy, forces = labels(out, "ccsdt")

    mol = gto.M(
        atom=[(s, p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)],
        basis="cc-pvdz",
        unit="Angstrom",
        verbose=0,
    )
    mycc = cc.CCSD(scf.RHF(mol).run(conv_tol=1e-10)).run(conv_tol=1e-9)
    assert energy == pytest.approx((mycc.e_tot + mycc.ccsd_t()) * Hartree, abs=1e-5)
    # the (T) response is in the forces: compare with finite differences of the CCSD(T) energy
    assert forces[0, 2] == pytest.approx(_finite_difference_force(atoms, "ccsdt", options), abs=2e-3)
    assert report.n_labelled == 1
    with pytest.raises(LabellerError, match="unknown method 'mp3'"):
        label_frames([atoms], "x", "pyscf", {"method": "mp3"})


def test_unknown_labeller_and_unsupported_element_are_refused():
    atoms = molecule("H2O")
    with pytest.raises(LabellerError, match="unknown labeller 'dftb'"):
        label_frames([atoms], "x", "dftb")
    heavy = molecule("H2O")
    heavy.symbols[0] = "Au"
    heavy.info["config_id"] = 7
    labelled, report = label_frames([heavy], "x", "pyscf")  # a counted failure of that configuration
    assert labelled == [] and [(f.config_id, f.error) for f in report.failures] == [
        (7, "LabellerError: labeller 'pyscf' does not support element(s) Au")
    ]


def test_scf_failure_is_recorded_not_hidden():
    frames = [molecule("CH3OH"), molecule("CH4")]
    for i, atoms in enumerate(frames):
        atoms.info["config_id"] = 10 + i
    frames[1].positions[1] = frames[1].positions[0] + [0.0, 0.0, 0.05]  # atoms on top of each other
    labelled, report = label_frames(frames, "gfn1", "tblite", {"method": "GFN1-xTB", "max_iterations": 3})
    ids_ok = {int(a.info["config_id"]) for a in labelled}
    ids_failed = {f.config_id for f in report.failures}
    assert ids_ok | ids_failed == {10, 11} and not ids_ok & ids_failed
    assert report.failures, "three SCF iterations must fail for at least one configuration"
    assert report.n_total == 2 and report.n_labelled == len(labelled)
