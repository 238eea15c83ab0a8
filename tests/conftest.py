"""Shared fixtures: a tiny real dataset and a tiny real run of the whole workflow.

The tiny dataset mirrors the demo: geometries from the demo's normal-mode
sampler, a high fidelity read from keys of the source file (here GFN2-xTB, so
tests stay fast) and a low fidelity computed by a labeller (GFN1-xTB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY_MOLECULES = ("CH3OH", "CH3CHO", "H3CNH2")


def tiny_config(source: Path, **overrides) -> dict:
    config = {
        "device": "cpu",
        "datasets": {
            "tiny": {
                "source": str(source),
                "fidelities": {
                    "ref": {"energy_key": "ref_energy", "forces_key": "ref_forces"},
                    "gfn1": {"labeller": "tblite", "options": {"method": "GFN1-xTB"}},
                },
                "high_fidelity": "ref",
                "low_fidelity": "gfn1",
                "split": {"seed": 0, "test": 10, "validation": 5, "pretrain_pool": 40},
                "train_sizes": [5, 10],
                "pretrain_sizes": [40],
                "epoch_caps": [1, 3],
                "seeds": [0],
                "methods": ["scratch", "mftl", "mftl_auto", "delta"],
            }
        },
        "labelling": {"chunk_size": 20, "max_failure_fraction": 0.0},
        "model": {"model": "MACE", "num_channels": 8, "max_L": 0, "correlation": 2,
                  "num_interactions": 2, "r_max": 4.0, "default_dtype": "float32"},
        "training": {
            "pretrain": {"batch_size": 10},
            "finetune": {"max_epochs": 2, "batch_size": 5},
            "scratch": {"max_epochs": 2, "batch_size": 5},
        },
    }
    config["datasets"]["tiny"].update(overrides)
    return config


def env_with_venv() -> dict:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}


def run_snakemake(args: list[str], workdir: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(cmd, cwd=workdir, env=env_with_venv(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory) -> Path:
    """60 sampled geometries of three molecules; 45 carry GFN2-xTB labels as ref_energy/ref_forces."""
    from mftl.demo import generate_geometries
    from mftl.labelers import label_frames
    from mftl.structures import write_structures

    frames = generate_geometries(seed=1, n_per_molecule=20, molecules=TINY_MOLECULES)
    with_ref = [f for f in frames if f.info["config_id"] % 20 < 15]
    labelled, report = label_frames(with_ref,
                                    "ref", "tblite", {"method": "GFN2-xTB"})
    assert not report.failures
    by_id = {a.info["config_id"]: a for a in labelled}
    merged = [by_id.get(f.info["config_id"], f) for f in frames]
    path = tmp_path_factory.mktemp("tiny") / "tiny.extxyz"
    write_structures(path, merged)
    return path


@pytest.fixture(scope="session")
def tiny_campaign(tiny_source, tmp_path_factory) -> Path:
    """A real run of the whole Snakefile on the tiny dataset (about a minute on 2 cores)."""
    workdir = tmp_path_factory.mktemp("campaign")
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_source)))
    result = run_snakemake(["--configfile", str(config), "--cores", "2"], workdir)
    if result.returncode != 0:
        logs = "\n".join(p.read_text()[-3000:] for p in (workdir / "results").rglob("*.log"))
        pytest.fail(f"workflow failed:\n{result.stderr[-5000:]}\n{logs[-8000:]}")
    return workdir


@pytest.fixture
def fresh_copy(tmp_path):
    def copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return copy
