"""Checks against the source files: elements a labeller cannot do, test or validation elements the
training data lacks, select values and ids. Refused when planning where the source file tells,
otherwise by the first job that knows."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import molecule

from conftest import env_with_venv, run_snakemake, tiny_config
from mftl.data.elements import ElementCoverageError
from mftl.data.labellers import label_frames
from mftl.data.splits import subset
from mftl.data.structures import read_structures, set_labels, write_structures
from mftl.planning.source_index import scan, source_index
from mftl.training.training_job import TrainingJob


def _split_job(source: Path, config: dict, out_dir: Path) -> subprocess.CompletedProcess:
    """The split job's own command (``mftl split``) for the tiny dataset of ``config``."""
    ds = config["datasets"]["tiny"]
    cmd = [
        sys.executable,
        "-m",
        "mftl",
        "split",
        "--source",
        str(source),
        "--high-energy-key",
        "ref_energy",
        "--high-forces-key",
        "ref_forces",
        "--test",
        str(ds["split"]["test"]),
        "--validation",
        str(ds["split"]["validation"]),
        "--train-pool",
        str(max(ds["train_sizes"])),
        "--pretrain-pool",
        str(ds["split"]["pretrain_pool"]),
        "--select",
        json.dumps(ds["select"]),
        "--seed",
        str(ds["split"]["seed"]),
        "--out-dir",
        str(out_dir),
    ]
    return subprocess.run(cmd, env=env_with_venv(), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tiny_split(tiny_source, tmp_path_factory) -> dict:
    """Config ids of each part as the split job draws them from the tiny source."""
    out = tmp_path_factory.mktemp("split")
    result = _split_job(tiny_source, tiny_config(tiny_source), out)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "split.json").read_text())


def _with_element(source: Path, ids, element: str, out: Path) -> Path:
    """A copy of ``source`` in which one hydrogen of each configuration in ``ids`` is ``element``."""
    frames = read_structures(source)
    for atoms in frames:
        if int(atoms.info["config_id"]) in ids:
            atoms.symbols[list(atoms.symbols).index("H")] = element
    write_structures(out, frames)
    return out


def _plan(tmp_path: Path, config: dict):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    return result, result.stdout + result.stderr


def test_planning_refuses_a_test_element_absent_from_the_training_pool(tiny_source, tiny_split, tmp_path):
    """F in two test configurations only; the split job refuses it too, before any labelling."""
    chosen = sorted(tiny_split["test"])[:2]
    source = _with_element(tiny_source, chosen, "F", tmp_path / "with_F.extxyz")
    result, output = _plan(tmp_path, tiny_config(source))
    assert result.returncode != 0
    assert (
        f"config key 'datasets.tiny.split': element(s) F of the test set absent from the training pool of {source}"
    ) in output, output[-2000:]
    assert f"F in configuration(s) {chosen[0]}, {chosen[1]}" in output
    assert not (tmp_path / "results").exists()

    job = _split_job(source, tiny_config(source), tmp_path / "splits")
    assert job.returncode != 0
    assert "mftl split: error: element(s) F of the test set absent from the training pool" in job.stderr
    assert not (tmp_path / "splits" / "split.json").exists()


def test_planning_refuses_a_training_set_that_lacks_a_test_element(tiny_source, tiny_split, tmp_path):
    """F in one test configuration and one of the training pool that the size-5 set (seed 0) does not draw."""
    drawn = subset(sorted(tiny_split["train_pool"]), 5, 0)
    undrawn = sorted(set(tiny_split["train_pool"]) - set(drawn))[0]
    test_id = sorted(tiny_split["test"])[0]
    source = _with_element(tiny_source, {undrawn, test_id}, "F", tmp_path / "with_F.extxyz")
    result, output = _plan(tmp_path, tiny_config(source))
    assert result.returncode != 0
    assert (
        "config key 'datasets.tiny.train_sizes': element(s) F of the test set absent from the training set "
        f"of size 5, seed 0, drawn from {source}"
    ) in output, output[-2000:]
    assert f"F in configuration(s) {test_id};" in output


def test_planning_refuses_an_element_the_labeller_cannot_do_even_after_a_pass_with_the_same_path(
    tiny_source, tiny_split, tmp_path
):
    """Br (beyond PySCF's elements here) in every CH3OH configuration, the low fidelity labelled by PySCF.

    The first plan passes and is remembered; the source rewritten at the same path is checked again.
    """
    source = tmp_path / "source.extxyz"
    write_structures(source, read_structures(tiny_source))
    config = tiny_config(source)
    config["datasets"]["tiny"]["fidelities"] = {
        **config["datasets"]["tiny"]["fidelities"],
        "gfn1": {"labeller": "pyscf"},
    }
    result, output = _plan(tmp_path, config)
    assert result.returncode == 0, output[-2000:]

    methanol = {int(a.info["config_id"]) for a in read_structures(tiny_source) if a.info["molecule"] == "CH3OH"}
    _with_element(tiny_source, methanol, "Br", source)
    result, output = _plan(tmp_path, config)
    assert result.returncode != 0
    drawn = sorted(
        methanol & {i for part in ("test", "validation", "train_pool", "pretrain_pool") for i in tiny_split[part]}
    )
    assert (
        f"config key 'datasets.tiny.fidelities.gfn1.labeller': labeller 'pyscf' does not support element(s) "
        f"Br of {source}: Br in configuration(s) {', '.join(map(str, drawn[:5]))}, ... ({len(drawn)} in all)"
    ) in output, output[-2000:]


def test_planning_refuses_a_select_value_no_configuration_has_and_duplicate_ids(tiny_source, tmp_path):
    config = tiny_config(tiny_source)
    config["datasets"]["tiny"]["select"]["exclude"] = ["CH3CONH3"]
    result, output = _plan(tmp_path, config)
    assert result.returncode != 0
    assert (
        f"config key 'datasets.tiny.select.exclude': no configuration of {tiny_source} has molecule = CH3CONH3 "
        "(present: CH3CHO, CH3CONH2, CH3OH, H3CNH2)"
    ) in output, output[-2000:]

    frames = read_structures(tiny_source)
    frames[5].info["config_id"] = frames[4].info["config_id"]
    write_structures(tmp_path / "dup.extxyz", frames)
    result, output = _plan(tmp_path, tiny_config(tmp_path / "dup.extxyz"))
    assert result.returncode != 0
    assert f"config key 'datasets.tiny.source': {tmp_path / 'dup.extxyz'} has duplicate config_id values" in output


def test_an_unsupported_element_at_run_time_is_a_counted_failure_of_that_configuration():
    """The labellers' promise: one failure with its id, the other configurations labelled."""
    frames = []
    for i, name in enumerate(["CH4", "H2O", "CH3OH"]):
        atoms = molecule(name)
        atoms.info["config_id"] = 10 + i
        frames.append(atoms)
    frames[1].symbols[0] = "U"  # beyond GFN1-xTB's H-Rn
    labelled, report = label_frames(frames, "gfn1", "tblite", {"method": "GFN1-xTB"})
    assert [int(a.info["config_id"]) for a in labelled] == [10, 12]
    assert [(f.config_id, f.error) for f in report.failures] == [
        (11, "LabellerError: labeller 'tblite' does not support element(s) U")
    ]
    assert report.n_total == 3 and report.n_labelled == 2


def _labelled(names, fidelity="ref"):
    frames = []
    for i, name in enumerate(names):
        atoms = molecule(name)
        atoms.rattle(0.01, seed=i)
        atoms.info["config_id"] = i
        set_labels(atoms, fidelity, -10.0 * len(atoms) - 0.1 * i, np.zeros((len(atoms), 3)))
        frames.append(atoms)
    return frames


def test_the_training_job_refuses_a_validation_element_its_training_set_lacks(tmp_path):
    """Before any training: nothing of mace runs, no model folder content but the inputs."""
    from mftl.training.steps import train

    write_structures(tmp_path / "pool.extxyz", _labelled(["CH4", "C2H6", "CH3OH", "H2O"]))
    valid = _labelled(["HF", "CH4"])
    for i, atoms in enumerate(valid):
        atoms.info["config_id"] = 40 + i
    write_structures(tmp_path / "valid.extxyz", valid)
    with pytest.raises(
        ElementCoverageError,
        match=(
            f"element\\(s\\) F of the validation set {tmp_path / 'valid.extxyz'} absent from the training set "
            f"\\(2 of {tmp_path / 'pool.extxyz'}, seed 0\\) .*: F in configuration\\(s\\) 40;"
        ),
    ):
        train(
            TrainingJob(
                tmp_path / "pool.extxyz", "ref", 2, 0, max_epochs=1, valid=tmp_path / "valid.extxyz", device="cpu"
            ),
            tmp_path / "run",
        )
    assert not (tmp_path / "run" / "logs").exists()


def test_evaluation_refuses_a_test_element_the_model_never_trained_on(tmp_path):
    """Instead of mace_eval_configs' '9 is not in list' after the predictions."""
    from mftl.evaluation.jobs import evaluate

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    write_structures(model_dir / "train.extxyz", _labelled(["CH4", "CH3OH"]))
    test = _labelled(["HF", "H2O", "HF"])
    write_structures(tmp_path / "test.extxyz", test)
    with pytest.raises(
        ElementCoverageError,
        match=(
            f"element\\(s\\) F of the evaluation set {tmp_path / 'test.extxyz'} absent from the training data of "
            f"{model_dir} \\(which holds C, H, O\\): F in configuration\\(s\\) 0, 2;"
        ),
    ):
        evaluate(model_dir, tmp_path / "test.extxyz", "ref", "cpu")


def test_source_index_agrees_with_ase_and_its_cache_follows_the_file(tiny_source, tmp_path):
    frames = read_structures(tiny_source)
    index = source_index(tiny_source, {"molecule"}, {"ref_energy"}, {"ref_forces"}, cache_dir=tmp_path / "cache")
    assert list(index.ids) == [int(a.info["config_id"]) for a in frames]
    assert index.symbols == [frozenset(a.get_chemical_symbols()) for a in frames]
    assert [v["molecule"] for v in index.values] == [a.info["molecule"] for a in frames]
    assert [index.has(i, "ref_energy", "ref_forces") for i in range(len(frames))] == [
        "ref_energy" in a.info and "ref_forces" in a.arrays for a in frames
    ]
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 1

    copy = tmp_path / "source.extxyz"
    write_structures(copy, frames)
    assert source_index(copy, cache_dir=tmp_path / "cache").symbols == index.symbols
    frames[0].symbols[0] = "Si"
    write_structures(copy, frames)  # changed file: the cached index is not used
    assert "Si" in source_index(copy, cache_dir=tmp_path / "cache").symbols[0]
    assert scan(copy).symbols[0] == frozenset(frames[0].get_chemical_symbols())
