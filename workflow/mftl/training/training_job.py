"""One training job as one typed object: what ``mftl train`` trains, built by the campaign, passed by the rule.

:class:`TrainingJob` is everything that determines a training run besides where it runs (``--out-dir``) and
with how many threads: its data, the model it starts from, Delta-learning's base labels, multi-head replay
data, the E0 prior and the options of its stage. :class:`mftl.planning.campaign.Campaign` builds one per planned
training (one method per kind of run), the rules of ``train.smk`` pass it as one parameter (its JSON, so that
Snakemake retrains when it changes), ``mftl train --job`` reads it back (:mod:`mftl.cli`) and
:func:`mftl.training.steps.train` runs it; its dictionary is the ``arguments`` part of the run's fingerprint
(:func:`mftl.training.resume.run_fingerprint`).

A new option of the training job is a field here (with a default); a training stage's setting of the
same name in the config (``training.<stage>.<field>``, declared in the schema's ``stage``) reaches it
without further code: the campaign passes a stage's keys that name a field to the job, the others to mace.

Plain Python only (no ase, torch or pandas): planning imports this module.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the annotation of a field that names a file or folder (relative to where the job runs)
FilePath = str
#: where mace trains: ``auto`` is cuda when torch sees a GPU, else cpu
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainingJob:
    """One ``mftl train`` run; see :func:`mftl.training.steps.train` for what each part does."""

    # ---- data: ``size`` configurations of ``train_pool`` drawn with ``seed``, labelled with ``fidelity``
    train_pool: FilePath
    fidelity: str
    size: int
    seed: int
    #: epochs the run may train (a pre-training: its largest epoch cap)
    max_epochs: int
    #: the validation set; None: mace holds out its valid_fraction of the training set
    valid: FilePath | None = None
    # ---- the model it starts from: a pre-training folder at ``init_cap`` epochs, or a model file
    init_from: FilePath | None = None
    init_cap: int | None = None
    # ---- Delta-learning: the model learns ``fidelity`` minus ``base_fidelity``
    base_fidelity: str | None = None
    base_pool: FilePath | None = None
    base_valid: FilePath | None = None
    base_prior: FilePath | None = None
    # ---- multi-head fine-tuning: replay a file (total energies under ``replay_keys``, default mace's REF_
    # keys; ``replay_size`` of its configurations) or mace's own data set ``replay_dataset``
    replay: FilePath | None = None
    replay_keys: tuple[str, str] | None = None
    replay_size: int | None = None
    replay_dataset: str | None = None
    # ---- a fine-tuning strategy mace ships (mftl.methods.STRATEGY_METHODS): its name and its mace_run_train
    # flags (``--freeze=5``, ``--lora=True``, ``--pseudolabel_replay=True``, ...), after the stage's flags
    strategy: str | None = None
    strategy_flags: tuple[str, ...] = ()
    # ---- the E0 prior the fit starts from (mftl atom-energies / e0-prior), None: no prior
    prior: FilePath | None = None
    # ---- options of the stage
    #: mace_run_train flags (architecture and the stage's flags)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    #: a pre-training: keep the checkpoints these epoch caps are served from (and no others)
    serve_caps: tuple[int, ...] | None = None
    #: keep every improving checkpoint
    keep_checkpoints: bool = False
    device: str = "auto"
    #: refuse before training when an E0 fit without prior leaves these test configurations undetermined
    e0_span_test: FilePath | None = None
    #: the dataset, for messages
    dataset: str | None = None
    #: early stopping after this many optimiser steps without a better validation loss: mace's ``--patience``
    #: (in validations) from the run's steps per epoch, at least the stage's own ``patience``
    patience_steps: int | None = None
    #: the learning rate halves after this many optimiser steps without a better validation loss: mace's
    #: ``--scheduler_patience`` (in epochs), at least the stage's own ``scheduler_patience``
    scheduler_patience_steps: int | None = None

    def __post_init__(self):
        for item in dataclasses.fields(self):  # JSON lists back to tuples, paths to strings
            value = getattr(self, item.name)
            if isinstance(value, list):
                object.__setattr__(self, item.name, tuple(value))
            elif isinstance(value, os.PathLike):
                object.__setattr__(self, item.name, os.fspath(value))
        if self.device not in DEVICES:
            raise ValueError(f"training job: device {self.device!r} is none of {', '.join(DEVICES)}")

    def to_json(self) -> str:
        """The job as one line of JSON (keys sorted): what the rule passes and ``mftl train --job`` reads. Fields at
        their defaults are left out, so that a new option does not change (and retrain) the jobs that leave it."""
        data = dataclasses.asdict(self)
        defaults = {item.name: _default(item) for item in dataclasses.fields(self)}
        return json.dumps({k: v for k, v in data.items() if v != defaults[k]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingJob:
        """The job of :meth:`to_json`'s text; unknown or missing fields are refused by name."""
        data = json.loads(text)
        names = {item.name for item in dataclasses.fields(cls)}
        required = {
            item.name for item in dataclasses.fields(cls) if item.default is item.default_factory is dataclasses.MISSING
        }
        if not isinstance(data, dict) or set(data) - names or required - set(data):
            found = set(data) if isinstance(data, dict) else set()
            raise ValueError(
                f"not a training job: unknown field(s) {sorted(found - names)}, missing {sorted(required - found)}"
                f" (fields: {', '.join(sorted(names))})"
            )
        return cls(**data)

    def files(self) -> dict[str, str]:
        """The files and folders the job names, by field (those it has)."""
        return {
            item.name: getattr(self, item.name)
            for item in dataclasses.fields(self)
            if item.type.startswith("FilePath") and getattr(self, item.name) is not None
        }

    def path(self, name: str) -> Path | None:
        """The file of field ``name`` as a Path, None when the job has none."""
        value = getattr(self, name)
        return None if value is None else Path(value)


def _default(item: dataclasses.Field):
    """A field's default; a marker that equals no value for a field without one."""
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return _NO_DEFAULT


_NO_DEFAULT = object()


def job_fields() -> frozenset[str]:
    """The names of a training job's fields."""
    return frozenset(item.name for item in dataclasses.fields(TrainingJob))


def field_summary() -> str:
    """The fields of a training job, required ones bare, optional ones with their defaults (``mftl train --help``)."""
    parts = []
    for item in dataclasses.fields(TrainingJob):
        if item.default is not dataclasses.MISSING:
            parts.append(f"{item.name}={json.dumps(item.default)}")
        elif item.default_factory is not dataclasses.MISSING:
            parts.append(f"{item.name}={json.dumps(item.default_factory())}")
        else:
            parts.append(item.name)
    return ", ".join(parts)
