"""Energies from undetermined reference energies are never reported (issue 24, item 1).

A training set of few compositions, its high fidelity read from keys without ``e0s``: the E0 fit
has no prior and leaves test compositions outside the span of the training compositions (or a
lone atom) at arbitrary reference energies. Planning refuses (the training job where planning
cannot read the source); with ``e0s`` it runs; with ``allow_undetermined_e0s`` it runs and those
points carry no energy error but ``n_test_undetermined``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from ase import Atoms
from ase.build import molecule

from conftest import PLACEHOLDER_E0S, REPO, run_snakemake, tiny_config
from mftl.data.splits import make_split, subset
from mftl.data.structures import read_structures, set_labels, write_structures
from mftl.planning.config import ConfigError, check_config
from mftl.planning.source_checks import check_dataset
from mftl.training.training_job import TrainingJob

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
#: six compositions, each of all four elements H, C, N, O (so that every training set holds every element
#: of the test set), together spanning the four directions; two of them span two: (G2 molecule, first atom
#: of this element, replaced by that one)
MOLECULES = (
    ("CH3NO2", None, None),
    ("CH3CONH2", None, None),
    ("CH3CONH2", "H", "O"),
    ("CH3NO2", "H", "C"),
    ("CH3CONH2", "H", "N"),
    ("CH3NO2", "H", "N"),
)
E0 = {1: -13.6, 6: -1028.4, 7: -1483.7, 8: -2040.4}  # eV, a PBE0-like scale
ELEMENTS = (1, 6, 7, 8)


def _variant(name: str, old: str | None, new: str | None) -> Atoms:
    atoms = molecule(name)
    if old is not None:
        atoms.symbols[list(atoms.symbols).index(old)] = new
    return atoms


def _frame(atoms: Atoms, cid: int, rng, name: str) -> Atoms:
    atoms = atoms.copy()
    atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
    atoms.info.update(config_id=cid, molecule=name)
    e0 = sum(E0[int(z)] for z in atoms.numbers)
    set_labels(atoms, "ref", e0 - 0.5 * len(atoms) + rng.normal(scale=0.01), rng.normal(size=(len(atoms), 3)))
    set_labels(atoms, "low", e0 * 0.98 + rng.normal(scale=0.01), rng.normal(size=(len(atoms), 3)))
    return atoms


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """120 configurations of six compositions (20 each) with synthetic total energies under ref and low."""
    rng = np.random.default_rng(0)
    frames = [_frame(_variant(*spec), 20 * m + k, rng, f"m{m}") for m, spec in enumerate(MOLECULES) for k in range(20)]
    path = tmp_path_factory.mktemp("lopsided") / "lopsided.extxyz"
    write_structures(path, frames)
    return path


def _config(source: Path, method: str, **dataset) -> dict:
    config = tiny_config(source)
    ds = config["datasets"]["tiny"]
    ds.pop("select")
    ds.update(
        fidelities={
            "ref": {"energy_key": "ref_energy", "forces_key": "ref_forces"},
            "low": {"energy_key": "low_energy", "forces_key": "low_forces"},
        },
        low_fidelity="low",
        split={"seed": 0, "test": 30, "validation": 10, "pretrain_pool": 40},
        train_sizes=[2, 40],
        seeds=[0, 1],
        methods=[method],
        **dataset,
    )
    return check_config(config, SCHEMA)


def _determined(train: list[np.ndarray], composition: np.ndarray) -> bool:
    """In the row space of the training compositions: adding it does not raise the rank (numpy's own rank)."""
    matrix = np.array(train)
    return np.linalg.matrix_rank(np.vstack([matrix, composition])) == np.linalg.matrix_rank(matrix)


def _composition(atoms: Atoms) -> np.ndarray:
    return np.array([np.sum(atoms.numbers == z) for z in ELEMENTS], dtype=float)


def _undetermined_test_ids(source: Path, size: int, seed: int) -> list[int]:
    """Test configurations the training set (size, seed) leaves undetermined, computed here from the split."""
    frames = {int(a.info["config_id"]): a for a in read_structures(source)}
    split = make_split(sorted(frames), sorted(frames), 30, 10, 40, 40, 0)
    train = [_composition(frames[i]) for i in subset(sorted(split.train_pool), size, seed)]
    return sorted(i for i in split.test if not _determined(train, _composition(frames[i])))


@pytest.mark.parametrize("method", ["scratch", "mftl", "delta"])
def test_planning_refuses_a_lopsided_training_set_without_e0s(source, method):
    extra = {"pretrain_sizes": [40], "epoch_caps": [1]} if method == "mftl" else {}
    config = _config(source, method, **extra)
    with pytest.raises(ConfigError) as refused:
        check_dataset("tiny", config["datasets"]["tiny"])
    message = str(refused.value)
    counts = {seed: len(_undetermined_test_ids(source, 2, seed)) for seed in (0, 1)}
    assert all(counts.values())  # two configurations span at most two of the four directions
    assert not any(_undetermined_test_ids(source, 40, seed) for seed in (0, 1))  # all six molecules: full rank
    assert message.startswith("config key 'datasets.tiny.train_sizes': dataset tiny, fidelity ref")
    assert f"methods {method}" in message and "training size(s) 2, seed(s) 0, 1" in message
    for seed, n in counts.items():
        assert f"size 2, seed {seed}: {n} of 30 test configurations" in message
    for remedy in (
        "datasets.tiny.fidelities.ref.e0s",
        "mftl atom-energies --labeller",
        "--elements C H N O",
        "larger train_sizes (size(s) 40 of the config determine them for every seed)",
        "datasets.tiny.select",
        "datasets.tiny.allow_undetermined_e0s: true",
    ):
        assert remedy in message
    if method == "delta":  # the fit of high minus low needs both priors
        assert "datasets.tiny.fidelities.low.e0s" in message


@pytest.mark.parametrize("method", ["scratch", "mftl", "delta"])
def test_planning_accepts_e0s_or_the_opt_in(source, method):
    extra = {"pretrain_sizes": [40], "epoch_caps": [1]} if method == "mftl" else {}
    config = _config(source, method, **extra)
    for fidelity in ("ref", "low"):
        config["datasets"]["tiny"]["fidelities"][fidelity]["e0s"] = dict(PLACEHOLDER_E0S)
    check_dataset("tiny", config["datasets"]["tiny"])
    config = _config(source, method, allow_undetermined_e0s=True, **extra)
    check_dataset("tiny", config["datasets"]["tiny"])
    if method == "delta":  # only the high fidelity's e0s: Delta's fit (high minus low) still has no prior
        config = _config(source, method)
        config["datasets"]["tiny"]["fidelities"]["ref"]["e0s"] = {"H": -1.0, "C": -1.0, "N": -1.0, "O": -1.0}
        with pytest.raises(ConfigError, match="fidelities.low.e0s"):
            check_dataset("tiny", config["datasets"]["tiny"])


def test_snakemake_dry_run_refuses_and_plans_with_the_opt_in(source, tmp_path):
    config = _config(source, "scratch")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert result.returncode != 0
    assert "dataset tiny, fidelity ref (methods scratch): the E0 fit" in result.stdout + result.stderr
    config["datasets"]["tiny"]["allow_undetermined_e0s"] = True
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"e0_span_test": "' not in result.stdout  # opted in: the training job does not refuse either


def _pool_and_test(tmp_path: Path, pool_molecules, test_atoms) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(1)
    pool = [_frame(molecule(name), k, rng, name) for k, name in enumerate(pool_molecules)]
    test = [_frame(atoms, 100 + k, rng, "test") for k, atoms in enumerate(test_atoms)]
    valid = [_frame(molecule(pool_molecules[0]), 200, rng, "valid")]
    for name, frames in (("pool", pool), ("test", test), ("valid", valid)):
        write_structures(tmp_path / f"{name}.extxyz", frames)
    return tmp_path / "pool.extxyz", tmp_path / "test.extxyz", tmp_path / "valid.extxyz"


@pytest.mark.parametrize("method", ["scratch", "mftl", "delta"])
def test_the_training_job_refuses_a_lone_atom_test_frame_before_training(tmp_path, method):
    """Where planning cannot read the source: the same refusal, before anything of mace runs."""
    from mftl.training.steps import train

    test_atoms = [molecule("H2O"), Atoms("O"), molecule("CH3OH"), molecule("CH4")]
    pool, test, valid = _pool_and_test(tmp_path, ["H2O", "CH4", "H2O"], test_atoms)
    # three configurations of two compositions: O alone and CH3OH lie outside their span, H2O and CH4 inside
    train_rows = [_composition(a) for a in read_structures(pool)]
    expected = [100 + k for k, a in enumerate(test_atoms) if not _determined(train_rows, _composition(a))]
    assert expected == [101, 102]
    delta = {"base_fidelity": "low", "base_pool": pool, "base_valid": valid} if method == "delta" else {}
    init = {"init_from": tmp_path / "no-pretraining", "init_cap": 1} if method == "mftl" else {}
    job = TrainingJob(pool, "ref", size=3, seed=0, max_epochs=1, valid=valid, device="cpu", **delta, **init)
    with pytest.raises(ValueError) as refused:
        train(dataclasses.replace(job, e0_span_test=test, dataset="mine"), tmp_path / "run")
    message = str(refused.value)
    assert "dataset mine, fidelity ref" + (" minus low" if method == "delta" else "") in message
    assert "size 3, seed 0: 2 of 4 test configurations (config ids 101, 102)" in message
    assert "datasets.mine.fidelities.ref.e0s" in message
    assert not (tmp_path / "run" / "logs").exists() and not (tmp_path / "run" / "model.model").exists()


def test_undetermined_points_carry_no_energy_error(tmp_path):
    """Evaluation leaves the energy errors empty and counts the configurations; curves.csv, summary.csv
    and the learning-curve panels skip them; forces stay."""
    from mftl.analysis.curves import curves_table
    from mftl.analysis.tables import summary_table
    from mftl.evaluation.jobs import undetermined_energies
    from mftl.report.figure_parts import seed_band

    errors = {"energy_rmse_meV_atom": 80873.0, "energy_mae_meV_atom": 5e4, "forces_rmse_meV_A": 300.0}
    errors.update(forces_mae_meV_A=200.0, n_test=100, n_test_outside_span=17)
    blanked = undetermined_energies(errors, {"prior": None, "row_space": {}})
    assert blanked["energy_rmse_meV_atom"] is None and blanked["energy_mae_meV_atom"] is None
    assert blanked["forces_rmse_meV_A"] == 300.0 and blanked["n_test_undetermined"] == 17
    with_prior = undetermined_energies(errors, {"prior": {"1": -13.6}, "row_space": {}})
    assert with_prior["energy_rmse_meV_atom"] == 80873.0 and with_prior["n_test_undetermined"] == 0

    base = {"dataset": "d", "method": "scratch", "fidelities": "ref", "train_size": 10}
    determined = {**errors, "energy_rmse_meV_atom": 40.0, "n_test_outside_span": 0}
    records = [
        {**base, "seed": 0, **json.loads(json.dumps(blanked))},  # through JSON, as the evaluation writes it
        {**base, "seed": 1, **undetermined_energies(determined, {"prior": None})},
        {**base, "train_size": 20, "seed": 0, **blanked},
    ]
    curves = curves_table(records)
    path = tmp_path / "curves.csv"
    curves.to_csv(path, index=False)
    read = pd.read_csv(path)
    assert read["energy_rmse_meV_atom"].isna().tolist() == [True, False, True]
    assert read["n_test_undetermined"].tolist() == [17, 0, 17]
    assert read["forces_rmse_meV_A"].tolist() == [300.0] * 3
    summary = summary_table(read).set_index("train_size")
    assert summary.loc[10, "energy_rmse_meV_atom_mean"] == 40.0  # the seed with an energy error only
    assert np.isnan(summary.loc[20, "energy_rmse_meV_atom_mean"])
    assert summary.loc[10, "forces_rmse_meV_A_mean"] == 300.0
    band = seed_band(read, "train_size", "energy_rmse_meV_atom")
    assert band.index.tolist() == [10] and band.loc[10, "max"] == 40.0  # size 20 is not drawn


@pytest.mark.slow
def test_a_tiny_opted_in_run_reports_no_energy_error_for_undetermined_points(source, tmp_path):
    """The whole workflow with allow_undetermined_e0s: size 2 (two compositions) has empty energy errors
    and n_test_undetermined as counted here; size 40 (all six) has its energies; forces for both."""
    config = _config(source, "scratch", allow_undetermined_e0s=True)
    config["datasets"]["tiny"]["seeds"] = [0]
    config["datasets"]["tiny"].update(pretrain_sizes=[], epoch_caps=[])
    config["datasets"]["tiny"]["split"]["pretrain_pool"] = 0
    config["training"]["scratch"].update(max_epochs=1, batch_size=2)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["--cores", "1", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    curves = pd.read_csv(tmp_path / "results/tiny/curves.csv").set_index("train_size")
    assert curves.loc[2, "n_test_undetermined"] == len(_undetermined_test_ids(source, 2, 0)) > 0
    assert np.isnan(curves.loc[2, "energy_rmse_meV_atom"]) and np.isnan(curves.loc[2, "energy_mae_meV_atom"])
    assert curves.loc[40, "n_test_undetermined"] == 0 and curves.loc[40, "energy_rmse_meV_atom"] > 0
    assert (curves["forces_rmse_meV_A"] > 0).all()
    summary = pd.read_csv(tmp_path / "results/tiny/summary.csv").set_index("train_size")
    assert np.isnan(summary.loc[2, "energy_rmse_meV_atom_mean"]) and summary.loc[40, "energy_rmse_meV_atom_mean"] > 0
    record = json.loads((tmp_path / "results/tiny/eval/scratch/n2_s0.json").read_text())
    assert record["energy_rmse_meV_atom"] is None and record["n_test_outside_span"] == record["n_test_undetermined"]
