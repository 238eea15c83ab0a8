"""Test errors per molecule, when the test configurations carry a ``molecule`` info key.

A campaign over several molecules reports one RMSE per model; a problem confined to one molecule
(e.g. badly referenced test configurations) hides in it. The evaluation records each model's errors
per molecule (``by_molecule``), and ``tables/errors_by_molecule.csv`` holds one row per model and
molecule: RMSE and MAE of energy per atom (meV/atom) and of force components (meV/A), ``n_test``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from ase import Atoms

from mftl.data.structures import labels
from mftl.evaluation.error_statistics import error_statistics

MOLECULE_KEY = "molecule"
#: the columns of a model's row in curves.csv that name it
MODEL_KEYS = ["dataset", "method", "fidelities", "pretrain_size", "epoch_cap", "train_size", "seed"]


def errors_by_molecule(
    reference: Sequence[Atoms], fidelity: str, pred_energy_eV: np.ndarray, pred_forces_eV_A: Sequence[np.ndarray]
) -> dict[str, dict]:
    """Per molecule (``info['molecule']``), the errors :func:`mftl.evaluation.error_statistics.errors` gives over all;
    {} when a configuration lacks the key."""
    if not reference or any(MOLECULE_KEY not in atoms.info for atoms in reference):
        return {}
    by_molecule: dict[str, tuple[list, list]] = {}
    for atoms, energy, forces in zip(reference, pred_energy_eV, pred_forces_eV_A, strict=True):
        ref_energy, ref_forces = labels(atoms, fidelity)
        de, df = by_molecule.setdefault(str(atoms.info[MOLECULE_KEY]), ([], []))
        de.append((energy - ref_energy) / len(atoms) * 1000.0)
        df.append((np.asarray(forces) - ref_forces).ravel() * 1000.0)
    return {name: error_statistics(np.array(de), np.concatenate(df)) for name, (de, df) in sorted(by_molecule.items())}


def molecule_table(records: Iterable[dict]) -> pd.DataFrame:
    """One row per model (evaluation record) and molecule; no rows when no record has ``by_molecule``."""
    rows = [
        {**{key: record.get(key) for key in MODEL_KEYS}, "molecule": name, **stats}
        for record in records
        for name, stats in (record.get("by_molecule") or {}).items()
    ]
    columns = [*MODEL_KEYS, "molecule", *error_statistics(np.zeros(1), np.zeros(1))]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["method", "train_size", "seed", "molecule"], kind="stable").reset_index(drop=True)
