"""Cost to a target error: the training size each route needs to reach it, and what that size costs.

Targets (per dataset, config ``targets``): energy RMSE in meV/atom (``energy_meV_atom``) and/or force
RMSE in meV/A (``forces_meV_A``), a number or a list. A metric without a configured target gets the
default: scratch's mean error over seeds at its largest training size, i.e. what it takes each route
to match the best model trained without transfer.

Size. :func:`mftl.analysis.learning_curve_fits.read_size`: inside the route's measured errors, off its measured means
(log-log between the two sizes that bracket the target; ``interpolated``); beyond them off its power-law
fit (:mod:`mftl.analysis.learning_curve_fits`), ``n = (a / target) ** (1 / b)``, only where the fit describes the
route (passes through its own points, see ``describes``; otherwise no size: "the fit does not describe
this route"): ``extrapolated`` above the measured sizes, ``extrapolated below`` under them, ``beyond
bound`` when the fit needs more than ``targets.max_extrapolation`` (default 10) times the largest measured
size (no size, no cost) or never falls to the target. Sizes are rounded up to whole configurations. A
route that meets the target at its smallest measured size, where the fit would put the size below
1/max_extrapolation of it (or does not describe the route), meets it there: that size is the size (an
upper bound). The interval comes from the bootstrap draws (each draw's means and fit; at least three
seeds, three sizes). A route measured at one size only (no fit) reaches the target there if its mean error
meets it: that size is an upper bound of the size needed. A zero-shot foundation (no training set)
reaches a force target at size 0 or not at all; its energies are not compared with a target (they are
relative to per-element energies fitted on the test set).

Cost (seconds of the jobs' resources, from ``costs.csv``, whose rows charge each point in full):

* scaled to the size n: high-fidelity labels (per configuration: ``hf_labels_s / (train_size +
  validation)``, mean over the route's rows, times ``n + validation``); training (the same: seconds per
  trained-and-validated configuration, times ``n + validation``: an epoch's time grows with the
  configurations it passes, the epochs taken are those of the measured runs); Delta-learning's
  low-fidelity labels (per configuration of training, validation and test, times ``n + validation +
  test``);
* shared, counted once: low-fidelity labels of the pre-training pool, the pre-training run, a foundation
  trained by the campaign, earlier chain stages (the value of one seed's rows, mean over seeds);
* per model: evaluation on the test set (mean over the route's rows).

A component that is NaN in any of the route's rows (unknown: high-fidelity labels without a ``cost``, a
downloaded foundation) stays NaN: ``total_s`` is NaN, ``known_total_s`` is the known part (a lower
bound) and ``unknown`` names the components.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from mftl.analysis.costs import COMPONENTS
from mftl.analysis.data_efficiency import DEFAULT_BOUND, SCRATCH
from mftl.analysis.fidelity_names import dataset_fidelity_name
from mftl.analysis.learning_curve_fits import (
    BELOW,
    EXTRAPOLATED,
    INTERPOLATED,
    ROUTE_COLUMNS,
    RouteFit,
    read_size,
    route_fits,
)
from mftl.analysis.tables import with_series_keys
from mftl.methods import ZEROSHOT

#: config key under ``targets`` -> curves.csv metric
TARGET_KEYS = {"energy_meV_atom": "energy_rmse_meV_atom", "forces_meV_A": "forces_rmse_meV_A"}
SCALED = ("hf_labels_s", "training_s")
SHARED = ("lf_labels_s", "sampling_s", "pretrain_s", "foundation_s", "chain_stages_s")
DELTA = "delta"
ZEROSHOT_ENERGY = "not compared: zero-shot energies are relative to per-element energies fitted on the test set"
COLUMNS = [
    *ROUTE_COLUMNS,
    "target",
    "target_source",
    "size",
    "size_low",
    "size_high",
    "size_status",
    "extrapolated",
    "n_min",
    "n_max",
    *COMPONENTS,
    "total_s",
    "total_low_s",
    "total_high_s",
    "known_total_s",
    "unknown",
    "interval",
    "labels_to_buy",
]


def targets(spec: Mapping, fits: list[RouteFit]) -> list[tuple[str, float, str]]:
    """(metric, target, where it comes from) of one dataset: the config's ``targets``, else scratch's mean
    error at its largest size; a metric with neither (no scratch curve) has no target."""
    given = spec.get("targets", {})
    out = []
    for key, metric in TARGET_KEYS.items():
        if key in given:
            values = given[key] if isinstance(given[key], list) else [given[key]]
            out += [(metric, float(v), f"config targets.{key}") for v in values]
            continue
        scratch = [f for f in fits if f.key["method"] == SCRATCH and f.metric == metric and len(f.sizes)]
        if scratch:
            n = scratch[0].sizes.max()
            out.append((metric, float(scratch[0].means[-1]), f"scratch at its largest size, n={int(n)}"))
    return out


def _per_config(rows: pd.DataFrame, column: str, extra: int) -> float:
    """Mean over rows of ``column`` per configuration (``train_size + extra``); NaN if any row is NaN."""
    values = rows[column] / (rows["train_size"] + extra)
    return float(values.mean()) if values.notna().all() else math.nan


def _once(rows: pd.DataFrame, column: str) -> float:
    """A shared cost counted once per model: one row's value per seed (every row of a seed charges the same
    run), mean over seeds; NaN if any row is NaN."""
    if rows[column].isna().any():
        return math.nan
    return float(rows.groupby("seed")[column].first().mean())


def route_cost_model(rows: pd.DataFrame, method: str, validation: int, test: int) -> dict:
    """(seconds per configuration of the scaled components, seconds of the fixed ones) of a route's costs rows."""
    scaled = {c: (_per_config(rows, c, validation), validation) for c in SCALED}
    fixed = {c: _once(rows, c) for c in SHARED}
    if method == DELTA:  # its low-fidelity labels: training, validation and test configurations
        scaled["lf_labels_s"] = (_per_config(rows, "lf_labels_s", validation + test), validation + test)
        del fixed["lf_labels_s"]
    fixed["evaluation_s"] = float(rows["evaluation_s"].mean()) if rows["evaluation_s"].notna().all() else math.nan
    return {"scaled": scaled, "fixed": fixed}


def cost_at(model: dict, size: float) -> dict:
    """Cost components (seconds) of one model trained on ``size`` configurations."""
    parts = {c: per_config * (size + extra) for c, (per_config, extra) in model["scaled"].items()}
    return {**parts, **model["fixed"]}


def _total(parts: Mapping) -> float:
    return float(sum(parts[c] for c in COMPONENTS))


def _size_row(fit: RouteFit, target: float, bound: float) -> dict:
    """Size to reach ``target`` (:func:`mftl.analysis.learning_curve_fits.read_size`), its interval and status."""
    read = read_size(fit, target, bound)
    size = read["size"]
    if read["kind"] in (INTERPOLATED, EXTRAPOLATED, BELOW):
        size = math.ceil(round(size, 6))  # whole configurations; a target met exactly at a size: that size
    row = {"size": size, "size_status": read["status"], "extrapolated": read["extrapolated"], "interval": fit.interval}
    if not np.isfinite(size):
        row["extrapolated"] = pd.NA
    low, high = read["size_low"], read["size_high"]
    row["size_low"] = math.ceil(low) if np.isfinite(low) else low
    row["size_high"] = math.ceil(high) if np.isfinite(high) else high
    return row


def labels_to_buy(size: float, spec: Mapping) -> str:
    """The high-fidelity labels a model trained on ``size`` configurations needs: training plus validation
    configurations, and the test set for whoever has none ('' without a size or training)."""
    if not np.isfinite(size) or size == 0:
        return ""
    validation, test = int(spec["split"]["validation"]), int(spec["split"]["test"])
    high = dataset_fidelity_name(spec, spec.get("high_fidelity")) or "high-fidelity"
    n = int(size)
    return f"{n} training + {validation} validation = {n + validation} {high} labels (+{test} test if you have none)"


def _cost_columns(model: dict | None, row: Mapping) -> dict:
    if model is None or not np.isfinite(row["size"]):
        reason = "no costs.csv rows" if model is None else ""
        return {"total_s": np.nan, "known_total_s": np.nan, "unknown": reason}
    parts = cost_at(model, row["size"])
    unknown = [c for c in COMPONENTS if not np.isfinite(parts[c])]
    out = {**parts, "total_s": _total(parts), "unknown": " ".join(unknown)}
    out["known_total_s"] = float(sum(parts[c] for c in COMPONENTS if c not in unknown))
    for end in ("low", "high"):
        size = row[f"size_{end}"]
        out[f"total_{end}_s"] = _total(cost_at(model, size)) if np.isfinite(size) else size
    return out


def _zeroshot_row(fit: RouteFit, target: float, costs: pd.DataFrame) -> dict:
    """A foundation as it is: reaches the target at size 0 or never; its cost is its costs.csv row(s), if any.
    Its energy errors are not compared with a target: they are relative to per-element energies fitted on the
    test set itself (mftl.evaluation.jobs.zeroshot), which a trained model's are not."""
    error = float(fit.means[0]) if fit.seed_values else math.nan
    row = {"size": np.nan, "size_low": np.nan, "size_high": np.nan, "extrapolated": False}
    if fit.metric != "forces_rmse_meV_A":
        return {**row, "size_status": ZEROSHOT_ENERGY, "total_s": np.nan, "known_total_s": np.nan, "unknown": ""}
    reached = error <= target
    row["size"] = 0 if reached else np.nan
    row["size_status"] = f"zero-shot {'reaches' if reached else 'misses'} the target (error {error:.3g})"
    if costs.empty:
        return {**row, "total_s": np.nan, "known_total_s": np.nan, "unknown": "no costs.csv rows"}
    parts = {c: float(costs[c].mean()) if c in costs and costs[c].notna().all() else math.nan for c in COMPONENTS}
    unknown = [c for c in COMPONENTS if not np.isfinite(parts[c])]
    row.update(parts, total_s=_total(parts) if reached else np.nan, unknown=" ".join(unknown))
    row["known_total_s"] = float(sum(parts[c] for c in COMPONENTS if c not in unknown))
    return row


def _route_costs(costs: pd.DataFrame, key: Mapping) -> pd.DataFrame:
    """The costs.csv rows of one route (the same route keys; an empty key matches an empty cell)."""
    for column, value in key.items():
        if len(costs):
            costs = costs[costs[column].isna()] if value is None else costs[costs[column] == value]
    return costs


def cost_to_target_table(
    curves: pd.DataFrame, costs: pd.DataFrame, spec: Mapping, fits: list[RouteFit] | None = None
) -> pd.DataFrame:
    """``cost_to_target.csv`` of one dataset (``spec``: its config): one row per route and target, cheapest
    first within a target (see the module's docstring)."""
    fits = route_fits(curves) if fits is None else fits
    bound = float(spec.get("targets", {}).get("max_extrapolation", DEFAULT_BOUND))
    validation, test = int(spec["split"]["validation"]), int(spec["split"]["test"])
    costs = with_series_keys(costs) if len(costs) else costs
    if len(costs) and "sampling_s" not in costs:  # a costs.csv from before pretrain_sampling: nothing sampled
        costs = costs.assign(sampling_s=0.0)
    rows = []
    for metric, target, source in targets(spec, fits):
        for fit in (f for f in fits if f.metric == metric):
            mine = _route_costs(costs, fit.key)
            head = {**fit.key, "route": fit.label, "metric": metric, "target": target, "target_source": source}
            if len(fit.sizes):
                head.update(n_min=fit.sizes.min(), n_max=fit.sizes.max())
            if fit.key["method"] == ZEROSHOT:
                rows.append({**head, **_zeroshot_row(fit, target, mine)})
                continue
            size = _size_row(fit, target, bound)
            size["labels_to_buy"] = labels_to_buy(size["size"], spec)
            model = route_cost_model(mine, fit.key["method"], validation, test) if len(mine) else None
            rows.append({**head, **size, **_cost_columns(model, size)})
    table = pd.DataFrame(rows, columns=COLUMNS)
    table = table.sort_values(["metric", "target", "total_s", "known_total_s"], na_position="last", kind="stable")
    return table.astype({"pretrain_size": "Int64", "epoch_cap": "Int64", "n_min": "Int64", "n_max": "Int64"})
