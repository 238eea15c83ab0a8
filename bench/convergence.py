"""How trainings converged: optimiser steps to the validation plateau, seconds per epoch, validation share.

Reads finished run folders (``training.json`` and mace's ``results/*_train.txt``, whose ``mode: opt`` lines
are one optimiser step each and ``mode: eval`` lines one validation pass, both with their seconds) and
prints one row per run:

* ``steps/ep``: optimiser steps per epoch (batches); ``epochs``: epochs trained; ``end``: ``early`` when
  early stopping (patience) ended the run, ``MAX`` when it ran out of max_epochs;
* ``best``: the epoch (from 1) of the lowest validation loss, the model mftl keeps; ``steps->best``: optimiser
  steps until then (the plateau's start); ``plateau%``: how much the validation loss fell over the last
  20% of the epochs before the best one (small: the curve had flattened);
* ``s/epoch``: mace's own seconds per epoch (training steps + validation passes); ``valid%``: the share of
  that spent validating.

    python bench/convergence.py results/demo/models/*/*/ results/demo/pretrain/*/

Pre-training folders are capped on purpose; for them ``best`` is the epoch of the lowest validation loss
within the run (the caps are served from their own checkpoints).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def history(run: Path) -> dict:
    """Steps, seconds and validation losses of a run's mace results file(s)."""
    steps = defaultdict(int)
    opt_s = eval_s = 0.0
    losses = {}
    for results in sorted(run.glob("results/*_train.txt")):
        for line in results.read_text().splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("mode") == "opt":
                steps[record["epoch"]] += 1
                opt_s += record.get("time", 0.0)
            elif record.get("mode") == "eval":
                eval_s += record.get("time", 0.0)
                if record.get("epoch") is not None:
                    losses[int(record["epoch"])] = record["loss"]
    return {"steps": dict(steps), "opt_s": opt_s, "eval_s": eval_s, "losses": losses}


def summary(run: Path) -> dict | None:
    info_file = run / "training.json"
    if not info_file.is_file():
        return None
    info = json.loads(info_file.read_text())
    h = history(run)
    if not h["losses"]:
        return None
    best = min(h["losses"], key=h["losses"].get)
    epochs = len(h["steps"])
    window = [e for e in h["losses"] if best - max(1, round(0.2 * (best + 1))) <= e <= best]
    first = h["losses"][min(window)]
    plateau = 100.0 * (first - h["losses"][best]) / first if first > 0 else float("nan")
    per_epoch = sum(h["steps"].values()) / max(epochs, 1)
    return {
        "run": str(run),
        "n": info.get("n_trained", info.get("size")),
        "steps_per_epoch": per_epoch,
        "epochs": epochs,
        "end": "early" if info.get("stopped_early") else "MAX" if epochs >= info.get("max_epochs", 0) else "?",
        "best_epoch": best + 1,
        "steps_to_best": sum(n for e, n in h["steps"].items() if e <= best),
        "plateau_pct": plateau,
        "s_per_epoch": (h["opt_s"] + h["eval_s"]) / max(epochs, 1),
        "valid_pct": 100.0 * h["eval_s"] / max(h["opt_s"] + h["eval_s"], 1e-12),
        "wall_s": info.get("wall_s", float("nan")),
        "best_valid_loss": h["losses"][best],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    rows = [r for r in (summary(p) for p in args.runs) if r]
    print(
        f"{'run':60s} {'n':>5s} {'steps/ep':>8s} {'epochs':>6s} {'end':>5s} {'best':>5s} {'steps->best':>11s}"
        f" {'plateau%':>8s} {'s/epoch':>7s} {'valid%':>6s} {'wall s':>7s}"
    )
    for r in rows:
        print(
            f"{r['run'][-60:]:60s} {r['n']:5d} {r['steps_per_epoch']:8.1f} {r['epochs']:6d} {r['end']:>5s}"
            f" {r['best_epoch']:5d} {r['steps_to_best']:11d} {r['plateau_pct']:8.1f} {r['s_per_epoch']:7.3f}"
            f" {r['valid_pct']:6.1f} {r['wall_s']:7.1f}"
        )


if __name__ == "__main__":
    main()
