"""Bad input gets a clear error naming the file or key; labelling failures are counted."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule

from conftest import REPO, tiny_config
from mftl.data.datasets import LabelFailureError, collect_labels, load_source
from mftl.data.labellers import LabellerError, label_frames
from mftl.data.sources.download import ChecksumError, fetch
from mftl.data.splits import SplitError, make_split, subset
from mftl.data.structures import (
    StructureError,
    by_config_id,
    geometry_only,
    read_structures,
    set_labels,
    write_structures,
)
from mftl.planning.config import ConfigError, check_config

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def _frames(n=3, fidelity="ref"):
    frames = []
    for i in range(n):
        atoms = molecule("CH3OH")
        atoms.rattle(0.02, seed=i)
        atoms.info["config_id"] = i
        set_labels(atoms, fidelity, -100.0 - i, np.zeros((len(atoms), 3)))
        frames.append(atoms)
    return frames


def test_missing_dataset_file(tmp_path):
    with pytest.raises(StructureError, match=f"{tmp_path / 'nope.extxyz'}: file does not exist"):
        load_source(tmp_path / "nope.extxyz")


def test_malformed_extxyz(tmp_path):
    path = tmp_path / "bad.extxyz"
    path.write_text("3\nProperties=species:S:1:pos:R:3\nC 0 0 0\nH 0 0\n")
    with pytest.raises(StructureError, match=f"{path}: malformed extxyz"):
        read_structures(path)


def test_empty_dataset(tmp_path):
    path = tmp_path / "empty.extxyz"
    path.write_text("")
    with pytest.raises(StructureError, match="contains no structures|malformed"):
        load_source(path)


def _drop_energy(frames):
    del frames[1].info["ref_energy"]


def _drop_forces(frames):
    del frames[2].arrays["ref_forces"]


@pytest.mark.parametrize(
    "drop, message",
    [
        (_drop_energy, "config 1 has no energy key 'ref_energy'"),
        (_drop_forces, "config 2 has no forces key 'ref_forces'"),
    ],
)
def test_missing_label_key_names_the_key_and_the_configuration(tmp_path, drop, message):
    frames = _frames()
    drop(frames)
    path = tmp_path / "d.extxyz"
    write_structures(path, frames)
    with pytest.raises(StructureError, match=f"{path}: {message}"):
        collect_labels([path], "ref", energy_key="ref_energy", forces_key="ref_forces")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_labels(tmp_path, bad):
    frames = _frames()
    frames[0].info["ref_energy"] = bad
    frames[1].arrays["ref_forces"][0, 0] = np.nan
    path = tmp_path / "d.extxyz"
    write_structures(path, frames)
    with pytest.raises(StructureError, match=f"{path}: config 0: energy 'ref_energy' is not finite"):
        load_source(path, "ref_energy", "ref_forces")


def test_element_the_labeller_does_not_support():
    """check_elements refuses; label_frames counts it per configuration (tests/test_source_checks.py)."""
    from mftl.data.labellers import check_elements

    atoms = molecule("CH3OH")
    atoms.symbols[0] = "U"
    with pytest.raises(LabellerError, match="labeller 'pyscf' does not support element\\(s\\) U"):
        check_elements("pyscf", [atoms])


def test_unknown_labeller_name():
    with pytest.raises(LabellerError, match="unknown labeller 'dftb_plus'; known: dftbplus, pyscf, tblite"):
        label_frames(_frames(1), "x", "dftb_plus")


def test_training_size_larger_than_pool():
    with pytest.raises(SplitError, match="size 500 is larger than the training pool \\(100 configurations\\)"):
        subset(list(range(100)), 500, seed=0)


def test_split_larger_than_labelled_data():
    with pytest.raises(SplitError, match="exceeds the 50 configurations with high-fidelity labels"):
        make_split(list(range(50)), list(range(80)), 30, 10, 20, 10, seed=0)


def test_split_that_would_overlap_the_test_set_is_refused():
    from mftl.data.splits import Split

    overlapping = Split(test=(1, 2, 3), validation=(4,), train_pool=(3, 5), pretrain_pool=(6,))
    with pytest.raises(SplitError, match="'test' and 'train_pool' overlap in 1 configurations"):
        overlapping.check_disjoint()
    leaking = Split(test=(1, 2), validation=(4,), train_pool=(5,), pretrain_pool=(2, 6))
    with pytest.raises(SplitError, match="pre-training pool overlaps the test set"):
        leaking.check_disjoint()


def test_duplicate_seeds_unknown_key_wrong_type_and_unknown_method():
    base = tiny_config(Path("x.extxyz"))
    cases = [
        (lambda c: c["datasets"]["tiny"].update(seeds=[1, 1]), "datasets.tiny.seeds': \\[1, 1\\] has non-unique"),
        (lambda c: c["datasets"]["tiny"].update(tset=3), "datasets.tiny.tset': unknown key"),
        (lambda c: c["labelling"].update(chunk_size="big"), "labelling.chunk_size': 'big' is not of type"),
        (
            lambda c: c["datasets"]["tiny"].update(methods=["mftl", "deltaa"]),
            "datasets.tiny.methods.1': 'deltaa' is not one of",
        ),
    ]
    for mutate, message in cases:
        config = json.loads(json.dumps(base))
        mutate(config)
        with pytest.raises(ConfigError, match=message):
            check_config(config, SCHEMA)


def test_corrupt_download_is_refused_and_leaves_nothing(tmp_path):
    upstream = tmp_path / "upstream.bin"
    upstream.write_bytes(b"truncated download")
    dest = tmp_path / "downloads" / "file.bin"
    with pytest.raises(ChecksumError, match="file.bin"):
        fetch(upstream.as_uri(), dest, md5="0" * 32)
    assert not dest.exists() and not list(dest.parent.glob("*"))


def test_scf_failures_are_counted_and_the_threshold_stops_the_campaign(tmp_path):
    """Force SCF failures on some configurations; check the report and the threshold."""
    frames = []
    for i, (name, rattle) in enumerate([("CH4", 0.0), ("H2O", 0.0), ("CH3OH", 0.3), ("C4H4O", 0.4)]):
        atoms = molecule(name)
        atoms.rattle(rattle, seed=i)
        atoms.info["config_id"] = i
        frames.append(atoms)
    # 8 SCF iterations: the equilibrium molecules converge, the strongly distorted ones do not
    labelled, report = label_frames(frames, "gfn1", "tblite", {"method": "GFN1-xTB", "max_iterations": 8})
    assert 0 < len(report.failures) < len(frames), "need some, not all, configurations to fail"
    assert all("SCF" in f.error or "converge" in f.error.lower() for f in report.failures)
    chunk, chunk_report = tmp_path / "chunk.extxyz", tmp_path / "chunk.report.json"
    write_structures(chunk, labelled)
    chunk_report.write_text(json.dumps(report.as_dict()))
    n_failed = len(report.failures)

    with pytest.raises(LabelFailureError, match=f"{n_failed} of 4 configurations .* failed to label with 'gfn1'"):
        collect_labels([chunk], "gfn1", reports=[chunk_report], max_failure_fraction=0.1)
    kept, summary = collect_labels([chunk], "gfn1", reports=[chunk_report], max_failure_fraction=0.9)
    assert summary["n_failed"] == n_failed and summary["n_total"] == 4
    failed_ids = {f["config_id"] for f in summary["failures"]}
    assert failed_ids.isdisjoint({int(a.info["config_id"]) for a in kept}), "failed configurations never enter training"


def test_same_config_and_seeds_give_the_same_splits_and_labels():
    """Determinism: splits are a pure function of ids and seed; labels repeat to 1e-10 eV(/A).

    (tblite's OpenMP reductions may change the last bits of forces between runs.)
    """
    ids = list(range(500))
    assert make_split(ids[:300], ids, 50, 20, 100, 150, seed=7) == make_split(ids[:300], ids, 50, 20, 100, 150, seed=7)
    assert subset(ids, 40, seed=3) == subset(ids, 40, seed=3)
    frames = _frames(2)
    first, _ = label_frames(frames, "gfn1", "tblite", {"method": "GFN1-xTB"})
    second, _ = label_frames(frames, "gfn1", "tblite", {"method": "GFN1-xTB"})
    for a, b in zip(first, second, strict=True):
        assert a.info["gfn1_energy"] == pytest.approx(b.info["gfn1_energy"], abs=1e-10)
        np.testing.assert_allclose(a.arrays["gfn1_forces"], b.arrays["gfn1_forces"], rtol=0, atol=1e-10)


def test_select_with_a_misspelled_value_or_a_missing_key_is_refused():
    from mftl.data.datasets import select_frames

    frames = []
    for i, name in enumerate(["CH3OH", "CH3OH", "H2O"]):
        atoms = molecule(name)
        atoms.info.update(config_id=i, molecule=name)
        frames.append(atoms)
    assert [a.info["config_id"] for a in select_frames(frames, {"key": "molecule", "exclude": ["H2O"]})] == [0, 1]
    assert [a.info["config_id"] for a in select_frames(frames, {"key": "molecule", "include": ["H2O"]})] == [2]
    with pytest.raises(ValueError, match="no configuration has molecule = CH3OOH"):
        select_frames(frames, {"key": "molecule", "exclude": ["CH3OOH"]})
    del frames[1].info["molecule"]
    with pytest.raises(StructureError, match="config 1 has no info key 'molecule'"):
        select_frames(frames, {"key": "molecule", "include": ["H2O"]})


def test_what_a_model_is_asked_to_predict_carries_no_label_and_keeps_its_id(tmp_path):
    """geometry_only: what evaluation, zero-shot and replay hand to mace; labels of any key must not leak."""
    atoms = molecule("H2O", cell=[6.0, 7.0, 8.0], pbc=True)
    atoms.info.update(config_id=7, molecule="water", pbe0_energy=-2079.0, REF_energy=-1.0, pbe_virial=np.ones(9))
    atoms.arrays["pbe0_forces"] = np.ones((3, 3))
    atoms.set_initial_magnetic_moments([1.0, 0.0, 0.0])
    write_structures(tmp_path / "g.extxyz", [geometry_only(atoms)])
    (back,) = read_structures(tmp_path / "g.extxyz")
    assert back.info == {"config_id": 7}
    assert set(back.arrays) == {"numbers", "positions"}
    np.testing.assert_array_equal(back.positions, atoms.positions)
    np.testing.assert_array_equal(back.cell.array, atoms.cell.array)
    assert back.pbc.all() and atoms.info["pbe0_energy"] == -2079.0  # the original keeps its labels
    frames = [molecule("H2O"), molecule("CH4")]
    for i, frame in zip((np.int64(3), 5), frames, strict=True):
        frame.info["config_id"] = i
    by_id = by_config_id(frames)
    assert by_id == {3: frames[0], 5: frames[1]} and all(type(key) is int for key in by_id)
