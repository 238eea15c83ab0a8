"""Early stopping stops: mace-torch 0.3.16 logs that patience is exceeded but trains on (ACEsuit/mace#1384)."""

import json
import re
import subprocess

import pytest
import torch

from conftest import TINY_MODEL, env_with_venv
from mftl.cli.training import train_command
from mftl.training.checkpoints import checkpoints_by_epoch
from mftl.training.training_job import TrainingJob

pytestmark = pytest.mark.slow  # trains MACE on the tiny campaign's data


def test_patience_ends_the_run_and_the_model_is_the_best_checkpoint(tiny_campaign, tmp_path):
    pool = tiny_campaign / "results/tiny/labels/pretrain_pool.gfn1.extxyz"
    valid = tiny_campaign / "results/tiny/labels/validation.gfn1.extxyz"
    # a large learning rate makes the validation loss jump; patience 1 stops at the first step back
    hyper = {**TINY_MODEL, "default_dtype": "float64", "batch_size": 4, "lr": 0.05, "patience": 1}
    out = tmp_path / "run"
    subprocess.run(
        train_command(TrainingJob(pool, "gfn1", 20, 0, 30, valid=valid, hyperparameters=hyper, device="cpu"), out),
        check=True,
        env=env_with_venv(),
        capture_output=True,
    )
    info = json.loads((out / "training.json").read_text())
    log = (out / "logs/mace_run-0.log").read_text()
    assert info["stopped_early"] and "Stopping optimization after 1 epochs without improvement" in log
    losses = {int(e): float(x) for e, x in re.findall(r"Epoch (\d+): head: Default, loss=([0-9.eE+-]+)", log)}
    assert info["epochs_run"] == max(losses) + 1 < 30
    # the last epoch did not improve on the best one, and nothing was trained after it
    best = min(losses, key=losses.get)
    assert losses[max(losses)] >= losses[best] and best < max(losses)
    ((checkpoint_epoch, checkpoint),) = checkpoints_by_epoch(out / "checkpoints").items()
    assert checkpoint_epoch == best
    model = torch.load(out / "model.model", map_location="cpu", weights_only=False).state_dict()
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    assert model.keys() == saved.keys()
    for key in model:
        torch.testing.assert_close(model[key], saved[key], rtol=0, atol=0)
