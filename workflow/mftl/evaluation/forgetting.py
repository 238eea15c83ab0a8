"""What fine-tuning forgot: a model's error on its starting model's own data, before and after.

The starting model (a pre-trained model at its epoch cap, a foundation, a chain's previous stage) and the
fine-tuned model predict the starting data's configurations (``info``/``arrays`` of its fidelity, e.g. the
low fidelity's test labels for mftl) through their ASE calculators; each is compared with the labels as
zero-shot foundations are (:func:`mftl.evaluation.fidelity_comparison.fidelity_comparison_table`): energies per
atom relative to each side's own least-squares atomic reference energies fitted on these configurations (a
fine-tuned model's energies are on another fidelity's reference), forces as they are. The increase from
``before`` to ``after`` is what was forgotten; part of it is the fidelities' own difference, which the
fine-tuning was meant to learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mftl.data.structures import geometry_only, set_labels
from mftl.evaluation.error_statistics import error_statistics
from mftl.evaluation.fidelity_comparison import fidelity_comparison_table, fidelity_errors

PREDICTED = "model"


def predicted_frames(frames: Sequence[Atoms], calculator: Calculator) -> list[Atoms]:
    """Copies of ``frames`` labelled with ``calculator``'s energy and forces under fidelity ``model``."""
    out = []
    for atoms in frames:
        copy = geometry_only(atoms)
        copy.calc = calculator
        energy, forces = copy.get_potential_energy(), copy.get_forces()
        copy.calc = None
        set_labels(copy, PREDICTED, energy, np.asarray(forces, dtype=float))
        out.append(copy)
    return out


def errors_on(frames: Sequence[Atoms], fidelity: str, calculator: Calculator) -> dict:
    """RMSE (meV/atom on relative energies, meV/A) of ``calculator`` against ``frames``' ``fidelity`` labels."""
    found = fidelity_errors(
        fidelity_comparison_table(frames, predicted_frames(frames, calculator), fidelity, PREDICTED)
    )
    stats = error_statistics(found["energy_meV_atom"], found["forces_meV_A"])
    return {key: stats[key] for key in ("energy_rmse_meV_atom", "forces_rmse_meV_A")}


def forgetting(
    frames: Sequence[Atoms],
    fidelity: str,
    start: Calculator,
    finetuned: Calculator,
    data: str | Path,
    start_model: str | Path,
) -> dict:
    """The ``forgetting`` entry of a stability record."""
    return {
        "data": str(data),
        "fidelity": fidelity,
        "n_configs": len(frames),
        "start_model": str(start_model),
        "before": errors_on(frames, fidelity, start),
        "after": errors_on(frames, fidelity, finetuned),
    }
