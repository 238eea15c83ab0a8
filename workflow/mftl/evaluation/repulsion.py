"""Short-range repulsion: does a model's energy rise as two atoms are pulled together?

For each element pair present in the test set (:func:`pair_scans`), the first MD start configuration
(:func:`mftl.evaluation.md_stability.starts`) holding both elements gives its closest such pair of atoms. The
second atom is moved along the line between them, every other atom fixed, from the shortest distance of that
element pair in the model's training data down to ``repulsion_shrink`` times it, in ``repulsion_points`` steps;
the model's energy is computed at each. The pair is repulsive when every step closer raises the energy; the
first distance at which it does not is recorded. The low fidelity's calculator, where the dataset has one, scans
the same geometries: a pair along which it does not rise either is listed apart (the scan pulls the atom out of
another bond, not a sign of a model without repulsion). A pair absent from the training data is scanned from its
distance in the test configuration and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations_with_replacement

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mftl.evaluation.md_stability import kind
from mftl.evaluation.stability_settings import StabilitySettings


def pair_name(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


def shortest_distances(frames: Sequence[Atoms]) -> dict[str, float]:
    """The shortest distance (A) of each element pair over ``frames`` (periodic images included)."""
    shortest: dict[str, float] = {}
    for atoms in frames:
        if len(atoms) < 2:
            continue
        d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
        symbols = atoms.get_chemical_symbols()
        i, j = np.triu_indices(len(atoms), 1)
        for a, b, r in zip(i, j, d[i, j], strict=True):
            name = pair_name(symbols[a], symbols[b])
            shortest[name] = min(shortest.get(name, np.inf), float(r))
    return shortest


def closest_pair(atoms: Atoms, a: str, b: str) -> tuple[int, int] | None:
    """The closest two atoms of elements ``a`` and ``b`` in ``atoms`` (None without such a pair)."""
    symbols = atoms.get_chemical_symbols()
    pairs = [(i, j) for i, j in combinations_with_replacement(range(len(atoms)), 2) if i != j]
    pairs = [(i, j) for i, j in pairs if {symbols[i], symbols[j]} == {a, b} and (a != b or symbols[i] == a)]
    if not pairs:
        return None
    mic = bool(atoms.pbc.any())
    return min(pairs, key=lambda ij: atoms.get_distance(*ij, mic=mic))


def scan_energies(atoms: Atoms, i: int, j: int, distances: np.ndarray, calculator: Calculator) -> np.ndarray:
    """The energy (eV) of ``atoms`` with atom ``j`` moved along the line from ``i`` to ``distances`` from it."""
    vector = atoms.get_distance(i, j, mic=bool(atoms.pbc.any()), vector=True)
    unit = vector / np.linalg.norm(vector)
    energies = []
    for d in distances:
        moved = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        moved.positions[j] = moved.positions[i] + d * unit
        moved.calc = calculator
        energies.append(moved.get_potential_energy())
    return np.array(energies, dtype=float)


def first_drop(distances: np.ndarray, energies: np.ndarray) -> float | None:
    """The first distance (scanning inwards) whose energy is not above the previous one's; None if none."""
    for k in range(1, len(distances)):
        if not energies[k] > energies[k - 1]:
            return float(distances[k])
    return None


def pair_scans(
    starts: Sequence[Atoms],
    training: Sequence[Atoms],
    calculator: Calculator,
    settings: StabilitySettings,
    reference: Calculator | None = None,
) -> dict:
    """The ``repulsion`` entry of a stability record: one scan per element pair of ``starts``; with ``reference``
    (the low fidelity's calculator) the same scan by it, so a scan along which the reference does not rise either
    (the pulled atom leaves another bond, say) is told apart from a model without repulsion."""
    trained = shortest_distances(training)
    elements = sorted({s for atoms in starts for s in atoms.get_chemical_symbols()})
    scans = []
    for a, b in combinations_with_replacement(elements, 2):
        found = next(((atoms, p) for atoms in starts if (p := closest_pair(atoms, a, b))), None)
        if found is None:
            continue
        atoms, (i, j) = found
        name = pair_name(a, b)
        here = float(atoms.get_distance(i, j, mic=bool(atoms.pbc.any())))
        top = trained.get(name, here)
        distances = np.linspace(top, settings.repulsion_shrink * top, settings.repulsion_points)
        energies = scan_energies(atoms, i, j, distances, calculator)
        drop = first_drop(distances, energies)
        checked = _reference_scan(atoms, i, j, distances, reference)
        scans.append(
            {
                "pair": name,
                "config_id": int(atoms.info.get("config_id", -1)),
                "molecule": kind(atoms),
                "atoms": [int(i), int(j)],
                "d_train_min_A": trained.get(name),
                "in_training_data": name in trained,
                "d_scan_min_A": float(distances[-1]),
                "repulsive": drop is None and bool(np.all(np.isfinite(energies))),
                "first_drop_A": drop,
                "energies_eV": [float(e) for e in energies],
                **checked,
            }
        )
    failed = [scan for scan in scans if not scan["repulsive"]]
    return {
        "pairs": scans,
        "reference": type(reference).__name__ if reference is not None else None,
        "non_repulsive": [_why(scan) for scan in failed if scan.get("reference_repulsive", True)],
        "reference_not_repulsive_either": [_why(scan) for scan in failed if not scan.get("reference_repulsive", True)],
    }


def _reference_scan(atoms: Atoms, i: int, j: int, distances: np.ndarray, reference: Calculator | None) -> dict:
    if reference is None:
        return {}
    try:
        energies = scan_energies(atoms, i, j, distances, reference)
    except Exception as err:  # a labeller's own failure (no SCF convergence at 0.4 A, say): no verdict
        return {"reference_repulsive": True, "reference_error": f"{type(err).__name__}: {err}"[:200]}
    drop = first_drop(distances, energies)
    return {"reference_repulsive": drop is None, "reference_first_drop_A": drop}


def _why(scan: dict) -> str:
    if scan["first_drop_A"] is None:
        return f"{scan['pair']}: non-finite energy"
    return f"{scan['pair']} below {scan['first_drop_A']:.2f} A"
