"""``mftl`` subcommands of the training step: ``train`` (one :class:`~mftl.training.training_job.TrainingJob`)
and ``fetch-foundation``; :func:`train_command`, an ``mftl train`` command line by hand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mftl.training.training_job import TrainingJob


def train_command(job: TrainingJob, out_dir: str | Path, threads: int | None = None) -> list[str]:
    """The command line of an ``mftl train`` run of ``job`` by hand (the ``mftl`` beside this Python), as tests
    and bench/training.py run it; the rules pass the campaign's job the same way (``--job``)."""
    command = [str(Path(sys.executable).parent / "mftl"), "train", "--job", job.to_json()]
    command += ["--threads", str(threads)] if threads is not None else []
    return [*command, "--out-dir", str(out_dir)]


def cmd_train(args: argparse.Namespace) -> None:
    from mftl.training.steps import train

    text = Path(args.job_file).read_text() if args.job_file else args.job
    train(TrainingJob.from_json(text), Path(args.out_dir), threads=args.threads)


def cmd_fetch_foundation(args: argparse.Namespace) -> None:
    from mftl.training.foundations import fetch_named

    print(f"foundation model '{args.name}' -> {fetch_named(args.name, Path(args.out))}")
