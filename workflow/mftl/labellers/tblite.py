"""GFN1-xTB / GFN2-xTB tight binding through tblite's ASE calculator (offline default)."""

from __future__ import annotations

import os
from typing import Any

from ase.data import chemical_symbols

#: GFN1/GFN2-xTB are parametrised for H-Rn.
SUPPORTED_ELEMENTS = frozenset(chemical_symbols[1:87])

DEFAULTS = {"method": "GFN1-xTB", "verbosity": 0}


def make_calculator(options: dict[str, Any], threads: int = 1):
    # tblite reads the OpenMP thread count at the first call of a process.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    from tblite.ase import TBLite

    return TBLite(**{**DEFAULTS, **options})
