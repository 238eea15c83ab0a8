"""Labelling throughput: the workflow's labelling step vs a plain loop of the same tblite calculator.

Both label the same N configurations (demo geometries) with GFN1-xTB on one
thread, alternating, several times; the step is `mftl label` exactly as the
rule runs it (a fresh process: imports, reading, writing, the report). Prints
medians, configurations per second and the ratio (target >= 0.9), and the
number of labelling jobs for 50k configurations at the paper's chunk size.

    .venv/bin/python bench/labelling.py --n 500 --repeats 3
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def raw_loop(frames) -> float:
    from tblite.ase import TBLite

    start = time.perf_counter()
    for atoms in frames:
        work = atoms.copy()
        work.calc = TBLite(method="GFN1-xTB", verbosity=0)
        work.get_potential_energy()
        work.get_forces()
    return time.perf_counter() - start


RAW_SCRIPT = """
import sys
import ase.io
from tblite.ase import TBLite
frames = ase.io.read(sys.argv[1], ":")
for atoms in frames:
    atoms.calc = TBLite(method="GFN1-xTB", verbosity=0)
    atoms.info["gfn1_energy"] = atoms.get_potential_energy()
    atoms.arrays["gfn1_forces"] = atoms.get_forces()
    atoms.calc = None
ase.io.write(sys.argv[2], frames, format="extxyz")
"""


def raw_script(path: Path, out: Path) -> float:
    """The same loop as a script a user would run: a fresh process that reads, labels and writes."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", RAW_SCRIPT, str(path), str(out)], check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def workflow_step(path: Path, out: Path) -> float:
    cmd = [sys.executable, "-m", "mftl", "label", "--input", str(path), "--fidelity", "gfn1",
           "--labeller", "tblite", "--options", '{"method": "GFN1-xTB"}', "--threads", "1",
           "--out", str(out), "--report", str(out) + ".report.json"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from mftl.structures import read_structures, write_structures

    demo = read_structures(REPO / "resources/demo/demo.extxyz")
    frames = [demo[i % len(demo)] for i in range(args.n)]
    raw, script, step = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.extxyz"
        write_structures(path, frames)
        for _ in range(args.repeats):
            raw.append(raw_loop(frames))
            script.append(raw_script(path, Path(tmp) / "raw.extxyz"))
            step.append(workflow_step(path, Path(tmp) / "out.extxyz"))
    raw_s, script_s, step_s = statistics.median(raw), statistics.median(script), statistics.median(step)
    chunk = yaml.safe_load((REPO / "config/paper.yaml").read_text())["labelling"]["chunk_size"]
    print(f"configurations: {args.n} (demo molecules, GFN1-xTB, 1 thread)")
    print(f"raw tblite loop: median {raw_s:.2f} s ({args.n / raw_s:.0f} conf/s) of {[round(t, 2) for t in raw]}")
    print(f"raw script (fresh process: imports, read, label, write): median {script_s:.2f} s "
          f"({args.n / script_s:.0f} conf/s) of {[round(t, 2) for t in script]}")
    print(f"workflow step:   median {step_s:.2f} s ({args.n / step_s:.0f} conf/s) of {[round(t, 2) for t in step]}")
    print(f"throughput ratio workflow/raw loop: {raw_s / step_s:.2f} (target >= 0.9)")
    print(f"throughput ratio workflow/raw script: {script_s / step_s:.2f} (target >= 0.9)")
    print(f"labelling jobs for 50,000 configurations at chunk_size {chunk}: {math.ceil(50000 / chunk)}")


if __name__ == "__main__":
    main()
