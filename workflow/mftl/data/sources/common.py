"""Pieces shared by the dataset converters: errors, the summary, checks, a streaming writer."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms

from mftl.atomic import atomic_path
from mftl.data.structures import set_labels


class SourceFormatError(ValueError):
    """An upstream file that does not have the documented format; the message names file and key."""


class MissingKeyError(SourceFormatError):
    """A key (HDF5 dataset, npz array, extxyz property) that the format requires is absent."""


class NonFiniteError(SourceFormatError):
    """A NaN or infinite coordinate, energy or force."""


class EmptyResultError(SourceFormatError):
    """A conversion that would write no configuration at all."""


@dataclass
class ConversionSummary:
    """What a converter wrote and what it left out, and why.

    ``n_dropped_duplicates`` counts configurations removed because the
    upstream dataset lists them as duplicates; ``n_skipped`` counts those left
    out on request (by option name). Nothing else is ever left out.
    """

    out: Path
    n_written: int = 0
    n_dropped_duplicates: int = 0
    n_skipped: dict[str, int] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "n_written": self.n_written,
            "n_dropped_duplicates": self.n_dropped_duplicates,
            "n_skipped": dict(self.n_skipped),
            "counts": dict(sorted(self.counts.items())),
        }


def checked_array(value: Any, where: str, key: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """``value`` as a float array of ``shape`` (None: any length) with finite entries only.

    ``where`` names the file (and record) for the error message.
    """
    array = np.asarray(value, dtype=float)
    if array.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, array.shape)):
        wanted = "x".join("n" if n is None else str(n) for n in shape)
        raise SourceFormatError(f"{where}: '{key}' has shape {array.shape}, expected {wanted}")
    if not np.all(np.isfinite(array)):
        raise NonFiniteError(f"{where}: '{key}' contains NaN or infinite values")
    return array


def checked_scalar(value: Any, where: str, key: str) -> float:
    """A single finite number from ``value`` (a scalar or a one-element array)."""
    array = np.asarray(value, dtype=float).reshape(-1)
    if array.size != 1:
        raise SourceFormatError(f"{where}: '{key}' holds {array.size} values, expected one")
    return float(checked_array(array, where, key, (1,))[0])


def labelled_atoms(
    numbers: np.ndarray,
    positions: np.ndarray,
    fidelity: str,
    energy_eV: float,
    forces_eV_A: np.ndarray,
    info: dict[str, Any],
    cell: np.ndarray | None = None,
    pbc: bool | np.ndarray = False,
) -> Atoms:
    """A clean Atoms (no calculator) with the project's canonical labels and ``info``."""
    atoms = Atoms(numbers=np.asarray(numbers, dtype=int), positions=positions, cell=cell, pbc=pbc)
    atoms.info.update(info)
    set_labels(atoms, fidelity, energy_eV, forces_eV_A)
    return atoms


def write_frames(out: str | os.PathLike, frames: Iterable[Atoms], source: str) -> int:
    """Stream ``frames`` into the extxyz file ``out`` atomically; return how many were written.

    Frames are written as they come so that millions of configurations never
    sit in memory together. An empty stream raises EmptyResultError and, like
    any error, leaves no ``out`` behind.
    """
    n_written = 0
    with atomic_path(out) as tmp, open(tmp, "w") as handle:
        for atoms in frames:
            ase.io.write(handle, atoms, format="extxyz")
            n_written += 1
        if n_written == 0:
            raise EmptyResultError(f"{source}: no configuration to write to {out}")
    return n_written
