"""The stability checks of a dataset's models as one table (``tables/stability.csv``, ``mftl stability-table``) and
what the advice says of a route's stability (:class:`RouteStability`).

Each stability job (``mftl stability``) writes one record per model: Langevin MD from test configurations, the
energy of element pairs pulled below the training data's shortest distance, and the error on the starting model's
own data after fine-tuning (forgetting). :func:`stability_table` gives one row per route and training size: the
route is the series label the decision tables and the advice name it by (:func:`mftl.analysis.series.series_label`
of the curves.csv series, :func:`mftl.analysis.tables.with_series_keys`), so the advice joins its rows on ``route``.

Per row: ``md_runs`` summed over the route's models, ``md_stable_fraction`` their stable runs over their runs,
``md_median_failure_fs`` the median over the failed runs, ``nve_drift_meV_atom_ps`` the median over models of
their median |drift|, the non-repulsive pairs with how many models show each, the forgetting errors as means over
the models that have them (NaN where every model skipped the check), ``unstable_in_md`` whether the unstable
fraction exceeds the records' ``max_unstable_fraction``, and ``skipped`` the reasons of skipped checks. Besides the
columns of the interface, ``md_temperature_K`` and ``max_unstable_fraction`` (the records' settings) travel with
the table so that its figure and the advice can say at what temperature and by which threshold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from mftl.analysis.series import series_label
from mftl.analysis.tables import SERIES_KEYS, with_series_keys
from mftl.evaluation.stability_settings import StabilitySettings

COLUMNS = [
    "dataset",
    "method",
    "route",
    "fidelities",
    "foundation",
    "pretrain_size",
    "epoch_cap",
    "train_size",
    "n_models",
    "md_runs",
    "md_stable_fraction",
    "md_unstable_fraction",
    "md_median_failure_fs",
    "md_run_fs",
    "nve_drift_meV_atom_ps",
    "n_models_non_repulsive",
    "non_repulsive_pairs",
    "forgetting_data",
    "forgetting_energy_before_meV_atom",
    "forgetting_energy_after_meV_atom",
    "forgetting_forces_before_meV_A",
    "forgetting_forces_after_meV_A",
    "unstable_in_md",
    "skipped",
    "md_temperature_K",
    "max_unstable_fraction",
]
#: the checks of a record, each a mapping or {"skipped": reason}
CHECKS = ("md", "repulsion", "forgetting")
REQUIRED = ("dataset", "method", "train_size", "settings", *CHECKS)
FORGETTING = {
    "forgetting_energy_before_meV_atom": ("before", "energy_rmse_meV_atom"),
    "forgetting_energy_after_meV_atom": ("after", "energy_rmse_meV_atom"),
    "forgetting_forces_before_meV_A": ("before", "forces_rmse_meV_A"),
    "forgetting_forces_after_meV_A": ("after", "forces_rmse_meV_A"),
}


def check_record(record: dict, name: str) -> None:
    """Refuse a record without the keys the table reads, naming ``name`` (its file) and the keys."""
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise ValueError(f"{name}: stability record without {', '.join(missing)}")


def _done(records: list[dict], check: str) -> list[dict]:
    """The ``check`` mappings of the records that ran it."""
    return [r[check] for r in records if "skipped" not in r[check]]


def _median(values: Iterable) -> float:
    values = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.median(values)) if values else math.nan


def _mean(values: Iterable) -> float:
    values = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.mean(values)) if values else math.nan


def _md(records: list[dict], settings: StabilitySettings) -> dict:
    md = _done(records, "md")
    runs = [run for m in md for run in m["runs"]]
    n_runs = sum(int(m["n_runs"]) for m in md)
    stable = sum(int(m["n_stable"]) for m in md) / n_runs if n_runs else math.nan
    return {
        "md_runs": n_runs,
        "md_stable_fraction": stable,
        "md_unstable_fraction": 1.0 - stable,
        "md_median_failure_fs": _median(run["failure_fs"] for run in runs if not run["stable"]),
        "md_run_fs": max((float(m["run_fs"]) for m in md), default=settings.run_fs),
        "nve_drift_meV_atom_ps": _median(m["median_abs_drift_meV_atom_ps"] for m in md),
        "unstable_in_md": bool(n_runs) and 1.0 - stable > settings.max_unstable_fraction,
        "md_temperature_K": settings.temperature_K,
        "max_unstable_fraction": settings.max_unstable_fraction,
    }


PAIR_NOTE = re.compile(r"^(?P<pair>\S+) below (?P<distance>[0-9.eE+-]+) A$")


def non_repulsive_pairs(repulsion: list[dict]) -> str:
    """'C-H below 0.62 A (2 of 3 models); ...' of the models' ``non_repulsive`` notes, by pair (a pair whose models
    give different distances: their range, 'below 0.55..0.62 A'), '' where every pair is repulsive."""
    by_pair: dict[str, list[str]] = {}
    for model in repulsion:
        for note in dict.fromkeys(model["non_repulsive"]):
            match = PAIR_NOTE.match(note)
            by_pair.setdefault(match["pair"] if match else note, []).append(note)
    parts = []
    for pair, notes in by_pair.items():
        distances = sorted({float(m["distance"]) for m in map(PAIR_NOTE.match, notes) if m})
        text = (
            notes[0] if len(set(notes)) == 1 or not distances else f"{pair} below {distances[0]:g}..{distances[-1]:g} A"
        )
        parts.append(f"{text} ({len(notes)} of {len(repulsion)} model{'' if len(repulsion) == 1 else 's'})")
    return "; ".join(parts)


def _repulsion(records: list[dict]) -> dict:
    repulsion = _done(records, "repulsion")
    return {
        "n_models_non_repulsive": sum(bool(m["non_repulsive"]) for m in repulsion),
        "non_repulsive_pairs": non_repulsive_pairs(repulsion),
    }


def _forgetting(records: list[dict]) -> dict:
    forgetting = _done(records, "forgetting")
    out = {"forgetting_data": "; ".join(dict.fromkeys(str(m["data"]) for m in forgetting))}
    for column, (when, metric) in FORGETTING.items():
        out[column] = _mean(m[when][metric] for m in forgetting)
    return out


def _skipped(records: list[dict]) -> str:
    reasons = [f"{check}: {r[check]['skipped']}" for r in records for check in CHECKS if "skipped" in r[check]]
    return "; ".join(dict.fromkeys(reasons))


def _row(key: dict, records: list[dict]) -> dict:
    settings = StabilitySettings.from_config(records[0]["settings"])
    foundations = [str(r["foundation"]) for r in records if r.get("foundation")]
    return {
        **key,
        "foundation": foundations[0] if foundations else "",
        "n_models": len(records),
        **_md(records, settings),
        **_repulsion(records),
        **_forgetting(records),
        "skipped": _skipped(records),
    }


def stability_table(records: list[dict]) -> pd.DataFrame:
    """``stability.csv``: one row per route and training size of the stability ``records`` (the module's
    docstring), sorted by dataset, route and training size."""
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    keys = ["dataset", *SERIES_KEYS, "train_size"]
    meta = pd.DataFrame([{k: r.get(k, pd.NA) for k in keys} for r in records])
    meta = with_series_keys(meta)  # mftl_auto: one series over its caps, as in the decision tables
    meta["route"] = meta.apply(series_label, axis=1)
    rows = []
    for values, group in meta.groupby([*keys, "route"], dropna=False, sort=True):
        key = {k: (pd.NA if pd.isna(v) else v) for k, v in zip([*keys, "route"], values)}
        rows.append(_row(key, [records[i] for i in group.index]))
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values(["dataset", "route", "train_size"], kind="stable")
    return table.astype({"pretrain_size": "Int64", "epoch_cap": "Int64", "train_size": int}).reset_index(drop=True)


# ---- what the advice says of a route's stability -------------------------------------------------------------

LABELS_FILE = re.compile(r"(?:(?P<dataset>[^/]+)/)?labels/(?P<part>[^/.]+)\.(?P<fidelity>[^/]+)\.extxyz$")


def _text(value) -> str:
    """A text cell as read back from CSV ('' for an empty cell)."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _number(value: float) -> str:
    return np.format_float_positional(float(value), precision=3, fractional=False, trim="-")


def _data_name(data: str) -> str:
    """'gfn1 test labels of <d>' of results/<d>/labels/test.gfn1.extxyz, else the file itself."""
    match = LABELS_FILE.search(data)
    if not match:
        return data
    return f"{match['fidelity']} {match['part']} labels" + (f" of {match['dataset']}" if match["dataset"] else "")


class RouteStability:
    """What ``stability.csv`` says of each route, for the advice (nothing without the table)."""

    def __init__(self, table: pd.DataFrame | None = None):
        self.table = table if table is not None else pd.DataFrame(columns=COLUMNS)

    def _rows(self, route: str) -> pd.DataFrame:
        return self.table[self.table["route"] == route].sort_values("train_size")

    def _sizes(self, route: str, rows: pd.DataFrame) -> str:
        """' at n=300' where the table has the route at several training sizes, else ''."""
        several = len(self._rows(route)) > 1
        return f" at n={', '.join(str(int(n)) for n in rows['train_size'])}" if several else ""

    def unstable(self, route: str) -> str:
        """'unstable in MD (3 of 4 runs failed within 500 fs)' where a row of the route is ``unstable_in_md``."""
        rows = self._rows(route)
        rows = rows[rows["unstable_in_md"].astype("boolean").fillna(False).astype(bool)]
        if rows.empty:
            return ""
        failed = int(round((rows["md_unstable_fraction"] * rows["md_runs"]).sum()))
        within = _number(rows["md_run_fs"].max())
        return f"unstable in MD ({failed} of {int(rows['md_runs'].sum())} runs failed within {within} fs{self._sizes(route, rows)})"

    def _largest(self, route: str) -> pd.Series | None:
        rows = self._rows(route)
        return rows.iloc[-1] if len(rows) else None

    def md_note(self, route: str) -> str:
        """'MD: 7/7 stable' of the route's largest checked size ('' without MD runs there)."""
        row = self._largest(route)
        if row is None or not row["md_runs"] > 0:
            return ""
        stable = int(round(row["md_stable_fraction"] * row["md_runs"]))
        return f"MD: {stable}/{int(row['md_runs'])} stable{self._sizes(route, row.to_frame().T)}"

    def summary(self, route: str) -> str:
        """The route's MD, repulsion and forgetting at its largest checked size, in one line."""
        row = self._largest(route)
        if row is None:
            return "not checked (no rows in tables/stability.csv)"
        parts = []
        if row["md_runs"] > 0:
            stable = int(round(row["md_stable_fraction"] * row["md_runs"]))
            drift = row["nve_drift_meV_atom_ps"]
            drift = f", NVE drift {_number(drift)} meV/atom/ps" if pd.notna(drift) else ""
            parts.append(f"{stable} of {int(row['md_runs'])} runs stable{drift}")
        pairs = _text(row["non_repulsive_pairs"])
        skipped = _text(row["skipped"])
        if pairs:
            parts.append(f"not repulsive: {pairs}")
        elif "repulsion:" not in skipped:
            parts.append("repulsive for every pair")
        text = ", ".join(parts) + self._sizes(route, row.to_frame().T)
        forgetting = self._forgetting(row)
        return "; ".join(p for p in (text, forgetting, f"skipped {skipped}" if skipped else "") if p)

    @staticmethod
    def _forgetting(row: pd.Series) -> str:
        before, after = row["forgetting_forces_before_meV_A"], row["forgetting_forces_after_meV_A"]
        if pd.isna(before) or pd.isna(after):
            return ""
        verb = "forgets" if after > before else "does not forget"
        energy = ""
        e_before, e_after = row["forgetting_energy_before_meV_atom"], row["forgetting_energy_after_meV_atom"]
        if pd.notna(e_before) and pd.notna(e_after):
            energy = f", energy {_number(e_before)} -> {_number(e_after)} meV/atom"
        data = _data_name(_text(row["forgetting_data"]))
        match = LABELS_FILE.search(_text(row["forgetting_data"]))
        target = _text(row["fidelities"]).split("->")[-1]
        other = match is not None and match["fidelity"] != target
        gap = f" (partly the {match['fidelity']}-{target} difference it was fine-tuned to learn)" if other else ""
        return f"{verb}: forces on {data} {_number(before)} -> {_number(after)} meV/A{energy}{gap}"

    def header(self) -> str:
        temperatures = ", ".join(_number(t) for t in sorted(self.table["md_temperature_K"].dropna().unique()))
        lengths = ", ".join(_number(t) for t in sorted(self.table["md_run_fs"].dropna().unique()))
        return f"Stability (tables/stability.csv, {temperatures} K, {lengths} fs Langevin from test molecules):"

    def lines(self, recommended: list[str]) -> list[str]:
        """The advice's first lines: how stable each ``recommended`` route was, then every other route that is
        unstable in MD or not repulsive; none without the table."""
        if self.table.empty:
            return []
        lines = [self.header()]
        lines += [f"  {route} (recommended): {self.summary(route)}" for route in recommended]
        for route in self.table["route"].unique():
            if route in recommended:
                continue
            largest = self._largest(route)
            pairs = _text(largest["non_repulsive_pairs"])
            notes = [n for n in (self.unstable(route), f"not repulsive: {pairs}" if pairs else "") if n]
            if notes:
                lines.append(f"  {route}: {'; '.join(notes)}")
        return lines
