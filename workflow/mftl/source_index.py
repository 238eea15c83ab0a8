"""A cheap index of an extxyz file: per configuration its id, elements and a few of its keys.

Planning reads a dataset's source to check it (elements a labeller cannot do, a
split whose test set holds elements the training data lacks) without building
ASE ``Atoms``: only the atom lines' species column and the comment lines are
parsed. An index is cached under ``.snakemake/mftl/sources/`` and reused while
the file's path, modification time and size are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import tempfile
from array import array
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

CACHE_DIR = Path(".snakemake/mftl/sources")
#: bump when the index's content changes, so that old cache files are not read
FORMAT = 1


@dataclass
class SourceIndex:
    """Per configuration, in file order: ``config_id`` (the frame index when the file has none),
    element symbols, the values of the watched ``value_keys`` it has (e.g. the key ``select``
    reads) and which watched info keys and arrays it has (``"arrays:<name>"`` for an array).

    Equal element sets, values and key sets are one shared object each, so that the
    cached index of a file of millions of configurations stays small.
    """

    ids: array
    symbols: list[frozenset[str]]
    values: list[dict[str, Any]]
    keys: list[frozenset[str]]

    def has(self, row: int, info_key: str, array_key: str) -> bool:
        return info_key in self.keys[row] and f"arrays:{array_key}" in self.keys[row]


def _species_column(properties: str) -> int:
    """Column of ``species`` in the atom lines described by an extxyz ``Properties`` string."""
    fields = properties.split(":")
    column = 0
    for name, _, width in zip(fields[0::3], fields[1::3], fields[2::3]):
        if name == "species":
            return column
        column += int(width)
    raise ValueError(f"no species column in Properties={properties}")


#: ``key=value``, ``key="quoted value"`` or ``key={...}`` of an extxyz comment line
_KEY_VALUE = re.compile(r'([A-Za-z_][^\s=]*)\s*=\s*("(?:[^"\\]|\\.)*"|\{[^}]*\}|\S+)')


def _comment_values(comment: str, keys: frozenset[str]) -> dict[str, Any]:
    """``Properties``, ``config_id`` and the ``keys`` of an extxyz comment line.

    Values are converted as ASE converts them (:func:`_value`); parsing the whole
    line with ASE's parser costs ~0.2 ms a frame, minutes for QM7-X.
    """
    raw = dict(_KEY_VALUE.findall(comment))
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
    """Read the index of an extxyz file (no caching). Values are parsed as ASE parses them."""
    from ase.data import chemical_symbols

    ids, symbols, values, keys = array("q"), [], [], []
    shared: dict[Any, Any] = {}  # one object per distinct element set / key set: a small pickle
    with open(path) as lines:
        for header in lines:
            if not header.strip():
                continue
            n_atoms = int(header.split()[0])
            info = _comment_values(next(lines), value_keys | info_keys)
            properties = info["Properties"]
            column = _species_column(properties)
            species = {line.split()[column] for line in islice(lines, n_atoms)}
            species = frozenset(chemical_symbols[int(s)] if s.isdigit() else s for s in species)
            present = frozenset(
                {k for k in info_keys if k in info}
                | {f"arrays:{k}" for k in set(properties.split(":")[0::3]) & array_keys}
            )
            watched = tuple(sorted((k, info[k]) for k in value_keys if k in info))
            ids.append(int(info.get("config_id", len(ids))))
            symbols.append(shared.setdefault(species, species))
            values.append(shared.setdefault(watched, dict(watched)))
            keys.append(shared.setdefault(present, present))
    return SourceIndex(ids, symbols, values, keys)


def file_stamp(path: str | os.PathLike) -> list:
    """What identifies a file's content cheaply: absolute path, modification time (ns), size."""
    stat = Path(path).stat()
    return [str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; a read-only folder is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError:  # a read-only working folder: plan without the cache
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
    write_atomic(cache, pickle.dumps({"stamp": stamp, "index": index}))
    return index
