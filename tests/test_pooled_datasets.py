"""Pooled datasets: several sGDML archives in the upstream format converted into one source,
and the paper's CCSD(T) split of the pooled set drawn by the real convert and split jobs."""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase import units

from conftest import BIN, REPO, env_with_venv, run_snakemake
from mftl.data.sources import SourceFormatError, convert_sgdml
from mftl.data.splits import subset
from mftl.data.structures import read_structures
from mftl.planning.config import ConfigError, check_config
from test_sources import _npz_bytes

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
#: atomic numbers of the paper's three CCSD(T) molecules, as sGDML stores them
MOLECULES = {
    "benzene": [6] * 6 + [1] * 6,
    "malonaldehyde": [6, 6, 6, 8, 8, 1, 1, 1, 1],
    "toluene": [6] * 7 + [1] * 8,
}


def _part(rng: np.random.Generator, numbers: list[int], n: int) -> dict[str, np.ndarray]:
    """One ``*-train.npz``/``*-test.npz`` as sGDML ships it: R (A), z, E (kcal/mol, n x 1), F (kcal/mol/A)."""
    return {
        "R": rng.normal(size=(n, len(numbers), 3)),
        "z": np.array(numbers, dtype=np.uint8),
        "E": (-1.5e5 + rng.normal(size=n))[:, None],
        "F": rng.normal(size=(n, len(numbers), 3)) * 30.0,
        "theory": np.array("CCSD(T)/cc-pVDZ"),
    }


def write_archive(folder: Path, molecule: str, n_train: int, n_test: int, seed: int) -> tuple[Path, dict]:
    """``<molecule>_ccsd_t.zip`` holding ``<molecule>_ccsd_t-train.npz`` and ``-test.npz``; returns path and parts."""
    rng = np.random.default_rng(seed)
    parts = {"train": _part(rng, MOLECULES[molecule], n_train), "test": _part(rng, MOLECULES[molecule], n_test)}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{molecule}_ccsd_t.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for part, arrays in parts.items():
            archive.writestr(f"{molecule}_ccsd_t-{part}.npz", _npz_bytes(**arrays))
    return path, parts


def test_archives_pool_into_one_source_that_keeps_each_molecule(tmp_path):
    paths, parts = zip(*(write_archive(tmp_path, m, 3, 2, seed) for seed, m in enumerate(MOLECULES)), strict=True)
    out = tmp_path / "pooled.extxyz"
    summary = convert_sgdml(list(paths), out)

    frames = read_structures(out)
    assert summary.n_written == len(frames) == 15 and summary.counts == {"train": 9, "test": 6}
    assert [f.info["config_id"] for f in frames] == list(range(15))
    assert [f.info["molecule"] for f in frames] == [m for m in MOLECULES for _ in range(5)]
    toluene_test = [f for f in frames if f.info["molecule"] == "toluene" and f.info["sgdml_part"] == "test"]
    assert toluene_test[1].get_atomic_numbers().tolist() == MOLECULES["toluene"]
    kcal_mol = units.kcal / units.mol
    assert toluene_test[1].info["ccsdt_energy"] == pytest.approx(parts[2]["test"]["E"][1, 0] * kcal_mol, rel=1e-12)
    np.testing.assert_allclose(toluene_test[1].arrays["ccsdt_forces"], parts[2]["test"]["F"][1] * kcal_mol, rtol=1e-6)

    with pytest.raises(SourceFormatError, match=r"molecule\(s\) \['benzene'\] would be pooled twice"):
        convert_sgdml([paths[0], paths[1], paths[0]], tmp_path / "twice.extxyz")
    assert not (tmp_path / "twice.extxyz").exists()


def test_cli_pools_the_archives_it_is_given(tmp_path):
    paths = [write_archive(tmp_path, m, 2, 1, seed)[0] for seed, m in enumerate(("benzene", "toluene"))]
    out, summary = tmp_path / "pooled.extxyz", tmp_path / "summary.json"
    result = subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "mftl",
            "convert",
            *map(str, paths),
            "--converter",
            "sgdml",
            "--out",
            str(out),
            "--summary",
            str(summary),
        ],
        env=env_with_venv(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [f.info["molecule"] for f in read_structures(out)] == ["benzene"] * 3 + ["toluene"] * 3
    assert json.loads(summary.read_text())["n_written"] == 6


def _paper_config() -> dict:
    return yaml.safe_load((REPO / "config" / "paper.yaml").read_text())


def test_config_names_the_download_a_pooled_convert_lacks_or_cannot_read():
    config = _paper_config()
    check_config(copy.deepcopy(config), SCHEMA)
    config["datasets"]["ccsdt"]["convert"]["download"][1] = "sgdml_ethanol"
    with pytest.raises(
        ConfigError,
        match=r"'datasets\.ccsdt\.convert\.download\[1\]': 'sgdml_ethanol' is not an "
        r"entry of 'downloads'",
    ):
        check_config(copy.deepcopy(config), SCHEMA)
    config["datasets"]["ccsdt"]["convert"]["download"][1] = "qm7x"
    with pytest.raises(
        ConfigError,
        match=r"'datasets\.ccsdt\.convert\.download': converter sgdml pools "
        r"'<molecule>_ccsd_t\.zip' archives, not \['1000\.xz'",
    ):
        check_config(copy.deepcopy(config), SCHEMA)
    config["datasets"]["tungsten"]["convert"]["download"] = ["tungsten", "sgdml_toluene"]
    with pytest.raises(
        ConfigError,
        match=r"'datasets\.tungsten\.convert\.download': converter tungsten reads one "
        r"file, the download\(s\) \['tungsten', 'sgdml_toluene'\] hold 2",
    ):
        check_config(copy.deepcopy(config), SCHEMA)


@pytest.mark.slow
def test_paper_ccsdt_split_of_three_pooled_molecules(tmp_path):
    """The paper's sec. 2.4 split, by the real convert and split jobs on archives in the upstream format:
    three molecules of 1,500 configurations each (1,000 train + 500 test parts, as sGDML ships them)."""
    paper = _paper_config()
    dataset = copy.deepcopy(paper["datasets"]["ccsdt"])
    downloads = dataset["convert"]["download"]
    assert len(downloads) == 3
    for seed, name in enumerate(downloads):
        (item,) = paper["downloads"][name]["files"]
        molecule = item["name"].removesuffix("_ccsd_t.zip")
        write_archive(tmp_path / "resources" / "downloads" / name, molecule, 1000, 500, seed)
    dataset["methods"] = ["scratch"]
    del dataset["chains"]
    config = {key: paper[key] for key in ("model", "training")}
    config.update(downloads=paper["downloads"], datasets={"ccsdt": dataset})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(
        ["--configfile", "config.yaml", "--cores", "1", "results/ccsdt/splits/split.json"], tmp_path, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fetch" not in result.stderr.split("Job stats:")[1].split("total")[0]  # the archives were there

    split = json.loads((tmp_path / "results/ccsdt/splits/split.json").read_text())
    pooled = read_structures(tmp_path / "resources/datasets/ccsdt.extxyz")
    molecule = {f.info["config_id"]: f.info["molecule"] for f in pooled}
    assert split["n_source"] == len(molecule) == 4500
    assert (len(split["test"]), len(split["validation"]), len(split["train_pool"])) == (750, 750, 3000)
    assert sorted(dataset["train_sizes"]) == [100, 500, 1000, 3000]
    parts = [set(split[p]) for p in ("test", "validation", "train_pool")]
    assert len(parts[0] | parts[1] | parts[2]) == 4500  # disjoint, and together the whole pooled set
    for part in ("test", "validation", "train_pool"):
        assert {molecule[i] for i in split[part]} == set(MOLECULES), part
        written = read_structures(tmp_path / f"results/ccsdt/splits/{part}.extxyz")
        assert [f.info["config_id"] for f in written] == split[part]
    # training sets as the training job draws them (mftl.training.steps.draw: subset of the pool's sorted ids), per seed
    for seed in dataset["seeds"]:
        drawn = {n: subset(sorted(split["train_pool"]), n, seed) for n in dataset["train_sizes"]}
        for small, large in itertools.pairwise(sorted(drawn)):
            assert len(drawn[small]) == small and set(drawn[small]) < set(drawn[large])
        shares = [sum(molecule[i] == m for i in drawn[100]) for m in MOLECULES]
        assert min(shares) > 0, shares  # uniform over the pooled set: every molecule in the smallest set
