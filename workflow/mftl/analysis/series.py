"""Legend names of the result series (a method plus what distinguishes its runs), shared by the tables,
the quality warnings, the learning-curve fits, the report and the figures."""

from __future__ import annotations

import pandas as pd


def series_label(row: pd.Series) -> str:
    """Legend name of a learning curve: method plus what distinguishes its runs."""
    parts = [row["method"]]
    if str(row["method"]).startswith("foundation") and pd.notna(row.get("fidelities")):
        parts.append(str(row["fidelities"]).split("->")[0])  # which foundation
    if pd.notna(row.get("pretrain_size")):
        parts.append(f"pre {int(row['pretrain_size'])}")
    if pd.notna(row.get("epoch_cap")):
        parts.append(f"cap {int(row['epoch_cap'])}")
    return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"
