"""The paper's reported numbers beside a campaign's: ``config/paper_results.csv`` against ``curves.csv``.

A paper-results file has one row per number the paper prints, with the columns of
:data:`PAPER_COLUMNS`:

* ``figure`` -- the section and/or figure caption of the paper that prints it;
* ``dataset``, ``method``, ``train_size`` -- the campaign's dataset name, method name
  (``scratch``, ``mftl``, ``foundation``, ``chain_<name>``, ``foundation_zeroshot``, ...) and
  training-set size. Two methods train nothing and have ``train_size`` 0 (or empty):
  ``foundation_zeroshot`` (a foundation model as it is) and ``low_fidelity`` (the dataset's
  low-fidelity labels against its high fidelity, from ``tables/fidelity_comparison.csv``);
* ``pretrain_size``, ``epoch_cap`` -- optional: empty leaves the choice among the campaign's points
  that differ only in them open, and the campaign's **validation** errors choose (never the test
  errors); the output says which candidate was taken and why;
* ``metric`` -- ``energy_rmse``, ``forces_rmse``, ``energy_mae``, ``forces_mae`` (test errors), or
  ``best_epoch_cap`` (unit ``epochs``: the cap the campaign's validation errors choose);
* ``value``, ``unit`` -- the number as the paper prints it, in the paper's unit: energies in
  ``meV/atom`` or ``meV`` (read as meV/atom, see :data:`UNITS`), forces in ``meV/A`` or ``eV/A``;
  with ``relative_to`` a method, ``%`` (the percentage by which ``method`` beats it,
  ``100 * (1 - method / relative_to)``) or ``x`` (the factor, ``relative_to / method``);
* ``qualifier`` -- empty (the number as printed), ``up_to`` ("up to": the maximum over the
  training sizes of a relative number; ``train_size`` empty) or ``approximately`` (the paper
  prints an approximate number, e.g. "almost four-fold": compared as the number it names);
* ``source`` -- the paper's words, with section and caption.

The reproduced value is the mean over the campaign's seeds in the campaign's unit; a point the
campaign lacks, and an error the campaign left empty (NaN), is no number: never guessed, never a value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mftl.methods import ZEROSHOT

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PAPER_COLUMNS = [
    "figure",
    "dataset",
    "method",
    "train_size",
    "pretrain_size",
    "epoch_cap",
    "metric",
    "value",
    "unit",
    "relative_to",
    "qualifier",
    "source",
]
#: metric name -> (curves.csv column, quantity)
METRICS = {
    "energy_rmse": ("energy_rmse_meV_atom", "energy"),
    "forces_rmse": ("forces_rmse_meV_A", "forces"),
    "energy_mae": ("energy_mae_meV_atom", "energy"),
    "forces_mae": ("forces_mae_meV_A", "forces"),
}
#: the metric of a row that names the epoch cap the campaign chooses on validation (unit ``epochs``)
BEST_EPOCH_CAP = "best_epoch_cap"
#: the paper's unit -> (quantity, factor to the campaign's unit, the campaign's unit, how it is compared)
UNITS = {
    "meV/atom": ("energy", 1.0, "meV/atom", ""),
    "meV": (
        "energy",
        1.0,
        "meV/atom",
        "the paper prints meV without 'per atom' (sec. 2.3); compared with the campaign's relative-energy "
        "RMSE per atom, the quantity figs. 2 and 5 plot",
    ),
    "meV/A": ("forces", 1.0, "meV/A", ""),
    "eV/A": ("forces", 1000.0, "meV/A", "the paper's eV/A x 1000"),
}
#: unit of a row with ``relative_to`` -> how the campaign's number is computed from the two mean errors
RELATIVE_UNITS = {"%": "100 * (1 - {method} / {reference})", "x": "{reference} / {method}"}
QUALIFIERS = {
    "up_to": "'up to': the maximum over training sizes",
    "approximately": "the paper's number is approximate; compared as the number it names",
}
#: methods that train nothing: train_size 0
LOW_FIDELITY = "low_fidelity"
UNTRAINED_METHODS = (ZEROSHOT, LOW_FIDELITY)
CANDIDATE_KEYS = ["pretrain_size", "epoch_cap"]
RESULT_COLUMNS = [
    "paper_value",
    "campaign_unit",
    "reproduced",
    "difference",
    "ratio",
    "n_seeds",
    "reproduced_train_size",
    "reproduced_pretrain_size",
    "reproduced_epoch_cap",
    "n_candidates",
    "chosen_by",
    "compared_as",
]


class PaperResultsError(ValueError):
    """A paper-results file that cannot be compared; the message names the file and row."""


def _integer(value, where: str, column: str, optional: bool, minimum: int = 1) -> int | None:
    if optional and pd.isna(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not number.is_integer() or number < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise PaperResultsError(f"{where}: {column} {value!r} is not a {kind} integer")
    return int(number)


def _check_row(row: pd.Series, where: str) -> dict:
    """The row's sizes as integers (train_size None where open), or a PaperResultsError naming the column."""
    for column in ("dataset", "method", "metric", "unit", "source"):
        if pd.isna(row[column]) or not str(row[column]).strip():
            raise PaperResultsError(f"{where}: {column} is empty")
    metric, unit, relative, qualifier = row["metric"], row["unit"], row["relative_to"], row["qualifier"]
    if metric not in METRICS and metric != BEST_EPOCH_CAP:
        raise PaperResultsError(f"{where}: metric '{metric}' is not one of {sorted([*METRICS, BEST_EPOCH_CAP])}")
    if qualifier and qualifier not in QUALIFIERS:
        raise PaperResultsError(f"{where}: qualifier '{qualifier}' is not one of {sorted(QUALIFIERS)} (or empty)")
    untrained = row["method"] in UNTRAINED_METHODS
    open_size = qualifier == "up_to" or metric == BEST_EPOCH_CAP or untrained
    if qualifier == "up_to" and (pd.isna(relative) or pd.notna(row["train_size"])):
        raise PaperResultsError(f"{where}: qualifier up_to needs relative_to and an empty train_size")
    sizes = {"train_size": _integer(row["train_size"], where, "train_size", open_size, 0 if untrained else 1)}
    if untrained and sizes["train_size"] not in (None, 0):
        raise PaperResultsError(f"{where}: {row['method']} trains nothing: train_size must be 0 or empty")
    if untrained:
        sizes["train_size"] = 0
    for column in CANDIDATE_KEYS:
        sizes[column] = _integer(row[column], where, column, optional=True)
    if metric == BEST_EPOCH_CAP:
        if pd.notna(relative) or sizes["epoch_cap"] is not None or unit != "epochs":
            raise PaperResultsError(f"{where}: {BEST_EPOCH_CAP} has unit 'epochs', no relative_to and no epoch_cap")
    elif pd.notna(relative):
        if unit not in RELATIVE_UNITS:
            raise PaperResultsError(
                f"{where}: unit '{unit}' of {metric} relative to {relative} must be one of {sorted(RELATIVE_UNITS)}"
            )
    elif unit not in UNITS or UNITS[unit][0] != METRICS[metric][1]:
        allowed = sorted(u for u, spec in UNITS.items() if spec[0] == METRICS[metric][1])
        raise PaperResultsError(f"{where}: unit '{unit}' of {metric} must be one of {allowed}")
    if not np.isfinite(pd.to_numeric(row["value"], errors="coerce")):
        raise PaperResultsError(f"{where}: value {row['value']!r} is not a finite number")
    return sizes


def check_paper_results(table: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """``table`` with integer sizes, checked row by row; errors name ``path``, row and column."""
    missing = [c for c in PAPER_COLUMNS if c not in table.columns]
    if missing:
        raise PaperResultsError(f"{path}: missing column(s) {missing} (columns: {', '.join(PAPER_COLUMNS)})")
    if table.empty:
        raise PaperResultsError(f"{path}: holds no result")
    table = table[PAPER_COLUMNS].copy()
    table["qualifier"] = table["qualifier"].fillna("").astype(str)  # empty: the number as printed
    sizes = [_check_row(row, f"{path} row {index + 1} (line {index + 2})") for index, row in table.iterrows()]
    for column in ("train_size", *CANDIDATE_KEYS):
        table[column] = pd.array([s[column] for s in sizes], dtype="Int64")
    return table.astype({"value": float})


def read_paper_results(path: str | os.PathLike) -> pd.DataFrame:
    """The checked paper-results CSV at ``path`` (see the module docstring for its columns)."""
    if not Path(path).is_file():
        raise PaperResultsError(f"{path}: file does not exist")
    text_columns = {
        c: "string" for c in ("figure", "dataset", "method", "metric", "unit", "relative_to", "qualifier", "source")
    }
    table = pd.read_csv(path, dtype=text_columns, skipinitialspace=True, keep_default_na=False, na_values=[""])
    return check_paper_results(table, path)


def planned_paper_results(path: str, checkout: str | os.PathLike) -> str:
    """The config's ``paper_results`` file, checked when planning: ``path`` as given when it
    exists (relative to the working directory), else relative to the workflow's checkout, so
    ``config/paper_results.csv`` also works with ``--directory``. Errors name the config key."""
    candidates = [Path(path)] if Path(path).is_absolute() else [Path(path), Path(checkout) / path]
    found = next((str(p) for p in candidates if p.is_file()), str(path))
    try:
        read_paper_results(found)
    except PaperResultsError as err:
        raise PaperResultsError(f"config key 'paper_results': {err}") from None
    return found


# ---- the campaign's numbers ------------------------------------------------------


def low_fidelity_point(dataset: str, fidelity_table: pd.DataFrame) -> dict:
    """A curves.csv-like row (method ``low_fidelity``, train_size 0, seed 0) of a dataset's
    low-fidelity labels against its high fidelity: relative-energy (meV/atom) and force (meV/A)
    errors of ``tables/fidelity_comparison.csv``, as the zero-shot foundations' are computed."""
    from mftl.error_statistics import error_statistics
    from mftl.tables import compared_sources, fidelity_errors

    low = compared_sources(fidelity_table)[0]  # the low fidelity; zero-shot foundations follow it
    found = fidelity_errors(fidelity_table[fidelity_table["low_fidelity"] == low])
    return {
        "dataset": dataset,
        "method": LOW_FIDELITY,
        "fidelities": low,
        "pretrain_size": pd.NA,
        "epoch_cap": pd.NA,
        "train_size": 0,
        "seed": 0,
        **error_statistics(found["energy_meV_atom"], found["forces_meV_A"]),
    }


def _matching(curves: pd.DataFrame | None, dataset, method, train_size=None, pretrain_size=None, epoch_cap=None):
    if curves is None:
        return pd.DataFrame(columns=["dataset", "method", "train_size", *CANDIDATE_KEYS, "seed"])
    rows = curves[(curves["dataset"] == dataset) & (curves["method"] == method)]
    for key, value in (("train_size", train_size), ("pretrain_size", pretrain_size), ("epoch_cap", epoch_cap)):
        if value is not None and not pd.isna(value):
            rows = rows[rows[key] == value]
    return rows


def _key(pretrain_size, epoch_cap) -> tuple:
    return tuple(None if pd.isna(v) else int(v) for v in (pretrain_size, epoch_cap))


def _means(rows: pd.DataFrame, columns: list[str]) -> dict[tuple, dict]:
    """Per candidate (pre-training size, epoch cap): mean over seeds of each column (NaN: no number,
    left out of the mean) and the number of seeds with a number."""
    out: dict[tuple, dict] = {}
    for (pre, cap), group in rows.groupby(CANDIDATE_KEYS, dropna=False):
        values = {c: pd.to_numeric(group[c], errors="coerce") for c in columns}
        out[_key(pre, cap)] = {
            **{c: float(v.mean()) if v.notna().any() else math.nan for c, v in values.items()},
            "n_seeds": int(values[columns[0]].notna().sum()),
        }
    return out


def _describe(key: tuple) -> str:
    parts = [f"{name} {value}" for name, value in zip(("pre-training", "cap"), key, strict=True) if value is not None]
    return ", ".join(parts) or "the point"


def _no_number(why: str, n_candidates: int = 0) -> dict:
    """A row the campaign has no number for, and why."""
    return {"reproduced": math.nan, "n_seeds": 0, "key": (None, None), "n_candidates": n_candidates, "chosen_by": why}


def _point(curves, validation, dataset, method, train_size, column, pretrain_size=None, epoch_cap=None) -> dict:
    """Mean over seeds of the campaign point matching a row; where several points match (pre-training
    sizes, epoch caps left open), the one with the lowest mean validation error of ``column``."""
    candidates = _means(_matching(curves, dataset, method, train_size, pretrain_size, epoch_cap), [column])
    if not candidates:
        return _no_number("no campaign point")
    if len(candidates) == 1:
        key, chosen = next(iter(candidates.items()))
        why = "the only campaign point"
    else:
        scores = _means(_matching(validation, dataset, method, train_size, pretrain_size, epoch_cap), [column])
        scored = {k: scores[k][column] for k in candidates if k in scores and not math.isnan(scores[k][column])}
        if not scored:
            return _no_number(
                f"not chosen: no validation errors of the {len(candidates)} candidates (the test set never chooses)",
                len(candidates),
            )
        key = min(scored, key=scored.get)
        chosen = candidates[key]
        why = (
            f"validation: {_describe(key)} has the lowest mean validation {column} ({scored[key]:.4g}) "
            f"of {len(scored)} candidates with validation errors (of {len(candidates)})"
        )
    return {
        "reproduced": chosen[column],
        "n_seeds": chosen["n_seeds"],
        "key": key,
        "n_candidates": len(candidates),
        "chosen_by": why,
    }


def _relative(method_value: float, reference_value: float, unit: str) -> float:
    if unit == "%":
        return 100.0 * (1.0 - method_value / reference_value)
    return reference_value / method_value


def _relative_point(curves, validation, row, column, train_size) -> dict:
    point = _point(
        curves, validation, row["dataset"], row["method"], train_size, column, row["pretrain_size"], row["epoch_cap"]
    )
    reference = _point(curves, validation, row["dataset"], row["relative_to"], train_size, column)
    point["reproduced"] = _relative(point["reproduced"], reference["reproduced"], row["unit"])
    point["chosen_by"] = f"{row['method']}: {point['chosen_by']}; {row['relative_to']}: {reference['chosen_by']}"
    return point


def _up_to(curves, validation, row, column) -> dict:
    """The maximum over training sizes of a relative number (the paper's 'up to')."""
    sizes = sorted(set(_matching(curves, row["dataset"], row["method"])["train_size"]))
    by_size = {int(n): _relative_point(curves, validation, row, column, int(n)) for n in sizes}
    finite = {n: p for n, p in by_size.items() if np.isfinite(p["reproduced"])}
    if not finite:
        return _no_number("no training size with both points")
    best = max(finite, key=lambda n: finite[n]["reproduced"])
    values = ", ".join(f"{n}: {p['reproduced']:.4g}" for n, p in finite.items())
    point = dict(finite[best])
    point["train_size"] = best
    point["chosen_by"] = f"maximum over training sizes ({values}); at {best}: {point['chosen_by']}"
    return point


def validation_choice(rows: pd.DataFrame) -> tuple[tuple, dict[tuple, float], list[str]] | None:
    """The candidate (pre-training size, epoch cap) that validation rows of one method choose: per training
    size, the validation score of :func:`mftl.error_statistics.validation_scores` (mean over seeds), summed over
    the training sizes where every candidate has one; lowest wins. (the candidate, every candidate's summed
    score, the best cap per training size) or None without validation errors. Never reads a test error."""
    from mftl.error_statistics import validation_scores

    columns = [METRICS["energy_rmse"][0], METRICS["forces_rmse"][0]]
    scored = {}  # training size -> {candidate: score}
    for size, group in rows.groupby("train_size"):
        means = {k: v for k, v in _means(group, columns).items() if all(np.isfinite(v[c]) for c in columns)}
        if means:
            keys = list(means)
            scores = validation_scores([means[k][columns[0]] for k in keys], [means[k][columns[1]] for k in keys])
            scored[int(size)] = dict(zip(keys, scores.tolist(), strict=True))
    candidates = set().union(*scored.values())
    complete = {n: s for n, s in scored.items() if set(s) == candidates}  # sizes where every candidate has one
    totals = {k: sum(s[k] for s in complete.values()) for k in candidates} if complete else {}
    if not totals:
        return None
    per_size = [f"{n}: cap {min(s, key=s.get)[1]}" for n, s in complete.items()]
    return min(totals, key=totals.get), totals, per_size


def _best_epoch_cap(validation, row) -> dict:
    """The epoch cap (and pre-training size) the campaign's validation errors choose (:func:`validation_choice`)."""
    rows = _matching(validation, row["dataset"], row["method"], row["train_size"], row["pretrain_size"])
    choice = validation_choice(rows)
    if choice is None:
        return _no_number("not chosen: no validation errors (the test set never chooses)")
    key, totals, per_size = choice
    return {
        "reproduced": float(key[1]),
        "n_seeds": int(rows["seed"].nunique()),
        "key": key,
        "n_candidates": len(totals),
        "chosen_by": f"validation: lowest summed validation score (energy and force RMSE, each over its best) "
        f"over training sizes; best cap per training size {', '.join(per_size)}",
    }


def paper_comparison(curves: pd.DataFrame, paper: pd.DataFrame, validation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each paper row with the campaign's value beside it.

    Parameters
    ----------
    curves
        The campaign's test errors, ``curves.csv`` (one row per model and seed; meV/atom, meV/A),
        plus :func:`low_fidelity_point` rows for ``low_fidelity`` rows.
    paper
        Checked paper results (:func:`read_paper_results`).
    validation
        The same models' validation errors (``valid_curves.csv``, the columns of curves.csv): they
        choose among the candidates a row leaves open. Without them an open row has no number.

    Returns
    -------
    The paper's columns plus ``paper_value`` (the paper's number in ``campaign_unit``),
    ``reproduced`` (mean over seeds, in ``campaign_unit``), ``difference`` (reproduced - paper),
    ``ratio`` (reproduced / paper), ``n_seeds``, the training size, pre-training size and epoch cap
    of the point used, ``n_candidates``, ``chosen_by`` (which candidate and why) and ``compared_as``
    (how the paper's unit and qualifier are read); NaN where the campaign has no number.
    """
    results = []
    for _, row in paper.iterrows():
        relative = pd.notna(row["relative_to"])
        if row["metric"] == BEST_EPOCH_CAP:
            point, unit, factor, how = _best_epoch_cap(validation, row), "epochs", 1.0, "the cap validation chooses"
        else:
            column = METRICS[row["metric"]][0]
            if row["qualifier"] == "up_to":
                point = _up_to(curves, validation, row, column)
            elif relative:
                point = _relative_point(curves, validation, row, column, row["train_size"])
            else:
                point = _point(
                    curves,
                    validation,
                    row["dataset"],
                    row["method"],
                    row["train_size"],
                    column,
                    row["pretrain_size"],
                    row["epoch_cap"],
                )
            if relative:
                unit, factor = row["unit"], 1.0
                how = RELATIVE_UNITS[unit].format(method=row["method"], reference=row["relative_to"])
            else:
                _, factor, unit, how = UNITS[row["unit"]]
        notes = [how, QUALIFIERS.get(row["qualifier"], "")]
        results.append(
            {
                "paper_value": row["value"] * factor,
                "campaign_unit": unit,
                "reproduced": point["reproduced"],
                "n_seeds": point["n_seeds"],
                "reproduced_train_size": point.get("train_size", row["train_size"]),
                "reproduced_pretrain_size": point["key"][0],
                "reproduced_epoch_cap": point["key"][1],
                "n_candidates": point["n_candidates"],
                "chosen_by": point["chosen_by"],
                "compared_as": "; ".join(n for n in notes if n),
            }
        )
    table = pd.concat([paper.reset_index(drop=True), pd.DataFrame(results)], axis=1)
    table["difference"] = table["reproduced"] - table["paper_value"]
    table["ratio"] = table["reproduced"] / table["paper_value"]
    sizes = {c: "Int64" for c in ("reproduced_train_size", "reproduced_pretrain_size", "reproduced_epoch_cap")}
    return table[PAPER_COLUMNS + RESULT_COLUMNS].astype(sizes)


def with_low_fidelity(curves: pd.DataFrame, fidelity_tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``curves`` plus one ``low_fidelity`` row per dataset of ``fidelity_tables`` (dataset -> its
    ``tables/fidelity_comparison.csv``)."""
    extra = [low_fidelity_point(dataset, table) for dataset, table in fidelity_tables.items()]
    return pd.concat([curves, pd.DataFrame(extra)], ignore_index=True) if extra else curves


def _row_label(row: pd.Series) -> str:
    relative = f" vs {row['relative_to']}" if pd.notna(row["relative_to"]) else ""
    fixed = [
        f"{key} {row[column]}"
        for key, column in (("pre", "pretrain_size"), ("cap", "epoch_cap"))
        if pd.notna(row[column])
    ]
    setting = f" ({', '.join(fixed)})" if fixed else ""
    size = (
        "up to, over n"
        if row["qualifier"] == "up_to"
        else f"n={row['train_size'] if pd.notna(row['train_size']) else 'all'}"
    )
    approximate = " ~" if row["qualifier"] == "approximately" else ""
    return (
        f"{row['figure'] if pd.notna(row['figure']) else ''} {row['dataset']} {row['method']}{setting}"
        f"{relative}, {size}: {row['metric']}{approximate} ({row['campaign_unit']})"
    ).strip()


def comparison_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """Reproduced / paper value per reported number (log scale, 1 = reproduced exactly), with both
    values written beside each point; numbers the campaign has no point for are listed as such."""
    from mftl.matplotlib_agg import plt  # matplotlib only here: planning imports this module (0.4 s saved per plan)

    fig, ax = plt.subplots(figsize=(9.0, 1.2 + 0.3 * len(table)))
    positions = np.arange(len(table))[::-1]
    drawable = (table["ratio"] > 0).fillna(False).to_numpy()
    ratios = table["ratio"].to_numpy(dtype=float)
    low = min([1.0, *ratios[drawable]]) / 3.0
    high = max([1.0, *ratios[drawable]]) * 3.0
    ax.axvline(1.0, color="0.5", lw=0.8, zorder=0)
    ax.plot(ratios[drawable], positions[drawable], "o", color="tab:blue")
    for y, (_, row), shown in zip(positions, table.iterrows(), drawable):
        if shown:
            ax.annotate(
                f"{row['reproduced']:.3g} vs {row['paper_value']:.3g}",
                (row["ratio"], y),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        else:
            why = "no campaign point" if pd.isna(row["reproduced"]) else f"reproduced {row['reproduced']:.3g}"
            ax.text(low * 1.1, y, f"{why} (paper {row['paper_value']:.3g})", va="center", fontsize=7, color="0.4")
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(-0.7, len(table) - 0.3)
    ax.set_yticks(positions, [_row_label(row) for _, row in table.iterrows()], fontsize=7)
    ax.set_xlabel("reproduced / paper (reproduced: mean over seeds)")
    ax.set_title(title or "campaign against the paper's reported errors", fontsize=10)
    fig.tight_layout()
    return fig
