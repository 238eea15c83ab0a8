"""The paper campaign on paper: CPU hours of labelling and training, and SLURM jobs, projected
from costs measured here.

Measured in this script, on this machine:
* the job count per rule of ``snakemake -n --configfile config/paper.yaml`` (offline);
* GFN1-xTB (tblite, one thread) seconds per configuration on demo molecules, the stand-in
  for DFTB+ on QM7-X-sized molecules (no DFTB+ binary here);
* MACE training seconds per atom and epoch with the paper's architecture (``model`` of the
  config, MACE-OFF23 medium-like) on demo molecules, 2 CPU threads, from the log's epoch times.

Projected: configuration-epochs every training of the campaign runs at most (pre-training to
its largest cap; fine-tuning, scratch, Delta, foundation and chain runs to ``max_epochs``; early
stopping only lowers this), times atoms per configuration (stated per dataset: exact for the
sGDML molecules, assumed for QM7-X and tungsten), times the measured cost per atom-epoch.
GPU hours are not projected: no GPU here; one measured epoch on the target GPU replaces the
CPU rate (``--gpu-s-per-atom-epoch``).

    .venv/bin/python bench/projection.py --configfile config/paper.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "workflow"))

#: atoms per configuration: (value, where it comes from)
ATOMS = {
    "qm7x": (17.0, "assumed: QM7-X molecules have up to 7 heavy atoms, ~17 atoms on average"),
    "tungsten": (50.0, "assumed: the GAP W cells hold 1-135 atoms (128-atom bulk, dislocation quadrupoles)"),
    "ccsdt": (12.0, "C6H6, C3H4O2, C7H8 pooled in about equal numbers: (12 + 9 + 15) / 3"),
}


def job_counts(configfile: Path) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [
                str(BIN / "snakemake"),
                "-n",
                "-s",
                str(REPO / "Snakefile"),
                "--directory",
                tmp,
                "--configfile",
                str(configfile),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    stats = out.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return {rule: int(n) for rule, n in (line.split() for line in stats)}


def gfn1_seconds_per_config(frames) -> float:
    """The raw tblite loop of bench/labelling.py (reading, labelling, writing; one thread), per configuration."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from labelling import raw_loop
    from mftl.data.structures import write_structures

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_structures(tmp / "in.extxyz", frames)
        start = time.perf_counter()
        raw_loop("tblite", tmp / "in.extxyz", tmp / "out.extxyz", tmp)
        return (time.perf_counter() - start) / len(frames)


def mace_seconds_per_atom_epoch(frames, model: dict, epochs: int) -> float:
    """Median epoch time (from mace's log timestamps, epochs after the first) per atom."""
    from mftl.data.structures import write_structures
    from mftl.training.mace_commands import ENERGY_KEY, FORCES_KEY, MaceRun

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = []
        for atoms in frames:
            copy = atoms.copy()
            copy.info = {ENERGY_KEY: 0.0}
            copy.arrays[FORCES_KEY] = 0.0 * atoms.positions
            data.append(copy)
        write_structures(tmp / "train.extxyz", data)
        flags = {**model, "batch_size": 10, "eval_interval": 1}
        run = MaceRun(
            name="bench",
            train_file=Path("train.extxyz"),
            seed=0,
            max_epochs=epochs,
            e0s={z: 0.0 for z in {int(z) for a in frames for z in a.numbers}},
            device="cpu",
            restart_latest=False,
            hyperparameters=flags,
        )
        env = {**os.environ, "OMP_NUM_THREADS": "2", "PATH": f"{BIN}:{os.environ['PATH']}"}
        subprocess.run(run.command(), cwd=tmp, env=env, check=True, capture_output=True)
        log = next((tmp / "logs").glob("*.log")).read_text()
    stamps = [
        time.mktime(time.strptime(m, "%Y-%m-%d %H:%M:%S"))
        for m in re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d+ INFO: Epoch \d+:", log, re.M)
    ]
    if len(stamps) < 3:
        raise RuntimeError("too few epochs logged to time one")
    per_epoch = sorted(b - a for a, b in zip(stamps[1:], stamps[2:]))
    n_atoms = sum(len(a) for a in frames) * 0.9  # mace holds 10% out for validation
    return per_epoch[len(per_epoch) // 2] / n_atoms


def config_epochs(ds: dict, training: dict) -> dict[str, float]:
    """Upper bound of configuration-epochs per kind of training of one dataset."""
    seeds, sizes, methods = len(ds["seeds"]), ds["train_sizes"], set(ds["methods"])
    out = {"pretrain": 0.0, "fine-tune": 0.0, "scratch/delta": 0.0, "foundation/chain": 0.0}
    if methods & {"mftl", "mftl_auto"}:
        out["pretrain"] = seeds * sum(ds["pretrain_sizes"]) * max(ds["epoch_caps"])
        out["fine-tune"] = (
            seeds * len(ds["pretrain_sizes"]) * len(ds["epoch_caps"]) * sum(sizes) * training["finetune"]["max_epochs"]
        )
    out["scratch/delta"] = len(methods & {"scratch", "delta"}) * seeds * sum(sizes) * training["scratch"]["max_epochs"]
    foundations = ds.get("foundation", [])
    n_foundations = 1 if isinstance(foundations, str) else len(foundations)
    runs = len(methods & {"foundation", "foundation_multihead"}) * n_foundations + len(ds.get("chains", {})) * (
        "chain" in methods
    )
    out["foundation/chain"] = runs * seeds * sum(sizes) * training["finetune"]["max_epochs"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(REPO / "config/paper.yaml"))
    parser.add_argument("--n", type=int, default=60, help="demo configurations to time MACE and GFN1 on")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--gpu-s-per-atom-epoch", type=float, help="measured on your GPU: projects GPU hours")
    args = parser.parse_args()
    from mftl.data.structures import read_structures
    from mftl.planning.config import check_config

    config = check_config(
        yaml.safe_load(Path(args.configfile).read_text()), REPO / "workflow/schemas/config.schema.yaml"
    )
    frames = read_structures(REPO / "resources/demo/demo.extxyz")[::7][: args.n]
    atoms_demo = sum(len(a) for a in frames) / len(frames)
    counts = job_counts(Path(args.configfile))
    lf_s = gfn1_seconds_per_config(frames)
    mace_s = mace_seconds_per_atom_epoch(frames, config["model"], args.epochs)
    print(f"machine: {os.cpu_count()} cores; demo molecules: {atoms_demo:.1f} atoms on average")
    print(f"GFN1-xTB (1 thread): {1000 * lf_s:.1f} ms per configuration (stand-in for DFTB+)")
    print(
        f"MACE, paper architecture, CPU 2 threads: {1000 * mace_s:.2f} ms per atom-epoch "
        f"({1000 * mace_s * atoms_demo:.1f} ms per demo configuration-epoch)"
    )
    print(
        f"SLURM jobs (non-local rules of the dry run): "
        f"{sum(n for r, n in counts.items() if r not in {'total', 'all'} | local_rules())} of {counts['total']} jobs"
    )
    print(json.dumps(counts))
    print()
    header = "| dataset | atoms/config | low-fidelity labels | labelling CPU-h (GFN1 rate) | config-epochs (max) | training CPU-core-h (max) |"
    if args.gpu_s_per_atom_epoch:
        header += " training GPU-h (max) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    totals = [0.0, 0.0, 0.0]
    for name, ds in config["datasets"].items():
        atoms, _ = ATOMS.get(name, (atoms_demo, "demo average"))
        labels = sum(low_fidelity_parts(ds).values())
        label_h = labels * lf_s * atoms / atoms_demo / 3600  # tight binding grows faster than linearly: a floor
        epochs = sum(config_epochs(ds, config["training"]).values())
        train_h = epochs * atoms * mace_s / 3600
        row = f"| {name} | {atoms:g} | {labels:,} | {label_h:.1f} | {epochs:,.0f} | {train_h:,.0f} |"
        if args.gpu_s_per_atom_epoch:
            row += f" {epochs * atoms * args.gpu_s_per_atom_epoch / 3600:,.0f} |"
        print(row)
        totals = [totals[0] + label_h, totals[1] + epochs, totals[2] + train_h]
    print(f"| total | | | {totals[0]:.1f} | {totals[1]:,.0f} | {totals[2]:,.0f} |")
    for name, (_, source) in ATOMS.items():
        print(f"  atoms/config {name}: {source}")


def low_fidelity_parts(ds: dict) -> dict[str, int]:
    """The split parts a dataset labels with its low fidelity, with their sizes: the test set (the fidelity
    comparison), the pre-training pool (mftl), validation and training pool (delta: its base labels), and
    with ``comparison_sample`` every part (fig. 2's sample is drawn from their union, each labelled)."""
    sizes = {
        "test": ds["split"]["test"],
        "validation": ds["split"]["validation"],
        "train_pool": max(ds["train_sizes"]),
        "pretrain_pool": ds["split"]["pretrain_pool"],
    }
    parts = {"test"}
    if {"mftl", "mftl_auto"} & set(ds["methods"]):
        parts.add("pretrain_pool")
    if "delta" in ds["methods"]:
        parts |= {"validation", "train_pool"}
    if "comparison_sample" in ds:
        parts = set(sizes)
    return {part: sizes[part] for part in sorted(parts) if sizes[part]}


def local_rules() -> set[str]:
    """Rules marked ``localrule: True`` in workflow/rules (a ``use rule`` inherits its base's mark)."""
    local, base_of = set(), {}
    for path in sorted((REPO / "workflow/rules").glob("*.smk")):
        current = None
        for line in path.read_text().splitlines():
            words = line.split()
            if line.startswith("rule "):
                current = words[1].rstrip(":")
            elif line.startswith("use rule "):
                current = words[4]
                base_of[current] = words[2]
            elif line and not line[0].isspace():
                current = None
            elif current and words == ["localrule:", "True"]:
                local.add(current)
    return local | {rule for rule, base in base_of.items() if base in local}


if __name__ == "__main__":
    main()
