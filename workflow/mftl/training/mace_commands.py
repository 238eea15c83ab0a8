"""mace-torch's console scripts: the ``mace_run_train`` and ``mace_eval_configs`` command lines mftl
builds, in one place, and the keys of the data they read and write.

``mace_run_train`` reads energies and forces under :data:`ENERGY_KEY` and :data:`FORCES_KEY` (written by
:func:`mftl.training.e0_scale.training_frames`, on the E0 scale of the model); ``mace_eval_configs`` writes
its predictions under :data:`PRED_ENERGY_KEY` and :data:`PRED_FORCES_KEY` (read back by
:func:`mftl.training.e0_scale.predictions`). :mod:`mftl.training.mace_runner` runs both in this process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mftl.training.mace_options import MACE_REPLAY_DATASETS, RESERVED_FLAGS, mace_flags

ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"
PRED_ENERGY_KEY = "MACE_energy"
PRED_FORCES_KEY = "MACE_forces"


@dataclass
class MaceRun:
    """One ``mace_run_train`` invocation, run in its own working directory."""

    name: str
    train_file: Path
    seed: int
    max_epochs: int
    e0s: dict[int, float]
    device: str = "cpu"
    valid_file: Path | None = None
    valid_fraction: float = 0.1
    foundation_model: Path | None = None
    #: multi-head fine-tuning of ``foundation_model`` with this replay file (REF_ keys) as its pt_head data
    replay_file: Path | None = None
    #: or with one of mace's own replay data sets (``mp``: Materials Project, downloaded by mace)
    replay_dataset: str | None = None
    #: configurations mace draws from ``replay_dataset`` (mace's ``--num_samples_pt``; its default 10,000)
    replay_samples: int | None = None
    restart_latest: bool = True
    keep_checkpoints: bool = False
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    #: flags written last, so that they override the stage's (a fine-tuning strategy's, ``--freeze=5``)
    extra_flags: tuple[str, ...] = ()

    def command(self) -> list[str]:
        extra = {flag.removeprefix("--").split("=")[0] for flag in self.extra_flags}
        clash = RESERVED_FLAGS & (set(self.hyperparameters) | extra)
        if clash:
            raise ValueError(f"model/training/strategy options may not set {sorted(clash)}: mftl sets them")
        e0s = "{" + ", ".join(f"{int(z)}: {e!r}" for z, e in sorted(self.e0s.items())) + "}"
        cmd = [
            "mace_run_train",
            f"--name={self.name}",
            f"--seed={self.seed}",
            f"--train_file={self.train_file}",
            f"--energy_key={ENERGY_KEY}",
            f"--forces_key={FORCES_KEY}",
            f"--E0s={e0s}",
            f"--max_num_epochs={self.max_epochs}",
            f"--device={self.device}",
        ]
        if self.valid_file is not None:
            cmd.append(f"--valid_file={self.valid_file}")
        else:
            cmd.append(f"--valid_fraction={self.valid_fraction}")
        if self.foundation_model is not None:
            cmd.append(f"--foundation_model={Path(self.foundation_model).resolve()}")
            # mace defaults to multi-head fine-tuning and, for a foundation that is not an MP
            # model and no replay file, silently falls back to naive fine-tuning: say which.
            if self.replay_file is not None and self.replay_dataset is not None:
                raise ValueError("give a replay file or one of mace's replay data sets, not both")
            if self.replay_file is not None:
                cmd += ["--multiheads_finetuning=True", f"--pt_train_file={self.replay_file}"]
            elif self.replay_dataset is not None:
                if self.replay_dataset not in MACE_REPLAY_DATASETS:
                    raise ValueError(
                        f"unknown mace replay data set '{self.replay_dataset}' "
                        f"(mace-torch knows {', '.join(MACE_REPLAY_DATASETS)})"
                    )
                cmd += ["--multiheads_finetuning=True", f"--pt_train_file={self.replay_dataset}"]
                if self.replay_samples is not None:
                    cmd.append(f"--num_samples_pt={self.replay_samples}")
            else:
                cmd.append("--multiheads_finetuning=False")
        elif self.replay_file is not None or self.replay_dataset is not None:
            raise ValueError("replay data: multi-head fine-tuning needs a foundation model")
        if self.restart_latest:
            cmd.append("--restart_latest")
        if self.keep_checkpoints:
            cmd.append("--keep_checkpoints")
        return cmd + mace_flags(self.hyperparameters) + list(self.extra_flags)

    def model_path(self, work_dir: Path) -> Path:
        return work_dir / f"{self.name}.model"

    def checkpoint_dir(self, work_dir: Path) -> Path:
        return work_dir / "checkpoints"


def eval_command(
    configs: Path,
    model: Path,
    output: Path,
    device: str,
    default_dtype: str,
    batch_size: int = 32,
) -> list[str]:
    """``mace_eval_configs`` command; ``default_dtype`` must be the model's own (float32/float64)."""
    return [
        "mace_eval_configs",
        f"--configs={configs}",
        f"--model={model}",
        f"--output={output}",
        f"--device={device}",
        f"--default_dtype={default_dtype}",
        f"--batch_size={batch_size}",
    ]
