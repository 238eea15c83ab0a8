"""The ``fidelity_comparison`` figure: low fidelity (and zero-shot foundations) vs the high fidelity on the test set
(paper figs. 2 and 5), from ``tables/fidelity_comparison.csv``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mftl.analysis.tables import rmse
from mftl.evaluation.fidelity_comparison import RELATIVE_ENERGY, fidelity_errors
from mftl.report.figure_parts import FigureSkipped
from mftl.report.matplotlib_agg import plt


def fidelity_comparison(table: pd.DataFrame, title: str = "", n_outliers: int = 3) -> plt.Figure:
    """Low fidelity (and each zero-shot foundation) vs the high fidelity on the test set, one row of
    panels per compared source: parity of relative energies per atom (eV/atom; each side's own
    least-squares atomic energies removed), the ``n_outliers`` worst configurations marked with their
    config ids, and a histogram of force-component errors (meV/A); RMSEs (meV/atom, meV/A) in the
    legends. ``table`` as written by ``mftl fidelity-comparison-table``."""
    from mftl.analysis.tables import fidelity_outliers
    from mftl.evaluation.fidelity_comparison import compared_sources

    if table.empty:
        raise FigureSkipped("the fidelity table is empty")
    high = str(table["high_fidelity"].iloc[0])
    sources = compared_sources(table)
    outliers = fidelity_outliers(table, n=n_outliers)
    fig, axes = plt.subplots(len(sources), 2, figsize=(9, 4 * len(sources)), constrained_layout=True, squeeze=False)
    for (parity, histogram), low in zip(axes, sources):
        rows = table[table["low_fidelity"].astype(str) == low]
        errors = fidelity_errors(rows)
        energies = rows[rows["quantity"] == RELATIVE_ENERGY]
        parity.scatter(
            energies["high"],
            energies["low"],
            s=8,
            alpha=0.6,
            label=f"{len(energies)} test configurations\nRMSE {rmse(errors['energy_meV_atom']):.1f} meV/atom",
        )
        limits = [
            min(energies["high"].min(), energies["low"].min()),
            max(energies["high"].max(), energies["low"].max()),
        ]
        parity.plot(limits, limits, color="black", linewidth=0.8, label="parity")
        worst = outliers[(outliers["compared"] == low) & outliers["energy_rank"].notna()]
        marked = energies.set_index("config_id").loc[worst["config_id"]]
        parity.scatter(
            marked["high"],
            marked["low"],
            s=30,
            facecolors="none",
            edgecolors="red",
            label=f"worst {len(marked)} (config id)",
        )
        for k, (config_id, point) in enumerate(marked.iterrows()):  # staggered, so close points' ids stay apart
            parity.annotate(
                str(config_id),
                (point["high"], point["low"]),
                fontsize="x-small",
                color="red",
                xytext=(12, 12 - 11 * k),
                textcoords="offset points",
                arrowprops={"arrowstyle": "-", "color": "red", "linewidth": 0.5},
            )
        parity.set_xlabel(f"{high} relative energy (eV/atom)")
        parity.set_ylabel(f"{low} relative energy (eV/atom)")
        parity.set_aspect("equal", adjustable="datalim")
        parity.legend(fontsize="small")

        force_errors = errors["forces_meV_A"]
        shown, note = clipped_range(force_errors)
        histogram.hist(
            force_errors,
            bins=min(60, max(10, len(force_errors) // 20)),
            range=shown,
            alpha=0.8,
            label=f"{low} $-$ {high}\nRMSE {rmse(force_errors):.0f} meV/$\\AA$" + (f"\n{note}" if note else ""),
        )
        histogram.set_xlabel(f"force component error, {low} $-$ {high} (meV/$\\AA$)")
        histogram.set_ylabel("force components")
        histogram.legend(fontsize="small")
    fig.suptitle(title or " / ".join(f"{low} vs {high}" for low in sources))
    return fig


#: the force-error histogram shows this central quantile range when the tails stretch the axis
CLIP_QUANTILES = (0.005, 0.995)


def clipped_range(errors: np.ndarray) -> tuple[tuple[float, float] | None, str]:
    """The histogram's x range and a note: the 0.5-99.5% quantile range when the full range is more than
    three times wider (a narrow peak with far tails), else None (all of it) and no note."""
    errors = np.asarray(errors, dtype=float)
    if errors.size == 0:
        return None, ""
    low, high = np.quantile(errors, CLIP_QUANTILES)
    if high <= low or errors.max() - errors.min() <= 3 * (high - low):
        return None, ""
    outside = int(np.sum((errors < low) | (errors > high)))
    note = f"x clipped to the 0.5-99.5% quantiles: {outside} of {errors.size} components outside"
    return (float(low), float(high)), note
