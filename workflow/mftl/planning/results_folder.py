"""One campaign per working directory: refuse to replace another campaign's campaign-level files.

``results/curves.csv``, ``results/paper_comparison.csv`` and ``results/report.html``
hold every dataset of the campaign that made them. A second campaign planned in the
same working directory (the paper campaign after ``make demo``) would replace them
with its own datasets. ``results/curves.csv`` records which campaign made them: its
``dataset`` column. When it holds a dataset this config does not have, planning
(a dry run, ``--lint``, ``--rulegraph``) warns and a run refuses before any job
(Snakemake's ``onstart``); a campaign that keeps its datasets and adds others (an
overlay such as ``config/demo_full.yaml``, a new dataset) goes on. Separate
campaigns get separate working directories (``snakemake --directory <folder>``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from mftl import paths
from mftl.planning.config import ConfigError


def campaign_conflict(config: dict, root: str | Path = ".") -> str | None:
    """Why ``<root>/results/curves.csv`` belongs to a campaign with other datasets, or None."""
    curves = Path(root) / paths.campaign_file("curves.csv")
    if not curves.is_file():
        return None
    try:
        made_by = set(pd.read_csv(curves, usecols=["dataset"])["dataset"].astype(str))
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None  # not a curves table of ours: Snakemake replaces it as any stale output
    foreign = sorted(made_by - set(config["datasets"]))
    if not foreign:
        return None
    files = ", ".join(paths.campaign_file(name) for name in ("curves.csv", "paper_comparison.csv", "report.html"))
    return (
        f"{curves} belongs to another campaign (datasets {', '.join(sorted(made_by))}); this config"
        f" (datasets {', '.join(sorted(config['datasets']))}) lacks {', '.join(foreign)} and would replace its"
        f" campaign-level files ({files}). Run each campaign in its own folder: snakemake --directory"
        " <folder> --configfile <config> (paths in the config are relative to that folder), or move those"
        " files away to replace them"
    )


def warn_campaign_files(config: dict, root: str | Path = ".") -> None:
    """Print the conflict of :func:`campaign_conflict` as a warning (planning: a dry run goes on)."""
    conflict = campaign_conflict(config, root)
    if conflict:
        print(f"WARNING: {conflict}; a run of this config is refused", file=sys.stderr)


def check_campaign_files(config: dict, root: str | Path = ".") -> None:
    """Raise ConfigError for the conflict of :func:`campaign_conflict` (before a run's first job)."""
    conflict = campaign_conflict(config, root)
    if conflict:
        raise ConfigError(conflict)
