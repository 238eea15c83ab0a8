"""matplotlib's pyplot on the Agg backend (files only, no display): every module of the report that draws
imports pyplot from here."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt"]
