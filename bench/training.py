"""Training overhead and the epoch-cap sweep.

1. A pre-training through the workflow step (`mftl train`, as the rule runs it:
   subset, E0 fit, files, mace, model copy) vs the same `mace_run_train`
   command run by hand on the same prepared files (target <= 1.03x wall time).
2. An epoch-cap sweep served from the checkpoints of one run to the largest
   cap vs one separate run per cap (expected O(max cap) vs O(sum of caps)).

Runs alternate and repeat; medians are printed. Labels are GFN1-xTB on demo
geometries, computed once at the start.

    .venv/bin/python bench/training.py --n 300 --epochs 6 --repeats 2 --caps 1 2 4 6
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ARCH = {
    "model": "MACE",
    "num_channels": 16,
    "max_L": 0,
    "correlation": 2,
    "num_interactions": 2,
    "r_max": 4.0,
    "default_dtype": "float32",
    "batch_size": 10,
}
ENV = {**os.environ, "OMP_NUM_THREADS": "2", "PATH": f"{BIN}:{os.environ['PATH']}"}


def timed(cmd, cwd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def workflow_train(pool: Path, n: int, epochs: int, out: Path) -> float:
    from mftl.cli.training import train_command
    from mftl.training.training_job import TrainingJob

    job = TrainingJob(pool, "gfn1", n, 0, epochs, hyperparameters=ARCH, keep_checkpoints=True, device="cpu")
    command = train_command(job, out, threads=2)
    return timed(command, REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--caps", type=int, nargs="+", default=[1, 2, 4, 6])
    args = parser.parse_args()
    from mftl.data.labellers import label_frames
    from mftl.data.structures import read_structures, write_structures

    frames = read_structures(REPO / "resources/demo/demo.extxyz")[::3][: args.n]
    labelled, _ = label_frames(frames, "gfn1", "tblite", {"method": "GFN1-xTB"})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pool = tmp / "pool.extxyz"
        write_structures(pool, labelled)
        via_workflow, by_hand = [], []
        for i in range(args.repeats):
            out = tmp / f"wf{i}"
            via_workflow.append(workflow_train(pool, args.n, args.epochs, out))
            command = json.loads((out / "training.json").read_text())["command"]
            hand = tmp / f"hand{i}"
            hand.mkdir()
            shutil.copy(out / "train.extxyz", hand / "train.extxyz")
            by_hand.append(timed(command, hand))
        wf, hd = statistics.median(via_workflow), statistics.median(by_hand)
        print(f"pre-training {args.n} configurations, {args.epochs} epochs, 2 threads")
        print(f"  workflow step: median {wf:.1f} s of {[round(t, 1) for t in via_workflow]}")
        print(f"  by hand:       median {hd:.1f} s of {[round(t, 1) for t in by_hand]}")
        print(f"  ratio: {wf / hd:.3f} (target <= 1.03)")

        one_run = workflow_train(pool, args.n, max(args.caps), tmp / "sweep")
        separate = sum(workflow_train(pool, args.n, cap, tmp / f"cap{cap}") for cap in args.caps)
        print(f"epoch caps {args.caps}:")
        print(f"  one run to cap {max(args.caps)} serving all caps: {one_run:.1f} s")
        print(f"  one run per cap (sum of {sum(args.caps)} epochs):   {separate:.1f} s")
        print(f"  ratio separate/one: {separate / one_run:.2f}")


if __name__ == "__main__":
    main()
