"""The data mace reads and writes, on each fidelity's E0 scale.

Training data files written by :func:`training_frames` carry energies relative
to the fidelity's fitted E0s (``REF_energy``) and the forces (``REF_forces``);
models mftl trains from scratch hold zero E0s, so no model ever carries a
fidelity's reference energies into fine-tuning (see :mod:`mftl.data.reference_energies`).
A foundation model's own E0s (:func:`model_e0s`) are kept and the data re-referenced to them.
``mace_eval_configs`` predictions (:func:`predictions`) are put back on the fidelity's
scale: the model's E0 sum is replaced by the fidelity's fitted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from mftl.data.reference_energies import reference_energy
from mftl.data.structures import labels
from mftl.training.mace_commands import ENERGY_KEY, FORCES_KEY, PRED_ENERGY_KEY, PRED_FORCES_KEY


def training_frames(
    frames: Sequence[Atoms],
    fidelity: str,
    fit: dict[int, float],
    held: dict[int, float] | None = None,
) -> list[Atoms]:
    """Copies of ``frames`` with ``REF_energy`` and ``REF_forces`` (eV, eV/A) for MACE.

    The energy is re-referenced from the fidelity's fitted E0s (``fit``) to the
    E0s the MACE model holds (``held``; zero for models mftl trains from scratch).
    """
    out = []
    for atoms in frames:
        energy, forces = labels(atoms, fidelity)
        shift = reference_energy(atoms, fit) - (reference_energy(atoms, held) if held else 0.0)
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.info = {"config_id": atoms.info.get("config_id"), ENERGY_KEY: energy - shift}
        copy.arrays[FORCES_KEY] = forces
        out.append(copy)
    return out


def model_e0s(model_path: Path, elements: Sequence[int]) -> dict[int, float]:
    """Atomic reference energies (eV) a MACE model holds, for ``elements`` (first head)."""
    import torch

    model = torch.load(model_path, map_location="cpu", weights_only=False)
    numbers = [int(z) for z in model.atomic_numbers]
    energies = model.atomic_energies_fn.atomic_energies.detach().cpu().double().reshape(-1, len(numbers))[0]
    missing = sorted(set(int(z) for z in elements) - set(numbers))
    if missing:
        raise ValueError(f"{model_path}: model has no element(s) Z={missing}")
    return {int(z): float(energies[numbers.index(int(z))]) for z in elements}


def predictions(
    frames: Sequence[Atoms],
    fit: dict[int, float],
    held: dict[int, float],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Energies (eV) and forces (eV/A) on the fidelity's scale from ``mace_eval_configs`` output frames.

    The model's own E0s (``held``) are replaced by the fidelity's fitted ones (``fit``).
    """
    energies = np.array(
        [float(a.info[PRED_ENERGY_KEY]) - reference_energy(a, held) + reference_energy(a, fit) for a in frames]
    )
    forces = [np.asarray(a.arrays[PRED_FORCES_KEY], dtype=float) for a in frames]
    return energies, forces
