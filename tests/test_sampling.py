"""The pre-training pool sampled by the low fidelity (issue 32): Langevin MD with the low fidelity's calculator
from the training pool, junk dropped and counted, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO
from mftl.data.labellers import make_calculator
from mftl.data.sampling import SAMPLED_ID_OFFSET, SamplingError, SamplingSettings, check_id_space, sample_chunk

GFN1 = {"method": "GFN1-xTB"}


def gfn1():
    return make_calculator("tblite", GFN1)


@pytest.fixture(scope="module")
def starts():
    """Two configurations each of CH3OH and H3CNH2 from the demo, with config ids 0-3."""
    import ase.io

    frames = ase.io.read(REPO / "resources" / "demo" / "demo.extxyz", ":")
    out = [a for name in ("CH3OH", "H3CNH2") for a in [f for f in frames if f.info["molecule"] == name][:2]]
    for i, atoms in enumerate(out):
        atoms.info["config_id"] = i
    return out


SHORT = {"equilibration_steps": 10, "interval_steps": 5, "snapshots_per_trajectory": 3, "chunk_trajectories": 2}


def test_sampled_frames_carry_the_labels_a_direct_tblite_call_gives(starts):
    from tblite.ase import TBLite

    settings = SamplingSettings(size=6, temperature_K=500, **SHORT)
    frames, report = sample_chunk(starts, "gfn1", settings, 0, gfn1)
    assert len(frames) == 6 and report.n_snapshots == 6 and report.failed_trajectories == 0
    assert [a.info["config_id"] for a in frames] == [SAMPLED_ID_OFFSET + k for k in range(6)]
    for atoms in frames:
        direct = atoms.copy()
        direct.calc = TBLite(method="GFN1-xTB", verbosity=0)
        assert np.isfinite(atoms.info["gfn1_energy"]) and np.all(np.isfinite(atoms.arrays["gfn1_forces"]))
        assert atoms.info["gfn1_energy"] == pytest.approx(direct.get_potential_energy(), abs=1e-6)
        # the MD's SCF starts from the previous step's density: converged to tblite's tolerance, not bit for bit
        np.testing.assert_allclose(atoms.arrays["gfn1_forces"], direct.get_forces(), atol=2e-3)
        assert atoms.info["temperature_K"] == 500 and atoms.info["md_step"] >= 15
        assert atoms.info["sampled_from"] in {0, 1, 2, 3}
    # per-composition balance: the two trajectories start from the two molecules
    assert {starts[a.info["sampled_from"]].get_chemical_formula() for a in frames} == {"CH4O", "CH5N"}
    # the moved atoms differ from the start
    assert not np.allclose(frames[0].positions, starts[frames[0].info["sampled_from"]].positions, atol=1e-3)


def test_dissociating_trajectories_are_dropped_counted_and_a_failing_sampler_raises(starts):
    hot = SamplingSettings(size=6, temperature_K=10000, max_failure_fraction=4, **SHORT)
    frames, report = sample_chunk(starts, "gfn1", hot, 0, gfn1)
    assert report.failed_trajectories > 0 and sum(report.dropped.values()) == report.failed_trajectories
    assert report.dropped["bonding_changed"] > 0 and len(frames) == 6
    assert report.trajectories == 2 + report.failed_trajectories
    from mftl.data.sampling import bonds

    for atoms in frames:  # every kept snapshot keeps its start's bonds
        assert bonds(atoms, hot.bond_factor) == bonds(starts[atoms.info["sampled_from"]], hot.bond_factor)
    with pytest.raises(SamplingError, match=r"bonding_changed.*max_failure_fraction = 0.5"):
        sample_chunk(starts, "gfn1", SamplingSettings(size=6, temperature_K=20000, **SHORT), 0, gfn1)
    always = SamplingSettings(size=6, temperature_K=300, min_distance_A=5.0, **SHORT)  # every snapshot too close
    with pytest.raises(SamplingError, match=r"close_contact.*max_failure_fraction"):
        sample_chunk(starts, "gfn1", always, 0, gfn1)


def test_same_seed_same_frames_other_seed_other_frames(starts):
    settings = SamplingSettings(size=3, temperature_K=500, **SHORT)
    one, _ = sample_chunk(starts, "gfn1", settings, 0, gfn1)
    two, _ = sample_chunk(starts, "gfn1", settings, 0, gfn1)
    other, _ = sample_chunk(starts, "gfn1", SamplingSettings(size=3, temperature_K=500, seed=1, **SHORT), 0, gfn1)
    # same seed, same trajectory: to rounding (tblite's linear algebra is not bit-reproducible across the
    # threads a process started, ~1e-15 eV in a pytest session), far below a thermal displacement
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-8)
        assert a.info["gfn1_energy"] == pytest.approx(b.info["gfn1_energy"], abs=1e-8)
        assert (a.info["sampled_from"], a.info["md_step"], a.info["sample_seed"]) == (
            b.info["sampled_from"],
            b.info["md_step"],
            b.info["sample_seed"],
        )
    assert not np.allclose(one[0].positions, other[0].positions)


def test_source_ids_in_the_sampled_id_space_are_refused():
    check_id_space([0, SAMPLED_ID_OFFSET - 1])
    with pytest.raises(SamplingError, match=str(SAMPLED_ID_OFFSET)):
        check_id_space([3, SAMPLED_ID_OFFSET + 7])


def user_file(path):
    """40 configurations with PBE0 labels under pbe0_energy/pbe0_forces: 20 CH3OH and 20 H3CNH2 of the demo."""
    import ase.io

    from mftl.data.structures import write_structures

    frames = ase.io.read(REPO / "resources" / "demo" / "demo.extxyz", ":")
    picked = [
        a
        for name in ("CH3OH", "H3CNH2")
        for a in [f for f in frames if f.info["molecule"] == name and "pbe0_energy" in f.info][:20]
    ]
    assert len(picked) == 40
    write_structures(path, picked)
    return path


def sampling_config(source) -> dict:
    from conftest import PLACEHOLDER_E0S, TINY_MODEL

    return {
        "device": "cpu",
        "datasets": {
            "mine": {
                "source": str(source),
                "fidelities": {
                    "pbe0": {
                        "energy_key": "pbe0_energy",
                        "forces_key": "pbe0_forces",
                        "e0s": PLACEHOLDER_E0S,
                        "cost": {"per_config_s": 60, "source": "an estimate"},
                    },
                    "gfn1": {"labeller": "tblite", "options": GFN1},
                },
                "high_fidelity": "pbe0",
                "low_fidelity": "gfn1",
                "split": {"seed": 0, "test": 10, "validation": 5, "pretrain_pool": 0},
                # a tiny MD: two jobs of five trajectories, ten snapshots each
                "pretrain_sampling": {
                    "size": 100,
                    "temperature_K": 500,
                    "equilibration_steps": 5,
                    "interval_steps": 5,
                    "chunk_trajectories": 5,
                },
                "train_sizes": [10],
                "pretrain_sizes": [100],
                "epoch_caps": [2],
                "seeds": [0],
                "methods": ["scratch", "mftl"],
            }
        },
        "labelling": {"chunk_size": 50, "max_failure_fraction": 0.0},
        "model": {**TINY_MODEL, "default_dtype": "float32"},
        "training": {
            "pretrain": {"batch_size": 10},
            "finetune": {"max_epochs": 2, "batch_size": 5},
            "scratch": {"max_epochs": 2, "batch_size": 5},
        },
    }


@pytest.mark.slow
def test_a_user_file_with_no_drawn_pool_pretrains_on_sampled_configurations_never_from_test_or_validation(tmp_path):
    """The issue's must-show: 40 PBE0 configurations, split.pretrain_pool 0, pretrain_sampling of 100 at 500 K:
    the plan has sampling jobs, mftl pre-trains on the 100 sampled configurations, none of which is (or started
    from) a test or validation configuration; their cost is costs.csv's sampling_s."""
    import json

    import pandas as pd
    import yaml

    from conftest import job_counts, run_snakemake
    from mftl.data.structures import read_structures

    (tmp_path / "my.yaml").write_text(yaml.safe_dump(sampling_config(user_file(tmp_path / "my.extxyz"))))
    plan = run_snakemake(["-n", "--configfile", "my.yaml"], tmp_path)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout)["sample"] == 2 and "chunks/gfn1/pretrain_pool" not in plan.stdout
    run = run_snakemake(["--configfile", "my.yaml", "--cores", "2"], tmp_path)
    assert run.returncode == 0, run.stderr[-5000:]
    results = tmp_path / "results" / "mine"
    curves = pd.read_csv(results / "curves.csv")
    assert set(curves.loc[curves["method"] == "mftl", "pretrain_size"]) == {100}
    pool = read_structures(results / "labels" / "pretrain_pool.gfn1.extxyz")
    assert len(pool) == 100 and all("sampled_from" in a.info for a in pool)
    split = json.loads((results / "splits" / "split.json").read_text())
    held_out = [a for part in ("test", "validation") for a in read_structures(results / "splits" / f"{part}.extxyz")]
    assert {int(a.info["config_id"]) for a in held_out} == set(split["test"]) | set(split["validation"])
    assert {a.info["sampled_from"] for a in pool} <= set(split["train_pool"])
    for atoms in pool:
        assert not any(
            len(h) == len(atoms) and np.allclose(h.positions, atoms.positions, atol=1e-6) for h in held_out
        ), atoms.info["config_id"]
    report = json.loads((results / "labels" / "pretrain_pool.gfn1.report.json").read_text())
    assert report["sampling"]["n_snapshots"] == 100 and set(report["sampling"]["dropped"]) >= {"bonding_changed"}
    costs = pd.read_csv(results / "costs.csv")
    mftl = costs[costs["method"] == "mftl"]
    assert (mftl["sampling_s"] > 0).all() and (costs.loc[costs["method"] == "scratch", "sampling_s"] == 0).all()


def test_the_sampled_size_counts_in_the_pre_training_pool_and_sampling_needs_a_low_fidelity_labeller():
    import copy
    from pathlib import Path

    from conftest import tiny_config
    from mftl.planning.config import SCHEMA, ConfigError, check_config

    config = tiny_config(Path("x.extxyz"))  # split.pretrain_pool 40
    config["datasets"]["tiny"].update(pretrain_sizes=[40, 140], pretrain_sampling={"size": 100, "temperature_K": 500})
    checked = check_config(copy.deepcopy(config), SCHEMA)
    assert checked["datasets"]["tiny"]["pretrain_sampling"]["interval_steps"] == 10  # the schema's defaults
    config["datasets"]["tiny"]["pretrain_sizes"] = [141]
    with pytest.raises(ConfigError, match=r"\[141\] larger than .*\(40\) \+ pretrain_sampling.size \(100\)"):
        check_config(copy.deepcopy(config), SCHEMA)
    config["datasets"]["tiny"].update(pretrain_sizes=[40], low_fidelity="ref", high_fidelity="gfn1")
    with pytest.raises(ConfigError, match=r"'datasets.tiny.pretrain_sampling': the low fidelity 'ref' has no labeller"):
        check_config(copy.deepcopy(config), SCHEMA)


def test_mftl_init_offers_sampling_twenty_times_the_largest_training_size_with_its_md_time(tmp_path):
    """The starter's commented pretrain_sampling, uncommented with its pretrain_sizes, is a valid campaign; the
    time it names is the MD's estimate (2.4 ms a GFN1 step of these 6-7 atom molecules, measured)."""
    import yaml

    from mftl.planning.config import SCHEMA, check_config
    from mftl.planning.runtime_estimate import sampling_seconds
    from mftl.planning.starter_config import build_starter, render

    starter = build_starter(user_file(tmp_path / "my.extxyz"), preset="quick")
    text = render(starter, "mftl init my.extxyz")
    [line] = [s for s in text.splitlines() if s.startswith("    # pretrain_sampling: ")]
    config = yaml.safe_load(text)
    ds = config["datasets"]["my"]
    ds["pretrain_sampling"] = yaml.safe_load(line.removeprefix("    # pretrain_sampling: "))
    assert ds["pretrain_sampling"]["size"] == 20 * max(ds["train_sizes"])
    ds["pretrain_sizes"] = [ds["pretrain_sampling"]["size"]]
    checked = check_config(config, SCHEMA)["datasets"]["my"]
    seconds = sampling_seconds(checked["pretrain_sampling"], starter.atoms_per_config)
    assert f"configurations take about {seconds:.0f} CPU s of MD" in text
