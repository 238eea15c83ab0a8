"""What mace's results file says about a run: its validation losses and errors per epoch.

``mace_run_train`` writes ``results/<name>_run-<seed>_train.txt`` in the run folder: one JSON line per
optimiser step (``mode: opt``) and per validation pass (``mode: eval``, with ``loss``, ``rmse_e_per_atom``
in eV/atom and ``rmse_f`` in eV/A, and ``head`` for multi-head runs). The evaluation before training has
``epoch: null``; mace counts epochs from 0. Read here once for the pre-training flags and curves
(:mod:`mftl.analysis.quality`, :mod:`mftl.analysis.negative_transfer`), the advice's under-training notes
(:mod:`mftl.analysis.footing`) and ``bench/convergence.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

#: columns of :func:`validation_curve` (epoch: epochs trained, 0 before training)
CURVE_COLUMNS = ["epoch", "valid_loss", "valid_energy_rmse_meV_atom", "valid_forces_rmse_meV_A"]
#: the head of a model trained on one data set, and of a multi-head fine-tuning's new data
DEFAULT_HEAD = "Default"


def records(run_dir: str | Path) -> list[dict]:
    """Every JSON line of a run folder's mace results file(s), in the order mace wrote them."""
    out = []
    for results in sorted(Path(run_dir).glob("results/*_train.txt")):
        out += [json.loads(line) for line in results.read_text().splitlines() if line.startswith("{")]
    return out


def validation_curve(run_dir: str | Path) -> pd.DataFrame:
    """The run's validation loss and RMSEs (meV/atom, meV/A) per epoch (:data:`CURVE_COLUMNS`): ``epoch`` =
    epochs trained (mace's 0-based epoch + 1; 0 for the evaluation before training). In a multi-head run the
    ``Default`` head's lines; the first line of an epoch counts (a resumed run evaluates before training
    again); empty without a results file."""
    evals = [r for r in records(run_dir) if r.get("mode") == "eval"]
    if any(r.get("head", DEFAULT_HEAD) == DEFAULT_HEAD for r in evals):
        evals = [r for r in evals if r.get("head", DEFAULT_HEAD) == DEFAULT_HEAD]
    rows = [
        [
            0 if r.get("epoch") is None else int(r["epoch"]) + 1,
            float(r.get("loss", np.nan)),
            1000.0 * float(r.get("rmse_e_per_atom", np.nan)),
            1000.0 * float(r.get("rmse_f", np.nan)),
        ]
        for r in evals
    ]
    curve = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    return curve.drop_duplicates("epoch", keep="first").sort_values("epoch").reset_index(drop=True)
