"""Dataset converters on small files written here in the exact upstream formats."""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from ase import units

from conftest import REPO
from mftl.cli import main
from mftl.data.sources import CONVERTERS, EmptyResultError, MissingKeyError, NonFiniteError, SourceFormatError
from mftl.data.sources.download import ChecksumError, fetch, verify
from mftl.data.sources.qm7x import convert_qm7x, read_duplicate_conformers
from mftl.data.sources.sgdml import convert_sgdml
from mftl.data.sources.tungsten import convert_tungsten
from mftl.data.structures import StructureError, read_structures

KCAL_MOL = 0.0433641  # eV, the value quoted by the sGDML documentation


# --------------------------------------------------------------------- QM7-X


def _qm7x_conformer(group: h5py.Group, rng: np.random.Generator, n_atoms: int = 3) -> dict:
    values = {
        "atNUM": np.array([8, 1, 1][:n_atoms], dtype=np.int32),
        "atXYZ": rng.normal(size=(n_atoms, 3)),
        "ePBE0+MBD": np.array([-2079.0 + rng.normal()]),
        "totFOR": rng.normal(size=(n_atoms, 3)),
    }
    for key, value in values.items():
        group.create_dataset(key, data=value)
    # Other QM7-X properties that must not be mistaken for the labels.
    group.create_dataset("eAT", data=np.array([-10.0]))
    group.create_dataset("ePBE0", data=np.array([-2078.5]))
    group.create_dataset("pbe0FOR", data=np.zeros((n_atoms, 3)))
    return values


def _write_qm7x_shard(folder: Path, name: str, molecules: dict[int, list[str]], seed: int) -> tuple[Path, dict]:
    """An xz-compressed HDF5 shard as on Zenodo; returns its path and the values written."""
    rng = np.random.default_rng(seed)
    written = {}
    hdf5 = folder / f"{name}.hdf5"
    with h5py.File(hdf5, "w") as h5:
        for mol_id, conf_suffixes in molecules.items():
            mol = h5.create_group(str(mol_id))
            for suffix in conf_suffixes:
                conf_id = f"Geom-m{mol_id}-i1-c1-{suffix}"
                written[conf_id] = _qm7x_conformer(mol.create_group(conf_id), rng)
    xz = folder / f"{name}.xz"
    xz.write_bytes(lzma.compress(hdf5.read_bytes()))
    hdf5.unlink()
    return xz, written


@pytest.fixture
def qm7x_files(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shard1, values1 = _write_qm7x_shard(raw, "1000", {1: ["opt", "d1", "d2"], 2: ["opt", "d1"]}, seed=1)
    shard2, values2 = _write_qm7x_shard(raw, "2000", {3: ["opt", "d1"]}, seed=2)
    dupmols = raw / "DupMols.dat"
    dupmols.write_text("Geom-m2-i1-c1-opt\n")
    return [shard1, shard2], dupmols, {**values1, **values2}


def test_qm7x_keeps_total_energy_and_forces_and_drops_listed_duplicates(qm7x_files, tmp_path):
    shards, dupmols, values = qm7x_files
    out = tmp_path / "qm7x.extxyz"
    summary = convert_qm7x(shards, dupmols, out)

    frames = read_structures(out)
    ids = [f.info["qm7x_id"] for f in frames]
    assert "Geom-m2-i1-c1-opt" not in ids and "Geom-m2-i1-c1-d1" not in ids
    assert len(frames) == summary.n_written == 5
    assert summary.n_dropped_duplicates == 2
    assert [f.info["config_id"] for f in frames] == list(range(5))
    for atoms in frames:
        source = values[atoms.info["qm7x_id"]]
        assert atoms.info["pbe0mbd_energy"] == pytest.approx(source["ePBE0+MBD"][0], abs=1e-9)
        np.testing.assert_allclose(atoms.arrays["pbe0mbd_forces"], source["totFOR"], atol=1e-8)
        np.testing.assert_allclose(atoms.positions, source["atXYZ"], atol=1e-8)
        assert list(atoms.numbers) == [8, 1, 1]
        assert not atoms.pbc.any()
    by_id = {f.info["qm7x_id"]: f for f in frames}
    assert by_id["Geom-m1-i1-c1-opt"].info["config_type"] == "equilibrium"
    assert by_id["Geom-m1-i1-c1-d2"].info["config_type"] == "non_equilibrium"
    assert by_id["Geom-m3-i1-c1-d1"].info["molecule"] == "qm7x-m3"
    assert summary.counts == {"equilibrium": 2, "non_equilibrium": 3}


def test_qm7x_can_leave_out_equilibrium_conformers_and_counts_them(qm7x_files, tmp_path):
    shards, dupmols, _ = qm7x_files
    summary = convert_qm7x(shards, dupmols, tmp_path / "q.extxyz", fidelity="hi", include_equilibrium=False)
    frames = read_structures(tmp_path / "q.extxyz")
    assert {f.info["config_type"] for f in frames} == {"non_equilibrium"}
    assert len(frames) == 3 and summary.n_skipped == {"include_equilibrium=False": 2}
    assert "hi_energy" in frames[0].info and "hi_forces" in frames[0].arrays


def test_qm7x_duplicate_list_accepts_ids_and_rejects_other_lines(tmp_path):
    good = tmp_path / "DupMols.dat"
    good.write_text("Geom-m10-i2-c3-opt\n\nGeom-m11-i1-c1-opt\n")
    assert read_duplicate_conformers(good) == {"Geom-m10-i2-c3", "Geom-m11-i1-c1"}
    bad = tmp_path / "Bad.dat"
    bad.write_text("Geom-m10-i2-c3-opt\nmolecule 12\n")
    with pytest.raises(SourceFormatError, match=r"Bad\.dat:2"):
        read_duplicate_conformers(bad)


def test_qm7x_missing_dataset_is_a_clear_error_and_writes_nothing(tmp_path):
    hdf5 = tmp_path / "1000.hdf5"
    with h5py.File(hdf5, "w") as h5:
        conf = h5.create_group("1").create_group("Geom-m1-i1-c1-opt")
        conf.create_dataset("atNUM", data=np.array([1, 1]))
        conf.create_dataset("atXYZ", data=np.zeros((2, 3)))
        conf.create_dataset("ePBE0+MBD", data=np.array([-31.0]))
    xz = tmp_path / "1000.xz"
    xz.write_bytes(lzma.compress(hdf5.read_bytes()))
    out = tmp_path / "out.extxyz"
    with pytest.raises(MissingKeyError, match=r"1000\.xz.*Geom-m1-i1-c1-opt.*'totFOR'"):
        convert_qm7x([xz], None, out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1000.hdf5", "1000.xz"]  # no temporary left


def test_qm7x_nan_energy_is_refused(tmp_path):
    hdf5 = tmp_path / "1000.hdf5"
    with h5py.File(hdf5, "w") as h5:
        _qm7x_conformer(h5.create_group("4").create_group("Geom-m4-i1-c1-d7"), np.random.default_rng(0))
        h5["4/Geom-m4-i1-c1-d7/ePBE0+MBD"][0] = np.nan
    shard = tmp_path / "1000.xz"
    shard.write_bytes(lzma.compress(hdf5.read_bytes()))
    with pytest.raises(NonFiniteError, match="ePBE0\\+MBD"):
        convert_qm7x([shard], None, tmp_path / "out.extxyz")


def test_qm7x_non_xz_input_and_empty_result_are_refused(qm7x_files, tmp_path):
    shards, _, _ = qm7x_files
    not_xz = tmp_path / "3000.xz"
    not_xz.write_text("plain text")
    with pytest.raises(SourceFormatError, match=r"3000\.xz"):
        convert_qm7x([not_xz], None, tmp_path / "a.extxyz")
    everything = tmp_path / "DupAll.dat"
    everything.write_text("Geom-m1-i1-c1-opt\nGeom-m2-i1-c1-opt\n")
    with pytest.raises(EmptyResultError):
        convert_qm7x(shards[:1], everything, tmp_path / "b.extxyz")
    assert not (tmp_path / "b.extxyz").exists()


# ------------------------------------------------------------------ tungsten

GAP_W_FILE = """\
1
Lattice="1.58 1.58 -1.58 1.58 -1.58 1.58 -1.58 1.58 1.58" Properties=species:S:1:pos:R:3:force:R:3 energy=-11.19480000 virial="0.1 0.0 0.0 0.0 0.1 0.0 0.0 0.0 0.1" config_type=slice_sample pbc="T T T"
W 0.00000000 0.00000000 0.00000000 0.00000000 0.00000000 0.00000000
2
Lattice="3.17 0.0 0.0 0.0 3.17 0.0 0.0 0.0 3.17" Properties=species:S:1:pos:R:3:force:R:3 energy=-22.30000000 virial="1.0 0.2 0.3 0.2 2.0 0.4 0.3 0.4 3.0" config_type=md_bulk pbc="T T T"
W 0.01000000 -0.02000000 0.00000000 0.10000000 -0.20000000 0.30000000
W 1.58000000 1.60000000 1.57000000 -0.10000000 0.20000000 -0.30000000
3
Lattice="3.17 0.0 0.0 0.0 3.17 0.0 0.0 0.0 20.0" Properties=species:S:1:pos:R:3:force:R:3 energy=-30.10000000 config_type=surface pbc="T T T"
W 0.00000000 0.00000000 0.00000000 0.00000000 0.00000000 0.50000000
W 1.58500000 1.58500000 1.58500000 0.00000000 0.00000000 0.00000000
W 0.00000000 0.00000000 3.17000000 0.00000000 0.00000000 -0.50000000
"""


def test_tungsten_keeps_cells_config_types_and_relabels_energy_force_virial(tmp_path):
    src = tmp_path / "w-14.xyz"
    src.write_text(GAP_W_FILE)
    out = tmp_path / "w.extxyz"
    summary = convert_tungsten(src, out)

    frames = read_structures(out)
    assert summary.n_written == len(frames) == 3
    assert summary.counts == {"slice_sample": 1, "md_bulk": 1, "surface": 1}
    assert [f.info["config_type"] for f in frames] == ["slice_sample", "md_bulk", "surface"]
    assert [f.info["config_id"] for f in frames] == [0, 1, 2]
    assert [f.info["pbe_energy"] for f in frames] == pytest.approx([-11.1948, -22.3, -30.1])
    np.testing.assert_allclose(frames[1].arrays["pbe_forces"], [[0.1, -0.2, 0.3], [-0.1, 0.2, -0.3]])
    np.testing.assert_allclose(frames[1].info["pbe_virial"], [1.0, 0.2, 0.3, 0.2, 2.0, 0.4, 0.3, 0.4, 3.0])
    assert "pbe_virial" not in frames[2].info  # the source has none for that configuration
    np.testing.assert_allclose(frames[2].cell.array, np.diag([3.17, 3.17, 20.0]))
    assert all(f.pbc.all() for f in frames)
    for atoms in frames:  # only the canonical keys remain
        assert atoms.calc is None and "force" not in atoms.arrays and "energy" not in atoms.info


def test_tungsten_reads_plural_forces_that_ase_moves_into_a_calculator(tmp_path):
    src = tmp_path / "w.xyz"
    src.write_text(GAP_W_FILE.replace(":force:", ":forces:"))
    convert_tungsten(src, tmp_path / "w.extxyz", fidelity="dft")
    frames = read_structures(tmp_path / "w.extxyz")
    np.testing.assert_allclose(frames[2].arrays["dft_forces"][:, 2], [0.5, 0.0, -0.5])


def test_tungsten_missing_forces_or_nan_energy_are_clear_errors(tmp_path):
    no_force = tmp_path / "noforce.xyz"
    no_force.write_text(
        '1\nLattice="3.17 0.0 0.0 0.0 3.17 0.0 0.0 0.0 3.17" Properties=species:S:1:pos:R:3 '
        'energy=-11.19 config_type=slice_sample pbc="T T T"\nW 0.0 0.0 0.0\n'
    )
    with pytest.raises(MissingKeyError, match=r"noforce\.xyz: configuration 0.*force"):
        convert_tungsten(no_force, tmp_path / "a.extxyz")
    nan_energy = tmp_path / "nan.xyz"
    nan_energy.write_text(GAP_W_FILE.replace("energy=-22.30000000", "energy=nan"))
    with pytest.raises(NonFiniteError, match=r"nan\.xyz: configuration 1.*'energy'"):
        convert_tungsten(nan_energy, tmp_path / "b.extxyz")
    empty = tmp_path / "empty.xyz"
    empty.write_text("")
    with pytest.raises(StructureError, match="empty.xyz"):
        convert_tungsten(empty, tmp_path / "c.extxyz")
    assert not any((tmp_path / name).exists() for name in ("a.extxyz", "b.extxyz", "c.extxyz"))


# --------------------------------------------------------------------- sGDML


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _sgdml_part(rng: np.random.Generator, n: int, energy_shape: str) -> dict[str, np.ndarray]:
    energies = -97000.0 + rng.normal(size=n)
    return {
        "R": rng.normal(size=(n, 3, 3)),
        "z": np.array([8, 1, 1], dtype=np.uint8),
        "E": energies[:, None] if energy_shape == "n x 1" else energies,
        "F": rng.normal(size=(n, 3, 3)) * 20.0,
        "name": np.array("water"),
        "theory": np.array("CCSD(T)/cc-pVDZ"),
    }


def _write_sgdml_zip(path: Path, train: dict, test: dict) -> None:
    stem = path.name.removesuffix(".zip")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{stem}-train.npz", _npz_bytes(**train))
        archive.writestr(f"{stem}-test.npz", _npz_bytes(**test))


def test_sgdml_merges_parts_and_converts_kcal_per_mol_to_eV(tmp_path):
    rng = np.random.default_rng(0)
    train, test = _sgdml_part(rng, 4, "n x 1"), _sgdml_part(rng, 3, "n")
    src = tmp_path / "water_ccsd_t.zip"
    _write_sgdml_zip(src, train, test)
    out = tmp_path / "water.extxyz"
    summary = convert_sgdml(src, out)

    frames = read_structures(out)
    assert summary.n_written == len(frames) == 7 and summary.counts == {"train": 4, "test": 3}
    assert [f.info["sgdml_part"] for f in frames] == ["train"] * 4 + ["test"] * 3
    assert [f.info["config_id"] for f in frames] == list(range(7))
    assert {f.info["molecule"] for f in frames} == {"water"}
    assert units.kcal / units.mol == pytest.approx(KCAL_MOL, rel=1e-5)
    energies = np.concatenate([train["E"].reshape(-1), test["E"]]) * KCAL_MOL
    np.testing.assert_allclose([f.info["ccsdt_energy"] for f in frames], energies, rtol=1e-5)
    np.testing.assert_allclose(frames[5].arrays["ccsdt_forces"], test["F"][1] * KCAL_MOL, rtol=1e-5)
    np.testing.assert_allclose(frames[0].positions, train["R"][0], atol=1e-8)


def test_sgdml_missing_key_and_infinite_forces_are_clear_errors(tmp_path):
    rng = np.random.default_rng(1)
    train = _sgdml_part(rng, 2, "n")
    no_forces = {k: v for k, v in train.items() if k != "F"}
    src = tmp_path / "ethanol_ccsd_t.zip"
    _write_sgdml_zip(src, no_forces, train)
    with pytest.raises(MissingKeyError, match=r"ethanol_ccsd_t\.zip:ethanol_ccsd_t-train\.npz: missing array 'F'"):
        convert_sgdml(src, tmp_path / "a.extxyz")
    bad = dict(train, F=np.where(np.arange(18).reshape(2, 3, 3) == 5, np.inf, train["F"]))
    _write_sgdml_zip(src, train, bad)
    with pytest.raises(NonFiniteError, match=r"-test\.npz: 'F'"):
        convert_sgdml(src, tmp_path / "b.extxyz", molecule="ethanol")
    empty = {**train, "R": np.zeros((0, 3, 3)), "E": np.zeros(0), "F": np.zeros((0, 3, 3))}
    _write_sgdml_zip(src, empty, empty)
    with pytest.raises(EmptyResultError):
        convert_sgdml(src, tmp_path / "c.extxyz")
    assert not any((tmp_path / name).exists() for name in ("a.extxyz", "b.extxyz", "c.extxyz"))


# ------------------------------------------------- the command line's one dispatch


def _mftl_convert(converter: str, inputs: list[Path], out: Path, *extra: str) -> int:
    """``mftl convert`` as the rule ``convert`` runs it, in this process."""
    return main(
        [
            "convert",
            *map(str, inputs),
            "--converter",
            converter,
            "--out",
            str(out),
            "--summary",
            str(out.with_suffix(".summary.json")),
            *extra,
        ]
    )


def test_mftl_convert_gives_each_converter_its_upstream_files(qm7x_files, tmp_path):
    """Each converter the command offers, fed the files a download holds (QM7-X's duplicate list anywhere
    among its shards), writes exactly what the converter called directly writes, under the fidelity given."""
    shards, dupmols, _ = qm7x_files
    tungsten = tmp_path / "w-14.xyz"
    tungsten.write_text(GAP_W_FILE)
    rng = np.random.default_rng(3)
    archives = [tmp_path / f"{name}_ccsd_t.zip" for name in ("water", "ethanol")]
    for archive in archives:
        _write_sgdml_zip(archive, _sgdml_part(rng, 2, "n"), _sgdml_part(rng, 1, "n x 1"))
    cases = {  # converter: (the files as a download lists them, the converter called directly)
        "qm7x": ([shards[0], dupmols, shards[1]], lambda out: convert_qm7x(shards, dupmols, out, fidelity="hi")),
        "tungsten": ([tungsten], lambda out: convert_tungsten(tungsten, out, fidelity="hi")),
        "sgdml": (archives, lambda out: convert_sgdml(archives, out, fidelity="hi")),
    }
    assert set(cases) == set(CONVERTERS)
    for converter, (inputs, direct) in cases.items():
        out = tmp_path / f"{converter}.extxyz"
        assert _mftl_convert(converter, inputs, out, "--fidelity", "hi") == 0
        expected = direct(tmp_path / f"{converter}.direct.extxyz")
        assert json.loads(out.with_suffix(".summary.json").read_text()) == {**expected.as_dict(), "out": str(out)}
        got, want = read_structures(out), read_structures(tmp_path / f"{converter}.direct.extxyz")
        assert len(got) == len(want) == expected.n_written > 0
        for a, b in zip(got, want, strict=True):
            assert a.info.keys() == b.info.keys() and "hi_energy" in a.info
            assert a.info["hi_energy"] == b.info["hi_energy"] and a.info["config_id"] == b.info["config_id"]
            np.testing.assert_array_equal(a.arrays["hi_forces"], b.arrays["hi_forces"])
            np.testing.assert_array_equal(a.positions, b.positions)
    # DupMols.dat was passed on: its conformer (and its distortion) are dropped, not converted
    assert {f.info["qm7x_id"] for f in read_structures(tmp_path / "qm7x.extxyz")}.isdisjoint(
        {"Geom-m2-i1-c1-opt", "Geom-m2-i1-c1-d1"}
    )


def test_mftl_convert_refuses_two_files_for_tungsten_and_an_unknown_converter(tmp_path, capsys):
    tungsten = tmp_path / "w-14.xyz"
    tungsten.write_text(GAP_W_FILE)
    assert _mftl_convert("tungsten", [tungsten, tungsten], tmp_path / "w.extxyz") == 1
    assert "converter tungsten reads one file, got 2" in capsys.readouterr().err
    assert not (tmp_path / "w.extxyz").exists()
    with pytest.raises(SystemExit):
        _mftl_convert("gap", [tungsten], tmp_path / "w.extxyz")
    assert "invalid choice: 'gap'" in capsys.readouterr().err


def test_the_config_schema_offers_the_converters_the_command_has():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())

    def converter_enums(node):
        if isinstance(node, dict):
            if isinstance(node.get("converter"), dict) and "enum" in node["converter"]:
                yield node["converter"]["enum"]
            for value in node.values():
                yield from converter_enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from converter_enums(value)

    enums = list(converter_enums(schema))
    assert len(enums) == 1 and sorted(enums[0]) == sorted(CONVERTERS)


# ------------------------------------------------------------------ download


def test_fetch_verifies_before_placing_the_file(tmp_path):
    payload = b"QM7-X shard stand-in\n" * 100
    src = tmp_path / "upstream" / "1000.xz"
    src.parent.mkdir()
    src.write_bytes(payload)
    dest = tmp_path / "raw" / "1000.xz"
    md5, sha256 = hashlib.md5(payload).hexdigest(), hashlib.sha256(payload).hexdigest()

    assert fetch(src.as_uri(), dest, md5=md5, sha256=sha256) == dest
    assert dest.read_bytes() == payload
    verify(dest, md5=md5)
    src.unlink()  # a present, verified file is not downloaded again
    assert fetch(src.as_uri(), dest, sha256=sha256) == dest


def test_fetch_refuses_a_checksum_mismatch_and_leaves_no_file(tmp_path):
    src = tmp_path / "DupMols.dat"
    src.write_text("Geom-m1-i1-c1-opt\n")
    actual = hashlib.md5(src.read_bytes()).hexdigest()
    wrong = "0" * 32
    dest = tmp_path / "raw" / "DupMols.dat"
    with pytest.raises(ChecksumError) as err:
        fetch(src.as_uri(), dest, md5=wrong)
    message = str(err.value)
    assert str(dest) in message and wrong in message and actual in message
    assert isinstance(err.value, ValueError)
    assert list((tmp_path / "raw").iterdir()) == []  # neither the file nor a temporary


def test_verify_names_file_and_sums_and_needs_a_sum(tmp_path):
    path = tmp_path / "w-14.xyz"
    path.write_text("1\n\nW 0 0 0\n")
    with pytest.raises(ChecksumError, match=r"w-14\.xyz: sha256 checksum mismatch: expected f+, got [0-9a-f]{64}"):
        verify(path, sha256="f" * 64)
    with pytest.raises(ValueError, match="no checksum"):
        verify(path)
    with pytest.raises(FileNotFoundError):
        verify(tmp_path / "absent", md5="0" * 32)
