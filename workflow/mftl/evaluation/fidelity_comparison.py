"""Two labellings of the same configurations compared: a low fidelity's labels (or a foundation model's
zero-shot predictions) against the high fidelity's, configuration by configuration, as
``tables/fidelity_comparison.csv`` holds them; :mod:`mftl.analysis.fidelity_statistics` and the figures
summarise that table.

* :func:`fidelity_comparison_table` -- low vs high fidelity labels of the test set (and a
  foundation's zero-shot predictions vs the high fidelity, the same way);
* :func:`fidelity_errors` -- low minus high fidelity, the errors of the low fidelity used as a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

FIDELITY_COLUMNS = ["config_id", "quantity", "atom", "axis", "high", "low", "high_fidelity", "low_fidelity"]


RELATIVE_ENERGY = "relative_energy_eV_atom"


FORCE = "force_eV_A"


def fidelity_comparison_table(high_frames: Sequence, low_frames: Sequence, high: str, low: str) -> pd.DataFrame:
    """Long table of the labels of the configurations present in both fidelities (joined on config_id).

    Rows with ``quantity == "relative_energy_eV_atom"`` hold, per configuration, the energy
    per atom (eV/atom) relative to each fidelity's own least-squares atomic reference
    energies (fitted on the joined configurations, as for training), so totals with
    different references compare and composition differences drop out; ``atom`` and
    ``axis`` are empty.
    Rows with ``quantity == "force_eV_A"`` hold one force component (eV/A) per atom and axis.
    Columns ``high`` and ``low`` are the two fidelities' values.
    """
    from mftl.data.reference_energies import fit_e0s, reference_energy
    from mftl.data.structures import by_config_id, labels

    low_by_id = by_config_id(low_frames)
    joined = [(a, low_by_id[int(a.info["config_id"])]) for a in high_frames if int(a.info["config_id"]) in low_by_id]
    if not joined:
        raise ValueError(f"no configuration carries both {high} and {low} labels (joined on config_id)")
    high_e0s = fit_e0s([h for h, _ in joined], high)
    low_e0s = fit_e0s([lo for _, lo in joined], low)
    ids, energies, forces = [], [], []
    for atoms, low_atoms in joined:
        config_id = int(atoms.info["config_id"])
        high_energy, high_forces = labels(atoms, high)
        low_energy, low_forces = labels(low_atoms, low)
        ids.append(config_id)
        energies.append(
            (
                (high_energy - reference_energy(atoms, high_e0s)) / len(atoms),
                (low_energy - reference_energy(low_atoms, low_e0s)) / len(atoms),
            )
        )
        forces.append(_force_rows(config_id, np.asarray(high_forces), np.asarray(low_forces)))
    relative = np.array(energies)
    energy_rows = pd.DataFrame(
        {
            "config_id": ids,
            "quantity": RELATIVE_ENERGY,
            "atom": pd.NA,
            "axis": pd.NA,
            "high": relative[:, 0],
            "low": relative[:, 1],
        }
    )
    table = pd.concat([energy_rows, *forces], ignore_index=True)
    table["high_fidelity"], table["low_fidelity"] = high, low
    return table[FIDELITY_COLUMNS].astype({"atom": "Int64"})


def compared_fidelities(
    high_frames: Sequence, low_frames: Sequence, fidelities: tuple[str, str], zeroshot: dict[str, Sequence]
) -> pd.DataFrame:
    """:func:`fidelity_comparison_table` of the high fidelity against the low one and against each foundation
    model's predictions (``zeroshot``: name -> predicted frames; their rows' ``low_fidelity`` is
    :func:`zeroshot_name`), one table."""
    high, low = fidelities
    tables = [fidelity_comparison_table(high_frames, low_frames, high, low)]
    for name, frames in zeroshot.items():
        tables.append(
            fidelity_comparison_table(high_frames, frames, high, name).assign(low_fidelity=zeroshot_name(name))
        )
    return pd.concat(tables, ignore_index=True)


def _force_rows(config_id: int, high: np.ndarray, low: np.ndarray) -> pd.DataFrame:
    n_atoms = len(high)
    return pd.DataFrame(
        {
            "config_id": config_id,
            "quantity": FORCE,
            "atom": np.repeat(np.arange(n_atoms), 3),
            "axis": np.tile(list("xyz"), n_atoms),
            "high": high.reshape(-1),
            "low": low.reshape(-1),
        }
    )


def fidelity_errors(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Low minus high fidelity: relative energies (meV/atom) and force components (meV/A)."""

    def difference(quantity: str) -> np.ndarray:
        rows = table[table["quantity"] == quantity]
        return 1000.0 * (rows["low"].to_numpy(float) - rows["high"].to_numpy(float))

    return {"energy_meV_atom": difference(RELATIVE_ENERGY), "forces_meV_A": difference(FORCE)}


def zeroshot_name(foundation: str) -> str:
    """The ``low_fidelity`` value of a foundation's zero-shot rows in the fidelity table."""
    return f"{foundation} zero-shot"


def compared_sources(table: pd.DataFrame) -> list[str]:
    """What the table compares with the high fidelity, in table order: the low fidelity, then each
    foundation's zero-shot predictions."""
    return list(dict.fromkeys(table["low_fidelity"].astype(str)))
