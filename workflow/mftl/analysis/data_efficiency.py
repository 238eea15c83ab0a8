"""Data efficiency of transfer: how many scratch training configurations each transfer point is worth.

For every measured point of a transfer route (mftl, mftl_auto, delta, foundation*, chains) at training
size n, with mean test error e over its seeds (meV/atom or meV/A):

* ``equivalent_scratch_size`` -- the size at which scratch reaches e, read as cost to target reads a
  size (:func:`mftl.analysis.learning_curve_fits.read_size`): inside scratch's measured errors off its measured
  means (log-log between the bracketing sizes), so a point worse than scratch's mean at a measured size
  never gets a data factor above 1 there; beyond them off scratch's fit ``(a_s / e) ** (1 / b_s)``, and
  only where that fit describes scratch (else NaN; ``equivalent_from`` says which). ``data_factor`` =
  equivalent / n (above 1: the route saves scratch data). ``extrapolated`` where the equivalent was not
  read between measured means, ``beyond_bound`` where it lies more than ``bound``
  (``targets.max_extrapolation``) times beyond them: a number to distrust (the advice then says only
  "more than").
* their interval -- from the bootstrap draws (each draw's scratch means and fit), each paired with the
  point's mean over the same draw's seeds; only where both have draws (three seeds or more).
* ``crossover_size`` -- where the route's fit and scratch's fit cross,
  ``(a_r / a_s) ** (1 / (b_r - b_s))``; ``transfer_better`` says on which side the route beats
  scratch ("below": negative transfer beyond the crossover); none where either fit does not describe its
  route. Interval from the paired draws of both
  fits; ``crossover_extrapolated`` where it lies outside the sizes both routes measured; a crossing
  more than ``bound`` (``targets.max_extrapolation``) times beyond them is not reported, and
  ``transfer_better`` says whether the route is better at every or at no size within that range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mftl.analysis.learning_curve_fits import (
    BEYOND,
    INTERPOLATED,
    MET_SMALLEST,
    ROUTE_COLUMNS,
    ZEROSHOT,
    RouteFit,
    drawn_interval,
    percentiles,
    read_size,
    route_fits,
)

SCRATCH = "scratch"
#: default of the config's ``targets.max_extrapolation``: how far (a factor) beyond the measured sizes a
#: size read off a fit is used
DEFAULT_BOUND = 10.0
COLUMNS = [
    *ROUTE_COLUMNS,
    "train_size",
    "rmse_mean",
    "n_seeds",
    "equivalent_scratch_size",
    "equivalent_low",
    "equivalent_high",
    "data_factor",
    "data_factor_low",
    "data_factor_high",
    "extrapolated",
    "beyond_bound",
    "equivalent_from",
    "crossover_size",
    "crossover_low",
    "crossover_high",
    "crossover_extrapolated",
    "transfer_better",
    "interval",
]


def crossover(route: RouteFit, scratch: RouteFit, bound: float = DEFAULT_BOUND) -> dict:
    """Where the two fits cross, on which side the route is better, and the interval of the crossing; a
    crossing more than ``bound`` times beyond the sizes both measured is not reported (parallel fits)."""
    out = {"crossover_size": np.nan, "crossover_low": np.nan, "crossover_high": np.nan}
    out.update(crossover_extrapolated=pd.NA, transfer_better="")
    if not (route.fitted and scratch.fitted):
        return out
    if not (route.describes and scratch.describes):
        out["transfer_better"] = "no crossover: a fit does not describe its route"
        return out
    both = max(route.sizes.min(), scratch.sizes.min()), min(route.sizes.max(), scratch.sizes.max())
    with np.errstate(over="ignore", divide="ignore"):
        size = float(np.exp(np.log(route.a / scratch.a) / (route.b - scratch.b)))
    if not both[0] / bound <= size <= both[1] * bound:
        middle = np.sqrt(both[0] * both[1])
        better = route.predict(middle) < scratch.predict(middle)
        out["transfer_better"] = f"{'at every' if better else 'at no'} size within {bound:g}x of the measured"
        return out
    out.update(crossover_size=size, crossover_extrapolated=not both[0] <= size <= both[1])
    out["transfer_better"] = "below crossover" if route.b < scratch.b else "above crossover"
    if route.draws is not None and scratch.draws is not None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.log(route.draws[:, 0] / scratch.draws[:, 0])
            sizes = np.exp(ratio / (route.draws[:, 1] - scratch.draws[:, 1]))
        out["crossover_low"], out["crossover_high"] = percentiles(sizes[~np.isnan(sizes)])
    return out


def _point_rows(route: RouteFit, scratch: RouteFit, bound: float) -> list[dict]:
    """One row per measured size of ``route``, against scratch's measured means (and fit, beyond them)."""
    base = {**route.key, "route": route.label, "metric": route.metric, **crossover(route, scratch, bound)}
    rows = []
    for i, (n, values) in enumerate(zip(route.sizes, route.seed_values)):
        mean = float(values.mean())
        row = {**base, "train_size": int(n), "rmse_mean": mean, "n_seeds": len(values)}
        read = read_size(scratch, mean, bound)
        equivalent = read["size"]
        if read["kind"] == BEYOND:
            equivalent = read["on_fit"]
        elif read["kind"] == MET_SMALLEST and scratch.describes:
            equivalent = min(read["on_fit"], scratch.sizes.min())  # scratch's fit, as far as it goes
        low = high = np.nan
        if scratch.draws is not None and route.boot_means is not None and np.isfinite(equivalent):
            # the point's seed means in the same draws (the same seeds) as scratch's
            low, high = drawn_interval(scratch, route.boot_means[:, i], np.inf)
        row.update(
            equivalent_scratch_size=equivalent,
            equivalent_low=low,
            equivalent_high=high,
            data_factor=equivalent / n,
            data_factor_low=low / n,
            data_factor_high=high / n,
            extrapolated=read["kind"] != INTERPOLATED,
            beyond_bound=bool(np.isfinite(equivalent) or equivalent == np.inf)
            and not scratch.sizes.min() / bound <= equivalent <= scratch.sizes.max() * bound,
            equivalent_from=read["status"],
            interval=f"scratch fit: {scratch.interval}",
        )
        rows.append(row)
    return rows


def data_efficiency_table(
    curves: pd.DataFrame, fits: list[RouteFit] | None = None, bound: float = DEFAULT_BOUND
) -> pd.DataFrame:
    """``data_efficiency.csv``: one row per transfer point and metric (see the module's docstring). Points
    of datasets whose scratch curve has no fit (no scratch, one size) get no row; :func:`missing_scratch`
    names those datasets."""
    fits = route_fits(curves) if fits is None else fits
    scratch = {(f.key["dataset"], f.metric): f for f in fits if f.key["method"] == SCRATCH and f.fitted}
    rows = []
    for fit in fits:
        reference = scratch.get((fit.key["dataset"], fit.metric))
        if fit.key["method"] not in (SCRATCH, ZEROSHOT) and reference is not None:
            rows += _point_rows(fit, reference, bound)
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.astype({"pretrain_size": "Int64", "epoch_cap": "Int64", "train_size": int, "n_seeds": int})


def missing_scratch(fits: list[RouteFit]) -> dict[str, str]:
    """dataset -> why some of its points have no data-efficiency rows: no scratch curve, or scratch's note
    (e.g. one training size) in a metric it could not fit."""
    notes = {}
    for dataset in dict.fromkeys(f.key["dataset"] for f in fits):
        scratch = [f for f in fits if f.key["dataset"] == dataset and f.key["method"] == SCRATCH]
        unfitted = [f"{f.metric}: {f.interval}" for f in scratch if not f.fitted]
        if not scratch or unfitted:
            notes[dataset] = "no scratch curve" if not scratch else f"scratch {'; '.join(unfitted)}"
    return notes
