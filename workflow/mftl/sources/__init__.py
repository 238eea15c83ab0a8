"""Upstream datasets of the paper, converted to the project's extxyz convention.

Every converter writes one extxyz file (atomically, streamed) with positions
in Angstrom, ``info[f"{fidelity}_energy"]`` the TOTAL energy in eV (never an
atomization energy: references are subtracted later, per fidelity, by
``mftl.references``), ``arrays[f"{fidelity}_forces"]`` in eV/Angstrom, a
unique integer ``info["config_id"]`` (0, 1, ... in upstream order) and
``info["molecule"]`` or ``info["config_type"]`` where the source has one. It
returns a ConversionSummary with the counts written and dropped.

Sources:

* ``qm7x`` -- QM7-X, Zenodo record 4288677: ``1000.xz`` ... ``8000.xz``
  (xz-compressed HDF5) and ``DupMols.dat``. Energy ``ePBE0+MBD`` (eV, total),
  forces ``totFOR`` (eV/A). Conformers listed in DupMols.dat (with their 100
  distortions) are the only configurations ever dropped; they are counted.
  Default fidelity name ``pbe0mbd``.
* ``tungsten`` -- GAP tungsten database of Szlachta, Bartok, Csanyi,
  PRB 90, 104108 (2014), file ``w-14.xyz`` (libatoms.org / qmml.org): extxyz with
  ``energy`` (eV, total), ``force`` (eV/A), ``virial`` (eV), ``config_type``;
  periodic cells. Default fidelity name ``pbe``.
* ``sgdml`` -- sGDML CCSD(T)/cc-pVDZ sets (sgdml.org), ``{name}_ccsd_t.zip``
  with ``*-train.npz`` and ``*-test.npz``: ``R`` (A), ``z``, ``E`` (kcal/mol,
  total), ``F`` (kcal/mol/A), converted with 1 kcal/mol = 0.0433641 eV.
  Several archives are pooled into one file, each configuration keeping its
  ``molecule``. Default fidelity name ``ccsdt``.

Malformed input (a missing key, NaN/inf values, an empty result) raises a
SourceFormatError (a ValueError) naming the file and the key. Downloads go
through ``mftl.sources.download.fetch``, which checks MD5/SHA-256 sums.
"""

from __future__ import annotations

from typing import Callable

from mftl.sources.common import (
    ConversionSummary,
    EmptyResultError,
    MissingKeyError,
    NonFiniteError,
    SourceFormatError,
)
from mftl.sources.qm7x import convert_qm7x
from mftl.sources.sgdml import convert_sgdml
from mftl.sources.tungsten import convert_tungsten

#: source name -> converter; each returns a ConversionSummary (their arguments differ, see each).
CONVERTERS: dict[str, Callable[..., ConversionSummary]] = {
    "qm7x": convert_qm7x,
    "tungsten": convert_tungsten,
    "sgdml": convert_sgdml,
}

__all__ = [
    "CONVERTERS",
    "ConversionSummary",
    "EmptyResultError",
    "MissingKeyError",
    "NonFiniteError",
    "SourceFormatError",
    "convert_qm7x",
    "convert_sgdml",
    "convert_tungsten",
]
