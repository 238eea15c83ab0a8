"""Slater-Koster file sets: which elements and pairs a folder holds, basis shells, unpacking.

A set is a folder of ``X-Y.skf`` files, one per ordered element pair. Shipped
sets (``resources/skf/3ob-3-1``) hold them gzipped (``X-Y.skf.gz``) to keep the
clone small; DFTB+ reads only plain files, so :func:`plain_skf_dir` unpacks
such a folder once into a cache folder named by the content's sha256.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from ase.data import chemical_symbols

from mftl.data.labellers import LabellerError

ANGULAR_MOMENTA = "spdf"
_HOMONUCLEAR_SKF = re.compile(r"^([A-Z][a-z]?)-\1\.skf(\.gz)?$")


def skf_elements(skf_dir: str | os.PathLike) -> frozenset[str]:
    """Elements ``X`` for which ``skf_dir/X-X.skf`` (or ``X-X.skf.gz``) exists."""
    return frozenset(
        m.group(1)
        for p in Path(skf_dir).iterdir()
        if (m := _HOMONUCLEAR_SKF.match(p.name)) and m.group(1) in chemical_symbols
    )


def missing_pairs(skf_dir: Path, symbols: list[str]) -> list[str]:
    """Ordered pairs ``"A-B"`` of ``symbols`` whose ``A-B.skf`` is not in ``skf_dir``."""
    return [f"{a}-{b}" for a in symbols for b in symbols if not (skf_dir / f"{a}-{b}.skf").is_file()]


def _skf_numbers(line: str) -> list[float]:
    """Numbers of an SKF line; commas and the ``n*value`` repeat notation are allowed."""
    values: list[float] = []
    for token in line.replace(",", " ").split():
        count, _, value = token.rpartition("*")
        values.extend([float(value)] * (int(count) if count else 1))
    return values


def max_angular_momentum(skf_path: str | os.PathLike) -> str:
    """Highest shell ("s", "p", "d" or "f") of the basis described by a homonuclear SKF.

    The line after the grid line holds onsite energies, the Hubbard values and
    occupations, highest shell first: ``Ed Ep Es SPE Ud Up Us fd fp fs``, or in
    the extended format (first line starting with ``@``) ``Ef Ed Ep Es SPE Uf
    Ud Up Us ff fd fp fs``. A shell belongs to the basis when its onsite energy
    is non-zero or it is occupied in the free atom: generators write zeros for
    shells outside the basis, while an empty valence shell (W 6p, say) still
    has an onsite energy. Occupations alone, as ASE reads them, would miss it.
    """
    path = Path(skf_path)
    with open(path) as handle:
        first = handle.readline()
        extended = first.startswith("@")
        if extended:
            handle.readline()  # grid line
        numbers = _skf_numbers(handle.readline())
    n_shells = 4 if extended else 3
    if len(numbers) < 3 * n_shells + 1:
        raise LabellerError(f"{path}: onsite line has {len(numbers)} values, expected {3 * n_shells + 1}")
    onsite = numbers[:n_shells]
    occupations = numbers[2 * n_shells + 1 : 3 * n_shells + 1]
    for index, (energy, occupation) in enumerate(zip(onsite, occupations)):
        if energy != 0.0 or occupation > 0.0:
            return ANGULAR_MOMENTA[n_shells - 1 - index]
    raise LabellerError(f"{path}: no shell has a non-zero onsite energy or occupation")


@functools.cache
def plain_skf_dir(skf_dir: Path) -> Path:
    """``skf_dir`` itself, or, when it holds ``*.skf.gz``, a folder with those files unpacked.

    The unpacked folder is ``<system temporary folder>/mftl-skf-<sha256>``
    (sha256 of the gzipped files' names and bytes), written under a temporary
    name and renamed, so concurrent labelling jobs on one node share it safely.
    Plain ``.skf`` files next to the gzipped ones are copied along.
    """
    packed = sorted(skf_dir.glob("*.skf.gz"))
    if not packed:
        return skf_dir
    digest = hashlib.sha256()
    for path in packed:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    root = Path(tempfile.gettempdir())
    target = root / f"mftl-skf-{digest.hexdigest()[:16]}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=root))
    for path in packed:
        with gzip.open(path, "rb") as src, open(staging / path.name[: -len(".gz")], "wb") as dst:
            shutil.copyfileobj(src, dst)
    for path in skf_dir.glob("*.skf"):
        shutil.copy2(path, staging / path.name)
    try:
        staging.rename(target)
    except OSError:  # another process unpacked the same set first
        shutil.rmtree(staging, ignore_errors=True)
    return target
