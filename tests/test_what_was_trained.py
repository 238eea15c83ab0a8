"""What a model's numbers stand on, in its outputs (issue 34): the sizes it actually trained on and the test
configurations outside the span of its training compositions.

One real tiny pre-training and fine-tuning (mace, one epoch each) on synthetic labels, evaluated for real:

* labelling failed for 1 of the 10 planned pre-training configurations (within ``max_failure_fraction``): the
  pre-training trains on the 9 labelled ones, and training.json, the evaluation record, curves.csv and the
  warnings say 9 beside the planned 10;
* the test set holds a lone O atom, whose composition the fine-tuning set (water and methane) does not span:
  its reference energy is the E0 prior's, and the energy RMSE without it stands beside the one with it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.build import molecule

from conftest import tiny_config
from mftl import paths
from mftl.analysis.curves import curves_table
from mftl.analysis.quality import quality_warnings
from mftl.cli import main as mftl_main
from mftl.data.reference_energies import prior_record
from mftl.data.structures import set_labels, write_structures
from mftl.planning.campaign import Campaign
from mftl.report.report_page import campaign_warnings, warnings_section

E0 = {"H": -13.6, "C": -1028.4, "O": -2040.4}  # eV, a PBE0-like scale; the low fidelity's is 0.98 of it
PLANNED_PRETRAIN, LABELLED_PRETRAIN, TRAIN = 10, 9, 6
META = {"dataset": "tiny", "method": "mftl", "fidelities": "low->ref", "pretrain_size": PLANNED_PRETRAIN}
META |= {"epoch_cap": 1, "train_size": TRAIN, "seed": 0}


def _frames(atoms_list, first_id: int, rng) -> list[Atoms]:
    """Rattled copies labelled ``ref`` (E0s minus 0.5 eV per atom) and ``low`` (0.98 of the E0s), noisy."""
    frames = []
    for k, atoms in enumerate(atoms_list):
        atoms = atoms.copy()
        atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
        atoms.info.update(config_id=first_id + k, molecule=atoms.get_chemical_formula())
        e0 = sum(E0[s] for s in atoms.get_chemical_symbols())
        set_labels(atoms, "ref", e0 - 0.5 * len(atoms) + rng.normal(scale=0.01), rng.normal(size=(len(atoms), 3)))
        set_labels(atoms, "low", 0.98 * e0 + rng.normal(scale=0.01), rng.normal(size=(len(atoms), 3)))
        frames.append(atoms)
    return frames


def _water_and_methane(n: int) -> list[Atoms]:
    return [molecule("H2O" if k % 2 else "CH4") for k in range(n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The campaign's folder layout under a temporary folder: the pre-training p10_s0 (9 labelled), the
    fine-tuning p10_e1_n6_s0 from it at cap 1, their evaluation records and curves.csv."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # paths.* are relative to the campaign's folder, as under Snakemake
        _train_and_evaluate(root)
    return root


def _train_and_evaluate(root: Path) -> None:
    from mftl.training.steps import train

    rng = np.random.default_rng(0)
    labels = Path(paths.dataset_dir("tiny")) / "labels"
    labels.mkdir(parents=True)
    pool = labels / "pretrain_pool.low.extxyz"  # configuration 9 failed to label
    write_structures(pool, _frames(_water_and_methane(LABELLED_PRETRAIN), 0, rng))
    (labels / "pretrain_pool.low.report.json").write_text(json.dumps({"n_total": 10, "n_failed": 1}))
    write_structures(labels / "train_pool.ref.extxyz", _frames(_water_and_methane(TRAIN), 20, rng))
    write_structures(labels / "validation.ref.extxyz", _frames(_water_and_methane(2), 40, rng))
    inside = _frames(_water_and_methane(4), 100, rng)
    lone = _frames([Atoms("O")], 104, rng)
    for name, frames in (("test", inside + lone), ("test_inside", inside), ("test_lone", lone)):
        write_structures(root / f"{name}.extxyz", frames)
    for fidelity, scale in (("low", 0.98), ("ref", 1.0)):
        prior = prior_record({s: scale * e for s, e in E0.items()}, "test E0s")
        (labels / f"prior.{fidelity}.json").write_text(json.dumps(prior))

    campaign = Campaign(tiny_config(root / "source.extxyz"))
    pretrain = dataclasses.replace(
        campaign.pretrain_job("tiny", PLANNED_PRETRAIN, 0),
        train_pool=str(pool), fidelity="low", prior=str(labels / "prior.low.json"), max_epochs=1, serve_caps=(1,),
        hyperparameters={**campaign.pretrain_job("tiny", 10, 0).hyperparameters, "batch_size": 4},
    )  # fmt: skip
    pre_dir = Path(paths.pretrain_dir("tiny", paths.pretrain_tag(PLANNED_PRETRAIN, 0)))
    train(pretrain, pre_dir)
    finetune = dataclasses.replace(
        campaign.mftl_job("tiny", PLANNED_PRETRAIN, 1, TRAIN, 0),
        max_epochs=1, hyperparameters={**campaign.mftl_job("tiny", 10, 1, 6, 0).hyperparameters, "batch_size": 3},
    )  # fmt: skip
    assert finetune.init_from == str(pre_dir) and finetune.prior == str(labels / "prior.ref.json")
    model_dir = Path(paths.model_dir("tiny", "mftl", "p10_e1_n6_s0"))
    train(finetune, model_dir)

    evaluations = root / "eval"
    for name in ("test", "test_inside", "test_lone"):
        args = ["evaluate", "--model-dir", str(model_dir), "--test", f"{name}.extxyz", "--fidelity", "ref"]
        args += ["--device", "cpu", "--metadata", json.dumps(META), "--out", str(evaluations / f"{name}.json")]
        assert mftl_main(args) == 0
    args = ["evaluate", "--model-dir", str(pre_dir), "--test", "test.extxyz", "--fidelity", "low", "--cap", "1"]
    meta = {**META, "method": "pretrain", "fidelities": "low", "train_size": 0}
    args += ["--device", "cpu", "--metadata", json.dumps(meta), "--out", str(evaluations / "pretrained.json")]
    assert mftl_main(args) == 0
    record = json.loads((evaluations / "test.json").read_text())
    curves_table([record]).to_csv(paths.dataset_file("tiny", "curves.csv"), index=False)


def _record(trained: Path, name: str) -> dict:
    return json.loads((trained / "eval" / f"{name}.json").read_text())


def test_the_sizes_trained_stand_beside_the_planned_ones(trained):
    """max_failure_fraction let 1 of 10 labels fail: the pre-training planned at 10 trained on 9."""
    pre = json.loads((trained / "results/tiny/pretrain/p10_s0/training.json").read_text())
    assert (pre["size"], pre["n_trained"], pre["pretraining"]) == (PLANNED_PRETRAIN, LABELLED_PRETRAIN, None)
    info = json.loads((trained / "results/tiny/models/mftl/p10_e1_n6_s0/training.json").read_text())
    assert info["n_trained"] == TRAIN and info["pretraining"] == {"n_trained": LABELLED_PRETRAIN, "resumed": False}
    assert info["resumed"] is False and info["resumed_at_epoch"] is None

    record = _record(trained, "test")
    assert (record["pretrain_size"], record["pretrain_size_trained"]) == (PLANNED_PRETRAIN, LABELLED_PRETRAIN)
    assert (record["train_size"], record["train_size_trained"], record["resumed"]) == (TRAIN, TRAIN, False)
    served = _record(trained, "pretrained")  # the pre-trained model at its cap (fig. S1): its own size
    assert served["pretrain_size_trained"] == LABELLED_PRETRAIN and "train_size_trained" not in served

    curves = pd.read_csv(trained / "results/tiny/curves.csv")
    columns = list(curves.columns)
    assert columns.index("pretrain_size_trained") == columns.index("pretrain_size") + 1
    assert columns.index("train_size_trained") == columns.index("train_size") + 1
    row = curves.iloc[0]
    assert (row["pretrain_size"], row["pretrain_size_trained"], row["train_size_trained"]) == (10, 9, 6)
    warnings = quality_warnings(curves)
    assert any("pre-training size 10 trained on 9 (mftl (pre 10, cap 1) n=6 seed 0)" in w for w in warnings), warnings


def test_the_energy_error_without_test_configurations_outside_the_span_stands_beside_it(trained):
    """The lone O atom's reference energy is the prior's: the RMSE with it and without it, the one without equal to
    the evaluation of the four others alone, the one with it made of both (checked here from the parts)."""
    record, inside, lone = (_record(trained, name) for name in ("test", "test_inside", "test_lone"))
    assert (record["n_test"], record["n_test_outside_span"], record["n_test_in_span"]) == (5, 1, 4)
    assert (record["n_test_undetermined"], lone["n_test_outside_span"], inside["n_test_outside_span"]) == (0, 1, 0)
    assert record["energy_rmse_in_span_meV_atom"] == pytest.approx(inside["energy_rmse_meV_atom"], rel=1e-9)
    assert inside["energy_rmse_in_span_meV_atom"] == pytest.approx(inside["energy_rmse_meV_atom"], rel=1e-12)
    assert lone["energy_rmse_in_span_meV_atom"] is None and lone["n_test_in_span"] == 0
    both = math.sqrt((4 * inside["energy_rmse_meV_atom"] ** 2 + lone["energy_rmse_meV_atom"] ** 2) / 5)
    assert record["energy_rmse_meV_atom"] == pytest.approx(both, rel=1e-9)
    assert record["energy_rmse_meV_atom"] > 2 * record["energy_rmse_in_span_meV_atom"]  # the lone atom dominates

    curves = pd.read_csv(trained / "results/tiny/curves.csv")
    row = curves.iloc[0]
    assert row["n_test_outside_span"] == 1
    assert row["energy_rmse_in_span_meV_atom"] == pytest.approx(record["energy_rmse_in_span_meV_atom"])
    expected = (
        f"tiny: 1 models have test configurations outside the span of their training compositions (up to 1 of 5, "
        f"n_test_outside_span), whose reference energies are the E0 prior's, not fitted: energy RMSE "
        f"{record['energy_rmse_meV_atom']:.1f} meV/atom with them, {record['energy_rmse_in_span_meV_atom']:.1f} "
        "without them (energy_rmse_in_span_meV_atom in curves.csv): mftl (pre 10, cap 1) n=6 seed 0"
    )
    assert expected in quality_warnings(curves)
    with pytest.MonkeyPatch.context() as patch:  # the report's first page, from results/tiny/curves.csv
        patch.chdir(trained)
        assert f"* {expected}" in warnings_section(campaign_warnings({"datasets": {"tiny": {}}}))
