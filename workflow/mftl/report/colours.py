"""The colours of the figures, defined once: one colour per route (a method, and what distinguishes its runs: the
series of :func:`mftl.analysis.series.series_label`, e.g. ``mftl (pre 500, cap 5)``, ``chain_triple (...)``) and
one per training size, the same in every figure of a campaign.

Each method has a family of shades (a matplotlib sequential colour map, :data:`METHOD_COLOURMAPS`); a method's
routes (its pre-training sizes and epoch caps, its chains, its foundations) take evenly spaced shades of it in
route order, so a route's colour depends only on the routes the campaign's table holds, which every table of a
dataset (curves.csv, costs.csv, cost_to_target.csv) holds alike. Black is the low fidelity alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib
import matplotlib.colors
import numpy as np
import pandas as pd

from mftl.analysis.series import series_label
from mftl.analysis.tables import with_series_keys
from mftl.methods import CHAIN_PREFIX, METHODS

#: method -> (colour map, lightest and darkest shade used): every method of mftl.methods.METHODS (chain_<name>: chain)
METHOD_COLOURMAPS = {
    "scratch": ("Blues", 0.55, 0.9),
    "delta": ("Reds", 0.5, 0.7),
    "mftl": ("Greens", 0.45, 0.95),
    "mftl_auto": ("Oranges", 0.5, 0.8),
    "foundation": ("Purples", 0.55, 0.9),
    "foundation_multihead": ("RdPu", 0.55, 0.9),
    "foundation_zeroshot": ("Greys", 0.45, 0.75),
    "chain": ("YlOrBr", 0.75, 0.95),
    # fine-tuning strategies: near their route's family, told apart from it
    "mftl_freeze": ("YlGn", 0.6, 0.95),
    "mftl_lora": ("GnBu", 0.6, 0.95),
    "foundation_freeze": ("BuPu", 0.6, 0.95),
    "foundation_lora": ("magma", 0.25, 0.45),
    "foundation_pseudolabel": ("PuRd", 0.6, 0.95),
}
#: the parts of a cost (mftl.report.cost_figure.COST_PARTS), in greys: no part reads as a route's colour
COST_PART_COLOURS = ("0.15", "0.35", "0.55", "0.75", "0.9")
#: training sizes: evenly spaced shades of this map, smallest size first
SIZE_COLOURMAP = ("viridis", 0.0, 0.9)


def method_family(method: str) -> str:
    """The entry of :data:`METHOD_COLOURMAPS` a method draws in (a named chain, chain_<name>: chain)."""
    family = "chain" if str(method).startswith(CHAIN_PREFIX) else str(method)
    if family not in METHODS:
        raise ValueError(f"method {method!r}: no colour (one of {', '.join(METHODS)} or {CHAIN_PREFIX}<name>)")
    return family


def _shades(colourmap: tuple[str, float, float], n: int) -> list[str]:
    name, light, dark = colourmap
    positions = np.linspace(dark, light, n) if n > 1 else [dark]
    return [matplotlib.colors.to_hex(matplotlib.colormaps[name](p)) for p in positions]


def route_colours(table: pd.DataFrame) -> dict[str, str]:
    """Route (its series label) -> colour of every route of ``table`` (rows with the columns of curves.csv's
    series: method, fidelities, pretrain_size, epoch_cap): the routes of a method in shades of its family."""
    rows = with_series_keys(table)
    labels = rows.apply(series_label, axis=1) if len(rows) else pd.Series(dtype=str)
    routes = sorted(set(zip(rows["method"].astype(str), labels)), key=lambda r: (method_family(r[0]), r[1]))
    colours = {}
    for family in dict.fromkeys(method_family(m) for m, _ in routes):
        mine = [label for method, label in routes if method_family(method) == family]
        colours.update(zip(mine, _shades(METHOD_COLOURMAPS[family], len(mine)), strict=True))
    return colours


def size_colours(sizes: Iterable[int]) -> dict[int, str]:
    """Training size -> colour, smallest size darkest."""
    ordered = sorted({int(s) for s in sizes})
    name, low, high = SIZE_COLOURMAP
    positions = np.linspace(low, high, len(ordered)) if len(ordered) > 1 else [low]
    return {s: matplotlib.colors.to_hex(matplotlib.colormaps[name](p)) for s, p in zip(ordered, positions)}
