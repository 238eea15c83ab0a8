"""GFN1-xTB / GFN2-xTB tight binding through tblite's ASE calculator (offline default)."""

from __future__ import annotations

import os
from typing import Any

from ase.data import chemical_symbols

#: GFN1/GFN2-xTB are parametrised for H-Rn.
SUPPORTED_ELEMENTS = frozenset(chemical_symbols[1:87])

DEFAULTS = {"method": "GFN1-xTB", "verbosity": 0}


def methods() -> tuple[str, ...]:
    """The ``method`` values tblite's calculator accepts (its own table, ``tblite.interface.Calculator``)."""
    from tblite.interface import Calculator

    return tuple(Calculator._loader)


def options_problem(options: dict[str, Any]) -> str | None:
    """Why tblite would refuse these options (an unknown ``method``), or None; checked when planning."""
    try:
        known = methods()
    except ImportError:  # tblite is not installed where Snakemake plans: the labelling job checks
        return None
    method = {**DEFAULTS, **options}["method"]
    if method not in known:
        return f"options.method: tblite has no method {method!r} (known: {', '.join(known)})"
    return None


def make_calculator(options: dict[str, Any], threads: int = 1):
    # tblite reads the OpenMP thread count at the first call of a process.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    from tblite.ase import TBLite

    return TBLite(**{**DEFAULTS, **options})
