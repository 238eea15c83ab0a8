"""A file of unlabelled geometries as (part of) the pre-training pool (issue 32, item 3): ``pretrain_geometries``
joins the split's pre-training pool with fresh ids, geometry only, labelled by the low fidelity's labeller."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from ase.build import molecule

from conftest import env_with_venv, run_snakemake, tiny_config
from mftl.data.sampling import GEOMETRY_ID_OFFSET, SAMPLED_ID_OFFSET
from mftl.data.structures import read_structures, set_labels, write_structures
from mftl.paths import split_ids
from mftl.planning.config import SCHEMA, ConfigError, check_config


def _mftl(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mftl", *args]
    return subprocess.run(cmd, env=env_with_venv(), capture_output=True, text=True, timeout=300)


@pytest.fixture()
def geometries(tmp_path):
    """Three geometries (CH3OH, NH3, a displaced CH3OH), the first with a label that must be ignored."""
    frames = [molecule("CH3OH"), molecule("NH3"), molecule("CH3OH")]
    frames[2].positions += np.random.default_rng(0).normal(0, 0.05, frames[2].positions.shape)
    set_labels(frames[0], "ref", -1.0, np.zeros((6, 3)))
    frames[0].info["config_id"] = 7  # an id of the file: replaced by a fresh one
    path = tmp_path / "given.extxyz"
    write_structures(path, frames)
    return path, frames


def _split(source, given, out, pretrain_pool=0):
    ds = tiny_config(source)["datasets"]["tiny"]
    return _mftl(
        "split",
        *("--source", str(source), "--high-energy-key", "ref_energy", "--high-forces-key", "ref_forces"),
        *("--test", str(ds["split"]["test"]), "--validation", str(ds["split"]["validation"])),
        *("--train-pool", str(max(ds["train_sizes"])), "--pretrain-pool", str(pretrain_pool)),
        *("--select", json.dumps(ds["select"]), "--seed", "0"),
        *("--pretrain-geometries", str(given), "--out-dir", str(out)),
    )


def test_given_geometries_join_the_pool_with_fresh_ids_and_get_gfn1_labels_of_a_direct_tblite_call(
    tiny_source, geometries, tmp_path
):
    from tblite.ase import TBLite

    given, frames = geometries
    result = _split(tiny_source, given, tmp_path / "split", pretrain_pool=4)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "split" / "split.json").read_text())
    pool = read_structures(tmp_path / "split" / "pretrain_pool.extxyz")
    fresh = [GEOMETRY_ID_OFFSET + i for i in range(3)]
    assert record["pretrain_geometries"] == str(given) and record["pretrain_pool"][4:] == fresh
    assert [int(a.info["config_id"]) for a in pool[4:]] == fresh and len(pool) == 7
    assert all(int(a.info["config_id"]) < SAMPLED_ID_OFFSET for a in pool[:4])  # the drawn part first
    for atoms, original in zip(pool[4:], frames, strict=True):
        np.testing.assert_array_equal(atoms.numbers, original.numbers)
        np.testing.assert_allclose(atoms.positions, original.positions, atol=1e-8)
        assert "ref_energy" not in atoms.info and "ref_forces" not in atoms.arrays  # the file's labels dropped
    labelled = tmp_path / "labelled.extxyz"
    result = _mftl(
        *("label", "--input", str(tmp_path / "split" / "pretrain_pool.extxyz"), "--fidelity", "gfn1"),
        *("--labeller", "tblite", "--options", json.dumps({"method": "GFN1-xTB"})),
        *("--chunk", "1", "--chunk-size", "4", "--out", str(labelled), "--report", str(tmp_path / "report.json")),
    )
    assert result.returncode == 0, result.stderr
    out = read_structures(labelled)
    assert [int(a.info["config_id"]) for a in out] == fresh
    for atoms, original in zip(out, frames, strict=True):
        direct = original.copy()
        direct.calc = TBLite(method="GFN1-xTB", verbosity=0)
        assert atoms.info["gfn1_energy"] == pytest.approx(direct.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(atoms.arrays["gfn1_forces"], direct.get_forces(), atol=1e-5)


def _config(source, given, **overrides):
    return tiny_config(source, pretrain_geometries=str(given), **overrides)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "contains no structures"),
        ("0\nProperties=species:S:1:pos:R:3\n", "no atoms: frame"),
        ("not a file of structures\n", "not extxyz"),
    ],
)
def test_planning_refuses_a_bad_geometries_file_naming_the_key(tiny_source, tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)  # the source index's cache
    given = tmp_path / "given.extxyz"
    if content is not None:
        given.write_text(content)
    with pytest.raises(ConfigError, match=rf"datasets\.tiny\.pretrain_geometries'.*{message}"):
        check_config(_config(tiny_source, given), SCHEMA)


def test_pretrain_sizes_count_the_given_geometries(tiny_source, geometries, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    given, _ = geometries
    check_config(_config(tiny_source, given, pretrain_sizes=[43]), SCHEMA)  # 40 drawn + 3 given
    with pytest.raises(ConfigError, match=r"pretrain_sizes'.*\[44\].*pretrain_geometries \(3\)"):
        check_config(_config(tiny_source, given, pretrain_sizes=[44]), SCHEMA)


def test_a_dry_run_plans_label_jobs_for_the_larger_pool_and_refuses_elements_the_test_set_lacks(tiny_source, tmp_path):
    frames = [molecule("CH3OH")] * 25  # 40 drawn + 25 given: 4 label chunks of 20 instead of 2
    given = tmp_path / "given.extxyz"
    write_structures(given, frames)
    config = _config(tiny_source, given, methods=["mftl"], pretrain_sizes=[65])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    chunks = set(re.findall(r"labels/chunks/gfn1/pretrain_pool\.(\d+)\.extxyz", result.stdout))
    assert chunks == {"0", "1", "2", "3"}, result.stdout
    # the split job itself, run by Snakemake: the file's 25 configurations after the 40 drawn
    result = run_snakemake(["--configfile", str(tmp_path / "config.yaml"), "--cores", "1", split_ids("tiny")], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((tmp_path / split_ids("tiny")).read_text())
    assert record["pretrain_pool"][40:] == [GEOMETRY_ID_OFFSET + i for i in range(25)]
    write_structures(given, [molecule("SiH4")])
    config["datasets"]["tiny"]["pretrain_sizes"] = [40]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert result.returncode != 0
    assert "datasets.tiny.pretrain_geometries" in result.stdout + result.stderr
    assert "element(s) Si that the test set lacks" in result.stdout + result.stderr


def test_sampling_beside_given_geometries_is_not_refused_as_an_id_clash(tiny_source, geometries, tmp_path):
    given, _ = geometries
    assert _split(tiny_source, given, tmp_path / "split").returncode == 0
    settings = {"size": 1, "temperature_K": 300, "equilibration_steps": 0, "snapshots_per_trajectory": 1}
    result = _mftl(
        *("sample", "--starts", str(tmp_path / "split" / "train_pool.extxyz")),
        *("--split-ids", str(tmp_path / "split" / "split.json"), "--fidelity", "gfn1", "--labeller", "tblite"),
        *("--options", json.dumps({"method": "GFN1-xTB"}), "--settings", json.dumps(settings)),
        *("--out", str(tmp_path / "sampled.extxyz"), "--report", str(tmp_path / "report.json")),
    )
    assert result.returncode == 0, result.stderr
    assert [int(a.info["config_id"]) for a in read_structures(tmp_path / "sampled.extxyz")] == [SAMPLED_ID_OFFSET]


def test_a_source_id_in_the_reserved_range_is_refused_when_geometries_join(geometries):
    from mftl.data.sampling import SamplingError
    from mftl.data.splits import add_given_geometries

    given, _ = geometries
    record = {"test": [1], "validation": [2], "train_pool": [3], "pretrain_pool": [GEOMETRY_ID_OFFSET]}
    with pytest.raises(SamplingError, match=str(GEOMETRY_ID_OFFSET)):
        add_given_geometries({"pretrain_pool": []}, record, given)


def test_the_runtime_estimate_labels_the_given_geometries(tiny_source, geometries, tmp_path, monkeypatch):
    from mftl.planning.runtime_estimate import GFN1_S_PER_ATOM, campaign_seconds

    monkeypatch.chdir(tmp_path)
    given, _ = geometries
    ds = check_config(_config(tiny_source, given), SCHEMA)["datasets"]["tiny"]
    without = {k: v for k, v in ds.items() if k != "pretrain_geometries"}
    extra = campaign_seconds(ds, 6.0)["labelling"] - campaign_seconds(without, 6.0)["labelling"]
    assert extra == pytest.approx(3 * 6.0 * GFN1_S_PER_ATOM)


def test_planning_refuses_an_element_the_low_fidelity_labeller_cannot_do(tiny_source, tmp_path, monkeypatch):
    from ase import Atoms

    from mftl.planning.source_checks import check_dataset

    monkeypatch.chdir(tmp_path)
    given = tmp_path / "given.extxyz"
    write_structures(given, [molecule("CH3OH"), Atoms("UH", positions=[[0, 0, 0], [0, 0, 2.0]])])
    ds = check_config(_config(tiny_source, given), SCHEMA)["datasets"]["tiny"]
    with pytest.raises(
        ConfigError, match=r"tiny\.pretrain_geometries'.*element\(s\) U that the low fidelity's labeller"
    ):
        check_dataset("tiny", ds)


def test_planning_refuses_a_given_geometry_that_is_a_test_configuration(tiny_source, tmp_path, monkeypatch):
    from mftl.planning.source_checks import check_dataset

    monkeypatch.chdir(tmp_path)
    test_id = _test_ids(tiny_source, tmp_path)[0]
    copy = next(a for a in read_structures(tiny_source) if int(a.info["config_id"]) == test_id)
    given = tmp_path / "given.extxyz"
    write_structures(given, [molecule("CH3OH"), copy])
    ds = check_config(_config(tiny_source, given), SCHEMA)["datasets"]["tiny"]
    with pytest.raises(ConfigError, match=rf"pretrain_geometries'.*frame 1 = config_id {test_id} \(test\)"):
        check_dataset("tiny", ds)


def _test_ids(source, tmp_path):
    """The test set's ids as the split job draws them from the tiny source."""
    empty = tmp_path / "empty_pool.extxyz"
    write_structures(empty, [molecule("CH4")])
    assert _split(source, empty, tmp_path / "drawn").returncode == 0
    return json.loads((tmp_path / "drawn" / "split.json").read_text())["test"]
