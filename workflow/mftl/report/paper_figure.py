"""The paper comparison's figure: reproduced / paper value per reported number
(``results/figures/paper_comparison.png``, from :func:`mftl.analysis.paper_comparison.paper_comparison`'s table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mftl.report.figure_parts import plain_log_axis
from mftl.report.matplotlib_agg import plt


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
    plain_log_axis(ax.xaxis)
    ax.set_xlim(low, high)
    ax.set_ylim(-0.7, len(table) - 0.3)
    ax.set_yticks(positions, [_row_label(row) for _, row in table.iterrows()], fontsize=7)
    ax.set_xlabel("reproduced / paper (reproduced: mean over seeds)")
    ax.set_title(title or "campaign against the paper's reported errors", fontsize=10)
    fig.tight_layout()
    return fig
