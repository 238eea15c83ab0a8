"""`make run` clears a stale Snakemake lock but never the lock of a run that is still going, and refuses
while jobs of a killed run still write there."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def _in_background(cmd: list[str], workdir, **streams) -> subprocess.Popen:
    """``cmd`` started in ``workdir`` in a session of its own (its process group can be killed whole)."""
    return subprocess.Popen(cmd, cwd=workdir, env=env_with_venv(), start_new_session=True, **streams)


def _wait_for_training(process: subprocess.Popen, workdir, ready, what: str) -> Path:
    """Wait (at most 300 s) until the tiny campaign's scratch training log exists and ``ready(log)`` holds;
    fails if ``process`` (``what``) ends first. Returns the log's path."""
    log = workdir / "results/tiny/logs/scratch/n10_s0.log"
    deadline = time.time() + 300
    while time.time() < deadline and not (log.exists() and ready(log)):
        assert process.poll() is None, f"{what} ended before its training started"
        time.sleep(0.5)
    return log


@pytest.mark.slow
def test_a_second_make_run_beside_a_running_one_fails_and_keeps_its_lock(tiny_source, tmp_path):
    max_epochs = 40
    config = _write_config(tmp_path, tiny_source, max_epochs)
    args = f"--directory {tmp_path} --configfile {config}"
    cmd = ["make", "-s", "-C", str(REPO), "run", f"ARGS={args}", "CORES=1", f"VENV={BIN.parent}"]
    first = _in_background(cmd, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log = _wait_for_training(first, tmp_path, lambda log: bool(_locks(tmp_path)), "the first run")
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


def _orphan_stand_in(tmp_path, cwd):
    """A process with a training job's command line (``python -m mftl train ...``) working in ``cwd``:
    python runs a ``mftl`` package that only sleeps, found first on its path."""
    fake = tmp_path / "fake" / "mftl"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("import time\ntime.sleep(600)\n")
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**env_with_venv(), "PYTHONPATH": str(tmp_path / "fake")}
    return subprocess.Popen([sys.executable, "-m", "mftl", "train", "--out-dir", "."], cwd=cwd, env=env)


def test_mftl_jobs_left_by_a_killed_snakemake_make_run_refuse_naming_the_pid(tiny_source, tmp_path):
    workdir = tmp_path / "campaign"
    workdir.mkdir()
    config = _write_config(workdir, tiny_source, 2)
    locks = workdir / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(str(workdir / "results/tiny/curves.csv") + "\n")
    orphan = _orphan_stand_in(tmp_path, workdir / "results/tiny/models/scratch/n10_s0")
    elsewhere = _orphan_stand_in(tmp_path / "other", tmp_path / "other-campaign")  # another folder: not ours
    try:
        refused = _clear_stale_lock(workdir, config)
    finally:
        for process in (orphan, elsewhere):
            process.kill()
            process.wait()
    assert refused.returncode == 1, refused.stderr
    assert (
        f"mftl job(s) of an earlier run are still running in {workdir.resolve()} without a Snakemake "
        f"(pid {orphan.pid}: {sys.executable} -m mftl train --out-dir .)"
    ) in refused.stderr
    assert f"kill {orphan.pid})" in refused.stderr and str(elsewhere.pid) not in refused.stderr
    assert _locks(workdir) == ["0.output.lock"]
    assert _clear_stale_lock(workdir, config).returncode == 0 and _locks(workdir) == []


@pytest.mark.slow
def test_a_training_orphaned_by_a_sigkilled_snakemake_is_seen(tiny_source, tmp_path):
    """SIGKILL of Snakemake alone leaves its `mftl train` running; make run's check names that process."""
    config = _write_config(tmp_path, tiny_source, 400)
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--cores", "1", "--configfile", str(config)]
    run = _in_background(cmd, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_training(run, tmp_path, lambda log: "Epoch" in log.read_text(), "the run")
        os.kill(run.pid, signal.SIGKILL)  # Snakemake alone, as an OOM kill does
        run.wait()
        refused = _clear_stale_lock(tmp_path, config)
        pids = [int(p) for p in re.findall(r"pid (\d+): ", refused.stderr)]
        assert refused.returncode == 1 and pids, refused.stderr
        for pid in pids:  # the training job itself, still running, in its run folder
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            assert cmdline[1:4] == [b"-m", b"mftl", b"train"]
            assert os.readlink(f"/proc/{pid}/cwd").startswith(str(tmp_path.resolve()))
        assert _locks(tmp_path), "the lock of the killed run was cleared beside its running job"
    finally:
        with contextlib.suppress(ProcessLookupError):  # the orphan is still in the run's process group
            os.killpg(run.pid, signal.SIGKILL)
