"""The campaign's answer in a few lines a person reads (``mftl advice results/<dataset>``, ``advice.txt``).

Per target (``cost_to_target.csv``): the cheapest route with its training size and cost, the runner-up,
whether the two are distinguishable with these seeds (their cost intervals do not overlap; without an
interval, e.g. two training sizes, they are not), routes whose cost is unknown, and what was
extrapolated; then MFTL's data factor at its smallest measured size (``data_efficiency.csv``) and how
many sizes and seeds the fits rest on (``learning_curve_fits.csv``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def _choice(row: pd.Series) -> str:
    size = "size 0 (as it is)" if row["size"] == 0 else f"{int(row['size'])} training configurations"
    return f"{row['route']}: {size} ({row['size_status']}), {duration(row['total_s'])}{_interval(row)}"


def distinguishable(best: pd.Series, second: pd.Series) -> str:
    """Whether two routes' costs differ beyond their intervals."""
    for row in (best, second):
        if pd.isna(row["total_low_s"]):
            return f"not distinguishable: {row['route']} has no interval ({row['interval']})"
    if best["total_high_s"] >= second["total_low_s"]:
        return "not distinguishable with these seeds: the cost intervals overlap"
    return "distinguishable: the cost intervals do not overlap"


def target_lines(rows: pd.DataFrame) -> list[str]:
    """The advice for one target: ``rows`` are its cost_to_target.csv rows."""
    first = rows.iloc[0]
    name, unit = UNITS[first["metric"]]
    lines = [f"Target {name} <= {first['target']:.3g} {unit} ({first['target_source']}):"]
    costed = rows[rows["total_s"].notna()].sort_values("total_s", kind="stable")
    if costed.empty:
        lines.append("  no route reaches it with a known cost")
    else:
        lines.append(f"  cheapest: {_choice(costed.iloc[0])}")
        if len(costed) > 1:
            lines.append(f"  runner-up: {_choice(costed.iloc[1])}")
            lines.append(f"  {distinguishable(costed.iloc[0], costed.iloc[1])}")
    unknown = rows[rows["total_s"].isna() & rows["size"].notna()]
    for _, row in unknown.iterrows():
        known = "" if pd.isna(row["known_total_s"]) else f"; known part {duration(row['known_total_s'])}"
        lines.append(f"  cost unknown: {_choice(row)}: {row['unknown']}{known}")
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
    """'4.2x [..] (as scratch with 84, extrapolated)', or 'more than ...' where scratch's fit is followed too far."""
    name = UNITS[row["metric"]][0]
    if row["beyond_bound"]:
        side = "more" if row["data_factor"] > 1 else "less"
        return f"{name} {side} than scratch's fit can say (as scratch with {row['equivalent_scratch_size']:.3g}: beyond bound)"
    interval = (
        "" if pd.isna(row["data_factor_low"]) else f" [{row['data_factor_low']:.2g}..{row['data_factor_high']:.2g}]"
    )
    note = ", extrapolated" if row["extrapolated"] else ""
    return f"{name} {row['data_factor']:.2g}x{interval} (as scratch with {row['equivalent_scratch_size']:.0f}{note})"


def _crossing(row: pd.Series) -> str:
    name = UNITS[row["metric"]][0]
    if pd.isna(row["crossover_size"]):
        return f"{name}: better than scratch {row['transfer_better']}" if row["transfer_better"] else ""
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


def advice_text(dataset: str, fits: pd.DataFrame, efficiency: pd.DataFrame, cost: pd.DataFrame) -> str:
    """The advice of one dataset's tables, as text."""
    trained = fits[(fits["n_sizes"] > 0) & (fits["method"] != ZEROSHOT)]
    sizes = sorted({int(n) for n in trained["n_min"].dropna()} | {int(n) for n in trained["n_max"].dropna()})
    seeds = sorted({int(n) for n in trained["n_seeds"]})
    span = f"between {sizes[0]} and {sizes[-1]}" if len(sizes) > 1 else f"at {sizes[0]}" if sizes else "nowhere"
    lines = [
        f"Advice for {dataset}: learning curves of up to {max(trained['n_sizes'], default=0)} training size(s)"
        f" {span}, {' or '.join(map(str, seeds)) or 'no'} seed(s) per size; costs in the jobs' resource time"
        " (costs.csv)."
    ]
    if cost.empty:
        lines.append("No target: no configured targets and no scratch curve to take one from.")
    for _, rows in cost.groupby(["metric", "target"], sort=False):
        lines += target_lines(rows)
    lines += data_factor_lines(efficiency) or ["No data factor: scratch has no fit (one size or no scratch curve)."]
    intervals = sorted(set(trained["interval"]))  # the zero-shot foundations have none
    lines.append(f"Intervals: {'; '.join(intervals)}.")
    return "\n".join(lines) + "\n"
