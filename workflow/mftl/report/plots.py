"""Every figure by its kind (:data:`FIGURE_FUNCTIONS`, what ``mftl figure --kind`` draws) and :func:`save`.
Figures are drawn from tidy result tables (never from logs), one function per figure of the paper, by family:
:mod:`~mftl.report.fidelity_figure`, :mod:`~mftl.report.learning_curve_figures`, :mod:`~mftl.report.cost_figure`,
:mod:`~mftl.report.negative_transfer_figure`, :mod:`~mftl.report.decision_figures`,
:mod:`~mftl.report.stability_figure`; what they share in
:mod:`~mftl.report.figure_parts`, their colours in :mod:`~mftl.report.colours`.

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

from collections.abc import Callable, Iterable

from mftl.planning.figure_catalogue import (  # noqa: F401 (CHOOSING_FIGURES, LEARNING_CURVE_FIGURES: figures_cli)
    CHOOSING_FIGURES,
    FIGURE_KINDS,
    LEARNING_CURVE_FIGURES,
)
from mftl.report.cost_figure import cost, cost_unit  # noqa: F401 (a figure kind; cost_unit: tests)
from mftl.report.decision_figures import cost_to_target  # noqa: F401 (a figure kind: FIGURE_FUNCTIONS)
from mftl.report.fidelity_figure import clipped_range, fidelity_comparison  # noqa: F401
from mftl.report.figure_parts import Baseline, FigureSkipped  # noqa: F401 (mftl figure: its baselines, its skips)
from mftl.report.learning_curve_figures import (  # noqa: F401 (figure kinds: FIGURE_FUNCTIONS)
    UNDERTRAINED_LABEL,
    best_mftl_series,
    delta_vs_single_fidelity,
    error_vs_epoch_cap,
    fidelity_chain,
    learning_curves,
    pretraining_fidelity,
)
from mftl.report.matplotlib_agg import plt
from mftl.report.negative_transfer_figure import negative_transfer  # noqa: F401 (a figure kind)
from mftl.report.stability_figure import stability  # noqa: F401 (a figure kind: tables/stability.csv)

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
