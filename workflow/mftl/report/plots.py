"""Figures drawn from tidy result tables (never from logs), one function per figure of the paper.

Each function takes a table (``curves.csv`` or ``tables/fidelity_comparison.csv`` as a
DataFrame) and returns a matplotlib Figure; a figure whose data is absent from the
table raises :class:`FigureSkipped` with the reason.

* :func:`fidelity_comparison` -- low vs high fidelity and zero-shot foundations vs high (paper figs. 2 and 5);
* :func:`error_vs_epoch_cap` -- test error vs pre-training epoch cap (fig. 3);
* :func:`learning_curves` -- test error vs training-set size (figs. 4 and 6);
* :func:`delta_vs_single_fidelity` -- Delta-learning vs single fidelity (fig. 7);
* :func:`fidelity_chain` -- chains of fidelities (fig. 8);
* :func:`cost` -- test error versus what each point cost, and the cost split per method
  (from ``costs.csv``; not in the paper).

Bands and error spreads are the minimum..maximum over seeds; lines are the mean. Every figure of test
error vs training size draws the low fidelity alone (its own error against the high fidelity on the test
set, ``tables/fidelity_statistics.csv``) as a black level per panel: the cheap method a route has to beat
(:class:`Baseline`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mftl.analysis.curves import series_label  # noqa: E402
from mftl.analysis.learning_curve_fits import power_law  # noqa: E402
from mftl.analysis.tables import rmse, with_series_keys  # noqa: E402
from mftl.evaluation.fidelity_comparison import RELATIVE_ENERGY, fidelity_errors  # noqa: E402
from mftl.methods import (
    CHAIN_PREFIX,  # noqa: E402
    ZEROSHOT,  # noqa: E402 (drawn as a level, not a curve over training sizes)
)
from mftl.planning.figure_catalogue import (  # noqa: E402, F401 (CHOOSING_FIGURES, LEARNING_CURVE_FIGURES: figures_cli)
    CHOOSING_FIGURES,
    FIGURE_KINDS,
    LEARNING_CURVE_FIGURES,
)
from mftl.report.decision_figures import cost_to_target  # noqa: E402, F401 (a figure kind: FIGURE_FUNCTIONS)

PANELS = (
    ("energy_rmse_meV_atom", "energy RMSE (meV/atom)"),
    ("forces_rmse_meV_A", "force RMSE (meV/$\\AA$)"),
)
TRAIN_SIZE_LABEL = "high-fidelity training configurations"
LINESTYLES = ("-", "--", ":", "-.")


class FigureSkipped(ValueError):
    """The table holds none of the data a figure shows; the message says what is missing."""


@dataclass(frozen=True)
class Baseline:
    """The low fidelity alone: its error against the high fidelity on the test set (a row ``molecule`` all of
    ``tables/fidelity_statistics.csv``): relative energies per atom (meV/atom; each side's own least-squares
    atomic energies removed) and force components (meV/A). ``name``: the method (e.g. GFN1-xTB)."""

    name: str
    energy_rmse_meV_atom: float
    forces_rmse_meV_A: float

    def label(self, metric: str) -> str:
        """The legend entry in the panel of ``metric`` (energies say they are relative energies)."""
        return f"{self.name} alone" + (" (relative energies)" if metric.startswith("energy") else "")


BASELINE_STYLES = ("-", "--", ":", "-.")


def _draw_baselines(ax: plt.Axes, baselines: Sequence[Baseline], metric: str) -> None:
    """Each baseline's ``metric`` as a black horizontal level (none where it is NaN)."""
    for style, baseline in zip(BASELINE_STYLES * len(baselines), baselines):
        value = getattr(baseline, metric)
        if np.isfinite(value):
            ax.axhline(value, color="black", linestyle=style, linewidth=1.2, label=baseline.label(metric))


# ---- shared drawing ------------------------------------------------------------------


def _seed_band(rows: pd.DataFrame, x: str, metric: str) -> pd.DataFrame:
    """Mean, min and max of ``metric`` over seeds per value of ``x``, sorted by ``x``; rows without a value
    (energies of undetermined reference, NaN) are left out, a point without any is not drawn."""
    return rows.dropna(subset=[metric]).groupby(x)[metric].agg(["mean", "min", "max"]).sort_index()


def _draw_band(ax: plt.Axes, band: pd.DataFrame, label: str, **style) -> None:
    (line,) = ax.plot(band.index, band["mean"], marker="o", label=label, **style)
    ax.fill_between(band.index, band["min"], band["max"], color=line.get_color(), alpha=0.2, linewidth=0)


def _log_axis_with_ticks(ax: plt.Axes, ticks: Iterable[int], xlabel: str, ylabel: str) -> None:
    ticks = sorted(int(t) for t in ticks)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def _draw_fit(ax: plt.Axes, band: pd.DataFrame) -> None:
    """The power-law fit of a series' seed means (mftl.analysis.learning_curve_fits), dashed in the colour of its
    last line, over the measured sizes only; nothing for fewer than two finite sizes."""
    finite = band[np.isfinite(band["mean"])]
    if len(finite) < 2:
        return
    a, b, _ = power_law(finite.index, finite["mean"])
    sizes = np.geomspace(finite.index.min(), finite.index.max(), 50)
    ax.plot(sizes, a * sizes ** (-b), linestyle="--", linewidth=1, color=ax.get_lines()[-1].get_color(), label="_fit")


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


def _learning_curve_figure(
    series: Mapping[str, pd.DataFrame], title: str, fits: bool = False, baselines: Sequence[Baseline] = ()
) -> plt.Figure:
    """Energy and force RMSE vs training size, one line (mean, band min..max over seeds) per series; with
    ``fits`` the power law of each series dashed beside it; a ring marks a point one of whose runs ended at
    max_epochs (under-trained, ``reached_max_epochs`` in curves.csv); each of ``baselines`` a black level."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
    sizes = set().union(*(rows["train_size"] for rows in series.values()))
    for ax, (metric, label) in zip(axes, PANELS):
        ringed = False
        for name, rows in series.items():
            band = _seed_band(rows, "train_size", metric)
            _draw_band(ax, band, name)
            if fits:
                _draw_fit(ax, band)
            flagged = undertrained_sizes(rows)
            if flagged:
                _ring_undertrained(ax, band, flagged, "_undertrained" if ringed else UNDERTRAINED_LABEL)
                ringed = True
        _draw_baselines(ax, baselines, metric)
        _log_axis_with_ticks(ax, sizes, TRAIN_SIZE_LABEL, label)
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


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


# ---- the figures ------------------------------------------------------------------------


def fidelity_comparison(table: pd.DataFrame, title: str = "", n_outliers: int = 3) -> plt.Figure:
    """Low fidelity (and each zero-shot foundation) vs the high fidelity on the test set, one row of
    panels per compared source: parity of relative energies per atom (eV/atom; each side's own
    least-squares atomic energies removed), the ``n_outliers`` worst configurations marked with their
    config ids, and a histogram of force-component errors (meV/A); RMSEs (meV/atom, meV/A) in the
    legends. ``table`` as written by ``mftl fidelity-comparison-table``."""
    from mftl.analysis.tables import fidelity_outliers
    from mftl.evaluation.fidelity_comparison import compared_sources

    if table.empty:
        raise FigureSkipped("the fidelity table is empty")
    high = str(table["high_fidelity"].iloc[0])
    sources = compared_sources(table)
    outliers = fidelity_outliers(table, n=n_outliers)
    fig, axes = plt.subplots(len(sources), 2, figsize=(9, 4 * len(sources)), constrained_layout=True, squeeze=False)
    for (parity, histogram), low in zip(axes, sources):
        rows = table[table["low_fidelity"].astype(str) == low]
        errors = fidelity_errors(rows)
        energies = rows[rows["quantity"] == RELATIVE_ENERGY]
        parity.scatter(
            energies["high"],
            energies["low"],
            s=8,
            alpha=0.6,
            label=f"{len(energies)} test configurations\nRMSE {rmse(errors['energy_meV_atom']):.1f} meV/atom",
        )
        limits = [
            min(energies["high"].min(), energies["low"].min()),
            max(energies["high"].max(), energies["low"].max()),
        ]
        parity.plot(limits, limits, color="black", linewidth=0.8, label="parity")
        worst = outliers[(outliers["compared"] == low) & outliers["energy_rank"].notna()]
        marked = energies.set_index("config_id").loc[worst["config_id"]]
        parity.scatter(
            marked["high"],
            marked["low"],
            s=30,
            facecolors="none",
            edgecolors="red",
            label=f"worst {len(marked)} (config id)",
        )
        for k, (config_id, point) in enumerate(marked.iterrows()):  # staggered, so close points' ids stay apart
            parity.annotate(
                str(config_id),
                (point["high"], point["low"]),
                fontsize="x-small",
                color="red",
                xytext=(12, 12 - 11 * k),
                textcoords="offset points",
                arrowprops={"arrowstyle": "-", "color": "red", "linewidth": 0.5},
            )
        parity.set_xlabel(f"{high} relative energy (eV/atom)")
        parity.set_ylabel(f"{low} relative energy (eV/atom)")
        parity.set_aspect("equal", adjustable="datalim")
        parity.legend(fontsize="small")

        force_errors = errors["forces_meV_A"]
        shown, note = clipped_range(force_errors)
        histogram.hist(
            force_errors,
            bins=min(60, max(10, len(force_errors) // 20)),
            range=shown,
            alpha=0.8,
            label=f"{low} $-$ {high}\nRMSE {rmse(force_errors):.0f} meV/$\\AA$" + (f"\n{note}" if note else ""),
        )
        histogram.set_xlabel(f"force component error, {low} $-$ {high} (meV/$\\AA$)")
        histogram.set_ylabel("force components")
        histogram.legend(fontsize="small")
    fig.suptitle(title or " / ".join(f"{low} vs {high}" for low in sources))
    return fig


#: the force-error histogram shows this central quantile range when the tails stretch the axis
CLIP_QUANTILES = (0.005, 0.995)


def clipped_range(errors: np.ndarray) -> tuple[tuple[float, float] | None, str]:
    """The histogram's x range and a note: the 0.5-99.5% quantile range when the full range is more than
    three times wider (a narrow peak with far tails), else None (all of it) and no note."""
    errors = np.asarray(errors, dtype=float)
    if errors.size == 0:
        return None, ""
    low, high = np.quantile(errors, CLIP_QUANTILES)
    if high <= low or errors.max() - errors.min() <= 3 * (high - low):
        return None, ""
    outside = int(np.sum((errors < low) | (errors > high)))
    note = f"x clipped to the 0.5-99.5% quantiles: {outside} of {errors.size} components outside"
    return (float(low), float(high)), note


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
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(sizes)))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for ax, (metric, label) in zip(axes, PANELS):
        for colour, size in zip(colours, sizes):
            for style, pre in zip(LINESTYLES * len(pretrain), pretrain):
                rows = mftl[(mftl["train_size"] == size) & (mftl["pretrain_size"] == pre)]
                if rows.empty:
                    continue
                name = f"train {size}" + (f", pre-train {pre}" if len(pretrain) > 1 else "")
                _draw_band(ax, _seed_band(rows, "epoch_cap", metric), name, color=colour, linestyle=style)
        _log_axis_with_ticks(ax, caps, "pre-training epoch cap", label)
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
    fig = _learning_curve_figure(_series_by_label(curves), title, fits=True, baselines=baselines)
    zeroshot = curves[curves["method"] == ZEROSHOT]
    by_foundation = list(zeroshot.groupby(zeroshot.apply(series_label, axis=1), sort=True)) if len(zeroshot) else []
    energy_ax, forces_ax = fig.axes[:2]
    levels = [  # a foundation as it is
        forces_ax.axhline(rows["forces_rmse_meV_A"].mean(), color="grey", linestyle=style, linewidth=1, label=label)
        for style, (label, rows) in zip(LINESTYLES * len(by_foundation), by_foundation)
    ]
    if by_foundation:
        note = ZEROSHOT_ENERGY_NOTE.format(
            names=", ".join(label for label, _ in by_foundation),
            values=", ".join(f"{rows['energy_rmse_meV_atom'].mean():.1f}" for _, rows in by_foundation),
        )
        fig.supxlabel("\n".join(textwrap.wrap(note, 150)), fontsize="small")
        forces_ax.legend(handles=levels, fontsize="small")
    energy_ax.legend(fontsize="small", title=band_note(curves), title_fontsize="small")
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
    return _learning_curve_figure(series, _title(curves, title), baselines=baselines)


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
    series = _series_by_label(chain.assign(method=chain["method"] + ": " + chain["fidelities"].astype(str)))
    if not _method_rows(curves, "scratch").empty:
        series["scratch"] = _method_rows(curves, "scratch")
    series.update(_mftl_at_best_cap(curves, validation))
    return _learning_curve_figure(series, _title(curves, title), baselines=baselines)


COST_PARTS = (
    ("high-fidelity labels", ["hf_labels_s"]),
    ("low-fidelity labels", ["lf_labels_s"]),
    (
        "pre-training, foundation, earlier chain stages (with their labels)",
        ["pretrain_s", "foundation_s", "chain_stages_s"],
    ),
    ("training", ["training_s"]),
    ("evaluation", ["evaluation_s"]),
)


#: names of the cost components, as the figure's caption names the unknown ones
COMPONENT_NAMES = {
    "hf_labels_s": "high-fidelity labels",
    "lf_labels_s": "low-fidelity labels",
    "pretrain_s": "pre-training",
    "foundation_s": "foundation model",
    "chain_stages_s": "earlier chain stages",
    "training_s": "training",
    "evaluation_s": "evaluation",
}


def _unknown_parts(rows: pd.DataFrame) -> list[str]:
    """Names of the cost components that are NaN in any of ``rows``."""
    return [COMPONENT_NAMES[c] for c in COMPONENT_NAMES if rows[c].isna().any()]


def unknown_cost_caption(costs: pd.DataFrame) -> str:
    """'cost unknown: <series>: <parts>; ...' naming, per series, the cost components that are NaN
    in any of its rows; empty when every cost is known."""
    table = with_series_keys(costs).assign(series=lambda t: t.apply(series_label, axis=1))
    named = []
    for series, rows in table.groupby("series", sort=True):
        parts = _unknown_parts(rows)
        if parts:
            named.append(f"{series}: {', '.join(parts)}")
    return "cost unknown: " + "; ".join(named) if named else ""


def _known_cost_means(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per training size: mean ``metric``, mean known cost (s; the total where every part is known, a
    lower bound otherwise) and whether every part of every seed's cost is known."""
    parts = rows[list(COMPONENT_NAMES)]
    per_row = pd.DataFrame(
        {
            "train_size": rows["train_size"],
            metric: rows[metric],
            "known_s": parts.sum(axis=1, skipna=True),
            "complete": parts.notna().all(axis=1),
        }
    )
    return per_row.groupby("train_size").agg({metric: "mean", "known_s": "mean", "complete": "all"}).sort_index()


#: units of the cost figure, (name, seconds), chosen by :func:`cost_unit` from the data
COST_UNITS = (("s", 1.0), ("min", 60.0), ("h", 3600.0))


def cost_unit(seconds: Iterable[float]) -> tuple[str, float]:
    """The unit a cost axis reads best in: seconds up to 2 minutes, minutes up to 2 hours, else hours
    (the largest finite value decides); returns (name, seconds per unit)."""
    values = np.asarray([v for v in seconds if np.isfinite(v)], dtype=float)
    largest = values.max() if values.size else 0.0
    for name, scale in COST_UNITS:
        if largest < 120 * scale or name == COST_UNITS[-1][0]:
            return name, scale
    raise AssertionError("unreachable")


def _readable_log_axis(axis: matplotlib.axis.Axis) -> None:
    """Log-axis ticks at 1, 2 and 5 per decade, plain numbers, no minor labels (they ran together)."""
    axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _tiny_note(ax: plt.Axes, text: str, xy: tuple[float, float], offset: tuple[float, float], **style) -> None:
    """A small text ``offset`` points from a data point."""
    ax.annotate(text, xy, xytext=offset, textcoords="offset points", fontsize="xx-small", **style)


def _draw_cost_panel(ax: plt.Axes, table: pd.DataFrame, metric: str, label: str, unit: tuple[str, float]) -> None:
    """RMSE against cost per series: filled markers where the cost is complete, open where part is unknown;
    each point labelled with its training size (n=...)."""
    name_unit, scale = unit
    for name, rows in table.groupby("series", sort=True):
        means = _known_cost_means(rows, metric)
        cost_in_unit = means["known_s"] / scale
        (line,) = ax.plot(cost_in_unit, means[metric], label=name)
        complete = means["complete"].to_numpy()
        ax.plot(cost_in_unit[complete], means[metric][complete], "o", color=line.get_color(), label="_filled")
        ax.plot(
            cost_in_unit[~complete],
            means[metric][~complete],
            "o",
            color=line.get_color(),
            markerfacecolor="white",
            label="_open",
        )
        for size, x, y in zip(means.index, cost_in_unit, means[metric], strict=True):
            _tiny_note(ax, f"n={int(size)}", (x, y), (4, 4), color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        _readable_log_axis(axis)
    ax.tick_params(axis="x", labelrotation=30, labelsize="small")
    ax.set_xlabel(f"total cost per point ({name_unit} of the jobs' resources)")
    ax.set_ylabel(label)
    ax.grid(True, which="both", alpha=0.3)


def _draw_cost_split(ax: plt.Axes, table: pd.DataFrame, unit: tuple[str, float]) -> None:
    """Known cost parts per series at the largest training size (in ``unit``); '+ unknown: ...' after a bar
    whose cost is incomplete."""
    largest = table[table["train_size"] == table["train_size"].max()]
    split = (
        pd.DataFrame({part: largest[cols].sum(axis=1, skipna=True) for part, cols in COST_PARTS})
        .assign(series=largest["series"])
        .groupby("series")
        .mean()
        / unit[1]
    )
    bottom = np.zeros(len(split))
    for part in split.columns:
        ax.barh(split.index, split[part], left=bottom, label=part)
        bottom += split[part].to_numpy()
    for row, (series, end) in enumerate(zip(split.index, bottom)):
        unknown = _unknown_parts(largest[largest["series"] == series])
        if unknown:
            ax.set_xlim(right=1.5 * bottom.max())  # room for the note
            _tiny_note(ax, f"+ unknown: {', '.join(unknown)}", (end, row), (3, 0), va="center")
    ax.set_xlabel(f"{unit[0]} per point at {int(table['train_size'].max())} training configurations")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.tick_params(axis="y", labelsize="x-small")


def cost(costs: pd.DataFrame, title: str = "") -> plt.Figure:
    """Energy and force RMSE versus total cost (in s, min or h, chosen from the data: :func:`cost_unit`;
    mean over seeds per series and training size, each point labelled n=<training size>), and the cost
    split per series at the largest training size.

    A point whose cost is partly unknown (NaN components, e.g. high-fidelity labels of a user's
    own data) is drawn at its known part, a lower bound, with an open marker; the unknown parts are
    named per series below the figure and in the files' metadata (:func:`save`)."""
    if costs.empty:
        raise FigureSkipped("costs.csv has no rows")
    table = with_series_keys(costs).assign(series=lambda t: t.apply(series_label, axis=1))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    known = table[list(COMPONENT_NAMES)].sum(axis=1, skipna=True)
    unit = cost_unit(known.groupby([table["series"], table["train_size"]]).mean())
    for ax, (metric, label) in zip(axes[:2], PANELS):
        _draw_cost_panel(ax, table, metric, label, unit)
    axes[0].legend(fontsize="x-small")
    _draw_cost_split(axes[2], table, unit)
    caption = unknown_cost_caption(costs)
    if caption:
        fig.description = caption
        fig.supxlabel(
            "\n".join(textwrap.wrap(f"{caption} (open markers: the known part, a lower bound)", 160)), fontsize="small"
        )
    if title:
        fig.suptitle(title)
    return fig


def pretraining_fidelity(
    curves: pd.DataFrame, title: str = "", validation: pd.DataFrame | None = None, baselines: Sequence[Baseline] = ()
) -> plt.Figure:
    """Fine-tuned test RMSE (meV/atom, meV/A) vs training-set size, one line per pre-training
    (low) fidelity: each dataset's mftl series at its best (pre-training size, epoch cap) on its own
    ``validation`` rows; the
    first dataset's scratch for reference. ``curves``: the rows of datasets that share their
    configurations, split and high fidelity and differ in the low fidelity."""
    series: dict[str, pd.DataFrame] = {}
    for _, rows in curves.groupby("dataset", sort=False):
        best = best_mftl_series(rows, validation)
        if best is None:
            continue
        pre, cap = best
        mftl = rows[(rows["method"] == "mftl") & (rows["pretrain_size"] == pre) & (rows["epoch_cap"] == cap)]
        low = str(mftl["fidelities"].iloc[0]).split("->")[0]
        series[f"pre-trained on {low} (pre {pre}, best cap {cap})"] = mftl
    if len(series) < 2:
        raise FigureSkipped(f"{len(series)} pre-training fidelity in the curves; the figure compares two or more")
    scratch = _method_rows(curves, "scratch")
    if not scratch.empty:
        series["scratch"] = scratch[scratch["dataset"] == scratch["dataset"].iloc[0]]
    return _learning_curve_figure(series, _title(curves, title), baselines=baselines)


def _pretrain_curve_means(curve: pd.DataFrame, pre: int) -> pd.DataFrame:
    """The pre-training validation curve of pre-training size ``pre``, mean over seeds per epoch (epochs >= 1)."""
    rows = curve[(curve["pretrain_size"] == pre) & (curve["epoch"] >= 1)]
    return rows.groupby("epoch")[["valid_loss", *PRETRAIN_CURVE_METRICS.values()]].mean().sort_index()


#: the pre-training validation curve's column drawn in each panel of fig. S1 (tables/pretrain_validation.csv)
PRETRAIN_CURVE_METRICS = {
    "energy_rmse_meV_atom": "valid_energy_rmse_meV_atom",
    "forces_rmse_meV_A": "valid_forces_rmse_meV_A",
}


def _draw_pretrain_loss(ax: plt.Axes, curve: pd.DataFrame, caps: list[int], pretrain: list[int]) -> None:
    """The pre-training validation loss per epoch of the largest cap's run (mean over seeds, line style per
    pre-training size), each cap marked and labelled with how much the loss fell over the window before it
    (:func:`mftl.analysis.quality.falling_pct`; red where that is the steep part, more than STILL_FALLING_PCT)."""
    from mftl.analysis.quality import STILL_FALLING_PCT, falling_pct, falling_window

    for style, pre in zip(LINESTYLES * len(pretrain), pretrain):
        means = _pretrain_curve_means(curve, pre)
        if means.empty:
            continue
        suffix = f", pre-train {pre}" if len(pretrain) > 1 else ""
        ax.plot(means.index, means["valid_loss"], color="0.3", linestyle=style, label=f"validation loss{suffix}")
        full = curve[curve["pretrain_size"] == pre].groupby("epoch")["valid_loss"].mean().reset_index()
        for k, cap in enumerate(caps):
            if cap not in means.index:
                continue
            pct = falling_pct(full, cap)
            steep = bool(np.isfinite(pct) and pct > STILL_FALLING_PCT)
            colour = "red" if steep else "green"
            ax.plot([cap], [means.loc[cap, "valid_loss"]], marker="o", color=colour, linestyle="none", label="_cap")
            if np.isfinite(pct):
                _tiny_note(
                    ax, f"-{pct:.0f}% in {falling_window(cap)} ep.", (cap, means.loc[cap, "valid_loss"]),
                    (4, 4 + 8 * k), color=colour,
                )  # fmt: skip
    for cap in caps:
        ax.axvline(cap, color="0.8", linestyle=":", linewidth=1, label="_cap")
    _log_axis_with_ticks(ax, sorted({1, *caps}), "pre-training epochs (caps marked)", "low-fidelity validation loss")
    ax.set_title(
        f"pre-training validation loss; red: still falling > {STILL_FALLING_PCT:.0f}% at the cap", fontsize="small"
    )
    ax.legend(fontsize="x-small")


def negative_transfer(table: pd.DataFrame, title: str = "", pretrain_curve: pd.DataFrame | None = None) -> plt.Figure:
    """Fig. S1: against the pre-training epoch cap, the pre-trained model's low-fidelity test RMSE (grey
    squares, right axis) and the high-fidelity test RMSE of the models fine-tuned from it (circles, colour
    per training size, left axis), line style per pre-training size; energy and force panels, log-log; means over seeds
    (``tables/negative_transfer.csv``). Negative transfer is where the two diverge.

    With ``pretrain_curve`` (``tables/pretrain_validation.csv``: the pre-training runs' validation errors per
    epoch, up to the largest cap) each panel also draws the low-fidelity validation RMSE per epoch (thin grey,
    right axis), and a third panel the validation loss per epoch with the caps marked: where it flattens, and
    whether each cap lies on its steep part (:mod:`mftl.analysis.quality`)."""
    if table.empty:
        raise FigureSkipped("no pre-trained model was evaluated")
    caps = sorted(table["epoch_cap"].astype(int).unique())
    sizes = sorted(table["train_size"].dropna().astype(int).unique())
    pretrain = sorted(table["pretrain_size"].astype(int).unique())
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(sizes), 1)))
    with_curve = pretrain_curve is not None and not pretrain_curve.empty
    fig, axes = plt.subplots(1, 3 if with_curve else 2, figsize=(16 if with_curve else 11, 4.4), layout="constrained")
    low_axes = []
    for ax, (metric, label) in zip(axes, PANELS):
        low_ax = ax.twinx()
        low_axes.append(low_ax)
        for style, pre in zip(LINESTYLES * len(pretrain), pretrain):
            rows = table[table["pretrain_size"] == pre]
            suffix = f", pre-train {pre}" if len(pretrain) > 1 else ""
            for colour, size in zip(colours, sizes):
                hf = rows[rows["train_size"] == size].sort_values("epoch_cap")
                ax.plot(
                    hf["epoch_cap"],
                    hf[f"hf_{metric}"],
                    marker="o",
                    color=colour,
                    linestyle=style,
                    label=f"fine-tuned, train {size}{suffix}",
                )
            lf = rows.drop_duplicates("epoch_cap").sort_values("epoch_cap")
            low_ax.plot(
                lf["epoch_cap"],
                lf[f"lf_{metric}"],
                marker="s",
                color="0.4",
                linestyle=style,
                label=f"pre-trained, low fidelity{suffix}",
            )
            if with_curve:
                means = _pretrain_curve_means(pretrain_curve, pre)
                low_ax.plot(
                    means.index,
                    means[PRETRAIN_CURVE_METRICS[metric]],
                    color="0.6",
                    linestyle=style,
                    linewidth=0.8,
                    label=f"pre-training, low-fidelity validation per epoch{suffix}",
                )
        _log_axis_with_ticks(ax, caps, "pre-training epoch cap", f"high-fidelity {label}")
        low_ax.set_yscale("log")
        low_ax.set_ylabel(f"low-fidelity {label}", color="0.4")
    if with_curve:
        _draw_pretrain_loss(axes[2], pretrain_curve, caps, pretrain)
    handles = [h for a in (axes[1], low_axes[1]) for h in a.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, fontsize="small", loc="outside lower center", ncol=min(len(handles), 4))
    fidelities = table[["low_fidelity", "high_fidelity"]].dropna().drop_duplicates()
    names = f"{fidelities.iloc[0, 0]} -> {fidelities.iloc[0, 1]}" if len(fidelities) else ""
    fig.suptitle(", ".join(filter(None, [title, names, "test RMSE vs pre-training epoch cap (fig. S1)"])))
    return fig


#: ``mftl figure --kind K`` draws ``FIGURE_FUNCTIONS[K](table, title)`` (``validation=`` too for CHOOSING_FIGURES):
#: the function named K, for each K of
#: mftl.planning.figure_catalogue.FIGURE_KINDS (a kind without its function fails here, on import)
FIGURE_FUNCTIONS: dict[str, Callable[..., plt.Figure]] = {kind: globals()[kind] for kind in FIGURE_KINDS}


#: the metadata key of each format that holds a figure's ``description``
DESCRIPTION_KEYS = {"png": "Description", "pdf": "Subject", "svg": "Description"}


def save(fig: plt.Figure, paths: Iterable[str]) -> None:
    """Write the figure to each path atomically, format from the suffix (png at 150 dpi, pdf, svg).
    A figure's ``description`` attribute, if set (e.g. the costs it could not show), goes into each
    file's metadata (PNG and SVG ``Description``, PDF ``Subject``)."""
    from mftl.atomic import atomic_path

    description = getattr(fig, "description", "")
    for path in paths:
        fmt = str(path).rsplit(".", 1)[-1]
        metadata = {DESCRIPTION_KEYS[fmt]: description} if description and fmt in DESCRIPTION_KEYS else None
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata)
    plt.close(fig)
