"""What the ``mftl`` subcommands write: JSON records and CSV tables, atomically (a killed job leaves the
previous file or none, never half of one)."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: str | Path, data: dict) -> None:
    """``data`` as indented JSON with sorted keys."""
    from mftl.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(table, path: str | Path) -> None:
    """A pandas table as CSV without its index."""
    from mftl.atomic import atomic_path

    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
