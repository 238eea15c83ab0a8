"""Figures of test error vs training size or epoch cap, from ``curves.csv``: ``learning_curves`` (paper figs. 4
and 6), ``error_vs_epoch_cap`` (fig. 3), ``delta_vs_single_fidelity`` (fig. 7), ``fidelity_chain`` (fig. 8) and
``pretraining_fidelity``; and which mftl series a figure shows (:func:`best_mftl_series`)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mftl.analysis.curves import series_label
from mftl.analysis.learning_curve_fits import power_law
from mftl.analysis.tables import with_series_keys
from mftl.methods import CHAIN_PREFIX, ZEROSHOT
from mftl.report.colours import route_colours, size_colours
from mftl.report.figure_parts import (
    LINESTYLES,
    MISSING_ENERGIES,
    PANELS,
    TRAIN_SIZE_LABEL,
    Baseline,
    FigureSkipped,
    draw_band,
    draw_baselines,
    empty_panel,
    has_values,
    log_axis_with_ticks,
    seed_band,
)
from mftl.report.matplotlib_agg import plt


def _draw_fit(ax: plt.Axes, band: pd.DataFrame, colour: str) -> None:
    """The power-law fit of a series' seed means (mftl.analysis.learning_curve_fits), dashed in its ``colour``,
    over the measured sizes only; nothing for fewer than two finite sizes."""
    finite = band[np.isfinite(band["mean"])]
    if len(finite) < 2:
        return
    a, b, _ = power_law(finite.index, finite["mean"])
    sizes = np.geomspace(finite.index.min(), finite.index.max(), 50)
    ax.plot(sizes, a * sizes ** (-b), linestyle="--", linewidth=1, color=colour, label="_fit")


#: legend entry of the ring around a point one of whose runs used all its max_epochs (curves.csv reached_max_epochs)
UNDERTRAINED_LABEL = "ring: a seed ended at max_epochs"


def undertrained_sizes(rows: pd.DataFrame) -> list[int]:
    """Training sizes of a series at which at least one seed's run ended at ``max_epochs`` without early
    stopping (``reached_max_epochs``; unknown counts as not flagged)."""
    if "reached_max_epochs" not in rows.columns:
        return []
    flagged = rows[rows["reached_max_epochs"].astype("boolean").fillna(False)]
    return sorted(int(n) for n in flagged["train_size"].unique())


def _ring_undertrained(ax: plt.Axes, band: pd.DataFrame, sizes: list[int], label: str) -> None:
    """An open ring around the series' mean at each size in ``sizes`` (in the colour of its last line)."""
    points = band.loc[[n for n in sizes if n in band.index]]
    if points.empty:
        return
    color = ax.get_lines()[-1].get_color()
    ax.plot(points.index, points["mean"], linestyle="none", marker="o", markersize=11, markerfacecolor="none",
            markeredgecolor=color, markeredgewidth=1.2, label=label)  # fmt: skip


def route_of(rows: pd.DataFrame) -> str:
    """The route (series label, :func:`mftl.analysis.series.series_label`) of one series' rows: its colour's key."""
    return series_label(with_series_keys(rows.head(1)).iloc[0])


def _learning_curve_figure(
    series: Mapping[str, pd.DataFrame],
    title: str,
    styles: Mapping[str, Mapping],
    fits: bool = False,
    baselines: Sequence[Baseline] = (),
) -> plt.Figure:
    """Energy and force RMSE vs training size, one line (mean, band min..max over seeds) per series in its
    ``styles`` (colour, line style); with ``fits`` the power law of each series dashed beside it; a ring marks a
    point one of whose runs ended at max_epochs (under-trained, ``reached_max_epochs`` in curves.csv); each of
    ``baselines`` a black level. A panel whose metric has no value in any series (energies with
    allow_undetermined_e0s) says so (:data:`MISSING_ENERGIES`)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
    sizes = set().union(*(rows["train_size"] for rows in series.values()))
    for ax, (metric, label) in zip(axes, PANELS):
        if not has_values(v for rows in series.values() for v in rows[metric]):
            empty_panel(ax, MISSING_ENERGIES if metric.startswith("energy") else f"no {label}", TRAIN_SIZE_LABEL, label)
            continue
        ringed = False
        for name, rows in series.items():
            band = seed_band(rows, "train_size", metric)
            draw_band(ax, band, name, **styles[name])
            if fits:
                _draw_fit(ax, band, styles[name]["color"])
            flagged = undertrained_sizes(rows)
            if flagged:
                _ring_undertrained(ax, band, flagged, "_undertrained" if ringed else UNDERTRAINED_LABEL)
                ringed = True
        draw_baselines(ax, baselines, metric)
        log_axis_with_ticks(ax, sizes, TRAIN_SIZE_LABEL, label)
    _drawn_panel(fig).legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def _drawn_panel(fig: plt.Figure) -> plt.Axes:
    """The first panel with lines (the legend's place: the energy panel, or the force panel without energies)."""
    return next((ax for ax in fig.axes if ax.get_lines()), fig.axes[0])


def _route_styles(series: Mapping[str, pd.DataFrame], curves: pd.DataFrame) -> dict[str, dict]:
    """Each series' colour: its route's in the routes of ``curves`` (:func:`mftl.report.colours.route_colours`)."""
    colours = route_colours(curves)
    return {name: {"color": colours[route_of(rows)]} for name, rows in series.items()}


def _series_by_label(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Rows per learning-curve series, keyed by legend label (mftl_auto is one series over caps);
    zero-shot rows (no training set) are left out."""
    curves = with_series_keys(curves[curves["method"] != ZEROSHOT])
    labels = curves.apply(series_label, axis=1)
    return {label: rows for label, rows in curves.groupby(labels, sort=True)}


def _title(curves: pd.DataFrame, title: str) -> str:
    if title or "dataset" not in curves:
        return title
    return ", ".join(sorted(curves["dataset"].astype(str).unique()))


def best_mftl_series(curves: pd.DataFrame, validation: pd.DataFrame | None = None) -> tuple[int, int] | None:
    """(pre-training size, epoch cap) of the mftl series a figure shows: the only one, or the one the
    validation errors choose (``validation``: valid_curves.csv rows; :func:`mftl.analysis.paper_comparison.validation_choice`,
    as the paper comparison chooses). Never chosen by a test error: several series and no validation errors
    are refused. None without mftl rows."""
    from mftl.analysis.paper_comparison import validation_choice

    mftl = curves[curves["method"] == "mftl"]
    if mftl.empty:
        return None
    candidates = sorted({(int(p), int(c)) for p, c in zip(mftl["pretrain_size"], mftl["epoch_cap"], strict=True)})
    if len(candidates) == 1:
        return candidates[0]
    rows = None if validation is None else validation[validation["method"] == "mftl"]
    if rows is not None:
        rows = rows[rows["dataset"].isin(mftl["dataset"].unique())]
    choice = None if rows is None or rows.empty else validation_choice(rows)
    if choice is None:
        raise ValueError(
            f"{len(candidates)} mftl series (pre-training size, epoch cap) in {sorted(set(mftl['dataset']))}: which "
            "one the figure shows is chosen on validation errors (valid_curves.csv, mftl figure --validation); "
            "none were given, and the test errors never choose"
        )
    return choice[0]


def _mftl_at_best_cap(curves: pd.DataFrame, validation: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    best = best_mftl_series(curves, validation)
    if best is None:
        return {}
    pre, cap = best
    rows = curves[(curves["method"] == "mftl") & (curves["pretrain_size"] == pre) & (curves["epoch_cap"] == cap)]
    return {f"mftl (pre {pre}, best cap {cap})": rows}


def _method_rows(curves: pd.DataFrame, method: str) -> pd.DataFrame:
    return curves[curves["method"] == method]


def error_vs_epoch_cap(curves: pd.DataFrame, title: str = "") -> plt.Figure:
    """Test RMSE of fine-tuned mftl models (meV/atom, meV/A) vs the pre-training epoch cap, log-log:
    energy and force panels, one line per (training size, pre-training size), colour = training
    size, line style = pre-training size; line = mean, band = min..max over seeds."""
    mftl = _method_rows(curves, "mftl")
    if mftl.empty:
        raise FigureSkipped("no rows of method mftl")
    caps = sorted(mftl["epoch_cap"].dropna().astype(int).unique())
    if len(caps) < 2:
        raise FigureSkipped(f"mftl rows hold a single epoch cap ({caps})")
    sizes = sorted(mftl["train_size"].unique())
    pretrain = sorted(mftl["pretrain_size"].astype(int).unique())
    colours = size_colours(sizes)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for ax, (metric, label) in zip(axes, PANELS):
        if not has_values(mftl[metric]):
            empty_panel(
                ax, MISSING_ENERGIES if metric.startswith("energy") else f"no {label}", "pre-training epoch cap", label
            )
            continue
        for size, colour in colours.items():
            for style, pre in zip(LINESTYLES * len(pretrain), pretrain):
                rows = mftl[(mftl["train_size"] == size) & (mftl["pretrain_size"] == pre)]
                if rows.empty:
                    continue
                name = f"train {size}" + (f", pre-train {pre}" if len(pretrain) > 1 else "")
                draw_band(ax, seed_band(rows, "epoch_cap", metric), name, color=colour, linestyle=style)
        log_axis_with_ticks(ax, caps, "pre-training epoch cap", label)
    axes[-1].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    pretrained_on = f"pre-trained on {pretrain[0]} low-fidelity configurations" if len(pretrain) == 1 else ""
    fig.suptitle(", ".join(filter(None, [_title(curves, title), pretrained_on])))
    return fig


#: the energy panel's note where zero-shot foundations are left out of it (their energies do not compare)
ZEROSHOT_ENERGY_NOTE = (
    "zero-shot {names}: energies not drawn (relative energies on per-element energies fitted on the test set, "
    "{values} meV/atom; they compare with the low fidelity in fidelity_comparison, not with trained models)"
)


def learning_curves(curves: pd.DataFrame, title: str = "", baselines: Sequence[Baseline] = ()) -> plt.Figure:
    """Test RMSE (meV/atom, meV/A) vs training-set size, log-log, one line per series, band = min..max over seeds,
    dashed its power-law fit over the measured sizes; the low fidelity alone (``baselines``) a black level.

    A zero-shot foundation (no training set) is a horizontal grey line in the force panel only: its energies are
    relative energies on per-element energies fitted on the test set itself, which no trained model gets, so
    the energy panel leaves them out and a note below the figure says so (:data:`ZEROSHOT_ENERGY_NOTE`)."""
    if curves.empty:
        raise FigureSkipped("the curves table is empty")
    series = _series_by_label(curves)
    fig = _learning_curve_figure(series, title, _route_styles(series, curves), fits=True, baselines=baselines)
    zeroshot = curves[curves["method"] == ZEROSHOT]
    by_foundation = list(zeroshot.groupby(zeroshot.apply(series_label, axis=1), sort=True)) if len(zeroshot) else []
    energy_ax, forces_ax = fig.axes[:2]
    colours = route_colours(curves)
    levels = [  # a foundation as it is
        forces_ax.axhline(
            rows["forces_rmse_meV_A"].mean(), color=colours[label], linestyle=style, linewidth=1, label=label
        )  # fmt: skip
        for style, (label, rows) in zip(LINESTYLES * len(by_foundation), by_foundation)
    ]
    if by_foundation:
        note = ZEROSHOT_ENERGY_NOTE.format(
            names=", ".join(label for label, _ in by_foundation),
            values=", ".join(f"{rows['energy_rmse_meV_atom'].mean():.1f}" for _, rows in by_foundation),
        )
        fig.supxlabel("\n".join(textwrap.wrap(note, 150)), fontsize="small")
        forces_ax.legend(handles=levels, fontsize="small")
    legend_ax = _drawn_panel(fig)
    handles = legend_ax.get_legend_handles_labels()[0] + (levels if legend_ax is forces_ax else [])
    legend_ax.legend(handles=handles, fontsize="small", title=band_note(curves), title_fontsize="small")
    return fig


def band_note(curves: pd.DataFrame) -> str:
    """What a learning curve's line and band are, with the number of seeds behind them."""
    trained = curves[curves["method"] != ZEROSHOT]
    seeds = trained.groupby(["method", "fidelities", "train_size"], dropna=False)["seed"].nunique()
    low, high = (int(seeds.min()), int(seeds.max())) if len(seeds) else (0, 0)
    if high <= 1:
        return "one seed per point (no band)"
    n = str(high) if low == high else f"{low}-{high}"
    return f"line: mean over {n} seeds; band: min-max"


def delta_vs_single_fidelity(
    curves: pd.DataFrame, title: str = "", validation: pd.DataFrame | None = None, baselines: Sequence[Baseline] = ()
) -> plt.Figure:
    """Learning curves (meV/atom, meV/A) of Delta-learning (high minus low fidelity) against training
    on the high fidelity alone (scratch) and, if present, mftl at its best (pre-training size, cap) on
    ``validation`` (:func:`best_mftl_series`)."""
    missing = [m for m in ("delta", "scratch") if _method_rows(curves, m).empty]
    if missing:
        raise FigureSkipped(f"no rows of method(s) {', '.join(missing)}")
    delta = _method_rows(curves, "delta")
    series = {
        f"scratch ({_method_rows(curves, 'scratch')['fidelities'].iloc[0]})": _method_rows(curves, "scratch"),
        f"delta ({delta['fidelities'].iloc[0]})": delta,
        **_mftl_at_best_cap(curves, validation),
    }
    return _learning_curve_figure(series, _title(curves, title), _route_styles(series, curves), baselines=baselines)


def fidelity_chain(
    curves: pd.DataFrame, title: str = "", validation: pd.DataFrame | None = None, baselines: Sequence[Baseline] = ()
) -> plt.Figure:
    """Learning curves (meV/atom, meV/A) of models pre-trained along chains of fidelities
    (methods ``chain_<name>``, one line per named chain, labelled with its fidelities, e.g. fig. 8's
    double and triple fidelity), with scratch (single fidelity) and mftl at its best cap (on ``validation``)
    for reference."""
    chain = curves[curves["method"].astype(str).str.startswith(CHAIN_PREFIX)]
    if chain.empty:
        raise FigureSkipped("no rows of a chain method (chain_<name>)")
    series = {  # each chain's route named with its fidelities
        label.replace(str(rows["method"].iloc[0]), f"{rows['method'].iloc[0]}: {rows['fidelities'].iloc[0]}", 1): rows
        for label, rows in _series_by_label(chain).items()
    }
    if not _method_rows(curves, "scratch").empty:
        series["scratch"] = _method_rows(curves, "scratch")
    series.update(_mftl_at_best_cap(curves, validation))
    return _learning_curve_figure(series, _title(curves, title), _route_styles(series, curves), baselines=baselines)


def pretraining_fidelity(
    curves: pd.DataFrame, title: str = "", validation: pd.DataFrame | None = None, baselines: Sequence[Baseline] = ()
) -> plt.Figure:
    """Fine-tuned test RMSE (meV/atom, meV/A) vs training-set size, one line per pre-training
    (low) fidelity: each dataset's mftl series at its best (pre-training size, epoch cap) on its own
    ``validation`` rows; the
    first dataset's scratch for reference. ``curves``: the rows of datasets that share their
    configurations, split and high fidelity and differ in the low fidelity.

    Each series in its route's colour among its own dataset's routes (as in that dataset's figures), a line
    style per dataset."""
    series: dict[str, pd.DataFrame] = {}
    styles: dict[str, dict] = {}
    for style, (_, rows) in zip(LINESTYLES * curves["dataset"].nunique(), curves.groupby("dataset", sort=False)):
        best = best_mftl_series(rows, validation)
        if best is None:
            continue
        pre, cap = best
        mftl = rows[(rows["method"] == "mftl") & (rows["pretrain_size"] == pre) & (rows["epoch_cap"] == cap)]
        low = str(mftl["fidelities"].iloc[0]).split("->")[0]
        name = f"pre-trained on {low} (pre {pre}, best cap {cap})"
        series[name] = mftl
        styles[name] = {"color": route_colours(rows)[route_of(mftl)], "linestyle": style}
    if len(series) < 2:
        raise FigureSkipped(f"{len(series)} pre-training fidelity in the curves; the figure compares two or more")
    scratch = _method_rows(curves, "scratch")
    if not scratch.empty:
        series["scratch"] = scratch[scratch["dataset"] == scratch["dataset"].iloc[0]]
        styles["scratch"] = {"color": route_colours(curves[curves["dataset"] == scratch["dataset"].iloc[0]])["scratch"]}
    return _learning_curve_figure(series, _title(curves, title), styles, baselines=baselines)
