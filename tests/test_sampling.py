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
    always = SamplingSettings(size=6, temperature_K=300, min_distance=5.0, **SHORT)  # every snapshot too close
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
