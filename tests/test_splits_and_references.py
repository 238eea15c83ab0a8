"""Splits are disjoint and seeded; E0 referencing removes a fidelity's atomic energies."""

import numpy as np
import pytest
from ase import Atoms

from mftl.references import fit_e0s, reference_energy
from mftl.splits import SplitError, make_split, subset
from mftl.structures import set_labels
from mftl.training import ENERGY_KEY, training_frames


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
