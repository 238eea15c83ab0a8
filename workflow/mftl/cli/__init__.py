"""The ``mftl`` command line: :func:`main` parses (:mod:`mftl.cli.dispatch`) and runs one subcommand, whose
implementation is in the module of its layer (:mod:`mftl.cli.data`, :mod:`mftl.cli.training`,
:mod:`mftl.cli.evaluation`, :mod:`mftl.cli.figures`, :mod:`mftl.cli.decisions`); what they write goes through
:mod:`mftl.cli.output`. Every rule runs ``python -m mftl <subcommand>``."""

from mftl.cli.dispatch import build_parser, main

__all__ = ["build_parser", "main"]
