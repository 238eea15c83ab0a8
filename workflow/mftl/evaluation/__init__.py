"""Evaluation: a trained (or foundation) model's errors on the test and validation sets.

The evaluation jobs (:mod:`~mftl.evaluation.jobs`, ``mftl evaluate`` and ``mftl zeroshot``) and the
error statistics (:mod:`~mftl.evaluation.error_statistics`: RMSE/MAE, choosing a model by validation),
over all and per molecule (:mod:`~mftl.evaluation.molecules`); two labellings of the same configurations
compared (:mod:`~mftl.evaluation.fidelity_comparison`: a low fidelity, or a zero-shot foundation, as a model).
"""
