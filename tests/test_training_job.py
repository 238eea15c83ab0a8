"""The training job as one object: what the campaign builds, the rule passes and `mftl train` reads back."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import pytest

from conftest import tiny_config
from mftl.cli import build_parser
from mftl.cli.training import train_command
from mftl.planning.campaign import Campaign
from mftl.training.training_job import TrainingJob


def test_a_job_survives_its_json_and_the_command_line(tmp_path):
    job = TrainingJob(
        tmp_path / "pool.extxyz",
        "ref",
        10,
        2,
        max_epochs=5,
        init_from=tmp_path / "pre",
        init_cap=3,
        replay_keys=["E", "F"],
        serve_caps=[1, 3],
        hyperparameters={"lr": 0.01, "wandb_name": "it's $(x)"},
    )
    assert job.train_pool == str(tmp_path / "pool.extxyz") and job.replay_keys == ("E", "F")
    assert TrainingJob.from_json(job.to_json()) == job
    assert job.files() == {"train_pool": str(tmp_path / "pool.extxyz"), "init_from": str(tmp_path / "pre")}
    command = train_command(job, tmp_path / "run", threads=2)
    args = build_parser().parse_args(command[1:])
    assert TrainingJob.from_json(args.job) == job and (args.threads, args.out_dir) == (2, str(tmp_path / "run"))
    (tmp_path / "job.json").write_text(job.to_json())
    args = build_parser().parse_args(["train", "--job-file", str(tmp_path / "job.json"), "--out-dir", "run"])
    assert args.job_file and args.job is None


def test_a_job_with_an_unknown_or_a_missing_field_is_refused():
    data = json.loads(TrainingJob("pool.extxyz", "ref", 10, 0, 5).to_json())
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['epochs'\], missing \[\]"):
        TrainingJob.from_json(json.dumps({**data, "epochs": 3}))
    with pytest.raises(ValueError, match=r"missing \['seed'\]"):
        TrainingJob.from_json(json.dumps({k: v for k, v in data.items() if k != "seed"}))
    with pytest.raises(ValueError, match="device 'gpu'"):
        TrainingJob("pool.extxyz", "ref", 10, 0, 5, device="gpu")


def test_a_stage_key_that_names_a_job_field_reaches_the_job_not_mace(tmp_path):
    """How an option of the training job is set from the config: ``training.<stage>.<field>`` (declared in the
    schema's stage), with no code between the config and the job."""
    config = copy.deepcopy(tiny_config(tmp_path / "mine.extxyz"))
    config["training"]["scratch"]["keep_checkpoints"] = True
    job = Campaign(config).scratch_job("tiny", 5, 0)
    assert job.keep_checkpoints and "keep_checkpoints" not in job.hyperparameters
    assert job.max_epochs == 2 and job.hyperparameters["batch_size"] == 5


def test_the_job_is_the_arguments_of_the_run_fingerprint(tmp_path, monkeypatch):
    """What decides whether a run resumes: mace's command, the files and the job's dictionary, nothing besides."""
    from mftl.training import steps as training
    from mftl.training.mace_commands import MaceRun

    job = TrainingJob("pool.extxyz", "ref", 10, 0, 5, serve_caps=(1, 3), hyperparameters={"lr": 0.01}, device="cpu")
    run = MaceRun(name="mace", train_file="train.extxyz", seed=0, max_epochs=5, e0s={1: 0.0}, device="cpu")
    written = {}

    def start_or_resume(out_dir, fingerprint, *args, **kwargs):
        written.update(fingerprint)
        raise RuntimeError("stop before mace")

    monkeypatch.setattr(training, "start_or_resume", start_or_resume)
    with pytest.raises(RuntimeError, match="stop before mace"):
        training.run_training(job, tmp_path, training.MaceInputs(run, {1: 0.0}, {"train": None}, None), threads=1)
    assert written["arguments"] == json.loads(job.to_json())
    # every field that differs from its default, and no other: a new option leaves existing jobs as they were
    everything = json.loads(json.dumps(dataclasses.asdict(job)))
    defaults = json.loads(json.dumps(dataclasses.asdict(TrainingJob("pool.extxyz", "ref", 10, 0, 5))))
    assert written["arguments"] == {
        k: v
        for k, v in everything.items()
        if k in ("train_pool", "fidelity", "size", "seed", "max_epochs") or v != defaults[k]
    }
    assert {"serve_caps", "hyperparameters", "device"} <= set(written["arguments"]) and "strategy" not in written[
        "arguments"
    ]


def test_step_patiences_become_maces_patience_for_the_runs_steps_per_epoch(tmp_path):
    """patience_steps / scheduler_patience_steps: written out here, ceil(steps / ceil(n / batch_size)) (per
    validation, every eval_interval epochs), never below the stage's own patience."""
    from mftl.training.steps import patience_flags, steps_per_epoch

    job = TrainingJob(
        train_pool="pool.extxyz", fidelity="f", size=15, seed=0, max_epochs=100, patience_steps=180,
        scheduler_patience_steps=60, hyperparameters={"batch_size": 5, "patience": 15, "scheduler_patience": 5},
    )  # fmt: skip
    for n, patience, scheduler in ((15, 60, 20), (30, 30, 10), (60, 15, 5), (200, 15, 5)):
        steps = steps_per_epoch(n, job.hyperparameters)
        assert steps == math.ceil(n / 5)
        assert patience_flags(job, steps) == {"patience": patience, "scheduler_patience": scheduler}
    every_third = dataclasses.replace(job, hyperparameters={"batch_size": 5, "eval_interval": 3})
    assert patience_flags(every_third, 3)["patience"] == math.ceil(180 / 9)
    assert patience_flags(dataclasses.replace(job, patience_steps=None), 3) == {"scheduler_patience": 20}


@pytest.mark.slow
def test_the_tiny_campaigns_scratch_runs_gave_mace_the_patience_of_their_steps(tiny_campaign):
    """The tiny campaign's scratch stage sets patience_steps 40 and scheduler_patience_steps 12 (conftest):
    each run's training.json and the mace command it ran hold the patiences of its own steps per epoch."""
    runs = sorted((tiny_campaign / "results/tiny/models/scratch").glob("*/training.json"))
    assert runs
    for path in runs:
        info = json.loads(path.read_text())
        steps = math.ceil(info["n_trained"] / 5)
        assert info["steps_per_epoch"] == steps
        assert info["patience"] == math.ceil(40 / steps) and info["scheduler_patience"] == math.ceil(12 / steps)
        assert f"--patience={info['patience']}" in info["command"]
        assert f"--scheduler_patience={info['scheduler_patience']}" in info["command"]
