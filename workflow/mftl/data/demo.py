"""The embedded demo: a small QM7-X-like configuration space with two fidelities.

Ten small organic molecules (H, C, N, O; 2-5 heavy atoms) from ASE's G2 set are
relaxed with GFN1-xTB, their GFN1-xTB Hessian is computed by finite differences,
and non-equilibrium geometries are drawn by harmonic normal-mode sampling at a
random temperature per configuration, as QM7-X did
with DFTB3. A subset of configurations is labelled with PySCF (PBE0/6-31G*,
density fitting) as the high-fidelity reference. Everything is deterministic
given the seed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.optimize import BFGS
from ase.vibrations import Vibrations

from mftl.data.labellers import label_frames, make_calculator
from mftl.data.structures import by_config_id, read_structures, write_structures

#: target configuration space of the demo (names from ase.collections.g2)
DEMO_MOLECULES = (
    "CH3OH",
    "CH3CN",
    "H3CNH2",
    "CH3CHO",
    "CH3COOH",
    "HCOOCH3",
    "CH3CH2OH",
    "CH3OCH3",
    "CH3CONH2",
    "C4H4O",
)

#: smallest allowed interatomic distance in a sampled geometry (A)
MIN_DISTANCE_A = 0.75

#: modes softer than this are sampled with this frequency's amplitude (cm^-1): a
#: linearised methyl or hydroxyl torsion at its own tiny frequency stretches bonds
#: by tenths of an Angstrom and breaks molecules
SOFT_MODE_FLOOR_CM = 400.0

#: a geometry whose GFN1-xTB energy exceeds the minimum by more than this many times
#: its harmonic expectation (n_vib k_B T / 2) is redrawn: it left the harmonic well
MAX_ENERGY_RATIO = 3.0


def relaxed_molecule(name: str) -> Atoms:
    atoms = molecule(name)
    atoms.calc = make_calculator("tblite", {"method": "GFN1-xTB"})
    BFGS(atoms, logfile=None).run(fmax=0.005, steps=500)
    atoms.calc = None
    return atoms


def gfn1_energy(atoms: Atoms) -> float:
    work = atoms.copy()
    work.calc = make_calculator("tblite", {"method": "GFN1-xTB"})
    return work.get_potential_energy()


def hessian_eV_A2(atoms: Atoms) -> np.ndarray:
    """GFN1-xTB Hessian (3N x 3N, eV/A^2) by central finite differences."""
    work = atoms.copy()
    work.calc = make_calculator("tblite", {"method": "GFN1-xTB"})
    with tempfile.TemporaryDirectory() as tmp:
        vib = Vibrations(work, name=str(Path(tmp) / "vib"), delta=0.005)
        vib.run()
        return vib.get_vibrations().get_hessian_2d()


def _w2_of_wavenumber(wavenumber_cm: float) -> float:
    """Squared angular frequency in ASE's mass-weighted Hessian units, eV/(A^2 amu)."""
    # E = hbar w; ASE: units.invcm is 1 cm^-1 in eV, hbar in eV*s via units._hbar/units._e
    hbar_eVs = units._hbar / units._e
    w_per_s = wavenumber_cm * units.invcm / hbar_eVs
    # eV/(A^2 amu) in s^-2: 1 eV/(A^2 amu) = _e / (1e-20 * _amu) s^-2
    return w_per_s**2 / (units._e / (1e-20 * units._amu))


def sample_geometries(
    atoms: Atoms,
    hessian: np.ndarray,
    n: int,
    rng: np.random.Generator,
    temperature_range_K: tuple[float, float] = (100.0, 1000.0),
    energy_eV=None,
) -> list[Atoms]:
    """Classical harmonic normal-mode sampling, one random temperature per geometry.

    Each vibrational normal coordinate q_k (mass-weighted) is drawn from
    N(0, k_B T / w_k^2), with w_k raised to at least ``SOFT_MODE_FLOOR_CM`` (torsions
    are anharmonic; their linearised displacement must stay small); the six
    translations/rotations (smallest |w^2|) are skipped. With ``energy_eV`` (a function of
    a geometry), geometries more than ``MAX_ENERGY_RATIO`` times their harmonic energy
    expectation above ``atoms`` (the minimum) are redrawn; so are failed calculations.
    """
    masses = atoms.get_masses().repeat(3)
    w2, modes = np.linalg.eigh(hessian / np.sqrt(np.outer(masses, masses)))
    vibrational = np.sort(np.argsort(np.abs(w2))[6:])
    w2, modes = w2[vibrational], modes[:, vibrational]
    if np.any(w2 <= 0):
        raise ValueError(f"{atoms.get_chemical_formula()}: imaginary vibrational mode; not a minimum")
    # eigenvalues of the mass-weighted Hessian are in eV/(A^2 amu); w^2 of the floor in the same units
    floor_w2 = _w2_of_wavenumber(SOFT_MODE_FLOOR_CM)
    w2_sampled = np.maximum(w2, floor_w2)
    frames: list[Atoms] = []
    while len(frames) < n:
        temperature = rng.uniform(*temperature_range_K)
        q = rng.normal(0.0, np.sqrt(units.kB * temperature / w2_sampled))
        displacement = (modes @ q / np.sqrt(masses)).reshape(-1, 3)
        frame = Atoms(numbers=atoms.numbers, positions=atoms.positions + displacement)
        distances = frame.get_all_distances()[np.triu_indices(len(frame), 1)]
        if distances.min() < MIN_DISTANCE_A:
            continue
        if energy_eV is not None:
            expected = len(w2) * units.kB * temperature / 2
            try:
                excess = energy_eV(frame) - energy_eV(atoms)
            except Exception:  # an SCF that fails here marks a broken geometry
                continue
            if excess > MAX_ENERGY_RATIO * expected:
                continue
        frame.info["sampling_temperature_K"] = float(temperature)
        frames.append(frame)
    return frames


def generate_geometries(seed: int, n_per_molecule: int, molecules=DEMO_MOLECULES) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    frames: list[Atoms] = []
    for name in molecules:
        ref = relaxed_molecule(name)
        for frame in sample_geometries(ref, hessian_eV_A2(ref), n_per_molecule, rng, energy_eV=gfn1_energy):
            frame.info["molecule"] = name
            frames.append(frame)
    for i, frame in enumerate(frames):
        frame.info["config_id"] = i
    return frames


def generate_demo(
    out: Path,
    seed: int,
    n_per_molecule: int,
    n_high_per_molecule: int,
    fidelity: str = "pbe0",
    options: dict | None = None,
    threads: int = 2,
    molecules=DEMO_MOLECULES,
    progress=print,
) -> None:
    """Write the demo dataset to ``out`` (extxyz); resumable through ``out.partial``.

    The first ``n_high_per_molecule`` geometries of each molecule get
    high-fidelity labels and their cost (``{fidelity}_wall_s``, ``_cpu_s``).
    """
    frames = generate_geometries(seed, n_per_molecule, molecules)
    chosen = [f for f in frames if int(f.info["config_id"]) % n_per_molecule < n_high_per_molecule]
    partial = Path(str(out) + ".partial")
    done: dict[int, Atoms] = {}
    if partial.exists():
        done = by_config_id(read_structures(partial))
    todo = [f for f in chosen if int(f.info["config_id"]) not in done]
    progress(f"{len(frames)} geometries; {len(chosen)} to label with {fidelity}, {len(done)} already done")
    start = time.perf_counter()
    for i, frame in enumerate(todo):
        labelled, report = label_frames([frame], fidelity, "pyscf", options, threads=threads)
        if report.failures:
            progress(f"config {frame.info['config_id']}: {report.failures[0].error}")
            continue
        import ase.io

        ase.io.write(partial, labelled, format="extxyz", append=True)
        done[int(frame.info["config_id"])] = labelled[0]
        if i % 10 == 0:
            progress(f"{len(done)}/{len(chosen)} labelled, {time.perf_counter() - start:.0f} s")
    merged = [done.get(int(f.info["config_id"]), f) for f in frames]
    write_structures(out, merged)
    partial.unlink(missing_ok=True)
