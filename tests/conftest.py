"""Shared fixtures: a tiny real dataset and a tiny real run of the whole workflow.

The tiny dataset mirrors the demo: geometries from the demo's normal-mode
sampler, a high fidelity read from keys of the source file (here GFN2-xTB, so
tests stay fast) and a low fidelity computed by a labeller (GFN1-xTB).
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY_MOLECULES = ("CH3OH", "CH3CHO", "H3CNH2")
#: the tiny foundation analog's configuration space (H, C, N, O like the target)
FOUNDATION_MOLECULES = ("CH3CONH2",)


FIDELITIES = {
    "ref": {
        "energy_key": "ref_energy",
        "forces_key": "ref_forces",
        "cost": {"per_config_s": 0.05, "source": "GFN2-xTB (tblite) of these molecules, ~50 ms each"},
    },
    "gfn1": {"labeller": "tblite", "options": {"method": "GFN1-xTB"}},
}


@functools.cache
def ref_atom_energies() -> dict[str, float]:
    """GFN2-xTB (tblite) isolated-atom energies (eV) of H, C, N, O: the ref fidelity's ``e0s``. Without
    them its E0 fit on five configurations of three molecules leaves test energies undetermined, which
    planning refuses (tests/test_undetermined_e0s.py)."""
    from mftl.data.labellers import isolated_atom_energies

    return isolated_atom_energies("tblite", ["H", "C", "N", "O"], {"method": "GFN2-xTB"})


#: isolated-atom energies (eV) of H, C, N, O, roughly PBE0's, for tests where a fidelity must have ``e0s`` and
#: their values do not matter (planning's checks, which prior a training gets)
PLACEHOLDER_E0S = {"H": -13.6, "C": -1028.4, "N": -1483.7, "O": -2040.4}


#: the tiny MACE architecture of every test training (mace_run_train flags)
TINY_MODEL = {"model": "MACE", "num_channels": 8, "max_L": 0, "correlation": 2, "num_interactions": 2, "r_max": 4.0}


def _tiny_dataset(
    source: Path, select: dict, split: tuple[int, int, int], train_sizes: list[int], methods: list[str], **extra
) -> dict:
    """A dataset of the tiny source: ref read from keys, gfn1 computed; split = (test, validation, pool)."""
    test, validation, pretrain_pool = split
    return {
        "source": str(source),
        "select": {"key": "molecule", **select},
        "fidelities": {**copy.deepcopy(FIDELITIES), "ref": {**FIDELITIES["ref"], "e0s": ref_atom_energies()}},
        "high_fidelity": "ref",
        "low_fidelity": "gfn1",
        "split": {"seed": 0, "test": test, "validation": validation, "pretrain_pool": pretrain_pool},
        "train_sizes": train_sizes,
        "seeds": [0],
        "methods": methods,
        # stability checks (issue 33) off: only the tiny campaign (full_tiny_config) runs them, short
        "stability": {"enabled": False},
        **extra,
    }


def tiny_config(source: Path, **overrides) -> dict:
    """One dataset, ``tiny`` (three molecules), with the single-dataset methods."""
    config = {
        "device": "cpu",
        "datasets": {
            "tiny": _tiny_dataset(
                source,
                {"exclude": list(FOUNDATION_MOLECULES)},
                (10, 5, 40),
                [5, 10],
                ["scratch", "mftl", "mftl_auto", "delta"],
                pretrain_sizes=[40],
                epoch_caps=[1, 3],
            ),
        },
        "labelling": {"chunk_size": 20, "max_failure_fraction": 0.0},
        "model": {**TINY_MODEL, "default_dtype": "float32"},
        "training": {
            "pretrain": {"batch_size": 10},
            "finetune": {"max_epochs": 2, "batch_size": 5},
            # step patiences: mace's patience from the steps per epoch (tests/test_training_job.py checks them)
            "scratch": {"max_epochs": 2, "batch_size": 5, "patience_steps": 40, "scheduler_patience_steps": 12},
            "multihead": {"max_epochs": 2, "batch_size": 5, "force_mh_ft_lr": True, "lr": 0.01},
        },
    }
    config["datasets"]["tiny"].update(overrides)
    return config


#: the tiny campaign's stability checks (issue 33), as short as they go: they run, they are not measured here
SHORT_STABILITY = {"steps": 20, "nve_steps": 10, "starts_per_molecule": 1, "repulsion_points": 4}


def full_tiny_config(source: Path) -> dict:
    """Every method on ``tiny``: its foundation analog is trained on ``tiny_foundation`` (another
    molecule); two named chains: ``triple`` is GFN1 (tiny) -> ref (tiny_foundation) -> ref (tiny),
    ``double`` starts from tiny_foundation's scratch model (the analog, trained once) -> ref (tiny)."""
    config = tiny_config(source)
    config["datasets"]["tiny"]["methods"] += ["foundation", "foundation_multihead", "foundation_zeroshot", "chain"]
    config["datasets"]["tiny"]["foundation"] = "analog"
    config["datasets"]["tiny"]["stability"] = SHORT_STABILITY
    config["datasets"]["tiny"]["chains"] = {
        "triple": [
            {"dataset": "tiny", "fidelity": "gfn1", "size": 40, "epoch_cap": 3},
            {"dataset": "tiny_foundation", "fidelity": "ref", "size": 10},
        ],
        "double": [{"dataset": "tiny_foundation", "fidelity": "ref", "size": 10}],
    }
    config["datasets"]["tiny_foundation"] = _tiny_dataset(
        source, {"include": list(FOUNDATION_MOLECULES)}, (3, 2, 0), [10], ["scratch"]
    )
    config["foundations"] = {
        "analog": {
            "trained_by": {"dataset": "tiny_foundation", "method": "scratch", "train_size": 10, "seed": 0},
            "replay_size": 6,
        },
    }
    return config


def env_with_venv() -> dict:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}


#: what a Snakemake run of a test may take on an idle machine (s), scaled by the load (:func:`scaled_timeout`). The
#: longest, the tiny campaign (fixture tiny_campaign), took 10.9 min on 2 cores at load 5.6-6.9 (three campaigns
#: side by side, 2026-12-06): scaled to 3,600 s there, 3.3 times that; on an idle machine 900 s, about 3 times
#: the 1 + 6/2 = 4 times shorter run expected there
SNAKEMAKE_TIMEOUT_S = 900


def scaled_timeout(base_s: float, load: float | None = None, cores: int | None = None) -> float:
    """``base_s`` (an idle machine's budget) times the slowdown a busy machine brings: 1 + load / cores, the load
    average of the last minute when the run starts (other processes that want a core: a job needing all ``cores``
    gets about cores / (load + cores) of them). ``MFTL_TEST_TIMEOUT_S`` replaces it."""
    if os.environ.get("MFTL_TEST_TIMEOUT_S"):
        return float(os.environ["MFTL_TEST_TIMEOUT_S"])
    load = os.getloadavg()[0] if load is None else load
    cores = (os.cpu_count() or 1) if cores is None else cores
    return base_s * (1.0 + load / cores)


def run_timed(cmd: list[str], cwd: Path, base_s: float, what: str) -> subprocess.CompletedProcess:
    """``cmd`` run to its end within :func:`scaled_timeout` of ``base_s``; past it, the command and everything it
    started are killed and the test fails naming ``what``, the time it ran and the machine's load."""
    timeout, load = scaled_timeout(base_s), os.getloadavg()[0]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env_with_venv(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the jobs it started
        stdout, stderr = proc.communicate()
        pytest.fail(
            f"{what} did not finish within {timeout:.0f} s: killed after {time.monotonic() - start:.0f} s (the idle "
            f"machine's {base_s:.0f} s times 1 + load/cores: load {load:.1f} at its start, {os.getloadavg()[0]:.1f} "
            f"now, {os.cpu_count()} cores); on a machine this busy set MFTL_TEST_TIMEOUT_S (seconds). Its last "
            f"output:\n{stderr[-3000:]}",
            pytrace=False,
        )
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def run_snakemake(
    args: list[str], workdir: Path, timeout: float = SNAKEMAKE_TIMEOUT_S, what: str | None = None
) -> subprocess.CompletedProcess:
    """Snakemake on ``workdir`` with the repository's Snakefile; ``timeout``: an idle machine's budget
    (:func:`run_timed`), ``what``: the run's name in the failure past it."""
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return run_timed(cmd, workdir, timeout, what or f"snakemake {' '.join(args)} in {workdir}")


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from the 'Job stats' table a Snakemake run or dry run prints."""
    counts = {}
    for line in output.split("Job stats:")[1].splitlines()[3:]:
        rule, count = line.split()
        if rule == "total":
            return counts
        counts[rule] = int(count)
    raise ValueError("the 'Job stats' table has no total line")


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory) -> Path:
    """80 sampled geometries of four molecules; 60 carry GFN2-xTB labels as ref_energy/ref_forces."""
    from mftl.data.demo import generate_geometries
    from mftl.data.labellers import label_frames
    from mftl.data.structures import by_config_id, write_structures

    frames = generate_geometries(seed=1, n_per_molecule=20, molecules=TINY_MOLECULES + FOUNDATION_MOLECULES)
    with_ref = [f for f in frames if f.info["config_id"] % 20 < 15]
    labelled, report = label_frames(with_ref, "ref", "tblite", {"method": "GFN2-xTB"})
    assert not report.failures
    by_id = by_config_id(labelled)
    merged = [by_id.get(f.info["config_id"], f) for f in frames]
    path = tmp_path_factory.mktemp("tiny") / "tiny.extxyz"
    write_structures(path, merged)
    return path


@pytest.fixture(scope="session")
def tiny_campaign(tiny_source, tmp_path_factory) -> Path:
    """A real run of the whole Snakefile on the tiny dataset (about a minute on 2 cores)."""
    what = "the tiny campaign (fixture tiny_campaign, tests/conftest.py)"
    return run_campaign(full_tiny_config(tiny_source), tmp_path_factory.mktemp("campaign"), what)


def run_campaign(config: dict, workdir: Path, what: str) -> Path:
    """Run the whole Snakefile on ``config`` in ``workdir`` (2 cores); the test fails with Snakemake's error and
    the tails of the jobs' logs when the workflow does."""
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(["--configfile", str(path), "--cores", "2"], workdir, what=what)
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


def pytest_collection_modifyitems(items):
    """A test that uses the tiny campaign (a real workflow run that trains MACE) or a real SLURM cluster is
    slow even where its author forgot the marker, so ``pytest -m "not slow"`` (make test-fast) leaves it out."""
    for item in items:
        if "tiny_campaign" in getattr(item, "fixturenames", ()) or item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.slow)
