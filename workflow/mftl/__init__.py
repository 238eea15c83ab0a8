"""mftl: multi-fidelity transfer learning of MACE interatomic potentials.

The library behind the Snakemake workflow. Every rule calls the ``mftl``
command line (:mod:`mftl.cli`), so each step also runs by hand.
"""

__version__ = "0.1.0"
