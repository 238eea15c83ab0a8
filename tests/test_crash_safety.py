"""A killed workflow reruns to completion with the same command; nothing half-written, nothing redone.

A rerun resumes a training only when it is the same interrupted run (same command,
data and arguments: ``mftl.training.resume``); a changed config or label retrains from zero.
"""

import copy
import itertools
import json
import os
import re
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import BIN, REPO, env_with_venv, run_snakemake, tiny_config
from mftl.analysis.curves import METRICS
from mftl.data.structures import read_structures
from mftl.training.checkpoints import checkpoints_by_epoch
from mftl.training.resume import shift_latest_checkpoint


def _outputs(workdir):
    return {
        p: p.stat().st_mtime_ns
        for p in (workdir / "results").rglob("*")
        if p.is_file() and p.suffix in (".extxyz", ".json", ".csv")
    }


def _validation_losses(log: str) -> dict[int, float]:
    return {int(e): float(x) for e, x in re.findall(r"Epoch (\d+): head: Default, loss=([0-9.eE+-]+)", log)}


def _resumed(log: str) -> bool:
    """Whether mace loaded a checkpoint before training; it loads the latest one after training too."""
    return "Loading checkpoint" in log.split("Started training", 1)[0]


def _readable_epoch(checkpoints) -> int:
    """Epoch index of the newest checkpoint that loads completely (-1 if none)."""
    for epoch, path in sorted(checkpoints_by_epoch(checkpoints).items(), reverse=True):
        try:
            torch.load(path, map_location="cpu", weights_only=False)
            return epoch
        except Exception:  # being written
            continue
    return -1


@pytest.mark.slow
def test_sigkill_mid_training_then_the_same_command_completes(tiny_source, tmp_path):
    """Killed at epoch index >= 3 of 25, the rerun resumes and ends where an uninterrupted run ends.

    What mace-torch 0.3.16 does not restore on resume (see mftl.training.resume) cannot matter here:
    one batch per epoch (10 configurations, batch size 10) makes the shuffling generator
    change only the summation order within the batch; the validation loss improves at every
    epoch (learning rate 0.002, checked), so the reset lowest loss saves what an uninterrupted
    run saves; the scheduler (patience 50) cannot act within 25 epochs; no EMA.
    """
    config = tiny_config(tiny_source, methods=["scratch"], train_sizes=[10])
    config["model"]["default_dtype"] = "float64"
    config["training"]["scratch"] = {"max_epochs": 25, "batch_size": 10, "lr": 0.002}
    killed, uninterrupted = tmp_path / "killed", tmp_path / "uninterrupted"
    for folder in (killed, uninterrupted):
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    # the README's way to run a campaign; make knows the venv is installed (.venv/.installed)
    args = f"--directory {killed} --configfile {killed / 'config.yaml'}"
    cmd = ["make", "-s", "-C", str(REPO), "run", f"ARGS={args}", "CORES=1", f"VENV={BIN.parent}"]
    output = tmp_path / "killed_run.out"
    with open(output, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=killed, env=env_with_venv(), start_new_session=True, stdout=out, stderr=subprocess.STDOUT
        )
    checkpoints = killed / "results/tiny/models/scratch/n10_s0/checkpoints"
    deadline, epoch = time.time() + 300, -1
    # polled often, a checkpoint is seen just after mace saved it: the kill lands an epoch before the next save
    while time.time() < deadline and (epoch := _readable_epoch(checkpoints)) < 3:
        assert proc.poll() is None, f"the run ended before it could be killed:\n{output.read_text()[-3000:]}"
        time.sleep(0.02)
    assert epoch >= 3, "training never reached its fourth epoch"
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
    proc.wait()

    before = _outputs(killed)
    assert not (killed / "results/tiny/models/scratch/n10_s0/training.json").exists()
    for path in before:  # whatever exists is complete: atomic writes only
        if path.suffix == ".extxyz":
            read_structures(path)

    again = subprocess.run(cmd, cwd=killed, env=env_with_venv(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = _outputs(killed)
    finished_before = [p for p in before if "labels" in p.parts or "splits" in p.parts]
    assert finished_before and all(after[p] == before[p] for p in finished_before), "finished work was redone"
    log = (killed / "results/tiny/logs/scratch/n10_s0.log").read_text()
    assert _resumed(log), "the killed training resumes from its checkpoint"
    assert "resuming after epoch index" in log and "training from scratch" not in log
    curves = pd.read_csv(killed / "results/tiny/curves.csv")
    assert list(curves.method) == ["scratch"]

    result = run_snakemake(["--configfile", str(uninterrupted / "config.yaml"), "--cores", "1"], uninterrupted)
    assert result.returncode == 0, result.stderr[-3000:]
    reference = pd.read_csv(uninterrupted / "results/tiny/curves.csv")
    run_log = (uninterrupted / "results/tiny/models/scratch/n10_s0/logs/mace_run-0.log").read_text()
    losses = [loss for _, loss in sorted(_validation_losses(run_log).items())]
    assert len(losses) == 25 and all(b < a for a, b in itertools.pairwise(losses)), (
        "test premise: every epoch improves, so mace's reset lowest loss cannot matter"
    )
    for name in ("killed", "uninterrupted"):
        info = json.loads((tmp_path / name / "results/tiny/models/scratch/n10_s0/training.json").read_text())
        assert info["epochs_run"] == 25
        # the resumed run says so in its outputs (a resume is exact only under this test's premises)
        if name == "killed":
            assert info["resumed"] is True and epoch + 1 <= info["resumed_at_epoch"] < 25
            assert f"resuming after epoch index {info['resumed_at_epoch'] - 1}:" in log
        else:
            assert info["resumed"] is False and info["resumed_at_epoch"] is None
    assert curves["resumed"].tolist() == [True] and reference["resumed"].tolist() == [False]
    warnings = {name: (tmp_path / name / "results/warnings.txt").read_text() for name in ("killed", "uninterrupted")}
    assert "tiny: 1 models were resumed from a checkpoint after an interruption" in warnings["killed"]
    assert "scratch n=10 seed 0" in warnings["killed"] and "resumed" not in warnings["uninterrupted"]
    np.testing.assert_allclose(curves[METRICS].to_numpy(), reference[METRICS].to_numpy(), rtol=1e-7)


def _train_log(workdir, method: str) -> str:
    return (workdir / f"results/tiny/logs/{method}/n10_s0.log").read_text()


@pytest.mark.slow
def test_changed_config_or_label_option_retrains_from_zero(tiny_source, tmp_path):
    config = copy.deepcopy(tiny_config(tiny_source, methods=["scratch", "delta"], train_sizes=[10]))
    config["training"]["scratch"]["max_epochs"] = 6
    # no ref e0s: with them ref's E0 prior adds the low fidelity's binding (rule e0_prior reads the gfn1 pool),
    # so scratch would depend on gfn1; without, scratch has no gfn1 input (size 10 spans the test compositions)
    del config["datasets"]["tiny"]["fidelities"]["ref"]["e0s"]
    config_file = tmp_path / "config.yaml"
    models = tmp_path / "results/tiny/models"

    def rerun():
        config_file.write_text(yaml.safe_dump(config))
        result = run_snakemake(["--configfile", str(config_file), "--cores", "2"], tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        return pd.read_csv(tmp_path / "results/tiny/curves.csv").set_index("method")

    first = rerun()
    assert all(
        json.loads((models / m / "n10_s0/training.json").read_text())["epochs_run"] == 6 for m in ("scratch", "delta")
    )

    config["training"]["scratch"]["max_epochs"] = 3
    second = rerun()
    for method in ("scratch", "delta"):
        log = _train_log(tmp_path, method)
        assert not _resumed(log), f"{method} continued the previous run"
        assert re.search(r"fingerprint changed: .*arguments\.max_epochs", log), log[:2000]
        info = json.loads((models / method / "n10_s0/training.json").read_text())
        assert info["max_epochs"] == 3 and 1 <= info["epochs_run"] <= 3
        assert not np.allclose(first.loc[method, METRICS].to_numpy(float), second.loc[method, METRICS].to_numpy(float))

    scratch_done = (models / "scratch/n10_s0/training.json").stat().st_mtime_ns
    config["datasets"]["tiny"]["fidelities"]["gfn1"]["options"]["method"] = "GFN2-xTB"  # Delta's base labels
    third = rerun()
    log = _train_log(tmp_path, "delta")
    assert not _resumed(log) and re.search(r"fingerprint changed: .*files\.train", log)
    assert not np.allclose(second.loc["delta", METRICS].to_numpy(float), third.loc["delta", METRICS].to_numpy(float))
    assert (models / "scratch/n10_s0/training.json").stat().st_mtime_ns == scratch_done, "scratch has no gfn1 input"

    # a finished run rerun unchanged (Snakemake deletes its training.json first) is not continued either
    result = run_snakemake(["--configfile", str(config_file), "--cores", "2", "--forcerun", "delta"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    log = _train_log(tmp_path, "delta")
    assert not _resumed(log) and "the previous run finished (model.model)" in log
    assert json.loads((models / "delta/n10_s0/training.json").read_text())["epochs_run"] == 3


def test_a_copy_made_for_resuming_is_not_shifted_again(tmp_path):
    """Killed again before mace saved anything, the next resume must still continue after epoch 3."""
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    for epoch in (2, 3):
        torch.save({"model": {"w": torch.full((3,), float(epoch))}}, checkpoints / f"mace_run-0_epoch-{epoch}.pt")
    shifted = shift_latest_checkpoint(checkpoints)
    assert shifted == checkpoints / "mace_run-0_epoch-4.pt"
    assert shifted.read_bytes() == (checkpoints / "mace_run-0_epoch-3.pt").read_bytes()
    assert shift_latest_checkpoint(checkpoints) is None
    assert sorted(checkpoints_by_epoch(checkpoints)) == [2, 3, 4]
