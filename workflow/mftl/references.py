"""Per-fidelity atomic reference energies (E0s).

Energies of different fidelities differ by tens of eV per molecule (GFN1-xTB vs
PBE0 totals). MACE's naive fine-tuning keeps the pre-trained model's E0s, so we
never let MACE hold them: each fidelity's E0s are fitted by least squares on its
own training data, subtracted before training (MACE is trained with all E0s zero)
and added back to every prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from mftl.structures import labels


def composition_matrix(frames: Sequence[Atoms], elements: Sequence[int]) -> np.ndarray:
    index = {z: i for i, z in enumerate(elements)}
    counts = np.zeros((len(frames), len(elements)))
    for row, atoms in enumerate(frames):
        for z in atoms.numbers:
            counts[row, index[int(z)]] += 1
    return counts


def fit_e0s(frames: Sequence[Atoms], fidelity: str) -> dict[int, float]:
    """Least-squares E0 per element (eV) so that E_total ~ sum_i E0[Z_i].

    Rank-deficient compositions get the minimum-norm solution.
    """
    elements = sorted({int(z) for atoms in frames for z in atoms.numbers})
    counts = composition_matrix(frames, elements)
    energies = np.array([labels(atoms, fidelity)[0] for atoms in frames])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {z: float(e) for z, e in zip(elements, solution)}


def reference_energy(atoms: Atoms, e0s: dict[int, float]) -> float:
    """Sum of atomic reference energies (eV) of a configuration."""
    missing = sorted({int(z) for z in atoms.numbers} - set(e0s))
    if missing:
        raise ValueError(f"no reference energy (E0) for element(s) Z={missing}")
    return float(sum(e0s[int(z)] for z in atoms.numbers))


def e0s_to_json(e0s: dict[int, float]) -> dict[str, float]:
    return {str(z): e for z, e in sorted(e0s.items())}


def e0s_from_json(data: dict[str, float]) -> dict[int, float]:
    return {int(z): float(e) for z, e in data.items()}
