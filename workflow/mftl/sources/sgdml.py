"""sGDML CCSD(T) molecular dynamics data (Chmiela et al., sgdml.org) to extxyz.

Upstream: ``{name}_ccsd_t.zip`` (e.g. ``ethanol_ccsd_t.zip``) holding
``*-train.npz`` and ``*-test.npz``. Arrays used: ``R`` (positions, Angstrom,
n x natoms x 3), ``z`` (atomic numbers), ``E`` (total CCSD(T)/cc-pVDZ energy,
kcal/mol, shape n or n x 1) and ``F`` (forces, kcal/mol/Angstrom). Energies and
forces are converted with 1 kcal/mol = ase.units.kcal / ase.units.mol eV
(0.0433641 eV).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
from ase import Atoms, units

from mftl.sources.common import (
    ConversionSummary,
    MissingKeyError,
    SourceFormatError,
    checked_array,
    labelled_atoms,
    write_frames,
)

KCAL_PER_MOL_IN_EV = units.kcal / units.mol
PARTS = ("train", "test")
REQUIRED_KEYS = ("R", "z", "E", "F")
ZIP_SUFFIX = "_ccsd_t.zip"


def molecule_name(zip_path: str | os.PathLike) -> str:
    """``ethanol`` for ``ethanol_ccsd_t.zip`` (else the file stem)."""
    name = Path(zip_path).name
    return name[: -len(ZIP_SUFFIX)] if name.endswith(ZIP_SUFFIX) else Path(zip_path).stem


def _part_member(archive: zipfile.ZipFile, zip_path: Path, part: str) -> str:
    members = [m for m in archive.namelist() if m.endswith(f"-{part}.npz")]
    if len(members) != 1:
        raise SourceFormatError(f"{zip_path}: expected one '*-{part}.npz' member, found {members or 'none'}")
    return members[0]


def _part_frames(
    archive: zipfile.ZipFile, zip_path: Path, part: str, fidelity: str, molecule: str, summary: ConversionSummary
) -> Iterator[Atoms]:
    member = _part_member(archive, zip_path, part)
    where = f"{zip_path}:{member}"
    try:
        data = np.load(io.BytesIO(archive.read(member)), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise SourceFormatError(f"{where}: not a readable .npz file ({err})") from err
    with data:
        for key in REQUIRED_KEYS:
            if key not in data.files:
                raise MissingKeyError(f"{where}: missing array '{key}'")
        numbers = np.asarray(data["z"]).astype(int).reshape(-1)
        positions = checked_array(data["R"], where, "R", (None, len(numbers), 3))
        n_frames = len(positions)
        energies = checked_array(np.asarray(data["E"]).reshape(-1), where, "E", (n_frames,)) * KCAL_PER_MOL_IN_EV
        forces = checked_array(data["F"], where, "F", (n_frames, len(numbers), 3)) * KCAL_PER_MOL_IN_EV
    for index in range(n_frames):
        info = {"config_id": summary.n_written, "molecule": molecule, "sgdml_part": part}
        summary.n_written += 1
        summary.counts[part] += 1
        yield labelled_atoms(numbers, positions[index], fidelity, energies[index], forces[index], info)


def convert_sgdml(
    zip_path: str | os.PathLike, out: str | os.PathLike, fidelity: str = "ccsdt", molecule: str | None = None
) -> ConversionSummary:
    """Merge the train and test parts of an sGDML zip into one extxyz file ``out``.

    Writes ``info[f"{fidelity}_energy"]`` (total energy, eV),
    ``arrays[f"{fidelity}_forces"]`` (eV/A), ``config_id`` (train first, then
    test), ``molecule`` (default: from the zip name) and ``sgdml_part``
    ("train"/"test"). Nothing is dropped.
    """
    zip_path, out = Path(zip_path), Path(out)
    molecule = molecule or molecule_name(zip_path)
    summary = ConversionSummary(out=out)
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as err:
        raise SourceFormatError(f"{zip_path}: not a zip file ({err})") from err

    def frames() -> Iterator[Atoms]:
        for part in PARTS:
            yield from _part_frames(archive, zip_path, part, fidelity, molecule, summary)

    with archive:
        write_frames(out, frames(), str(zip_path))
    return summary
