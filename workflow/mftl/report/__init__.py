"""Report: figures and the report's first page, drawn from the analysis' tables.

:mod:`~mftl.report.plots` (every figure by its kind; the figures by family in their own modules, matplotlib
through :mod:`~mftl.report.matplotlib_agg`, the Agg backend), :mod:`~mftl.report.paper_figure` and
:mod:`~mftl.report.report_page`.
"""
