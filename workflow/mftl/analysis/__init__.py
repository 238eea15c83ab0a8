"""Analysis: from the evaluations' records to tables and decisions (pandas, no plotting).

Learning curves (:mod:`~mftl.analysis.curves`, :mod:`~mftl.analysis.series`, :mod:`~mftl.analysis.tables`,
:mod:`~mftl.analysis.quality`), their fits and what they decide (:mod:`~mftl.analysis.learning_curve_fits`,
:mod:`~mftl.analysis.data_efficiency`, :mod:`~mftl.analysis.cost_to_target`, :mod:`~mftl.analysis.footing`,
:mod:`~mftl.analysis.decision_tables`, :mod:`~mftl.analysis.advice`, :mod:`~mftl.analysis.negative_transfer`), costs (:mod:`~mftl.analysis.costs`)
and the fidelities compared (:mod:`~mftl.analysis.fidelity_statistics`, :mod:`~mftl.analysis.fidelity_names`,
:mod:`~mftl.analysis.paper_comparison`).
"""
