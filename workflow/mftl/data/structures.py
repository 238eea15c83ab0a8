"""Reading and writing structures as extxyz, atomically (mftl.atomic), with checked labels.

Conventions used across the project (units: eV, Angstrom):

* ``info[f"{fidelity}_energy"]`` -- total energy of that fidelity in eV;
* ``arrays[f"{fidelity}_forces"]`` -- forces in eV/A;
* ``info["config_id"]`` -- a stable integer id of the configuration;
* ``info["molecule"]`` (optional) -- name of the molecule or system.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from mftl.atomic import atomic_path


class StructureError(ValueError):
    """Raised for structure files that cannot be used as they are."""


def energy_key(fidelity: str) -> str:
    return f"{fidelity}_energy"


def forces_key(fidelity: str) -> str:
    return f"{fidelity}_forces"


def read_structures(path: str | os.PathLike) -> list[Atoms]:
    """Read every frame of an extxyz file; malformed or empty files raise StructureError."""
    path = Path(path)
    if not path.exists():
        raise StructureError(f"{path}: file does not exist")
    import ase.io  # here, not at the top: planning imports this module, and ase.io costs it ~0.3 CPU s (scipy)

    try:
        frames = ase.io.read(path, index=":", format="extxyz")
    except Exception as err:  # ASE raises many kinds for malformed files
        raise StructureError(f"{path}: malformed extxyz ({type(err).__name__}: {err})") from err
    if not frames:
        raise StructureError(f"{path}: contains no structures")
    return frames


def write_structures(path: str | os.PathLike, frames: Sequence[Atoms]) -> None:
    """Write frames as extxyz atomically (temporary file, then rename)."""
    import ase.io

    with atomic_path(path) as tmp:
        ase.io.write(tmp, list(frames), format="extxyz")


def labels(atoms: Atoms, fidelity: str) -> tuple[float, np.ndarray]:
    """Return (energy eV, forces eV/A) of one fidelity, checking they exist and are finite."""
    cid = atoms.info.get("config_id", "?")
    ekey, fkey = energy_key(fidelity), forces_key(fidelity)
    if ekey not in atoms.info:
        raise StructureError(f"config {cid}: missing energy key '{ekey}'")
    if fkey not in atoms.arrays:
        raise StructureError(f"config {cid}: missing forces key '{fkey}'")
    energy = float(atoms.info[ekey])
    forces = np.asarray(atoms.arrays[fkey], dtype=float)
    if not np.isfinite(energy):
        raise StructureError(f"config {cid}: energy '{ekey}' is not finite ({energy})")
    if forces.shape != (len(atoms), 3) or not np.all(np.isfinite(forces)):
        raise StructureError(f"config {cid}: forces '{fkey}' are not finite or have the wrong shape")
    return energy, forces


def set_labels(atoms: Atoms, fidelity: str, energy: float, forces: np.ndarray) -> None:
    atoms.info[energy_key(fidelity)] = float(energy)
    atoms.arrays[forces_key(fidelity)] = np.asarray(forces, dtype=float)


def by_config_id(frames: Iterable[Atoms]) -> dict[int, Atoms]:
    """The frames keyed by their integer ``info["config_id"]``."""
    return {int(atoms.info["config_id"]): atoms for atoms in frames}


def geometry_only(atoms: Atoms) -> Atoms:
    """A copy carrying numbers, positions, cell and pbc, and of ``info`` only ``config_id``: no labels
    of any fidelity or key, no per-atom arrays (what a model is asked to predict on)."""
    clean = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    if "config_id" in atoms.info:
        clean.info["config_id"] = atoms.info["config_id"]
    return clean
