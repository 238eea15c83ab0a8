"""mftl: multi-fidelity transfer learning of MACE interatomic potentials.

The library behind the Snakemake workflow, one subpackage per layer, each importing only the layers before
it: :mod:`mftl.data` (structures and labels), :mod:`mftl.training`, :mod:`mftl.planning` (a config to the
campaign's runs), :mod:`mftl.evaluation`, :mod:`mftl.analysis` (tables and decisions), :mod:`mftl.report`
(figures) and :mod:`mftl.cli`, beside the modules every layer uses (:mod:`mftl.paths`, :mod:`mftl.methods`,
:mod:`mftl.atomic`, :mod:`mftl.locks`, :mod:`mftl.log_filters`). Every rule calls the ``mftl`` command line
(:mod:`mftl.cli`), so each step also runs by hand.
"""

__version__ = "0.1.0"
