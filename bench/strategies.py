"""Fine-tuning strategies side by side: trainable parameters, seconds per epoch and test errors per method.

Reads a campaign's results folder of one dataset (``results/<dataset>``): every run folder's ``training.json``
(``trainable_parameters``, ``wall_s``, ``epochs_run``, ``stopped_early``) and ``curves.csv`` (test RMSE per training
size, mean and spread over seeds), and prints one table per quantity, a row per method:

    python bench/strategies.py results/demo

``s/epoch`` is the run's wall time over its epochs (data preparation and the model export included, so short
runs read high); ``trainable`` is what the run trained (mftl.training.strategies.trainable_parameters: LoRA's
adapters, else the parameters whose values changed).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import pandas as pd


def run_rows(results: Path) -> pd.DataFrame:
    rows = []
    for info_file in sorted(results.glob("models/*/*/training.json")):
        info = json.loads(info_file.read_text())
        epochs = info.get("epochs_run") or 0
        rows.append(
            {
                "method": info_file.parent.parent.name,
                "train_size": info.get("size"),
                "trainable": info.get("trainable_parameters"),
                "epochs": epochs,
                "s_per_epoch": info["wall_s"] / epochs if epochs else float("nan"),
                "at_max": bool(not info.get("stopped_early") and epochs >= info.get("max_epochs", 10**9)),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results/<dataset>")
    args = parser.parse_args()
    runs = run_rows(args.results)
    print(f"{'method':24s} {'runs':>4s} {'trainable':>10s} {'epochs':>7s} {'s/epoch':>8s} {'at max':>6s}")
    for method, group in runs.groupby("method"):
        trainable = group["trainable"].dropna()
        print(
            f"{method:24s} {len(group):4d} {int(statistics.median(trainable)) if len(trainable) else '-':>10} "
            f"{statistics.median(group['epochs']):7.0f} {statistics.median(group['s_per_epoch']):8.2f} "
            f"{int(group['at_max'].sum()):6d}"
        )
    curves = pd.read_csv(args.results / "curves.csv")
    for metric in ("energy_rmse_meV_atom", "forces_rmse_meV_A"):
        table = curves[curves["train_size"] > 0].groupby(["method", "train_size"])[metric].agg(["mean", "std", "count"])
        print(f"\ntest {metric}: mean (std over seeds, n seeds) per training size")
        wide = table.apply(lambda r: f"{r['mean']:.1f} ({r['std']:.1f}, {int(r['count'])})", axis=1).unstack()
        print(wide.to_string())


if __name__ == "__main__":
    main()
