"""matplotlib's pyplot on the Agg backend (files only, no display), for a module that draws without
importing the figures module (:mod:`mftl.report.plots` sets the same backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt"]
