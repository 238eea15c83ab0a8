"""How close each low fidelity (and each zero-shot foundation) is to the high fidelity on the test set.

One row per compared source and molecule (``all`` first, then each molecule when the test
configurations carry a molecule key): root-mean-square deviation, mean absolute deviation and
Pearson correlation of relative energies per atom (meV/atom; each side's own least-squares
per-element energies removed, as in ``tables/fidelity_comparison.csv``) and of force components
(meV/A). Written as ``tables/fidelity_statistics.csv`` beside the figure whose legends held only
the RMSDs. Its row of the low fidelity (``molecule`` all) is the cheap method's own error, the level
the learning curves draw (:func:`low_fidelity_level`, named by :func:`mftl.analysis.fidelity_names.method_name`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ase import Atoms

from mftl.evaluation.fidelity_comparison import FORCE, RELATIVE_ENERGY, compared_sources

COLUMNS = [
    "compared",
    "high_fidelity",
    "molecule",
    "n_configs",
    "energy_rmsd_meV_atom",
    "energy_mad_meV_atom",
    "energy_correlation",
    "forces_rmsd_meV_A",
    "forces_mad_meV_A",
    "forces_correlation",
]


def _deviations(rows: pd.DataFrame) -> tuple[float, float, float]:
    """RMSD and MAD (the table's eV units times 1000) and Pearson correlation of low against high."""
    high, low = rows["high"].to_numpy(float), rows["low"].to_numpy(float)
    if len(high) == 0:
        return np.nan, np.nan, np.nan
    diff = 1000.0 * (low - high)
    spread = len(high) > 1 and np.std(high) > 0 and np.std(low) > 0
    correlation = float(np.corrcoef(high, low)[0, 1]) if spread else np.nan
    return float(np.sqrt(np.mean(diff**2))), float(np.mean(np.abs(diff))), correlation


def fidelity_statistics(table: pd.DataFrame, molecules: Mapping[int, str] | None = None) -> pd.DataFrame:
    """The statistics of the module docstring; ``molecules`` maps config_id to molecule (optional)."""
    rows = []
    for compared in compared_sources(table):
        part = table[table["low_fidelity"].astype(str) == compared]
        groups = [("all", part)]
        if molecules:
            names = part["config_id"].map(lambda cid: molecules.get(int(cid), "?"))
            groups += [(str(name), rows_) for name, rows_ in part.groupby(names, sort=True)]
        for molecule, rows_ in groups:
            energy = rows_[rows_["quantity"] == RELATIVE_ENERGY]
            forces = rows_[rows_["quantity"] == FORCE]
            rows.append(
                [
                    compared,
                    part["high_fidelity"].iloc[0],
                    molecule,
                    int(energy["config_id"].nunique()),
                    *_deviations(energy),
                    *_deviations(forces),
                ]
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def low_fidelity_level(statistics: pd.DataFrame, fidelity: str) -> tuple[float, float] | None:
    """(energy_rmsd_meV_atom, forces_rmsd_meV_A) of ``fidelity`` against the high fidelity over every compared
    configuration (the row compared=``fidelity``, molecule=all of :func:`fidelity_statistics`); None without it."""
    row = statistics[(statistics["compared"].astype(str) == fidelity) & (statistics["molecule"].astype(str) == "all")]
    if row.empty:
        return None
    return float(row["energy_rmsd_meV_atom"].iloc[0]), float(row["forces_rmsd_meV_A"].iloc[0])


def molecules_by_id(frames: Sequence[Atoms], key: str) -> dict[int, str] | None:
    """Each configuration's molecule (``info[key]``) by config id; None unless every frame names one."""
    molecules = {int(a.info["config_id"]): str(a.info[key]) for a in frames if key in a.info}
    return molecules if len(molecules) == len(frames) else None
