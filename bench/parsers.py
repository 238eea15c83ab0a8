"""Indexing a QM7-X-sized extxyz file: mftl's own scan vs libAtoms' extxyz C reader vs ASE's reader.

Planning reads each dataset's source into an index (:mod:`mftl.planning.source_index`: per configuration its
id, elements, composition, the values of the keys ``select`` reads and which info keys and arrays it
has). This script builds a file of ``--copies`` times the demo source (100 copies: 300,000
configurations, 197 MB, in a temporary folder) and times, alternating, ``--repeats`` times:

* ``mftl``: :func:`mftl.planning.source_index.scan`, the hand-written reader planning uses;
* ``extxyz``: libAtoms' ``extxyz`` package (PyPI ``extxyz``, the format's reference implementation),
  its C reader frame by frame (``extxyz.cextxyz.read_frame_dicts``: count line, comment line parsed by
  the format's grammar, atom lines into arrays), without building ``Atoms``;
* ``ase``: ``ase.io.iread(..., format="extxyz")``, which builds an ``Atoms`` per configuration.

and, as the floor of any index built on the extxyz package, its C function alone (``extxyz_read_ll``
through the package's ctypes handles; frames counted, nothing converted to Python).

Each builds the same index (``scan``'s own row builder, :class:`mftl.planning.source_index.IndexBuilder`,
turns each frame's info, arrays and species into an index row); the script checks that the three indexes agree row by row (ASE renames
the file's ``pos`` and ``species`` columns and moves ``pbc`` out of ``info``: mapped back here) and
prints wall and CPU seconds (medians) and microseconds per configuration. Then it feeds the odd
inputs the tests give planning (a truncated file, a cut atom line, a text file, ...) to each reader
and prints what each makes of them.

    .venv/bin/python bench/parsers.py --copies 100 --repeats 3

Needs ``pip install extxyz==0.2.0`` (not a dependency of mftl: see docs/performance.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from mftl.planning.source_index import IndexBuilder, SourceIndex, scan  # noqa: E402

DEMO = REPO / "resources/demo/demo.extxyz"
#: the key config/config.yaml's ``select`` reads
VALUE_KEYS = frozenset({"molecule"})


def _index(frames, value_keys=VALUE_KEYS) -> SourceIndex:
    """The index ``scan`` builds (its own row builder), from ``(info, array names, species)`` per frame."""
    rows = IndexBuilder()
    for info, array_names, species in frames:
        watched = {k: info[k] for k in value_keys if k in info}
        rows.add(info.get("config_id"), [str(s) for s in species], watched, info, array_names)
    return rows.index()


def read_mftl(path: Path) -> SourceIndex:
    return scan(path, VALUE_KEYS)


def _extxyz_frames(path: Path):
    from extxyz import cextxyz

    handle = cextxyz.cfopen(str(path), "r")
    try:
        while True:
            try:
                _, info, arrays = cextxyz.read_frame_dicts(handle)
            except EOFError:
                return
            yield info, arrays.keys(), arrays["species"]
    finally:
        cextxyz.cfclose(handle)


def read_extxyz(path: Path) -> SourceIndex:
    return _index(_extxyz_frames(path))


#: ASE's names for the file's columns
_ASE_ARRAYS = {"positions": "pos", "numbers": "species"}


def _ase_frames(path: Path):
    import ase.io

    for atoms in ase.io.iread(path, index=":", format="extxyz"):
        names = [_ASE_ARRAYS.get(name, name) for name in atoms.arrays]
        yield {**atoms.info, "pbc": atoms.pbc}, names, atoms.get_chemical_symbols()


def read_ase(path: Path) -> SourceIndex:
    return _index(_ase_frames(path))


READERS = {"mftl": read_mftl, "extxyz": read_extxyz, "ase": read_ase}


def count_extxyz_c(path: Path) -> int:
    """Configurations of ``path`` read by the extxyz C function alone (no Python dicts, no index):
    the least any index built on the extxyz package can cost. Uses the package's ctypes handles."""
    import ctypes

    from extxyz import cextxyz

    n_atoms, info, arrays = ctypes.c_int(), cextxyz.Dict_entry_ptr(), cextxyz.Dict_entry_ptr()
    error, no_comment = ctypes.create_string_buffer(1024), ctypes.POINTER(ctypes.c_char)()
    handle, n = cextxyz.cfopen(str(path), "r"), 0
    read = cextxyz.extxyz.extxyz_read_ll
    while read(cextxyz._kv_grammar, handle, *map(ctypes.byref, (n_atoms, info, arrays)), no_comment, error):
        cextxyz.extxyz.free_dict(info)
        cextxyz.extxyz.free_dict(arrays)
        n += 1
    cextxyz.cfclose(handle)
    return n


TIMED = {**READERS, "extxyz C call alone": count_extxyz_c}


def build_file(folder: Path, copies: int) -> Path:
    path = folder / f"demo_x{copies}.extxyz"
    text = DEMO.read_bytes()
    with open(path, "wb") as out:
        for _ in range(copies):
            out.write(text)
    return path


def _rows(index: SourceIndex) -> list:
    return list(zip(index.ids, index.symbols, index.values, index.keys, index.compositions, strict=True))


def odd_inputs(folder: Path) -> dict[str, str]:
    """Inputs the tests feed planning (tests/test_late_refusals.py, test_bad_input.py), as text."""
    lines = DEMO.read_text().splitlines(keepends=True)[:24]  # three 6-atom frames, 8 lines each
    return {
        "the last frame cut after 5 of 6 atom lines": "".join(lines[:23]),
        "the last frame cut after its comment line": "".join(lines[:18]),
        "an atom line cut in the middle": "".join(lines[:12]) + lines[12][:15],
        "an atom line with too few columns": "3\nProperties=species:S:1:pos:R:3\nC 0 0 0\nH 0 0\nH 0 0 1\n",
        "a text file": "my PBE0 data, see the group wiki\nenergies in eV\n",
        "species as atomic numbers": "2\nProperties=species:S:1:pos:R:3\n6 0 0 0\n1 0 0 1\n",
        "no Properties (plain xyz)": "2\nmolecule=CH\nC 0 0 0\nH 0 0 1\n",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100, help="copies of the demo source (100: 300,000 frames)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)  # extxyz 0.2.0 warns about ASE's lazyproperty on import
    import extxyz

    print(f"extxyz {extxyz.__version__}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        path = build_file(Path(tmp), args.copies)
        wall: dict[str, list[float]] = {name: [] for name in TIMED}
        cpu: dict[str, list[float]] = {name: [] for name in TIMED}
        indexes = {}
        for repeat in range(args.repeats):
            names = list(TIMED)
            names = names[repeat % len(names) :] + names[: repeat % len(names)]  # alternate who goes first
            for name in names:
                wall0, cpu0 = time.perf_counter(), time.process_time()
                indexes[name] = TIMED[name](path)
                wall[name].append(time.perf_counter() - wall0)
                cpu[name].append(time.process_time() - cpu0)
        n = len(indexes["mftl"].ids)
        assert indexes["extxyz C call alone"] == n, indexes["extxyz C call alone"]
        reference = _rows(indexes["mftl"])
        for name in ("extxyz", "ase"):
            rows = _rows(indexes[name])
            differ = [i for i, (a, b) in enumerate(zip(reference, rows)) if a != b]
            print(
                f"agree: mftl and {name}: {len(rows)} vs {n} configurations, {len(differ)} rows differ"
                + (f" (first {differ[0]}: {reference[differ[0]]} vs {rows[differ[0]]})" if differ else "")
            )
        print(f"{path.stat().st_size / 1e6:.0f} MB, {n} configurations, medians of {args.repeats} (ratio to mftl):")
        base_wall, base_cpu = statistics.median(wall["mftl"]), statistics.median(cpu["mftl"])
        for name in TIMED:
            w, c = statistics.median(wall[name]), statistics.median(cpu[name])
            print(
                f"  {name:19s} wall {w:6.2f} s ({min(wall[name]):.2f}-{max(wall[name]):.2f}) {w / base_wall:5.2f}x, "
                f"CPU {c:6.2f} s {c / base_cpu:5.2f}x: {1e6 * w / n:5.1f} us/configuration (CPU {1e6 * c / n:5.1f})"
            )
        print("odd inputs:")
        for what, text in odd_inputs(Path(tmp)).items():
            odd = Path(tmp) / "odd.extxyz"
            odd.write_text(text)
            print(f"  {what}:")
            for name, read in READERS.items():
                try:
                    index = read(odd)
                    outcome = f"{len(index.ids)} configuration(s), elements {[sorted(s) for s in index.symbols]}"
                except Exception as err:  # what each reader says is the point here
                    outcome = f"{type(err).__name__}: {str(err).replace(tmp, '<tmp>')[:110]}"
                print(f"    {name:7s} {outcome}")


if __name__ == "__main__":
    main()
