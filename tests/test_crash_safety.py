"""A killed workflow reruns to completion with the same command; nothing half-written, nothing redone."""

import os
import signal
import subprocess
import time

import pandas as pd
import yaml

from conftest import BIN, REPO, env_with_venv, tiny_config
from mftl.structures import read_structures


def _outputs(workdir):
    return {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*")
            if p.is_file() and p.suffix in (".extxyz", ".json", ".csv")}


def test_sigkill_mid_training_then_the_same_command_completes(tiny_source, tmp_path):
    config = tiny_config(tiny_source, methods=["scratch"], train_sizes=[10])
    config["training"]["scratch"]["max_epochs"] = 30
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    # the README's way to run a campaign; make knows the venv is installed (.venv/.installed)
    args = f"--directory {tmp_path} --configfile {tmp_path / 'config.yaml'}"
    cmd = ["make", "-s", "-C", str(REPO), "run", f"ARGS={args}", "CORES=1", f"VENV={BIN.parent}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env_with_venv(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / "results/tiny/models/scratch/n10_s0/checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not any(checkpoints.glob("*.pt")):
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.5)
    assert any(checkpoints.glob("*.pt")), "training never reached its first checkpoint"
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
    proc.wait()

    before = _outputs(tmp_path)
    assert not (tmp_path / "results/tiny/models/scratch/n10_s0/training.json").exists()
    for path in before:  # whatever exists is complete: atomic writes only
        if path.suffix == ".extxyz":
            read_structures(path)

    again = subprocess.run(cmd, cwd=tmp_path, env=env_with_venv(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = _outputs(tmp_path)
    finished_before = [p for p in before if "labels" in p.parts or "splits" in p.parts]
    assert finished_before and all(after[p] == before[p] for p in finished_before), "finished work was redone"
    log = (tmp_path / "results/tiny/logs/scratch/n10_s0.log").read_text()
    assert "Loading checkpoint" in log, "the killed training resumes from its checkpoint"
    curves = pd.read_csv(tmp_path / "results/tiny/curves.csv")
    assert list(curves.method) == ["scratch"]
