"""Several foundations per dataset, zero-shot evaluation of a foundation, and mace's own MP replay.

The zero-shot result of the tiny campaign's foundation analog is checked against a direct
evaluation written here (ASE's MACECalculator, numpy least squares); several foundations and MP
replay are checked on Snakemake's plan and on mace-torch's own argument parser and replay setup.
"""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, full_tiny_config, run_snakemake
from mftl.data.structures import by_config_id, read_structures
from mftl.training.mace_commands import MaceRun
from mftl.training.mace_options import mace_arg_parser as _mace_arg_parser


def _relative_energy_per_atom(frames, energies):
    """Energy per atom (eV/atom) minus a least-squares sum of per-element energies (numpy lstsq)."""
    elements = sorted({int(z) for atoms in frames for z in atoms.numbers})
    counts = np.array([[np.sum(atoms.numbers == z) for z in elements] for atoms in frames], dtype=float)
    e0, *_ = np.linalg.lstsq(counts, np.asarray(energies), rcond=None)
    return (np.asarray(energies) - counts @ e0) / counts.sum(axis=1)


@pytest.mark.slow
def test_zero_shot_analog_errors_agree_with_a_direct_ase_evaluation(tiny_campaign):
    from mace.calculators import MACECalculator

    results = tiny_campaign / "results/tiny"
    model = tiny_campaign / "results/tiny_foundation/models/scratch/n10_s0/model.model"
    test = read_structures(results / "labels/test.ref.extxyz")
    calc = MACECalculator(model_paths=str(model), device="cpu", default_dtype="float32")
    energies, forces = [], []
    for atoms in test:
        atoms = atoms.copy()
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())

    # the predictions the workflow stored are the model's, configuration by configuration
    stored = by_config_id(read_structures(results / "zeroshot/analog/test.extxyz"))
    assert sorted(stored) == sorted(int(a.info["config_id"]) for a in test)
    for atoms, energy, force in zip(test, energies, forces, strict=True):
        mine = stored[int(atoms.info["config_id"])]
        assert mine.info["analog_energy"] == pytest.approx(energy, abs=1e-4)
        np.testing.assert_allclose(mine.arrays["analog_forces"], force, atol=1e-4)

    # errors: each side's energies relative to its own least-squares atomic energies; forces as they are
    reference = [a.info["ref_energy"] for a in test]
    de = 1000 * (_relative_energy_per_atom(test, energies) - _relative_energy_per_atom(test, reference))
    df = 1000 * np.concatenate([(f - a.arrays["ref_forces"]).ravel() for a, f in zip(test, forces, strict=True)])
    result = json.loads((results / "eval/foundation_zeroshot/analog.json").read_text())
    assert result["method"] == "foundation_zeroshot" and result["train_size"] == 0 and result["n_test"] == len(test)
    assert result["energy_rmse_meV_atom"] == pytest.approx(np.sqrt(np.mean(de**2)), rel=1e-3, abs=1e-3)
    assert result["forces_rmse_meV_A"] == pytest.approx(np.sqrt(np.mean(df**2)), rel=1e-3, abs=1e-3)
    assert result["forces_mae_meV_A"] == pytest.approx(np.mean(np.abs(df)), rel=1e-3, abs=1e-3)

    # the same point in the curves and the summary, and a panel beside the low fidelity's
    curves = pd.read_csv(results / "curves.csv")
    row = curves[curves.method == "foundation_zeroshot"].iloc[0]
    assert row.fidelities == "analog" and row.energy_rmse_meV_atom == pytest.approx(result["energy_rmse_meV_atom"])
    table = pd.read_csv(results / "tables/fidelity_comparison.csv")
    assert list(dict.fromkeys(table.low_fidelity)) == ["gfn1", "analog zero-shot"]
    # the worst configurations are named by config id, the worst energy first
    outliers = pd.read_csv(results / "tables/fidelity_outliers.csv")
    zero_shot = outliers[outliers.compared == "analog zero-shot"]
    ids = [int(a.info["config_id"]) for a in test]
    assert zero_shot[zero_shot.energy_rank == 1].config_id.item() == ids[int(np.argmax(np.abs(de)))]
    assert zero_shot.energy_error_meV_atom.abs().max() == pytest.approx(np.abs(de).max(), rel=1e-3)


def _two_foundations(source, tmp_path):
    """tiny with three foundations: the analog, a model file and MACE-MP-0 replaying MP data."""
    config = full_tiny_config(source)
    tiny = config["datasets"]["tiny"]
    tiny["methods"] = ["scratch", "foundation", "foundation_multihead", "foundation_zeroshot"]
    tiny["foundation"] = ["analog", "other-model", "mp0"]
    tiny.pop("chains", None)
    (tmp_path / "other.model").write_text("")  # planned, never run
    config["foundations"].update(
        {
            "other-model": {
                "file": "other.model",
                "replay": {"file": "other.model", "energy_key": "e", "forces_key": "f"},
            },
            "mp0": {"name": "medium", "replay": "mp", "replay_size": 2000},
        }
    )
    return config


def test_several_foundations_plan_distinct_runs_and_mp_replay(tiny_source, tmp_path):
    config = _two_foundations(tiny_source, tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    plan = run_snakemake(["-n", "-p", "--configfile", "config.yaml"], tmp_path, timeout=300)
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    for method in ("foundation", "foundation_multihead"):
        for name in ("analog", "other-model", "mp0"):
            for size in (5, 10):
                assert f"results/tiny/models/{method}/{name}_n{size}_s0/training.json" in plan.stdout
    for name in ("analog", "other-model", "mp0"):
        assert f"results/tiny/eval/foundation_zeroshot/{name}.json" in plan.stdout
    counts = dict(
        line.split()
        for line in plan.stdout.split("Job stats:")[1].splitlines()[3:]
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )
    assert counts["foundation"] == counts["foundation_multihead"] == "6"
    assert counts["zeroshot"] == "3" and counts["fetch_foundation"] == "1"
    # MACE-MP-0 replays mace's own MP data, 2,000 configurations of it; the others their files
    shells = [line for line in plan.stdout.splitlines() if " train " in line and "foundation_multihead/" in line]
    mp = [line for line in shells if "foundation_multihead/mp0_" in line]
    assert len(shells) == 6 and len(mp) == 2
    assert all('"replay_dataset": "mp"' in line and '"replay_size": 2000' in line for line in mp)
    assert all('"init_from": "resources/foundations/mp0.model"' in line for line in mp)
    # the others replay a file; the job's JSON leaves a field at its default (replay_dataset None) out
    assert all('"replay_dataset"' not in line and '"replay": ' in line for line in shells if line not in mp)


def test_mp_replay_command_is_what_mace_reads_as_materials_project_replay():
    from mace.data import KeySpecification
    from mace.tools.multihead_tools import prepare_pt_head

    run = MaceRun(
        name="m",
        train_file="train.extxyz",
        seed=3,
        max_epochs=2,
        e0s={74: -1.0},
        foundation_model="mp0.model",
        replay_dataset="mp",
        replay_samples=2000,
    )
    args = _mace_arg_parser().parse_args(run.command()[1:])
    assert args.multiheads_finetuning and args.pt_train_file == "mp" and args.num_samples_pt == 2000
    # mace's own set-up of the pt_head: the Materials Project data it downloads, the foundation's E0s
    head = prepare_pt_head(args, KeySpecification(), 10.0)
    assert head["train_file"] == "mp" and head["E0s"] == "foundation"
    with pytest.raises(ValueError, match="unknown mace replay data set 'spice'"):
        MaceRun(
            name="m", train_file="t", seed=0, max_epochs=1, e0s={}, foundation_model="x", replay_dataset="spice"
        ).command()
    with pytest.raises(ValueError, match="needs a foundation model"):
        MaceRun(name="m", train_file="t", seed=0, max_epochs=1, e0s={}, replay_dataset="mp").command()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["datasets"]["tiny"].update(foundation=["analog", "missing"]),
            "config key 'datasets.tiny.foundation[1]': 'missing' is not an entry of 'foundations'",
        ),
        (lambda c: c["foundations"]["mp0"].update(replay="spice"), "config key 'foundations.mp0.replay'"),
        (lambda c: c["foundations"]["mp0"].pop("replay"), "config key 'foundations.mp0.replay': multi-head"),
    ],
)
def test_bad_foundation_lists_and_replay_name_the_key(tiny_source, tmp_path, mutate, message):
    from mftl.planning.config import ConfigError, check_config

    config = copy.deepcopy(_two_foundations(tiny_source, tmp_path))
    mutate(config)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_config(config, REPO / "workflow/schemas/config.schema.yaml")
