"""A cheap index of an extxyz file: per configuration its id, elements and a few of its keys.

Planning reads a dataset's source to check it (elements a labeller cannot do, a
split whose test set holds elements the training data lacks, one geometry under
several ids) without building ASE ``Atoms``: only the atom lines' species and
position columns and the comment lines are parsed. An index is cached under ``.snakemake/mftl/sources/`` and reused while
the file's path, modification time and size are unchanged.

Why a reader of its own rather than ASE's or libAtoms' ``extxyz`` package (the format's
reference implementation, a C parser): ``bench/parsers.py`` builds the same index with each
from a 300,000-configuration file and finds them equal row by row, but this scan takes 22 us
a configuration, the ``extxyz`` C reader 141 us and ASE 215 us (docs/performance.md,
section 1). Both parse every number of every atom line and the whole comment line, which the
index never needs; the C function alone, before any conversion to Python, already costs
54 us. And ``extxyz`` 0.2.0 reads a file whose last configuration is cut short as if it ended
before it, without an error, where planning must name the truncation. (Those timings predate the
geometry key of each configuration, :func:`geometry_key`, which reads the positions too: on a 51,000-configuration
copy of the demo file it made the scan 1.2 to 1.4 times slower, measured on a loaded 2-core machine.) Values are still
converted as ASE converts them (:func:`_value`), with ASE's parser for anything not plain.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from array import array
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from mftl.atomic import write_bytes_atomic

CACHE_DIR = Path(".snakemake/mftl/sources")
#: bump when the index's content changes, so that old cache files are not read
FORMAT = 3
#: positions (and lattice vectors) are rounded to this many decimals (1e-6 A) for :func:`geometry_key`
GEOMETRY_DECIMALS = 6


class SourceFormatError(ValueError):
    """A source file that is not (or not all) extxyz: the message names the file, frame and line."""


@dataclass
class SourceIndex:
    """Per configuration, in file order: ``config_id`` (the frame index when the file has none),
    element symbols, the values of the watched ``value_keys`` it has (e.g. the key ``select``
    reads), which info keys and arrays it has (``"arrays:<name>"`` for an array), its
    composition (sorted ``(symbol, count)`` pairs, empty for a frame of no atoms) and its
    geometry's :func:`geometry_key` (equal for copies of one geometry).

    Equal element sets, values and key sets are one shared object each, so that the
    cached index of a file of millions of configurations stays small.
    """

    ids: array
    symbols: list[frozenset[str]]
    values: list[dict[str, Any]]
    keys: list[frozenset[str]]
    compositions: list[tuple[tuple[str, int], ...]]
    geometries: array

    def has(self, row: int, info_key: str, array_key: str) -> bool:
        return info_key in self.keys[row] and f"arrays:{array_key}" in self.keys[row]


class IndexBuilder:
    """Builds a :class:`SourceIndex` configuration by configuration, one shared object per distinct
    element set, watched values, key set and composition (a small pickle)."""

    def __init__(self) -> None:
        from ase.data import chemical_symbols

        self._chemical_symbols = chemical_symbols
        self.ids, self.symbols, self.values, self.keys, self.compositions = array("q"), [], [], [], []
        self.geometries = array("q")
        self._shared: dict[Any, Any] = {}

    def add(self, config_id, species, values: dict[str, Any], info_keys, array_names, geometry: int = 0) -> None:
        """One configuration: its ``config_id`` (``None``: its row number), species column (symbols or
        atomic numbers), the watched ``values``, the names of its info keys and arrays as in the file, and
        its :func:`geometry_key`."""
        counts: dict[str, int] = {}
        for s in species:
            symbol = self._chemical_symbols[int(s)] if s.isdigit() else s
            counts[symbol] = counts.get(symbol, 0) + 1
        share = self._shared.setdefault
        elements = frozenset(counts)
        composition = tuple(sorted(counts.items()))
        watched = tuple(sorted(values.items()))
        present = frozenset((set(info_keys) - {"Properties"}) | {f"arrays:{name}" for name in array_names})
        self.ids.append(len(self.ids) if config_id is None else int(config_id))
        self.symbols.append(share(elements, elements))
        self.values.append(share(watched, dict(watched)))
        self.keys.append(share(present, present))
        self.compositions.append(share(composition, composition))
        self.geometries.append(geometry)

    def index(self) -> SourceIndex:
        return SourceIndex(self.ids, self.symbols, self.values, self.keys, self.compositions, self.geometries)


def geometry_key(species: list[str], coordinates: list[str], lattice: str) -> int:
    """One configuration's geometry as a 64-bit hash: its species in order, its positions (``coordinates``,
    x y z of each atom in order, as text) and lattice rounded to :data:`GEOMETRY_DECIMALS`. Copies of one
    geometry (a test configuration pasted into the training data) get the same key."""
    import numpy as np

    scale = 10.0**GEOMETRY_DECIMALS
    numbers = np.rint(np.array(coordinates + lattice.split(), dtype=float) * scale).astype(np.int64)
    digest = hashlib.blake2b(numbers.tobytes(), digest_size=8)
    digest.update(" ".join(species).encode())
    digest.update(str(len(coordinates)).encode())  # where the positions end and the lattice begins
    return int.from_bytes(digest.digest(), "little", signed=True)


def _atom_columns(properties: str) -> tuple[int, int | None, int]:
    """Column of ``species``, first column of ``pos`` (None without) and number of columns of the atom
    lines described by an extxyz ``Properties`` string."""
    fields = properties.split(":")
    try:
        widths = [int(width) for width in fields[2::3]]
    except ValueError:
        raise ValueError(f"malformed Properties={properties}") from None
    names = fields[0::3]
    if "species" not in names:
        raise ValueError(f"no species column in Properties={properties}")
    position = sum(widths[: names.index("pos")]) if "pos" in names else None
    return sum(widths[: names.index("species")]), position, sum(widths)


#: ``key=value``, ``key="quoted value"`` or ``key={...}`` of an extxyz comment line
_KEY_VALUE = re.compile(r'([A-Za-z_][^\s=]*)\s*=\s*("(?:[^"\\]|\\.)*"|\{[^}]*\}|\S+)')


def _comment_values(raw: dict[str, str], keys: frozenset[str]) -> dict[str, Any]:
    """``Properties``, ``config_id`` and the ``keys`` of an extxyz comment line, from its ``raw`` values
    (the text of each, by :data:`_KEY_VALUE`).

    Values are converted as ASE converts them (:func:`_value`); parsing the whole
    line with ASE's parser costs ~0.2 ms a frame, minutes for QM7-X.
    """
    values = {k: _value(k, raw[k]) for k in keys if k in raw}
    values["Properties"] = raw.get("Properties", "species:S:1:pos:R:3").strip('"')
    if "config_id" in raw:
        values["config_id"] = int(raw["config_id"].strip('"'))
    return values


_INT = re.compile(r"[+-]?\d+")
_PLAIN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_+-]*")


def _value(key: str, raw: str) -> Any:
    """A comment-line value as ASE's extxyz reader gives it: integers, floats and plain
    words directly, anything else (quoted, booleans, arrays) by ASE's own parser."""
    if _INT.fullmatch(raw):
        return int(raw)
    if _PLAIN_WORD.fullmatch(raw) and raw not in ("T", "F", "True", "False", "inf", "nan", "Infinity", "NaN"):
        return raw
    try:
        return float(raw)
    except ValueError:
        from ase.io.extxyz import key_val_str_to_dict

        return key_val_str_to_dict(f"{key}={raw}")[key]


def scan(
    path: str | os.PathLike,
    value_keys: frozenset[str] = frozenset(),
    info_keys: frozenset[str] = frozenset(),
    array_keys: frozenset[str] = frozenset(),
) -> SourceIndex:
    """Read the index of an extxyz file (no caching). Values are parsed as ASE parses them.

    ``info_keys`` and ``array_keys`` are kept for compatibility: every key a configuration has is
    recorded. A file that is not extxyz, or ends inside a configuration, raises
    :class:`SourceFormatError` naming the frame and line.
    """
    rows = IndexBuilder()
    line_no = 0
    with open(path, errors="replace") as lines:
        for header in lines:
            line_no += 1
            if not header.strip():
                continue
            frame = len(rows.ids)
            fields = header.split()
            if len(fields) != 1 or not fields[0].isdigit():
                raise SourceFormatError(
                    f"{path}: not extxyz: line {line_no} (frame {frame}) should hold the number of atoms of a "
                    f"configuration, not {header.strip()[:60]!r}"
                )
            n_atoms = int(fields[0])
            comment = next(lines, None)
            if comment is None:
                raise SourceFormatError(
                    f"{path}: truncated: frame {frame} (line {line_no}) has no comment line (file ends)"
                )
            line_no += 1
            raw = dict(_KEY_VALUE.findall(comment))
            info = _comment_values(raw, value_keys | info_keys)
            properties = info["Properties"]
            try:
                column, position, width = _atom_columns(properties)
            except ValueError as err:
                raise SourceFormatError(f"{path}: line {line_no} (frame {frame}): {err}") from None
            species_list, coordinates = [], []
            for atom_line in islice(lines, n_atoms):
                line_no += 1
                columns = atom_line.split()
                if len(columns) != width:
                    raise SourceFormatError(
                        f"{path}: not extxyz or truncated: line {line_no} (frame {frame}) is not an atom line of "
                        f"{width} columns ({atom_line.strip()[:60]!r})"
                    )
                species_list.append(columns[column])
                if position is not None:
                    coordinates += columns[position : position + 3]
            if len(species_list) < n_atoms:
                raise SourceFormatError(
                    f"{path}: truncated: frame {frame} (from line {line_no - len(species_list) - 1}) declares"
                    f" {n_atoms} atoms but the file ends after {len(species_list)}"
                )
            watched = {k: info[k] for k in value_keys if k in info}
            geometry = geometry_key(species_list, coordinates, raw.get("Lattice", "").strip('"'))
            rows.add(info.get("config_id"), species_list, watched, raw, properties.split(":")[0::3], geometry)
    return rows.index()


def file_stamp(path: str | os.PathLike) -> list:
    """What identifies a file's content cheaply: absolute path, modification time (ns), size."""
    stat = Path(path).stat()
    return [str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size]


def write_cache(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; a read-only folder is skipped (planning goes on without the cache)."""
    try:
        write_bytes_atomic(path, data)
    except OSError:
        pass


def source_index(
    path: str | os.PathLike, value_keys=(), info_keys=(), array_keys=(), cache_dir: Path | None = None
) -> SourceIndex:
    """The index of ``path`` (see :func:`scan`), from the cache when it is current."""
    path = Path(path)
    value_keys, info_keys, array_keys = frozenset(value_keys), frozenset(info_keys), frozenset(array_keys)
    stamp = [FORMAT, *file_stamp(path), sorted(value_keys), sorted(info_keys), sorted(array_keys)]
    cache_dir = CACHE_DIR if cache_dir is None else cache_dir
    cache = Path(cache_dir) / (hashlib.sha1(json.dumps(stamp[:2] + stamp[4:]).encode()).hexdigest() + ".pickle")
    try:
        stored = pickle.loads(cache.read_bytes())
        if stored["stamp"] == stamp:
            return stored["index"]
    except Exception:  # no cache yet, or an unreadable one: read the file again
        pass
    index = scan(path, value_keys, info_keys, array_keys)
    write_cache(cache, pickle.dumps({"stamp": stamp, "index": index}))
    return index
