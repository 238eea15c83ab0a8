"""The paper's reported numbers beside a campaign's: ``config/paper_results.csv`` (its columns:
:mod:`mftl.planning.paper_results`) against ``curves.csv``.

The reproduced value is the mean over the campaign's seeds in the campaign's unit; a point the
campaign lacks, and an error the campaign left empty (NaN), is no number: never guessed, never a value.
:mod:`mftl.report.paper_figure` draws the comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from mftl.planning.paper_results import (
    BEST_EPOCH_CAP,
    CANDIDATE_KEYS,
    LOW_FIDELITY,
    METRICS,
    PAPER_COLUMNS,
    QUALIFIERS,
    RELATIVE_UNITS,
    UNITS,
)

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


# ---- the campaign's numbers ------------------------------------------------------


def low_fidelity_point(dataset: str, fidelity_table: pd.DataFrame) -> dict:
    """A curves.csv-like row (method ``low_fidelity``, train_size 0, seed 0) of a dataset's
    low-fidelity labels against its high fidelity: relative-energy (meV/atom) and force (meV/A)
    errors of ``tables/fidelity_comparison.csv``, as the zero-shot foundations' are computed."""
    from mftl.evaluation.error_statistics import error_statistics
    from mftl.evaluation.fidelity_comparison import compared_sources, fidelity_errors

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
    size, the validation score of :func:`mftl.evaluation.error_statistics.validation_scores` (mean over seeds), summed over
    the training sizes where every candidate has one; lowest wins. Where validation energies are undetermined
    (``allow_undetermined_e0s``), the force RMSE alone scores, as for mftl_auto. (the candidate, every
    candidate's summed score, the best cap per training size) or None without validation errors. Never reads
    a test error."""
    from mftl.evaluation.error_statistics import validation_scores

    columns = [METRICS["energy_rmse"][0], METRICS["forces_rmse"][0]]
    scored = {}  # training size -> {candidate: score}
    for size, group in rows.groupby("train_size"):
        means = {k: v for k, v in _means(group, columns).items() if np.isfinite(v[columns[1]])}
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
