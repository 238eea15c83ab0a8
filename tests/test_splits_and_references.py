"""Splits are disjoint and seeded; E0 referencing removes a fidelity's atomic energies."""

import numpy as np
import pytest
from ase import Atoms

from mftl.data.reference_energies import fit_e0s, reference_energy
from mftl.data.splits import SplitError, make_split, subset
from mftl.data.structures import set_labels
from mftl.training.e0_scale import training_frames
from mftl.training.mace_commands import ENERGY_KEY


def test_split_is_disjoint_seeded_and_pretraining_avoids_held_out_sets():
    hf = list(range(0, 300, 2))
    everything = list(range(300))
    a = make_split(hf, everything, 40, 10, 60, 200, seed=3)
    b = make_split(hf, everything, 40, 10, 60, 200, seed=3)
    assert a == b
    assert make_split(hf, everything, 40, 10, 60, 200, seed=4) != a
    assert len(set(a.test) | set(a.validation) | set(a.train_pool)) == 110
    assert not set(a.pretrain_pool) & (set(a.test) | set(a.validation))
    assert set(a.test) | set(a.validation) | set(a.train_pool) <= set(hf)


def test_split_refuses_sizes_the_data_cannot_give():
    with pytest.raises(SplitError, match="exceeds the 10 configurations"):
        make_split(list(range(10)), list(range(20)), 5, 3, 5, 5, seed=0)
    with pytest.raises(SplitError, match="pretrain_pool"):
        make_split(list(range(10)), list(range(20)), 2, 2, 2, 17, seed=0)


def test_training_subsets_are_nested_and_bounded():
    pool = list(range(100, 200))
    small, large = subset(pool, 10, seed=1), subset(pool, 50, seed=1)
    assert small == large[:10]
    assert subset(pool, 10, seed=2) != small
    with pytest.raises(SplitError, match="larger than"):
        subset(pool, 101, seed=1)


def _synthetic(e0s, n, seed):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        numbers = rng.choice(list(e0s), size=rng.integers(3, 12))
        atoms = Atoms(numbers=numbers, positions=rng.normal(size=(len(numbers), 3)) * 3)
        energy = sum(e0s[int(z)] for z in numbers) + rng.normal(scale=0.01)
        set_labels(atoms, "low", energy, rng.normal(size=(len(numbers), 3)))
        atoms.info["config_id"] = i
        frames.append(atoms)
    return frames


def test_e0_fit_recovers_atomic_energies_and_references_training_data():
    true = {1: -13.6, 6: -1030.0, 7: -1485.0, 8: -2040.0}
    frames = _synthetic(true, 60, seed=0)
    e0s = fit_e0s(frames, "low")
    for z in true:
        assert e0s[z] == pytest.approx(true[z], abs=0.05)
    referenced = training_frames(frames, "low", e0s)
    residuals = np.array([a.info[ENERGY_KEY] for a in referenced])
    assert np.abs(residuals).max() < 0.1  # eV, tens of eV per atom removed
    for atoms, ref in zip(frames, referenced, strict=True):
        assert ref.info[ENERGY_KEY] + reference_energy(atoms, e0s) == pytest.approx(atoms.info["low_energy"])


def test_reference_energy_names_a_missing_element():
    with pytest.raises(ValueError, match="Z=\\[9\\]"):
        reference_energy(Atoms("HF"), {1: -13.6})


def test_comparison_sample_is_a_seeded_draw_from_the_parts_labelled_with_both_fidelities(tmp_path):
    """The real ``mftl comparison-sample`` on demo geometries with PBE0 labels: parts given as files (one id
    in two parts, one low label missing), the sample drawn from the ids carrying both labels."""
    import subprocess

    from conftest import BIN, REPO, env_with_venv
    from mftl.data.structures import by_config_id, labels, read_structures, write_structures

    frames = [a for a in read_structures(REPO / "resources/demo/demo.extxyz") if "pbe0_energy" in a.info][:40]
    low = []
    for atoms in frames[1:]:  # configuration frames[0] failed in the low fidelity
        copy = atoms.copy()
        energy, forces = labels(atoms, "pbe0")
        set_labels(copy, "low", energy + 1.0, forces)
        low.append(copy)
    parts = {"high": (frames[:25], frames[20:]), "low": (low[:15], low[15:])}  # ids 20-24 in two high parts
    files = {role: [] for role in parts}
    for role, chunks in parts.items():
        for i, chunk in enumerate(chunks):
            files[role].append(tmp_path / f"{role}{i}.extxyz")
            write_structures(files[role][-1], chunk)

    def draw(size, seed):
        out = tmp_path / f"s{size}_{seed}"
        result = subprocess.run(
            [str(BIN / "python"), "-m", "mftl", "comparison-sample", "--high", *map(str, files["high"])]
            + ["--low", *map(str, files["low"]), "--size", str(size), "--seed", str(seed)]
            + ["--out-high", f"{out}.high.extxyz", "--out-low", f"{out}.low.extxyz"],
            env=env_with_venv(),
            capture_output=True,
            text=True,
        )
        if result.returncode:
            return result.stderr
        return [read_structures(f"{out}.{role}.extxyz") for role in ("high", "low")]

    high, low_drawn = draw(30, 0)
    ids = [int(a.info["config_id"]) for a in high]
    assert ids == [int(a.info["config_id"]) for a in low_drawn] and len(set(ids)) == 30
    both = {int(a.info["config_id"]) for a in frames[1:]}
    assert set(ids) <= both and int(frames[0].info["config_id"]) not in ids
    assert ids == sorted(subset(sorted(both), 30, 0))  # mftl.data.splits.subset: the seeded draw of every split
    source = by_config_id(frames)
    for h, lo in zip(high, low_drawn, strict=True):
        energy = labels(source[int(h.info["config_id"])], "pbe0")[0]
        assert labels(h, "pbe0")[0] == energy and labels(lo, "low")[0] == pytest.approx(energy + 1.0)
    assert [int(a.info["config_id"]) for a in draw(30, 1)[0]] != ids
    assert "size 40 is larger than the configurations of the split labelled with both fidelities (39" in draw(40, 0)
