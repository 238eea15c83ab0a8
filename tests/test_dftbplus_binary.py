"""The DFTB+ labeller against the real dftb+ binary (`make dftbplus` builds one).

Without dftb+ on PATH these tests skip locally and fail when ``CI`` is set.
The PTBP-recipe files (``../shared/skf/ptbp-recipe``, or ``MFTL_PTBP_SKF_DIR``)
exercise the DFTB2 path, including periodic bcc W; their W-W is unphysical and
used only to test that cells, k-points and smearing flow through correctly.
"""

from __future__ import annotations

import gzip
import os
import resource
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.dftb import Dftb

from mftl.data.labellers import label_frames, make_calculator
from mftl.data.structures import read_structures

REPO = Path(__file__).resolve().parents[1]
SHIPPED_3OB = REPO / "resources" / "skf" / "3ob-3-1"
PTBP_RECIPE = Path(os.environ.get("MFTL_PTBP_SKF_DIR", REPO.parent / "shared" / "skf" / "ptbp-recipe"))
DFTB3_3OB = {"skf_dir": str(SHIPPED_3OB), "recipe": "dftb3_3ob"}


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {what}")
    pytest.skip(what)


@pytest.fixture(autouse=True)
def dftbplus_binary() -> str:
    path = shutil.which("dftb+")
    if path is None:
        _missing("dftb+ is not on PATH: `make dftbplus` builds it into .venv/bin (README, 'DFTB+')")
    return path


@pytest.fixture
def ptbp_recipe() -> Path:
    if not (PTBP_RECIPE / "W-W.skf").is_file():
        _missing(f"no PTBP-recipe Slater-Koster files in {PTBP_RECIPE} (set MFTL_PTBP_SKF_DIR)")
    return PTBP_RECIPE


def _label(frames, options, fidelity="dftb"):
    labelled, report = label_frames(frames, fidelity, "dftbplus", options)
    assert report.failures == [], report.failures
    return labelled


def _energy(atoms, options) -> float:
    (frame,) = _label([atoms], options)
    return frame.info["dftb_energy"]


def test_energies_equal_the_measured_values_of_both_recipes(ptbp_recipe, tmp_path):
    """Water and ethanol with DFTB3/3ob, water with PTBP-recipe DFTB2 (values in ../shared/FACTS.md)."""
    options = {**DFTB3_3OB, "scratch_dir": str(tmp_path)}
    water, ethanol = _label([molecule("H2O"), molecule("CH3CH2OH")], options)
    assert water.info["dftb_energy"] == pytest.approx(-110.7689, abs=1e-4)
    assert ethanol.info["dftb_energy"] == pytest.approx(-244.8003, abs=1e-4)
    assert _energy(molecule("H2O"), {"skf_dir": str(ptbp_recipe)}) == pytest.approx(-106.3559, abs=1e-4)
    assert list(tmp_path.iterdir()) == []  # scratch folders of successful runs are removed


def _central_differences(atoms, options, coordinates, step=1e-3):
    """-dE/dx (eV/A) of the labeller's energy at ``coordinates`` [(atom, axis)], central differences."""
    frames = []
    for atom, axis in coordinates:
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * step
            frames.append(moved)
    energies = [f.info["dftb_energy"] for f in _label(frames, options)]
    return np.array([-(energies[2 * i] - energies[2 * i + 1]) / (2 * step) for i in range(len(coordinates))])


def test_dftb3_ethanol_forces_are_central_differences_of_the_energy():
    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.05, seed=3)
    options = {**DFTB3_3OB, "scc_tolerance": 1e-10}
    (labelled,) = _label([ethanol], options)
    forces = labelled.arrays["dftb_forces"]
    coordinates = [(atom, axis) for atom in range(len(ethanol)) for axis in range(3)]
    numeric = _central_differences(ethanol, options, coordinates)
    np.testing.assert_allclose(numeric, forces.ravel(), atol=1e-4)
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-5)
    assert np.abs(forces).max() > 0.5  # a rattled molecule: the check is not of zeros


def test_periodic_tungsten_forces_and_stress_are_derivatives_of_the_mermin_free_energy(ptbp_recipe):
    """bcc W with k-points and 1000 K Fermi smearing: the energy returned is the one the forces and
    stress differentiate (ASE's "Total energy" would differ by the electronic entropy)."""
    cell = bulk("W", "bcc", a=3.2, cubic=True)
    cell.positions[1] += [0.07, -0.04, 0.03]
    options = {"skf_dir": str(ptbp_recipe), "kpts": [4, 4, 4], "temperature_k": 1000.0, "scc_tolerance": 1e-10}
    (labelled,) = _label([cell], options)
    forces = labelled.arrays["dftb_forces"]
    # Small steps: this W-W file's energy has wiggles on the 1e-3 A scale (at 1e-3 A central
    # differences are off by 3e-3 eV/A, at 1e-4 A by 4e-6), like the strain steps below.
    numeric = _central_differences(cell, options, [(1, 0), (1, 1), (1, 2), (0, 0)], step=1e-4)
    np.testing.assert_allclose(numeric, [*forces[1], forces[0, 0]], atol=1e-4)
    assert np.abs(forces).max() > 0.05

    work = cell.copy()
    work.calc = make_calculator("dftbplus", options)
    stress = work.get_stress(voigt=False)  # eV/A^3
    assert work.get_potential_energy() == pytest.approx(labelled.info["dftb_energy"], abs=1e-8)
    step, volume, numeric_stress = 1e-4, cell.get_volume(), np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[i, j] += sign * step
                strained = cell.copy()
                strained.set_cell(cell.cell @ strain, scale_atoms=True)
                energies.append(_energy(strained, options))
            numeric_stress[i, j] = (energies[0] - energies[1]) / (2 * step) / volume
    np.testing.assert_allclose(stress, numeric_stress, atol=2e-5)
    assert np.abs(stress).max() > 1e-3


def test_scc_non_convergence_is_a_counted_failure_with_the_configuration_id(tmp_path):
    converging, failing = molecule("H2"), molecule("H2O")  # H2 has no charge transfer: SCC done at once
    converging.info["config_id"], failing.info["config_id"] = 11, 12
    options = {**DFTB3_3OB, "max_scc_iterations": 3, "scc_tolerance": 1e-8, "scratch_dir": str(tmp_path)}
    labelled, report = label_frames([converging, failing], "dftb", "dftbplus", options)
    assert [f.info["config_id"] for f in labelled] == [11]
    assert report.n_total == 2 and report.n_labelled == 1 and report.failure_fraction == 0.5
    (failure,) = report.failures
    assert failure.config_id == 12, failure
    assert failure.error.startswith("CalculationFailed: dftb+: SCC is NOT converged, maximal SCC iterations exceeded")
    (kept,) = tmp_path.iterdir()  # the failed calculation's folder stays for inspection
    assert str(kept) in failure.error and (kept / "dftb_in.hsd").is_file()
    with_more_iterations, report = label_frames([failing], "dftb", "dftbplus", {**options, "max_scc_iterations": 100})
    assert report.failures == [] and len(with_more_iterations) == 1


def test_a_missing_pair_file_fails_only_the_configurations_that_need_it(ptbp_recipe, tmp_path):
    skf = tmp_path / "skf"
    shutil.copytree(ptbp_recipe, skf)
    (skf / "W-H.skf").write_bytes((ptbp_recipe / "H-H.skf").read_bytes())  # H-W.skf stays missing
    tungsten_hydride = Atoms("WH2", positions=[[0, 0, 0], [1.7, 0, 0], [0, 1.7, 0]])
    water = molecule("H2O")
    water.info["config_id"], tungsten_hydride.info["config_id"] = 0, 1
    labelled, report = label_frames([tungsten_hydride, water], "dftb", "dftbplus", {"skf_dir": str(skf)})
    assert [f.info["config_id"] for f in labelled] == [0]
    (failure,) = report.failures
    assert failure.config_id == 1 and "pair(s) H-W (" in failure.error, failure.error


def _direct_dftb3_3ob(atoms, skf_dir: Path, directory: Path):
    """DFTB3/3ob energy (eV) and forces (eV/A) from ASE's own Dftb, as a user would write it."""
    hubbard_derivs = {"H": -0.1857, "C": -0.1492, "N": -0.1535, "O": -0.1575}
    calc = Dftb(
        label="dftb",
        directory=str(directory),
        slako_dir=f"{skf_dir}/",
        Hamiltonian_SCC="Yes",
        Hamiltonian_SCCTolerance=1e-6,
        Hamiltonian_MaxSCCIterations=200,
        Hamiltonian_ThirdOrderFull="Yes",
        Hamiltonian_HubbardDerivs_="",
        **{f"Hamiltonian_HubbardDerivs_{s}": hubbard_derivs[s] for s in sorted(set(atoms.get_chemical_symbols()))},
        Hamiltonian_HCorrection_="Damping",
        Hamiltonian_HCorrection_Exponent=4.0,
        Hamiltonian_Filling_="Fermi",
        **{"Hamiltonian_Filling_Temperature [Kelvin]": 300.0},
        ParserOptions_ParserVersion=13,
    )
    work = atoms.copy()
    work.calc = calc
    forces = work.get_forces()  # first: one dftb+ run gives both
    return work.get_potential_energy(), forces


def test_five_demo_configurations_equal_a_direct_ase_dftb_call(tmp_path):
    frames = read_structures(REPO / "resources" / "demo" / "demo.extxyz")
    by_molecule = {}
    for atoms in frames:
        by_molecule.setdefault(atoms.info["molecule"], atoms)
    chosen = list(by_molecule.values())[:5]
    assert len({a.get_chemical_formula() for a in chosen}) == 5
    skf = tmp_path / "3ob"
    skf.mkdir()
    for packed in SHIPPED_3OB.glob("*.skf.gz"):
        (skf / packed.name[:-3]).write_bytes(gzip.decompress(packed.read_bytes()))

    labelled, report = label_frames(chosen, "dftb3", "dftbplus", DFTB3_3OB)
    assert report.failures == [] and len(labelled) == 5
    for i, (atoms, frame) in enumerate(zip(chosen, labelled, strict=True)):
        energy, forces = _direct_dftb3_3ob(atoms, skf, tmp_path / f"direct{i}")
        assert frame.info["dftb3_energy"] == pytest.approx(energy, abs=1e-6)
        np.testing.assert_allclose(frame.arrays["dftb3_forces"], forces, atol=1e-5)


def test_the_cost_recorded_per_configuration_includes_the_dftb_process():
    """``<fidelity>_cpu_s`` counts dftb+'s own CPU time, not only the Python side's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    (frame,) = _label([molecule("C6H6")], {**DFTB3_3OB, "scc_tolerance": 1e-10})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    dftb_cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert dftb_cpu_s > 0.005
    assert frame.info["dftb_cpu_s"] >= dftb_cpu_s


@pytest.mark.slow
def test_pretraining_fidelity_comparison_on_tiny_data(tiny_source, tmp_path):
    """Two datasets with the same configurations, split and high fidelity, pre-trained on GFN1-xTB
    and on DFTB3/3ob: rows per low fidelity in curves.csv and the figure comparing them."""
    import pandas as pd
    import yaml

    from conftest import run_snakemake, tiny_config
    from mftl.report import plots

    config = tiny_config(tiny_source, methods=["mftl"], epoch_caps=[1], train_sizes=[5])
    dftb = {**config["datasets"]["tiny"], "low_fidelity": "dftb3"}
    dftb["fidelities"] = {**dftb["fidelities"], "dftb3": {"labeller": "dftbplus", "options": DFTB3_3OB}}
    config["datasets"]["tiny_dftb3"] = dftb
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    figure = "results/tiny/figures/pretraining_fidelity.png"
    result = run_snakemake(["--configfile", "config.yaml", "--cores", "2", figure, "results/curves.csv"], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / figure).stat().st_size > 0 and (tmp_path / figure.replace(".png", ".pdf")).is_file()
    curves = pd.read_csv(tmp_path / "results" / "curves.csv")
    mftl = curves[curves["method"] == "mftl"].set_index("dataset")
    assert mftl.loc["tiny", "fidelities"] == "gfn1->ref" and mftl.loc["tiny_dftb3", "fidelities"] == "dftb3->ref"
    assert mftl.loc["tiny", "n_test"] == mftl.loc["tiny_dftb3", "n_test"] == 10  # the same test set
    labels = read_structures(tmp_path / "results" / "tiny_dftb3" / "labels" / "pretrain_pool.dftb3.extxyz")
    assert len(labels) == 40 and all("dftb3_energy" in a.info for a in labels)
    legend = plots.pretraining_fidelity(curves[curves["dataset"].isin(["tiny", "tiny_dftb3"])]).axes[0]
    names = [n for n in legend.get_legend_handles_labels()[1] if n != plots.UNDERTRAINED_LABEL]  # ring: max_epochs
    assert names == ["pre-trained on gfn1 (pre 40, best cap 1)", "pre-trained on dftb3 (pre 40, best cap 1)"]
