"""sGDML CCSD(T) molecular dynamics data (Chmiela et al., sgdml.org) to extxyz, one molecule or several pooled.

Upstream: ``{name}_ccsd_t.zip`` (e.g. ``ethanol_ccsd_t.zip``) holding
``*-train.npz`` and ``*-test.npz``. Arrays used: ``R`` (positions, Angstrom,
n x natoms x 3), ``z`` (atomic numbers), ``E`` (total CCSD(T)/cc-pVDZ energy,
kcal/mol, shape n or n x 1) and ``F`` (forces, kcal/mol/Angstrom). Energies and
forces are converted with 1 kcal/mol = ase.units.kcal / ase.units.mol eV
(0.0433641 eV).
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units

from mftl.data.sources.common import (
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
    zip_paths: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    fidelity: str = "ccsdt",
    molecule: str | None = None,
) -> ConversionSummary:
    """Merge the train and test parts of one or several sGDML zips into one extxyz file ``out``.

    Several archives (one per molecule, e.g. benzene, malonaldehyde and toluene)
    are pooled in the given order into one configuration space, as the paper does
    with its CCSD(T) sets; each configuration keeps its molecule, so errors can
    still be reported per molecule (``select`` on ``molecule``).

    Writes ``info[f"{fidelity}_energy"]`` (total energy, eV),
    ``arrays[f"{fidelity}_forces"]`` (eV/A), ``config_id`` (0, 1, ... over all
    archives; per archive train first, then test), ``molecule`` (from each zip's
    name; ``molecule`` overrides it for a single archive) and ``sgdml_part``
    ("train"/"test"); the summary counts configurations per part. Nothing is dropped.
    """
    paths = [Path(zip_paths)] if isinstance(zip_paths, (str, os.PathLike)) else [Path(p) for p in zip_paths]
    if molecule is not None and len(paths) != 1:
        raise SourceFormatError(f"a molecule name ('{molecule}') names one archive, not {len(paths)}")
    molecules = [molecule or molecule_name(p) for p in paths]
    repeated = sorted({m for m in molecules if molecules.count(m) > 1})
    if repeated:
        raise SourceFormatError(f"molecule(s) {repeated} would be pooled twice (archives {[str(p) for p in paths]})")
    summary = ConversionSummary(out=Path(out))
    with contextlib.ExitStack() as stack:
        archives = []
        for path in paths:
            try:
                archives.append(stack.enter_context(zipfile.ZipFile(path)))
            except (zipfile.BadZipFile, OSError) as err:
                raise SourceFormatError(f"{path}: not a zip file ({err})") from err

        def frames() -> Iterator[Atoms]:
            for archive, path, name in zip(archives, paths, molecules):
                for part in PARTS:
                    yield from _part_frames(archive, path, part, fidelity, name, summary)

        write_frames(out, frames(), ", ".join(str(p) for p in paths))
    return summary
