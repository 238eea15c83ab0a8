"""The ``negative_transfer`` figure (as fig. S1 of Cui, Reuter, Margraf 2025): the pre-trained model's and the
fine-tuned models' test errors on one scale, from ``tables/negative_transfer.csv`` and
``tables/pretrain_validation.csv``."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from mftl.report.colours import size_colours
from mftl.report.figure_parts import (
    LINESTYLES,
    MISSING_ENERGIES,
    PANELS,
    FigureSkipped,
    empty_panel,
    has_values,
    log_axis_with_ticks,
    plain_log_axis,
    tiny_note,
)
from mftl.report.matplotlib_agg import plt


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
                tiny_note(
                    ax, f"-{pct:.0f}% in {falling_window(cap)} ep.", (cap, means.loc[cap, "valid_loss"]),
                    (4, 4 + 8 * k), color=colour,
                )  # fmt: skip
    for cap in caps:
        ax.axvline(cap, color="0.8", linestyle=":", linewidth=1, label="_cap")
    log_axis_with_ticks(ax, sorted({1, *caps}), "pre-training epochs (caps marked)", "low-fidelity validation loss")
    ax.set_title(
        f"pre-training validation loss; red: still falling > {STILL_FALLING_PCT:.0f}% at the cap", fontsize="small"
    )
    ax.legend(fontsize="x-small")


#: the figure's caption (below it, and in the files' metadata)
CAPTION = (
    "As fig. S1 of Cui, Reuter, Margraf 2025: the pre-trained model's test error on the low-fidelity labels and "
    "the test errors of the models fine-tuned from it on the high-fidelity labels, on one scale, means over seeds. "
    "Negative transfer: pre-training longer lowers the first and raises the second."
)
PRETRAINED_LABEL = "pre-trained, on the low-fidelity test labels"


def _fine_tuned_label(size: int, suffix: str) -> str:
    return f"fine-tuned, on the high-fidelity test labels, train {size}{suffix}"


def _draw_over_caps(ax: plt.Axes, rows: pd.DataFrame, metric: str, style: str, suffix: str) -> None:
    """Against the epoch cap: the pre-trained model's low-fidelity RMSE (grey squares) and the fine-tuned models'
    high-fidelity RMSE (a line per training size, in its colour)."""
    for size, colour in size_colours(rows["train_size"].dropna()).items():
        hf = rows[rows["train_size"] == size].sort_values("epoch_cap")
        ax.plot(hf["epoch_cap"], hf[f"hf_{metric}"], marker="o", color=colour, linestyle=style,
                label=_fine_tuned_label(size, suffix))  # fmt: skip
    lf = rows.drop_duplicates("epoch_cap").sort_values("epoch_cap")
    ax.plot(
        lf["epoch_cap"], lf[f"lf_{metric}"], marker="s", color="0.3", linestyle=style, label=PRETRAINED_LABEL + suffix
    )


def _draw_at_one_cap(ax: plt.Axes, rows: pd.DataFrame, metric: str, offset: float, suffix: str) -> None:
    """One epoch cap: the pre-trained model's low-fidelity RMSE at x 0 and each training size's fine-tuned
    high-fidelity RMSE at x 1, 2, ..., each point with its value written beside it."""
    points = [(0, rows[f"lf_{metric}"].iloc[0], "0.3", "s", PRETRAINED_LABEL + suffix)]
    for k, (size, colour) in enumerate(size_colours(rows["train_size"].dropna()).items(), start=1):
        value = rows.loc[rows["train_size"] == size, f"hf_{metric}"].iloc[0]
        points.append((k, value, colour, "o", _fine_tuned_label(size, suffix)))
    for x, value, colour, marker, label in points:
        ax.plot([x + offset], [value], marker=marker, color=colour, linestyle="none", markersize=7, label=label)
        if np.isfinite(value):
            tiny_note(ax, f"{value:.3g}", (x + offset, value), (6, -3), color=colour, fontsize="small")


def _draw_panel(ax: plt.Axes, table: pd.DataFrame, metric: str, label: str, caps: list[int]) -> None:
    """One metric's panel, one y axis for both the pre-trained and the fine-tuned errors (a line style, or at
    one cap a small shift, per pre-training size); without any value of the metric it says so."""
    if not has_values([*table[f"lf_{metric}"], *table[f"hf_{metric}"]]):
        empty_panel(ax, MISSING_ENERGIES if metric.startswith("energy") else f"no {label}", "", f"test {label}")
        return
    pretrain = sorted(table["pretrain_size"].astype(int).unique())
    for k, (style, pre) in enumerate(zip(LINESTYLES * len(pretrain), pretrain)):
        rows = table[table["pretrain_size"] == pre]
        suffix = f", pre-train {pre}" if len(pretrain) > 1 else ""
        if len(caps) > 1:
            _draw_over_caps(ax, rows, metric, style, suffix)
        else:
            _draw_at_one_cap(ax, rows, metric, 0.15 * (k - (len(pretrain) - 1) / 2), suffix)
    if len(caps) > 1:
        log_axis_with_ticks(ax, caps, "pre-training epoch cap", f"test {label}")
        return
    sizes = sorted(table["train_size"].dropna().astype(int).unique())
    ax.set_yscale("log")
    plain_log_axis(ax.yaxis)
    ax.set_xticks(range(len(sizes) + 1), ["pre-trained", *(f"fine-tuned\nn={n}" for n in sizes)], fontsize="small")
    ax.set_xlim(-0.5, len(sizes) + 0.8)  # room for the values
    ax.set_xlabel(f"at pre-training epoch cap {caps[0]}")
    ax.set_ylabel(f"test {label}")
    ax.grid(True, axis="y", which="both", alpha=0.3)


def _draw_validation_per_epoch(ax: plt.Axes, curve: pd.DataFrame, metric: str, pretrain: list[int]) -> None:
    """The pre-training runs' low-fidelity validation RMSE per epoch (thin grey), on the panel's own axis."""
    for style, pre in zip(LINESTYLES * len(pretrain), pretrain):
        means = _pretrain_curve_means(curve, pre)
        suffix = f", pre-train {pre}" if len(pretrain) > 1 else ""
        ax.plot(means.index, means[PRETRAIN_CURVE_METRICS[metric]], color="0.6", linestyle=style, linewidth=0.8,
                label=f"pre-training, low-fidelity validation per epoch{suffix}")  # fmt: skip


def negative_transfer(table: pd.DataFrame, title: str = "", pretrain_curve: pd.DataFrame | None = None) -> plt.Figure:
    """As fig. S1 of the paper (:data:`CAPTION`): the pre-trained model's low-fidelity test RMSE (grey squares)
    and the high-fidelity test RMSE of the models fine-tuned from it (circles, colour per training size,
    :func:`mftl.report.colours.size_colours`) on one y axis per panel, energies and forces, means over seeds
    (``tables/negative_transfer.csv``): against the epoch cap (log-log, line style per pre-training size), or with
    a single cap side by side with their values written. Negative transfer is where the two diverge.

    With ``pretrain_curve`` (``tables/pretrain_validation.csv``: the pre-training runs' validation errors per
    epoch, up to the largest cap) and several caps each panel also draws the low-fidelity validation RMSE per
    epoch (thin grey), and a third panel the validation loss per epoch with the caps marked: where it flattens,
    and whether each cap lies on its steep part (:mod:`mftl.analysis.quality`)."""
    if table.empty:
        raise FigureSkipped("no pre-trained model was evaluated")
    caps = sorted(table["epoch_cap"].astype(int).unique())
    pretrain = sorted(table["pretrain_size"].astype(int).unique())
    with_curve = pretrain_curve is not None and not pretrain_curve.empty
    fig, axes = plt.subplots(1, 3 if with_curve else 2, figsize=(16 if with_curve else 11, 4.6), layout="constrained")
    for ax, (metric, label) in zip(axes, PANELS):
        _draw_panel(ax, table, metric, label, caps)
        if with_curve and len(caps) > 1 and ax.get_lines():
            _draw_validation_per_epoch(ax, pretrain_curve, metric, pretrain)
    if with_curve:
        _draw_pretrain_loss(axes[2], pretrain_curve, caps, pretrain)
    next(ax for ax in [*axes[:2][::-1]] if ax.get_lines()).legend(fontsize="x-small")
    fidelities = table[["low_fidelity", "high_fidelity"]].dropna().drop_duplicates()
    names = f"{fidelities.iloc[0, 0]} -> {fidelities.iloc[0, 1]}" if len(fidelities) else ""
    shows = "pre-trained model and the models fine-tuned from it: test RMSE " + (
        "against the pre-training epoch cap" if len(caps) > 1 else f"at epoch cap {caps[0]}"
    )
    fig.suptitle(", ".join(filter(None, [title, names, shows])))
    fig.description = CAPTION
    fig.supxlabel("\n".join(textwrap.wrap(CAPTION, 170)), fontsize="small")
    return fig
