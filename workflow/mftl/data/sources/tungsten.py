"""GAP tungsten data (Szlachta, Bartok, Csanyi, PRB 90, 104108 (2014)) to the project's keys.

Upstream: one extxyz file (``w-14.xyz`` as distributed through libatoms.org
and qmml.org) with, per configuration, ``energy`` (total DFT-PBE energy, eV),
``virial`` (3x3, eV), ``config_type`` (slice_sample, md_bulk, surface,
vacancy, gamma_surface, dislocation_quadrupole, ...) and the per-atom array
``force`` (singular, eV/Angstrom). All cells are periodic and kept so.

ASE's extxyz reader moves ``energy`` (and a plural ``forces``) into a
SinglePointCalculator; both that and plain info/arrays are read here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from mftl.data.sources.common import (
    ConversionSummary,
    MissingKeyError,
    checked_array,
    checked_scalar,
    labelled_atoms,
    write_frames,
)
from mftl.data.structures import read_structures

DEFAULT_FILE = "w-14.xyz"
ENERGY_KEY = "energy"
FORCES_KEYS = ("force", "forces")
VIRIAL_KEY = "virial"
CONFIG_TYPE_KEY = "config_type"


def _energy(atoms: Atoms, where: str) -> float:
    if ENERGY_KEY in atoms.info:
        return checked_scalar(atoms.info[ENERGY_KEY], where, ENERGY_KEY)
    if atoms.calc is not None and ENERGY_KEY in atoms.calc.results:
        return checked_scalar(atoms.calc.results[ENERGY_KEY], where, ENERGY_KEY)
    raise MissingKeyError(f"{where}: missing energy key '{ENERGY_KEY}'")


def _forces(atoms: Atoms, where: str) -> np.ndarray:
    results: dict[str, Any] = atoms.calc.results if atoms.calc is not None else {}
    for key in FORCES_KEYS:
        value = atoms.arrays.get(key, results.get(key))
        if value is not None:
            return checked_array(value, where, key, (len(atoms), 3))
    raise MissingKeyError(f"{where}: missing per-atom forces ('force' or 'forces')")


def _converted(atoms: Atoms, index: int, path: Path, fidelity: str) -> Atoms:
    where = f"{path}: configuration {index}"
    info: dict[str, Any] = {"config_id": index}
    if CONFIG_TYPE_KEY in atoms.info:
        info[CONFIG_TYPE_KEY] = str(atoms.info[CONFIG_TYPE_KEY])
    if VIRIAL_KEY in atoms.info:
        # 9 values, row-major, eV: extxyz keeps only the special key 'virial' as 3x3.
        info[f"{fidelity}_virial"] = checked_array(atoms.info[VIRIAL_KEY], where, VIRIAL_KEY, (3, 3)).reshape(9)
    positions = checked_array(atoms.positions, where, "pos", (len(atoms), 3))
    return labelled_atoms(
        atoms.numbers,
        positions,
        fidelity,
        _energy(atoms, where),
        _forces(atoms, where),
        info,
        cell=atoms.cell.array,
        pbc=atoms.pbc,
    )


def convert_tungsten(path: str | os.PathLike, out: str | os.PathLike, fidelity: str = "pbe") -> ConversionSummary:
    """Convert the GAP tungsten extxyz ``path`` to ``out`` with the project's keys.

    Writes ``info[f"{fidelity}_energy"]`` (total energy, eV),
    ``arrays[f"{fidelity}_forces"]`` (eV/A), ``info[f"{fidelity}_virial"]``
    (9 values, eV) where present, ``config_type`` and ``config_id`` (0, 1, ...
    in file order). Cells and periodicity are kept; nothing is dropped.
    """
    path, out = Path(path), Path(out)
    frames = read_structures(path)
    summary = ConversionSummary(out=out)

    def converted() -> Iterator[Atoms]:
        for index, atoms in enumerate(frames):
            clean = _converted(atoms, index, path, fidelity)
            summary.n_written += 1
            summary.counts[clean.info.get(CONFIG_TYPE_KEY, "(none)")] += 1
            yield clean

    write_frames(out, converted(), str(path))
    return summary
