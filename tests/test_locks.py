"""`make run` clears a stale Snakemake lock but never the lock of a run that is still going."""

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from conftest import BIN, REPO, env_with_venv, tiny_config


def _write_config(workdir, source, max_epochs):
    config = tiny_config(source, methods=["scratch"], train_sizes=[10])
    config["training"]["scratch"].update(max_epochs=max_epochs, patience=1000)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _locks(workdir):
    return sorted(p.name for p in (workdir / ".snakemake" / "locks").glob("*.lock"))


def _clear_stale_lock(workdir, config):
    """make run's first step, as the Makefile calls it."""
    cmd = [
        sys.executable,
        "-m",
        "mftl.locks",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
    ]
    return subprocess.run(cmd, cwd=REPO, env=env_with_venv(), capture_output=True, text=True, timeout=300)


def test_a_stale_lock_is_cleared_only_when_no_snakemake_runs_there(tiny_source, tmp_path):
    config = _write_config(tmp_path, tiny_source, 2)
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(str(tmp_path / "results/tiny/curves.csv") + "\n")
    # a process that looks like Snakemake (argv[0] 'snakemake') working in this folder
    stand_in = subprocess.Popen(["snakemake", "600"], executable="sleep", cwd=tmp_path)
    try:
        kept = _clear_stale_lock(tmp_path, config)
    finally:
        stand_in.kill()
        stand_in.wait()
    assert kept.returncode == 0, kept.stderr
    assert f"Snakemake (pid {stand_in.pid}) is running in {tmp_path.resolve()}; its lock is kept" in kept.stderr
    assert _locks(tmp_path) == ["0.output.lock"]

    cleared = _clear_stale_lock(tmp_path, config)
    assert cleared.returncode == 0, cleared.stderr
    assert _locks(tmp_path) == []


@pytest.mark.slow
def test_a_second_make_run_beside_a_running_one_fails_and_keeps_its_lock(tiny_source, tmp_path):
    max_epochs = 40
    config = _write_config(tmp_path, tiny_source, max_epochs)
    args = f"--directory {tmp_path} --configfile {config}"
    cmd = ["make", "-s", "-C", str(REPO), "run", f"ARGS={args}", "CORES=1", f"VENV={BIN.parent}"]
    first = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env_with_venv(),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        log = tmp_path / "results/tiny/logs/scratch/n10_s0.log"
        deadline = time.time() + 300
        while time.time() < deadline and not (log.exists() and _locks(tmp_path)):
            assert first.poll() is None, "the first run ended before its training started"
            time.sleep(0.5)
        held = _locks(tmp_path)
        assert held, "the first run never locked its directory"

        start = time.monotonic()
        second = subprocess.run(cmd, cwd=tmp_path, env=env_with_venv(), capture_output=True, text=True, timeout=300)
        print(f"second make run refused after {time.monotonic() - start:.1f} s")
        assert first.poll() is None, "the first run ended before the second one was refused: lengthen its training"
        assert second.returncode != 0
        assert "its lock is kept" in second.stderr and "LockException" in second.stdout + second.stderr
        assert _locks(tmp_path) == held, "the second run removed the first run's lock"

        output, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == 0, output[-3000:]
    assert _locks(tmp_path) == []
    info = pd.read_json(tmp_path / "results/tiny/models/scratch/n10_s0/training.json", typ="series")
    assert info["max_epochs"] == info["epochs_run"] == max_epochs
    epochs = [int(e) for e in re.findall(r"Epoch (\d+):", log.read_text())]
    assert epochs == list(range(max_epochs)), "one training from epoch 0, never restarted or resumed"
    curves = pd.read_csv(tmp_path / "results/tiny/curves.csv")
    assert list(curves.method) == ["scratch"] and curves.energy_rmse_meV_atom.notna().all()
