"""Error statistics of predictions against labels, and choosing a model by its validation errors.

RMSE and MAE of energy per atom (meV/atom) and force components (meV/A), computed from a
model's predictions (never from training logs; see :mod:`mftl.evaluation.jobs`), and the
validation score that picks one candidate model among several (validation decides, test
only reports).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from mftl.data.structures import labels


def errors(
    reference: Sequence[Atoms],
    fidelity: str,
    pred_energy_eV: np.ndarray,
    pred_forces_eV_A: Sequence[np.ndarray],
) -> dict[str, float]:
    """RMSE and MAE of energy per atom (meV/atom) and force components (meV/A)."""
    if len(reference) != len(pred_energy_eV):
        raise ValueError(f"{len(reference)} reference configurations but {len(pred_energy_eV)} predictions")
    ref = [labels(atoms, fidelity) for atoms in reference]
    natoms = np.array([len(a) for a in reference])
    de = (np.asarray(pred_energy_eV) - np.array([e for e, _ in ref])) / natoms * 1000.0
    df = np.concatenate([(p - f).ravel() for p, (_, f) in zip(pred_forces_eV_A, ref)]) * 1000.0
    return error_statistics(de, df)


def in_span_errors(
    reference: Sequence[Atoms],
    fidelity: str,
    pred_energy_eV: np.ndarray,
    pred_forces_eV_A: Sequence[np.ndarray],
    outside: Sequence[int] | None,
) -> dict:
    """The energy RMSE and MAE (meV/atom) without the configurations ``outside`` (indices) the span of the training
    compositions, and how many are left (``n_test_in_span``): beside the errors of all, what the model learnt where
    its reference energies are fitted, not the prior's guess (one lone atom can dominate the RMSE of all). Inside
    the span these energies are determined with or without a prior. {} for ``outside`` None (no span recorded);
    the errors are None when no configuration is inside."""
    if outside is None:
        return {}
    inside = sorted(set(range(len(reference))) - {int(i) for i in outside})
    found = dict.fromkeys(IN_SPAN_METRICS)
    if inside:
        energies, forces = np.asarray(pred_energy_eV)[inside], [pred_forces_eV_A[i] for i in inside]
        kept = errors([reference[i] for i in inside], fidelity, energies, forces)
        found = {f"energy_{stat}_in_span_meV_atom": kept[f"energy_{stat}_meV_atom"] for stat in ("rmse", "mae")}
    return {**found, "n_test_in_span": len(inside)}


#: the energy errors of the test configurations inside the span of the training compositions
IN_SPAN_METRICS = ("energy_rmse_in_span_meV_atom", "energy_mae_in_span_meV_atom")


def error_statistics(energy_meV_atom: np.ndarray, forces_meV_A: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of per-configuration energy errors (meV/atom) and force-component errors (meV/A)."""
    energy, forces = np.asarray(energy_meV_atom, dtype=float), np.asarray(forces_meV_A, dtype=float)
    return {
        "energy_rmse_meV_atom": float(np.sqrt(np.mean(energy**2))),
        "energy_mae_meV_atom": float(np.mean(np.abs(energy))),
        "forces_rmse_meV_A": float(np.sqrt(np.mean(forces**2))),
        "forces_mae_meV_A": float(np.mean(np.abs(forces))),
        "n_test": int(len(energy)),
    }


def validation_scores(energy_rmse_meV_atom: Sequence[float], forces_rmse_meV_A: Sequence[float]) -> np.ndarray:
    """One score per candidate model from its validation RMSEs: energy RMSE (meV/atom) and force RMSE
    (meV/A), each divided by its smallest value among the candidates, summed, so that neither unit
    dominates (lower is better; the best candidate scores 2 when it is best in both). When any
    candidate's energy RMSE is undetermined (None or NaN: reference energies the training data cannot
    fix), the force RMSE alone decides, for every candidate alike."""
    energy = np.array([np.nan if e is None else e for e in energy_rmse_meV_atom], dtype=float)
    forces = np.asarray(forces_rmse_meV_A, dtype=float)
    scores = forces / np.nanmin(forces)
    if np.isfinite(energy).all():
        scores = scores + energy / np.min(energy)
    return scores


def select_by_validation(valid: Sequence[dict], test: Sequence[dict]) -> dict:
    """The test result of the model with the lowest validation error (never the test error).

    ``valid[i]`` and ``test[i]`` are results of the same model. The score is the
    sum of validation energy and force RMSEs, each divided by its smallest value
    among the candidates, so that neither unit dominates; the force RMSE alone when a
    candidate's validation energies are undetermined (``None``).
    """
    if not valid or len(valid) != len(test):
        raise ValueError("need one validation and one test result per candidate model")
    scores = validation_scores(
        [r.get("energy_rmse_meV_atom") for r in valid], [r["forces_rmse_meV_A"] for r in valid]
    ).tolist()
    best = int(np.argmin(scores))
    chosen = dict(test[best])
    chosen["selected_from_caps"] = [r.get("epoch_cap") for r in valid]
    chosen["validation_scores"] = scores
    return chosen
