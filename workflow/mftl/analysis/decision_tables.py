"""A dataset's decision tables from its curves and costs: the learning-curve fits with their footing
(``tables/learning_curve_fits.csv``), data efficiency and cost to target; ``mftl decision-tables`` writes them
and :mod:`mftl.analysis.advice` reads them back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mftl.analysis.cost_to_target import cost_to_target_table
from mftl.analysis.data_efficiency import DEFAULT_BOUND, data_efficiency_table, missing_scratch
from mftl.analysis.footing import with_footing
from mftl.analysis.learning_curve_fits import fits_table, route_fits


def decision_tables(
    curves: pd.DataFrame, costs: pd.DataFrame, statistics: pd.DataFrame | None, spec: dict, results: Path
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The tables ``fits``, ``efficiency`` and ``cost_to_target`` of one dataset (its config ``spec``;
    ``statistics``: its fidelity statistics, or None; ``results``: the root of its run folders), and per
    dataset why it has no data efficiency (no scratch route)."""
    fits = route_fits(curves)
    bound = float(spec.get("targets", {}).get("max_extrapolation", DEFAULT_BOUND))
    tables = {
        "fits": with_footing(fits_table(curves), fits, curves, spec, costs, statistics, results),
        "efficiency": data_efficiency_table(curves, fits, bound),
        "cost_to_target": cost_to_target_table(curves, costs, spec, fits),
    }
    return tables, missing_scratch(fits)


#: what a dataset's decision tables are made from, relative to its folder (rule decision_tables)
TABLE_INPUTS = ("curves.csv", "costs.csv", "tables/fidelity_statistics.csv")


def newer_inputs(folder: Path, tables: list[Path]) -> list[str]:
    """The inputs of ``folder``'s decision ``tables`` (:data:`TABLE_INPUTS`, those it has) written after the
    oldest table: tables made from older curves or costs, whose advice is stale."""
    oldest = min(path.stat().st_mtime_ns for path in tables)
    return [name for name in TABLE_INPUTS if (folder / name).is_file() and (folder / name).stat().st_mtime_ns > oldest]


def dataset_folders(folder: Path) -> list[str]:
    """The dataset folders directly under ``folder`` (those with a ``curves.csv``): ``results/``'s datasets."""
    return sorted(path.parent.name for path in Path(folder).glob("*/curves.csv"))
