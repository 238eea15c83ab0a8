"""Upstream datasets of the paper, converted to the project's extxyz convention.

Every converter writes one extxyz file (atomically, streamed) with positions
in Angstrom, ``info[f"{fidelity}_energy"]`` the TOTAL energy in eV (never an
atomization energy: references are subtracted later, per fidelity, by
``mftl.data.reference_energies``), ``arrays[f"{fidelity}_forces"]`` in eV/Angstrom, a
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
through ``mftl.data.sources.download.fetch``, which checks MD5/SHA-256 sums.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mftl.data.sources.common import ConversionSummary

Inputs = Sequence[str | Path]


def _convert_qm7x(inputs: Inputs, out: str | Path, **options) -> ConversionSummary:
    """The ``.xz`` shards and ``DupMols.dat``, in any order."""
    from mftl.data.sources.qm7x import convert_qm7x

    shards = [p for p in inputs if str(p).endswith(".xz")]
    dupmols = next((p for p in inputs if str(p).endswith("DupMols.dat")), None)
    return convert_qm7x(shards, dupmols, out, **options)


#: converters that read exactly one upstream file (planning refuses a download of several: mftl.planning.config)
SINGLE_FILE_CONVERTERS = ("tungsten",)


def _one_file(converter: str, inputs: Inputs) -> str | Path:
    if len(inputs) != 1:
        raise ValueError(f"converter {converter} reads one file, got {len(inputs)}: {[str(p) for p in inputs]}")
    return inputs[0]


def _convert_tungsten(inputs: Inputs, out: str | Path, **options) -> ConversionSummary:
    """One extxyz file."""
    from mftl.data.sources.tungsten import convert_tungsten

    return convert_tungsten(_one_file("tungsten", inputs), out, **options)


def _convert_sgdml(inputs: Inputs, out: str | Path, **options) -> ConversionSummary:
    """One or more ``{name}_ccsd_t.zip`` archives, pooled."""
    from mftl.data.sources.sgdml import convert_sgdml

    return convert_sgdml(list(inputs), out, **options)


#: converter name -> ``f(inputs, out, **options)``: the one dispatch of ``mftl convert`` (the schema's
#: ``datasets.<d>.convert.converter`` lists the same names). Each imports its reader only when called.
CONVERTERS: dict[str, Callable[..., ConversionSummary]] = {
    "qm7x": _convert_qm7x,
    "tungsten": _convert_tungsten,
    "sgdml": _convert_sgdml,
}


def convert(converter: str, inputs: Inputs, out: str | Path, fidelity: str | None = None) -> ConversionSummary:
    """Convert upstream ``inputs`` with the named converter into one extxyz file ``out``."""
    if converter not in CONVERTERS:
        raise ValueError(f"unknown converter '{converter}' (known: {', '.join(CONVERTERS)})")
    return CONVERTERS[converter](list(inputs), out, **({"fidelity": fidelity} if fidelity else {}))


# The readers and errors, imported on first use (h5py, ASE): ``mftl fetch`` and the command line's
# parser need only the names above.
_LAZY = {
    "ConversionSummary": "common",
    "EmptyResultError": "common",
    "MissingKeyError": "common",
    "NonFiniteError": "common",
    "SourceFormatError": "common",
    "convert_qm7x": "qm7x",
    "convert_sgdml": "sgdml",
    "convert_tungsten": "tungsten",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"mftl.data.sources.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CONVERTERS", "SINGLE_FILE_CONVERTERS", "convert", *_LAZY]
