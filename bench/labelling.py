"""Labelling throughput: the workflow's labelling step vs a plain loop of the same calculator.

Both label the same N configurations (demo geometries) on one thread,
alternating, several times; the step is `mftl label` exactly as the rule runs
it (a fresh process: imports, reading, writing, the report). With
``--labeller tblite`` (GFN1-xTB) the raw loop uses tblite's ASE calculator;
with ``--labeller dftbplus`` (DFTB3/3ob, the shipped 3ob-3-1 files) it is a
loop of ASE ``Dftb`` calls with the same settings, written here. Prints
medians, configurations per second and the ratio (target >= 0.9), and the
number of labelling jobs for 50k configurations at the paper's chunk size.
``--dftb-costs`` instead times one DFTB+ calculation of structures the size
of the paper's datasets' (for the CPU-hour projection in docs/performance.md).

    .venv/bin/python bench/labelling.py --n 500 --repeats 3
    .venv/bin/python bench/labelling.py --labeller dftbplus --n 500 --repeats 3
    .venv/bin/python bench/labelling.py --dftb-costs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHIPPED_3OB = REPO / "resources/skf/3ob-3-1"
#: labeller -> (fidelity name, options of `mftl label`)
STEP_OPTIONS = {
    "tblite": ("gfn1", {"method": "GFN1-xTB"}),
    "dftbplus": ("dftb3", {"skf_dir": str(SHIPPED_3OB), "recipe": "dftb3_3ob"}),
}

# The raw loops, as a user would write them without mftl: read, label, write.
RAW_TBLITE = """
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

# DFTB3/3ob with the same settings as the labeller (SCC 1e-6 e, Fermi 300 K, ParserVersion 13);
# argv[3] is a folder of plain .skf files, argv[4] a scratch folder reused by every calculation.
RAW_DFTB = """
import sys
import ase.io
from ase.calculators.dftb import Dftb
HUBBARD_DERIVS = {"H": -0.1857, "C": -0.1492, "N": -0.1535, "O": -0.1575}
frames = ase.io.read(sys.argv[1], ":")
for atoms in frames:
    symbols = sorted(set(atoms.get_chemical_symbols()))
    atoms.calc = Dftb(
        label="dftb", directory=sys.argv[4], slako_dir=sys.argv[3] + "/",
        Hamiltonian_SCC="Yes", Hamiltonian_SCCTolerance=1e-6, Hamiltonian_MaxSCCIterations=200,
        Hamiltonian_ThirdOrderFull="Yes", Hamiltonian_HubbardDerivs_="",
        **{"Hamiltonian_HubbardDerivs_" + s: HUBBARD_DERIVS[s] for s in symbols},
        Hamiltonian_HCorrection_="Damping", Hamiltonian_HCorrection_Exponent=4.0,
        Hamiltonian_Filling_="Fermi", **{"Hamiltonian_Filling_Temperature [Kelvin]": 300.0},
        ParserOptions_ParserVersion=13)
    atoms.arrays["dftb3_forces"] = atoms.get_forces()
    atoms.info["dftb3_energy"] = atoms.get_potential_energy()
    atoms.calc = None
ase.io.write(sys.argv[2], frames, format="extxyz")
"""


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished children (dftb+ runs, steps)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function, *args) -> tuple[float, float]:
    """(wall s, CPU s) of ``function(*args)``; on a shared machine CPU seconds are the steadier measure."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    function(*args)
    return time.perf_counter() - wall, cpu_seconds() - cpu


def raw_loop(labeller: str, path: Path, out: Path, scratch: Path) -> None:
    """The raw loop (reading, labelling, writing) inside an already running Python whose imports are done."""
    code = compile(RAW_TBLITE if labeller == "tblite" else RAW_DFTB, "<raw>", "exec")
    argv = sys.argv
    sys.argv = ["raw", str(path), str(out), str(plain_3ob()), str(scratch)]
    try:
        exec(code, {"__name__": "raw"})
    finally:
        sys.argv = argv


def plain_3ob() -> Path:
    from mftl.data.labellers.skf import plain_skf_dir

    return plain_skf_dir(SHIPPED_3OB)


def raw_script(labeller: str, path: Path, out: Path, scratch: Path) -> None:
    """The same loop as a script a user would run: a fresh process that reads, labels and writes."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            RAW_TBLITE if labeller == "tblite" else RAW_DFTB,
            str(path),
            str(out),
            str(plain_3ob()),
            str(scratch),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def workflow_step(labeller: str, path: Path, out: Path) -> None:
    fidelity, options = STEP_OPTIONS[labeller]
    cmd = [
        sys.executable,
        "-m",
        "mftl",
        "label",
        "--input",
        str(path),
        "--fidelity",
        fidelity,
        "--labeller",
        labeller,
        "--options",
        json.dumps(options),
        "--threads",
        "1",
        "--out",
        str(out),
        "--report",
        str(out) + ".report.json",
    ]
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def dftb_costs(repeats: int) -> None:
    """Seconds of one DFTB+ labelling (energy and forces, PTBP-recipe DFTB2 files, one thread) of
    structures the size of the paper's datasets'."""
    from ase.build import bulk, molecule

    from mftl.data.labellers import label_frames

    ptbp = Path(os.environ.get("MFTL_PTBP_SKF_DIR", REPO.parent / "shared/skf/ptbp-recipe"))
    tungsten = bulk("W", "bcc", a=3.165, cubic=True).repeat((3, 3, 3))
    del tungsten[0]  # 53 atoms: a vacancy cell as in the GAP tungsten set
    tungsten.rattle(0.05, seed=0)
    qm7x_sized = molecule("trans-butane")  # 14 atoms + a water 4 A away: 17, QM7-X's mean size
    water = molecule("H2O")
    water.positions += [0.0, 0.0, 4.0]
    qm7x_sized += water
    cases = [  # (what, structure): the paper's recipe (PTBP DFTB2) on its datasets' sizes
        ("ethanol, 9 atoms (malonaldehyde's size)", molecule("CH3CH2OH")),
        ("benzene, 12 atoms", molecule("C6H6")),
        ("butane + water, 17 atoms (QM7-X's mean; toluene has 15)", qm7x_sized),
        ("bcc W, 53 atoms (vacancy), kpts_density 5, 1000 K (W-W: code path only)", tungsten),
    ]
    for what, atoms in cases:
        options = {"skf_dir": str(ptbp)}
        wall, cpu = [], []
        for _ in range(repeats):
            labelled, report = label_frames([atoms], "dftb", "dftbplus", options)
            assert not report.failures, report.failures
            wall.append(labelled[0].info["dftb_wall_s"])
            cpu.append(labelled[0].info["dftb_cpu_s"])  # Python and dftb+ together
        print(f"{what}: median CPU {statistics.median(cpu):.3f} s, wall {statistics.median(wall):.3f} s of {len(cpu)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--labeller", choices=sorted(STEP_OPTIONS), default="tblite")
    parser.add_argument("--dftb-costs", action="store_true", help="time DFTB+ on paper-sized structures instead")
    args = parser.parse_args()
    if args.dftb_costs:
        dftb_costs(args.repeats)
        return
    from mftl.data.structures import read_structures, write_structures

    demo = read_structures(REPO / "resources/demo/demo.extxyz")
    frames = [demo[i % len(demo)] for i in range(args.n)]
    runs = {
        "raw loop (in process)": [],
        "raw script (fresh process: imports, read, label, write)": [],
        "workflow step (mftl label, as the rule runs it)": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path, scratch = Path(tmp) / "in.extxyz", Path(tmp) / "scratch"
        write_structures(path, frames)
        import ase.io  # noqa: F401  the in-process loop's imports stay outside its timing
        from ase.calculators.dftb import Dftb  # noqa: F401
        from tblite.ase import TBLite  # noqa: F401

        for _ in range(args.repeats):
            for name, run in zip(runs, (raw_loop, raw_script, workflow_step)):
                extra = (scratch,) if run is not workflow_step else ()
                runs[name].append(timed(run, args.labeller, path, Path(tmp) / f"{run.__name__}.extxyz", *extra))
    print(f"configurations: {args.n} (demo molecules, {args.labeller} {STEP_OPTIONS[args.labeller][1]}, 1 thread)")
    medians = {}
    for name, times in runs.items():
        wall, cpu = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        medians[name] = (wall, cpu)
        print(
            f"{name}: median wall {wall:.2f} s ({args.n / wall:.0f} conf/s), CPU {cpu:.2f} s "
            f"({args.n / cpu:.0f} conf/CPU-s) of {[(round(w, 2), round(c, 2)) for w, c in times]}"
        )
    (raw_s, raw_cpu), (script_s, script_cpu), (step_s, step_cpu) = medians.values()
    chunk = yaml.safe_load((REPO / "config/paper.yaml").read_text())["labelling"]["chunk_size"]
    print(
        f"throughput ratio workflow/raw loop: wall {raw_s / step_s:.2f}, CPU {raw_cpu / step_cpu:.2f} (target >= 0.9)"
    )
    print(
        f"throughput ratio workflow/raw script: wall {script_s / step_s:.2f}, CPU {script_cpu / step_cpu:.2f} "
        "(target >= 0.9)"
    )
    print(f"labelling jobs for 50,000 configurations at chunk_size {chunk}: {math.ceil(50000 / chunk)}")


if __name__ == "__main__":
    main()
