"""Power-law fits of learning curves: ``rmse = a * n**(-b)`` per route and metric, with seed-bootstrap intervals.

A *route* is one way to a model of the high fidelity: a method with its fidelities, pre-training
size and epoch cap (``mftl_auto`` picks its cap per point, so its cap is no part of the route), or a
foundation (fine-tuned: ``fidelities`` ``<foundation>-><high>``). The fit is a least-squares line in
log-log through the *means over seeds* at each training size n (configurations), RMSEs in meV/atom
(energy) or meV/A (forces); ``r2`` is the coefficient of determination of that line on the log
means. Points whose error is NaN (e.g. energies undetermined on the test set) are left out and
counted in ``n_nan_skipped``.

Interval. With three or more sizes and at least :data:`MIN_SEEDS` (3) seeds at every size, ``a`` and ``b`` get a 95%
percentile interval from :data:`BOOTSTRAP_DRAWS` bootstrap draws: each draw resamples the dataset's
seeds with replacement, as units (a seed's training sets are nested over sizes and the same for every
route), and refits the line to the means over the drawn seeds at each size. The draws come from
``numpy.random.default_rng`` seeded with :data:`BOOTSTRAP_SEED` and the dataset's name, so every route,
metric and table (fits, data efficiency, cost to target) uses the same draws, paired by seed. Two sizes
give an exact line through the two means: no interval, ``r2`` NaN, said in ``interval``. One or two
seeds per size: no interval either (a bootstrap over two seeds has only three distinct resamples).

Where the fit holds. ``describes`` says whether the line passes through its own points: at every measured
size its value lies within the seeds' range [min, max] there or within :data:`FIT_TOLERANCE` (10%) of the
mean (the only test one seed allows). :func:`sizes_at_error` reads a size for an error off the *measured*
means (log-log interpolation between the bracketing sizes) and follows the fit only beyond the measured
sizes, and only where it describes the route; cost to target and data efficiency both use it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mftl.analysis.series import series_label
from mftl.analysis.tables import SERIES_KEYS, with_series_keys
from mftl.methods import ZEROSHOT

#: the metrics fitted, with their units in the names
FIT_METRICS = ("energy_rmse_meV_atom", "forces_rmse_meV_A")
BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 0
#: central interval of the bootstrap draws, in percent
INTERVAL = 95.0
ROUTE_KEYS = ["dataset", *SERIES_KEYS]

EXACT = "none: 2 sizes give an exact line"
ONE_SEED = "none: one seed per size"
TWO_SEEDS = "two seeds: no interval (a bootstrap over 2 seeds has only 3 distinct resamples)"
#: fewest seeds at every size for a bootstrap interval
MIN_SEEDS = 3
#: how far (relative) a fit may pass from a measured mean outside the seeds' range and still describe it
FIT_TOLERANCE = 0.10
BOOTSTRAP = f"{INTERVAL:g}% seed bootstrap, {BOOTSTRAP_DRAWS} draws"

#: the columns naming a route and metric in every decision table
ROUTE_COLUMNS = ["dataset", "route", *SERIES_KEYS, "metric"]
COLUMNS = [
    *ROUTE_COLUMNS,
    "a",
    "a_low",
    "a_high",
    "b",
    "b_low",
    "b_high",
    "r2",
    "n_min",
    "n_max",
    "n_sizes",
    "n_seeds",
    "n_nan_skipped",
    "interval",
    "bootstrap_draws",
    "describes",
    "fit_note",
]


def percentiles(draws: np.ndarray) -> np.ndarray:
    """(low, high) ends of the central :data:`INTERVAL` of bootstrap draws (along the first axis)."""
    return np.nanpercentile(draws, [50 - INTERVAL / 2, 50 + INTERVAL / 2], axis=0)


def power_law(sizes, rmse) -> tuple[float, float, float]:
    """(a, b, r2) of the least-squares line log(rmse) = log(a) - b log(n); r2 on the logs (NaN for two
    points: an exact line)."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(rmse, float))
    design = np.column_stack([np.ones_like(x), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - (intercept + slope * x)
    total = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / total if len(x) > 2 and total > 0 else np.nan
    return float(np.exp(intercept)), float(-slope), float(r2)


def _draw_lines(x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """(B, 2) array of (a, b) of the least-squares lines through each row of ``log_y`` (B, S) at ``x`` (S)."""
    dx = x - x.mean()
    slope = (log_y - log_y.mean(axis=1, keepdims=True)) @ dx / np.sum(dx**2)
    intercept = log_y.mean(axis=1) - slope * x.mean()
    return np.column_stack([np.exp(intercept), -slope])


def seed_picks(seeds: Sequence, dataset: str) -> np.ndarray:
    """(BOOTSTRAP_DRAWS, len(seeds)) indices into ``seeds``: each draw the dataset's seeds resampled with
    replacement, from a generator seeded with BOOTSTRAP_SEED and a checksum of the dataset's name."""
    rng = np.random.default_rng([BOOTSTRAP_SEED, zlib.crc32(str(dataset).encode())])
    return rng.integers(0, len(seeds), size=(BOOTSTRAP_DRAWS, len(seeds)))


def resampled_means(matrix: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """(draws, sizes) means of ``matrix`` (sizes x seeds, NaN where a seed has no error) over each draw's
    picked seeds; NaN where none of a draw's seeds has an error at that size."""
    picked = matrix[:, picks]  # sizes, draws, seeds
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.nansum(picked, axis=2) / np.isfinite(picked).sum(axis=2)).T


@dataclass
class RouteFit:
    """The fit of one route's learning curve in one metric (sizes in configurations, errors in its unit)."""

    key: dict
    metric: str
    sizes: np.ndarray = field(default_factory=lambda: np.empty(0))
    seed_values: list[np.ndarray] = field(default_factory=list)
    n_nan_skipped: int = 0
    a: float = np.nan
    b: float = np.nan
    r2: float = np.nan
    draws: np.ndarray | None = None  # (BOOTSTRAP_DRAWS, 2): a, b per draw (NaN: a draw without a size)
    boot_means: np.ndarray | None = None  # (BOOTSTRAP_DRAWS, sizes): the seed means of each draw
    interval: str = ""

    @property
    def label(self) -> str:
        return series_label(pd.Series(self.key))

    @property
    def fitted(self) -> bool:
        return np.isfinite(self.a)

    @property
    def means(self) -> np.ndarray:
        return np.array([v.mean() for v in self.seed_values])

    def predict(self, n) -> np.ndarray:
        return self.a * np.asarray(n, float) ** (-self.b)

    def interpolates(self, n: float) -> bool:
        return bool(self.sizes.min() <= n <= self.sizes.max())

    def misses(self) -> list[int]:
        """The measured sizes whose mean the fit misses: its value outside the seeds' range there and more
        than FIT_TOLERANCE from the mean (every size when there is no fit)."""
        if not self.fitted:
            return [int(n) for n in self.sizes]
        out = []
        for n, values, predicted in zip(self.sizes, self.seed_values, self.predict(self.sizes)):
            inside = values.min() <= predicted <= values.max()
            if not inside and abs(predicted / values.mean() - 1) > FIT_TOLERANCE:
                out.append(int(n))
        return out

    @property
    def describes(self) -> bool:
        return self.fitted and not self.misses()

    @property
    def fit_note(self) -> str:
        if not self.fitted:
            return ""
        missed = self.misses()
        if not missed:
            return ""
        where = ", ".join(f"n={n}" for n in missed)
        return (
            f"the fit does not describe this route: it misses the measured mean at {where} (outside the seeds'"
            f" range and more than {FIT_TOLERANCE:.0%} off)"
        )

    def row(self) -> dict:
        low, high = percentiles(self.draws) if self.draws is not None else np.full((2, 2), np.nan)
        return {
            **self.key,
            "route": self.label,
            "metric": self.metric,
            "a": self.a,
            "a_low": low[0],
            "a_high": high[0],
            "b": self.b,
            "b_low": low[1],
            "b_high": high[1],
            "r2": self.r2,
            "n_min": int(self.sizes.min()) if len(self.sizes) else pd.NA,
            "n_max": int(self.sizes.max()) if len(self.sizes) else pd.NA,
            "n_sizes": len(self.sizes),
            "n_seeds": min((len(v) for v in self.seed_values), default=0),
            "n_nan_skipped": self.n_nan_skipped,
            "interval": self.interval,
            "bootstrap_draws": int(np.isfinite(self.draws[:, 1]).sum()) if self.draws is not None else 0,
            "describes": self.describes if self.fitted else pd.NA,
            "fit_note": self.fit_note,
        }


def fit_route(
    key: dict, rows: pd.DataFrame, metric: str, seeds: Sequence = (), picks: np.ndarray | None = None
) -> RouteFit:
    """Fit one route's rows (curves.csv rows of one route) in ``metric``; with the dataset's ``seeds`` and
    their bootstrap ``picks`` (:func:`seed_picks`), also the bootstrap where it can."""
    finite = rows[np.isfinite(rows[metric].astype(float))]
    fit = RouteFit(key=key, metric=metric, n_nan_skipped=len(rows) - len(finite))
    by_size = finite.groupby("train_size")[metric]
    fit.sizes = np.array(sorted(by_size.groups), float)
    fit.seed_values = [by_size.get_group(n).to_numpy(float) for n in sorted(by_size.groups)]
    if key["method"] == ZEROSHOT:  # its errors are kept (cost to target: reached at size 0 or not)
        fit.interval = "no fit: zero-shot, no training set"
        return fit
    fewest = min((len(v) for v in fit.seed_values), default=0)
    if picks is not None and len(seeds) >= MIN_SEEDS and fewest >= MIN_SEEDS:
        matrix = finite.pivot_table(index="train_size", columns="seed", values=metric, aggfunc="mean")
        fit.boot_means = resampled_means(matrix.reindex(columns=list(seeds)).to_numpy(float), picks)
    if len(fit.sizes) < 2:
        fit.interval = f"no fit: {len(fit.sizes)} training size{'' if len(fit.sizes) == 1 else 's'}"
        return fit
    fit.a, fit.b, fit.r2 = power_law(fit.sizes, fit.means)
    if len(fit.sizes) == 2:
        fit.interval = EXACT
    elif fewest < 2:
        fit.interval = ONE_SEED
    elif fit.boot_means is None:
        fit.interval = TWO_SEEDS
    else:
        with np.errstate(invalid="ignore"):
            fit.draws = _draw_lines(np.log(fit.sizes), np.log(fit.boot_means))
        fit.interval = BOOTSTRAP
    return fit


def route_fits(curves: pd.DataFrame) -> list[RouteFit]:
    """Every route's fit in every metric of :data:`FIT_METRICS`, in route order; the bootstrap draws of a
    dataset pick the same seeds for every route and metric (a seed draws the same training configurations
    for every route, nested over sizes)."""
    curves = with_series_keys(curves)
    trained = curves[curves["method"] != ZEROSHOT]
    seeds = {d: sorted(rows["seed"].unique()) for d, rows in trained.groupby("dataset")}
    picks = {d: seed_picks(s, d) for d, s in seeds.items()}
    fits = []
    for values, rows in curves.groupby(ROUTE_KEYS, dropna=False, sort=True):
        key = {k: (None if pd.isna(v) else v) for k, v in zip(ROUTE_KEYS, values)}
        dataset = key["dataset"]
        fits += [fit_route(key, rows, m, seeds.get(dataset, ()), picks.get(dataset)) for m in FIT_METRICS]
    return fits


def fits_table(curves: pd.DataFrame) -> pd.DataFrame:
    """``learning_curve_fits.csv``: one row per route and metric (see the module's docstring)."""
    table = pd.DataFrame([fit.row() for fit in route_fits(curves)], columns=COLUMNS)
    return table.astype(
        {"pretrain_size": "Int64", "epoch_cap": "Int64", "n_min": "Int64", "n_max": "Int64", "describes": "boolean"}
    )


def size_for_error(a, b, rmse):
    """The training size at which ``a * n**(-b)`` equals ``rmse`` (inf where b <= 0: the curve does not fall;
    NaN where a value is NaN)."""
    a, b, rmse = (np.asarray(v, float) for v in (a, b, rmse))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        size = np.exp(np.log(a / rmse) / b)
    return np.where(b > 0, size, np.where(np.isnan(b) | np.isnan(size), np.nan, np.inf))


#: how :func:`sizes_at_error` read a size: between measured means, on the fit above or below the measured sizes,
#: at the smallest measured size (an upper bound), beyond ``bound`` times the largest, or not at all
INTERPOLATED, EXTRAPOLATED, BELOW, MET_SMALLEST, BEYOND, UNDESCRIBED, NO_FIT = range(7)


def sizes_at_error(sizes, means, a, b, error, describes: bool, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """(size, kind) at which a learning curve first reaches ``error``, per row of ``means`` (rows x sizes: the
    measured means, or one bootstrap draw's per row, with that row's fit ``a``, ``b``). Where a measured mean
    meets the error and the one before does not, the size is read off the measured means, log-log between the
    two; the fit is followed only outside the measured sizes and only if it ``describes`` the route, at most
    ``bound`` times beyond them (below: at most 1/bound of the smallest size, else the smallest size, an upper
    bound, is the size)."""
    sizes = np.asarray(sizes, float)
    means = np.atleast_2d(np.asarray(means, float))
    rows = means.shape[0]
    a, b, error = (np.broadcast_to(np.asarray(v, float), (rows,)) for v in (a, b, error))
    on_fit = size_for_error(a, b, error)
    size, kind = np.full(rows, np.nan), np.full(rows, NO_FIT)
    first = means[:, 0] <= error
    crossed = np.zeros(rows, bool)
    if len(sizes) > 1:
        cross = (means[:, :-1] > error[:, None]) & (means[:, 1:] <= error[:, None])
        crossed = cross.any(axis=1) & ~first
        i = cross.argmax(axis=1)
        x0, x1 = np.log(sizes[i]), np.log(sizes[i + 1])
        y0, y1 = np.log(means[np.arange(rows), i]), np.log(means[np.arange(rows), i + 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            between = np.exp(x0 + (np.log(error) - y0) / (y1 - y0) * (x1 - x0))
        size[crossed], kind[crossed] = between[crossed], INTERPOLATED
    fit_holds = np.isfinite(a) & bool(describes)
    size[first], kind[first] = sizes[0], MET_SMALLEST
    below = first & fit_holds & (on_fit < sizes[0]) & (on_fit >= sizes[0] / bound)
    size[below], kind[below] = on_fit[below], BELOW
    rest = ~first & ~crossed
    beyond = rest & fit_holds & ~(on_fit <= bound * sizes[-1])
    above = rest & fit_holds & ~beyond
    size[above], kind[above] = np.maximum(on_fit[above], sizes[-1]), EXTRAPOLATED
    kind[beyond] = BEYOND
    kind[rest & ~fit_holds & np.isfinite(a)] = UNDESCRIBED
    return size, kind


def read_size(fit: RouteFit, error: float, bound: float) -> dict:
    """The size at which ``fit``'s route reaches ``error`` (:func:`sizes_at_error` on its measured means), with
    ``kind``, ``status`` in words, ``extrapolated``, the fit's own value ``on_fit`` and an interval
    (``size_low``, ``size_high``) from the bootstrap draws where the fit has them."""
    size, kind = (v[0] for v in sizes_at_error(fit.sizes, fit.means, fit.a, fit.b, error, fit.describes, bound))
    on_fit = float(size_for_error(fit.a, fit.b, error)) if fit.fitted else np.nan
    one = len(fit.sizes) == 1
    statuses = {
        INTERPOLATED: "interpolated",
        EXTRAPOLATED: "extrapolated",
        BELOW: "extrapolated below",
        BEYOND: f"beyond bound ({bound:g}x the largest size, {int(bound * fit.sizes.max())})" if len(fit.sizes) else "",
        UNDESCRIBED: f"{fit.fit_note}: no extrapolated size",
        NO_FIT: f"misses it at its one measured size, {int(fit.sizes[0])} (no fit)" if one else fit.interval,
    }
    if kind == MET_SMALLEST:
        if one:
            status = "met at its one measured size (no fit): needs at most this size"
        elif fit.describes and on_fit < fit.sizes.min() / bound:
            status = f"met at the smallest measured size (the fit says {on_fit:.2g}, under 1/{bound:g} of it)"
        elif fit.describes:
            status = "met at the smallest measured size"
        else:
            status = "met at the smallest measured size (the fit does not describe this route below it)"
    else:
        status = statuses[int(kind)]
    out = {"size": float(size), "kind": int(kind), "status": status, "on_fit": on_fit}
    out["extrapolated"] = kind in (EXTRAPOLATED, BELOW)
    out["size_low"] = out["size_high"] = np.nan
    if fit.draws is not None and np.isfinite(size):
        out["size_low"], out["size_high"] = drawn_interval(fit, error, bound)
    return out


def drawn_interval(fit: RouteFit, error, bound: float) -> tuple[float, float]:
    """Interval of the size at which ``fit``'s route reaches ``error`` (a number, or one per draw) over its
    bootstrap draws (each draw's means and line); inf where draws put it beyond bound."""
    a, b = fit.draws[:, 0], fit.draws[:, 1]
    drawn, kinds = sizes_at_error(fit.sizes, fit.boot_means, a, b, error, fit.describes, bound)
    limit = bound * fit.sizes.max()
    drawn[kinds == BEYOND] = 2 * limit  # any value past the limit: the interval's end is then unbounded
    drawn = drawn[np.isfinite(drawn)]
    if not len(drawn):
        return np.nan, np.nan
    low, high = percentiles(drawn)
    return float(low), float(high) if high <= limit else np.inf
