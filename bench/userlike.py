"""A user-like dataset: a few hundred DFT-labelled configurations of several molecules, labels under keys.

Writes, from the shipped demo file, what a chemist brings: six molecules, 50 labelled configurations each
(300), energies and forces under ``dft_energy`` / ``dft_forces`` (the demo's PBE0/6-31G*), the CPU seconds
of each calculation under ``dft_cpu_s``, no isolated atoms, no ``config_id`` (mftl numbers frames itself),
and no configuration without labels (so the pre-training pool comes from the same 300 geometries, as in
issue 29's trial). Then ``mftl init`` writes the starter campaign the user would run:

    python bench/userlike.py /tmp/userlike/user.extxyz
    mftl init /tmp/userlike/user.extxyz > /tmp/userlike/user.yaml
    snakemake --cores 2 --directory /tmp/userlike --configfile /tmp/userlike/user.yaml -s $PWD/Snakefile
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ase.io import read, write

MOLECULES = ("CH3OH", "CH3CN", "H3CNH2", "CH3CHO", "CH3COOH", "C4H4O")
PER_MOLECULE = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--source", type=Path, default=Path(__file__).resolve().parents[1] / "resources/demo/demo.extxyz"
    )
    args = parser.parse_args()
    taken = {m: 0 for m in MOLECULES}
    frames = []
    for atoms in read(args.source, index=":"):
        molecule = atoms.info.get("molecule")
        if molecule in taken and taken[molecule] < PER_MOLECULE and "pbe0_energy" in atoms.info:
            copy = atoms.copy()
            copy.info = {
                "molecule": molecule,
                "dft_energy": atoms.info["pbe0_energy"],
                "dft_cpu_s": atoms.info["pbe0_cpu_s"],
            }
            copy.arrays = {"numbers": atoms.numbers, "positions": atoms.positions}
            copy.new_array("dft_forces", atoms.arrays["pbe0_forces"])
            frames.append(copy)
            taken[molecule] += 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write(args.out, frames, format="extxyz")
    print(f"{args.out}: {len(frames)} configurations of {', '.join(f'{m} ({n})' for m, n in taken.items())}")


if __name__ == "__main__":
    main()
