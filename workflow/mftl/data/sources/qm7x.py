"""QM7-X (Hoja et al., Sci. Data 8, 43 (2021); Zenodo record 4288677) to extxyz.

Upstream files: ``1000.xz`` ... ``8000.xz``, each an xz-compressed HDF5 file,
and ``DupMols.dat``. HDF5 layout ``h5[mol_id][conf_id][dataset]`` with conf
ids ``Geom-m<m>-i<i>-c<c>-opt`` (the equilibrium conformer) and
``Geom-m<m>-i<i>-c<c>-d<k>`` (its non-equilibrium distortions, k = 1..100).
Datasets used: ``atXYZ`` (positions, Angstrom), ``atNUM`` (atomic numbers),
``ePBE0+MBD`` (total PBE0+MBD energy, eV; not the atomization energy ``eAT``)
and ``totFOR`` (total PBE0+MBD forces, eV/Angstrom).

``DupMols.dat`` lists one equilibrium conf id per line (``Geom-m..-i..-c..-opt``)
whose molecule also appears elsewhere in the dataset; as in the authors'
``createDB.py`` such an entry removes that conformer and all its distortions.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np
from ase import Atoms

from mftl.data.sources.common import (
    ConversionSummary,
    MissingKeyError,
    SourceFormatError,
    checked_array,
    checked_scalar,
    labelled_atoms,
    write_frames,
)

ZENODO_RECORD = 4288677
XZ_FILES = tuple(f"{n}000.xz" for n in range(1, 9))
DUPMOLS_FILE = "DupMols.dat"
#: MD5 sums as listed on the Zenodo record (also used by SchNetPack's QM7-X loader).
MD5 = {
    "1000.xz": "b50c6a5d0a4493c274368cf22285503e",
    "2000.xz": "4418a813daf5e0d44aa5a26544249ee6",
    "3000.xz": "f7b5aac39a745f11436047c12d1eb24e",
    "4000.xz": "26819601705ef8c14080fa7fc69decd4",
    "5000.xz": "85ac444596b87812aaa9e48d203d0b70",
    "6000.xz": "787fc4a9036af0e67c034a30ad854c07",
    "7000.xz": "5ecce00a188410d06b747cb683d8d347",
    "8000.xz": "c893ae88b8f5c32541c3f024fc1daa45",
    "DupMols.dat": "5d886ccac38877c8cb26c07704dd1034",
}

POSITIONS_KEY = "atXYZ"
NUMBERS_KEY = "atNUM"
ENERGY_KEY = "ePBE0+MBD"
FORCES_KEY = "totFOR"

_CONF_ID = re.compile(r"^(?P<conformer>Geom-m(?P<m>\d+)-i\d+-c\d+)-(?P<kind>opt|d\d+)$")
_CHUNK_BYTES = 1 << 22


def read_duplicate_conformers(dupmols_path: str | os.PathLike) -> set[str]:
    """Conformer ids (``Geom-m..-i..-c..``, without ``-opt``) listed in DupMols.dat.

    Blank lines are ignored; any other line whose first field is not an
    equilibrium conf id raises SourceFormatError naming file and line.
    """
    path = Path(dupmols_path)
    conformers: set[str] = set()
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        entry = line.split()[0]
        match = _CONF_ID.match(entry) or _CONF_ID.match(f"{entry}-opt")
        if match is None or match["kind"] != "opt":
            raise SourceFormatError(
                f"{path}:{line_no}: '{entry}' is not an equilibrium QM7-X conf id (Geom-m<m>-i<i>-c<c>-opt)"
            )
        conformers.add(match["conformer"])
    return conformers


def decompress_xz(xz_path: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Stream-decompress ``xz_path`` into ``dest`` (the HDF5 files are several GB each)."""
    try:
        with lzma.open(xz_path, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK_BYTES)
    except lzma.LZMAError as err:
        raise SourceFormatError(f"{xz_path}: not a readable xz file ({err})") from err


def _conformer(group: h5py.Group, where: str, fidelity: str, info: dict) -> Atoms:
    for key in (POSITIONS_KEY, NUMBERS_KEY, ENERGY_KEY, FORCES_KEY):
        if key not in group:
            raise MissingKeyError(f"{where}: missing dataset '{key}'")
    numbers = np.asarray(group[NUMBERS_KEY][()]).astype(int).reshape(-1)
    n_atoms = len(numbers)
    positions = checked_array(group[POSITIONS_KEY][()], where, POSITIONS_KEY, (n_atoms, 3))
    energy = checked_scalar(group[ENERGY_KEY][()], where, ENERGY_KEY)
    forces = checked_array(group[FORCES_KEY][()], where, FORCES_KEY, (n_atoms, 3))
    return labelled_atoms(numbers, positions, fidelity, energy, forces, info)


def _frames_of_file(
    xz_path: Path,
    duplicates: set[str],
    fidelity: str,
    include_equilibrium: bool,
    summary: ConversionSummary,
    scratch_dir: Path,
) -> Iterator[Atoms]:
    fd, hdf5_tmp = tempfile.mkstemp(prefix=f".{xz_path.stem}.", suffix=".hdf5", dir=scratch_dir)
    os.close(fd)
    try:
        decompress_xz(xz_path, hdf5_tmp)
        try:
            h5 = h5py.File(hdf5_tmp, "r")
        except OSError as err:
            raise SourceFormatError(f"{xz_path}: decompressed data is not HDF5 ({err})") from err
        with h5:
            for mol_id, molecule in h5.items():
                for conf_id, conformer in molecule.items():
                    where = f"{xz_path}:/{mol_id}/{conf_id}"
                    match = _CONF_ID.match(conf_id)
                    if match is None:
                        raise SourceFormatError(f"{where}: conf id does not look like Geom-m<m>-i<i>-c<c>-(opt|d<k>)")
                    if match["conformer"] in duplicates:
                        summary.n_dropped_duplicates += 1
                        continue
                    equilibrium = match["kind"] == "opt"
                    if equilibrium and not include_equilibrium:
                        summary.n_skipped["include_equilibrium=False"] = (
                            summary.n_skipped.get("include_equilibrium=False", 0) + 1
                        )
                        continue
                    config_type = "equilibrium" if equilibrium else "non_equilibrium"
                    info = {
                        "config_id": summary.n_written,
                        "molecule": f"qm7x-m{match['m']}",
                        "config_type": config_type,
                        "qm7x_id": conf_id,
                    }
                    atoms = _conformer(conformer, where, fidelity, info)
                    summary.n_written += 1
                    summary.counts[config_type] += 1
                    yield atoms
    finally:
        Path(hdf5_tmp).unlink(missing_ok=True)


def convert_qm7x(
    xz_files: Sequence[str | os.PathLike],
    dupmols_path: str | os.PathLike | None,
    out: str | os.PathLike,
    fidelity: str = "pbe0mbd",
    include_equilibrium: bool = True,
    scratch_dir: str | os.PathLike | None = None,
) -> ConversionSummary:
    """Convert QM7-X shards to one extxyz file ``out``.

    Labels: ``info[f"{fidelity}_energy"]`` = ePBE0+MBD total energy (eV),
    ``arrays[f"{fidelity}_forces"]`` = totFOR (eV/A); ``info`` also holds
    ``config_id`` (0, 1, ... in file order), ``molecule`` (``qm7x-m<m>``),
    ``config_type`` (equilibrium / non_equilibrium) and ``qm7x_id``.
    Conformers listed in ``dupmols_path`` (None: keep all) are dropped and
    counted in the returned summary. Each shard is decompressed in turn to a
    temporary file in ``scratch_dir`` (default: out's folder), removed afterwards.
    """
    out = Path(out)
    scratch = Path(scratch_dir) if scratch_dir is not None else out.parent
    scratch.mkdir(parents=True, exist_ok=True)
    duplicates = read_duplicate_conformers(dupmols_path) if dupmols_path is not None else set()
    summary = ConversionSummary(out=out)

    def frames() -> Iterator[Atoms]:
        for xz_path in xz_files:
            yield from _frames_of_file(Path(xz_path), duplicates, fidelity, include_equilibrium, summary, scratch)

    source = ", ".join(str(p) for p in xz_files) or "no QM7-X files"
    write_frames(out, frames(), source)
    return summary
