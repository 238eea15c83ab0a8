"""Planning: from a config to the campaign's runs, before anything runs.

The config's checks (:mod:`~mftl.planning.config`, the source files' :mod:`~mftl.planning.source_checks`
over their :mod:`~mftl.planning.source_index`, :mod:`~mftl.planning.cluster_checks`, one campaign per
:mod:`~mftl.planning.results_folder`), the runs a config asks for (:mod:`~mftl.planning.campaign`), the
figures it makes (:mod:`~mftl.planning.figure_catalogue`), the paper results it compares with
(:mod:`~mftl.planning.paper_results`), and ``mftl init``'s starter config
(:mod:`~mftl.planning.starter_config`, its :mod:`~mftl.planning.runtime_estimate`). Snakemake imports this
layer at every plan, so it imports no analysis code, pandas or matplotlib at module level.
"""
