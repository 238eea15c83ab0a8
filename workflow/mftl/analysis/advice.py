"""The campaign's answer in a few lines a person reads (``mftl advice results/<dataset>``, ``advice.txt``).

Where the dataset checks its models' stability (``tables/stability.csv``,
:class:`mftl.analysis.stability.RouteStability`), first how stable each recommended route was (MD, NVE drift,
repulsion, forgetting) and every route unstable in MD or not repulsive; a route unstable in MD is said so on its
lines and not ranked cheapest while another route is stable, and each cheapest line gives its route's stable MD
runs. Then its footing (the columns :mod:`mftl.analysis.footing` adds to ``learning_curve_fits.csv``): the cheap method
alone, the low fidelity's own error against the high fidelity, with the routes that are worse than it;
what Delta-learning costs at every prediction; which routes are under-trained. Then per target
(``cost_to_target.csv``): the cheapest route that is not under-trained (unless every route is) with its
training size, the high-fidelity labels to buy and its cost, the runner-up, whether the two are
distinguishable with these seeds (their cost intervals do not overlap; without an interval, e.g. two
training sizes or two seeds, they are not), routes whose cost is unknown, and what was extrapolated; a
route worse than the low fidelity alone says so on its line. Then MFTL's data factor at its smallest
measured size (``data_efficiency.csv``) and how many sizes and seeds the fits rest on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mftl.analysis.stability import RouteStability
from mftl.methods import PRETRAINED_METHODS, ZEROSHOT

UNITS = {"energy_rmse_meV_atom": ("energy RMSE", "meV/atom"), "forces_rmse_meV_A": ("force RMSE", "meV/A")}


def duration(seconds: float) -> str:
    """Seconds of the jobs' resources in words: '42 s', '3.5 min', '2.1 h'."""
    if not np.isfinite(seconds):
        return "unbounded" if seconds == np.inf else "unknown"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _interval(row: pd.Series) -> str:
    if pd.isna(row["total_low_s"]):
        return ""
    return f" [{duration(row['total_low_s'])}..{duration(row['total_high_s'])}]"


class Footing:
    """What the fits table says about each route (:mod:`mftl.analysis.footing`'s columns; empty for tables without)."""

    def __init__(self, fits: pd.DataFrame, stability: RouteStability | None = None):
        self.fits = fits
        self.stability = stability or RouteStability()
        named = fits["baseline"].dropna().astype(str) if "baseline" in fits else pd.Series(dtype=str)
        named = named[named != ""]
        self.baseline = named.iloc[0] if len(named) else ""
        low = fits["low_fidelity"].dropna().astype(str) if "low_fidelity" in fits else pd.Series(dtype=str)
        self.method = low.iloc[0] if len(low) else self.baseline.split(" alone")[0]

    def _rows(self, route: str) -> pd.DataFrame:
        return self.fits[self.fits["route"] == route]

    def under_trained(self, route: str) -> str:
        if "under_trained" not in self.fits:
            return ""
        return next((n for n in self._rows(route)["under_trained"] if isinstance(n, str) and n), "")

    def worse(self, route: str) -> str:
        """'worse than GFN1-xTB itself (energy RMSE 41 > 35.2 meV/atom at its largest size)' or ''."""
        if not self.baseline:
            return ""
        rows = self._rows(route)
        rows = rows[rows["worse_than_baseline"].astype("boolean").fillna(False).astype(bool)]
        parts = [
            f"{UNITS[r['metric']][0]} {r['final_rmse']:.3g} > {r['baseline_rmse']:.3g} {UNITS[r['metric']][1]}"
            for _, r in rows.iterrows()
        ]
        return f"worse than {self.method} itself ({'; '.join(parts)} at its largest size)" if parts else ""

    def held_back(self, route: str) -> str:
        """Why a route is not ranked cheapest while another route is not held back: 'under-trained',
        'unstable in MD' (tables/stability.csv), or ''."""
        if self.under_trained(route):
            return "under-trained"
        return "unstable in MD" if self.stability.unstable(route) else ""

    def flags(self, route: str) -> str:
        """' -- worse than ...; under-trained (...); unstable in MD (...)' for a route's line, or ''."""
        notes = [self.worse(route)]
        under = self.under_trained(route)
        notes.append(f"under-trained ({under})" if under else "")
        notes.append(self.stability.unstable(route))
        notes = [n for n in notes if n]
        return f" -- {'; '.join(notes)}" if notes else ""

    def lines(self) -> list[str]:
        """The advice's first lines: the baseline, the routes worse than it, Delta's cost per prediction and
        the under-trained routes."""
        lines = []
        trained = self.fits[(self.fits["method"] != ZEROSHOT) & (self.fits["n_sizes"] > 0)]
        if self.baseline:
            values = self.fits.drop_duplicates("metric").set_index("metric")["baseline_rmse"]
            errors = ", ".join(
                f"{values[m]:.3g} {UNITS[m][1]}" for m in UNITS if m in values and np.isfinite(values[m])
            )
            lines.append(
                f"{self.baseline}: {errors} (its own RMSE against the high fidelity, tables/fidelity_statistics.csv):"
                " the baseline; a route worse than it is named so wherever it appears."
            )
            for route in trained["route"].unique():
                if self.worse(route):
                    lines.append(f"  {route}: {self.worse(route)}")
            for metric, rows in trained.groupby("metric", sort=False):
                if len(rows) and rows["worse_than_baseline"].astype("boolean").fillna(False).all():
                    lines.append(f"  no trained route beats {self.baseline} on {UNITS[metric][0]}")
        delta = self.fits[self.fits["method"] == "delta"]
        if len(delta):
            per = delta["lf_s_per_prediction"].iloc[0] if "lf_s_per_prediction" in delta else np.nan
            cost = (
                f"{per:.2g} s per configuration (its recorded labelling, costs.csv)"
                if pd.notna(per)
                else "cost unknown"
            )
            low = self.method or "the low fidelity"
            lines.append(f"delta needs {low} at every prediction as well: {cost}.")
        under = [(route, self.under_trained(route)) for route in trained["route"].unique()]
        under = [(route, note) for route, note in under if note]
        if under:
            lines.append("Under-trained (not ranked cheapest unless every route is): ")
            lines[-1] += "; ".join(f"{route}: {note}" for route, note in under)
        return lines


def _choice(row: pd.Series, footing: Footing, md: bool = False) -> str:
    size = "size 0 (as it is)" if row["size"] == 0 else f"{int(row['size'])} training configurations"
    status = row["size_status"]
    status = "interpolated between measured means" if status == "interpolated" else status
    labels = row.get("labels_to_buy", "")
    labels = f"; {labels}" if isinstance(labels, str) and labels else ""
    cost = f"{duration(row['total_s'])}{_interval(row)}"
    stable = footing.stability.md_note(row["route"]) if md else ""
    stable = f"; {stable}" if stable else ""
    return f"{row['route']}: {size} ({status}), {cost}{labels}{stable}{footing.flags(row['route'])}"


def distinguishable(best: pd.Series, second: pd.Series) -> str:
    """Whether two routes' costs differ beyond their intervals."""
    for row in (best, second):
        if pd.isna(row["total_low_s"]):
            return f"not distinguishable: {row['route']} has no interval ({row['interval']})"
    if best["total_high_s"] >= second["total_low_s"]:
        return "not distinguishable with these seeds: the cost intervals overlap"
    return "distinguishable: the cost intervals do not overlap"


def _no_footing() -> Footing:
    return Footing(pd.DataFrame({"route": [], "method": [], "n_sizes": []}))


def ranked_routes(rows: pd.DataFrame, footing: Footing) -> tuple[pd.DataFrame, pd.Series]:
    """(the cost_to_target.csv ``rows`` of a target with a known cost that are ranked, cheapest first; why each
    costed route is held back, '' where it is not): under-trained routes and routes unstable in MD are not
    ranked while another route is neither."""
    costed = rows[rows["total_s"].notna()].sort_values("total_s", kind="stable")
    held = costed["route"].map(footing.held_back).astype(str)
    return (costed[held == ""] if (held == "").any() else costed), held


def target_lines(rows: pd.DataFrame, footing: Footing | None = None) -> list[str]:
    """The advice for one target: ``rows`` are its cost_to_target.csv rows. Under-trained routes and routes
    unstable in MD are not ranked while another route is neither."""
    footing = footing or _no_footing()
    first = rows.iloc[0]
    name, unit = UNITS[first["metric"]]
    lines = [f"Target {name} <= {first['target']:.3g} {unit} ({first['target_source']}):"]
    ranked, held = ranked_routes(rows, footing)
    costed = rows[rows["total_s"].notna()].sort_values("total_s", kind="stable")
    if costed.empty:
        lines.append("  no route reaches it with a known cost")
    else:
        lines.append(f"  cheapest: {_choice(ranked.iloc[0], footing, md=True)}")
        if len(ranked) > 1:
            lines.append(f"  runner-up: {_choice(ranked.iloc[1], footing)}")
            lines.append(f"  {distinguishable(ranked.iloc[0], ranked.iloc[1])}")
        for why in ("under-trained", "unstable in MD") if (held == "").any() else ():
            names = ", ".join(f"{r['route']} ({duration(r['total_s'])})" for _, r in costed[held == why].iterrows())
            lines += [f"  not ranked, {why}: {names}"] if names else []
    unknown = rows[rows["total_s"].isna() & rows["size"].notna()]
    for _, row in unknown.iterrows():
        known = "" if pd.isna(row["known_total_s"]) else f"; known part {duration(row['known_total_s'])}"
        lines.append(f"  cost unknown: {_choice(row, footing)}: {row['unknown']}{known}")
    unreached = rows[rows["size"].isna()]
    if len(unreached):
        lines.append(
            "  not reached: " + "; ".join(f"{r['route']} ({r['size_status']})" for _, r in unreached.iterrows())
        )
    extrapolated = rows[rows["extrapolated"].astype("boolean").fillna(False)]
    if len(extrapolated):
        lines.append(
            "  extrapolated: " + ", ".join(f"{r['route']} ({r['size_status']})" for _, r in extrapolated.iterrows())
        )
    return lines


def _data_factor(row: pd.Series) -> str:
    """'4.2x [..] (as scratch with 84, extrapolated)', 'more than ...' where scratch's fit is followed too far,
    'none (...)' where scratch's fit does not describe scratch beyond its measured sizes."""
    name = UNITS[row["metric"]][0]
    how = row.get("equivalent_from", "")
    how = how if isinstance(how, str) else ""
    if pd.isna(row["equivalent_scratch_size"]):
        return f"{name} none (scratch {how})"
    if row["beyond_bound"]:
        side = "more" if row["data_factor"] > 1 else "less"
        return f"{name} {side} than scratch's fit can say (as scratch with {row['equivalent_scratch_size']:.3g}: beyond bound)"
    interval = (
        "" if pd.isna(row["data_factor_low"]) else f" [{row['data_factor_low']:.2g}..{row['data_factor_high']:.2g}]"
    )
    if how.startswith("met at the smallest measured size (the fit does not"):  # an upper bound
        return f"{name} at most {row['data_factor']:.2g}x (scratch at its smallest size, {row['equivalent_scratch_size']:.0f}, does as well)"
    note = ", extrapolated" if row["extrapolated"] else ""
    return f"{name} {row['data_factor']:.2g}x{interval} (as scratch with {row['equivalent_scratch_size']:.0f}{note})"


def _crossing(row: pd.Series) -> str:
    name = UNITS[row["metric"]][0]
    better = row["transfer_better"] if isinstance(row["transfer_better"], str) else ""
    if better.startswith("no crossover"):
        return f"{name}: {better}"
    if pd.isna(row["crossover_size"]):
        return f"{name}: better than scratch {better}" if better else ""
    note = ", extrapolated" if row["crossover_extrapolated"] else ""
    side = "below" if row["transfer_better"] == "below crossover" else "above"
    return f"{name}: better than scratch {side} n={row['crossover_size']:.0f}{note}"


def data_factor_lines(efficiency: pd.DataFrame) -> list[str]:
    """MFTL's data factor per route and metric at its smallest measured training size, and where its fits
    cross scratch's."""
    mftl = efficiency[efficiency["method"].isin(PRETRAINED_METHODS)]
    lines = []
    for route, rows in mftl.groupby("route", sort=True):
        smallest = rows[rows["train_size"] == rows["train_size"].min()]
        parts = "; ".join(_data_factor(row) for _, row in smallest.iterrows())
        lines.append(f"Data factor of {route} at n={int(smallest['train_size'].iloc[0])}: {parts}")
        crossings = [c for c in (_crossing(row) for _, row in smallest.iterrows()) if c]
        if crossings:
            lines.append(f"  fits of {route} and scratch: {'; '.join(crossings)}")
    return lines


def recommended_routes(cost: pd.DataFrame, footing: Footing) -> list[str]:
    """The routes the advice names cheapest, over every target, in the order of the targets."""
    cheapest = [ranked_routes(rows, footing)[0]["route"] for _, rows in cost.groupby(["metric", "target"], sort=False)]
    return list(dict.fromkeys(routes.iloc[0] for routes in cheapest if len(routes)))


def advice_text(
    dataset: str,
    fits: pd.DataFrame,
    efficiency: pd.DataFrame,
    cost: pd.DataFrame,
    stability: pd.DataFrame | None = None,
) -> str:
    """The advice of one dataset's tables, as text (``stability``: its tables/stability.csv, where made)."""
    trained = fits[(fits["n_sizes"] > 0) & (fits["method"] != ZEROSHOT)]
    sizes = sorted({int(n) for n in trained["n_min"].dropna()} | {int(n) for n in trained["n_max"].dropna()})
    seeds = sorted({int(n) for n in trained["n_seeds"]})
    span = f"between {sizes[0]} and {sizes[-1]}" if len(sizes) > 1 else f"at {sizes[0]}" if sizes else "nowhere"
    footing = Footing(fits, RouteStability(stability))
    lines = [
        *footing.stability.lines(recommended_routes(cost, footing)),
        *footing.lines(),
        f"Advice for {dataset}: learning curves of up to {max(trained['n_sizes'], default=0)} training size(s)"
        f" {span}, {' or '.join(map(str, seeds)) or 'no'} seed(s) per size; costs in the jobs' resource time"
        " (costs.csv).",
    ]
    if cost.empty:
        lines.append("No target: no configured targets and no scratch curve to take one from.")
    for _, rows in cost.groupby(["metric", "target"], sort=False):
        lines += target_lines(rows, footing)
    lines += data_factor_lines(efficiency) or ["No data factor: scratch has no fit (one size or no scratch curve)."]
    intervals = sorted(set(trained["interval"]))  # the zero-shot foundations have none
    lines.append(f"Intervals: {'; '.join(intervals)}.")
    return "\n".join(lines) + "\n"
