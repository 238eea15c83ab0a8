"""The ``negative_transfer`` figure (fig. S1 of Cui, Reuter, Margraf 2025), from ``tables/negative_transfer.csv``
and ``tables/pretrain_validation.csv``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mftl.report.figure_parts import LINESTYLES, PANELS, FigureSkipped, log_axis_with_ticks, tiny_note
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
        log_axis_with_ticks(ax, caps, "pre-training epoch cap", f"high-fidelity {label}")
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
