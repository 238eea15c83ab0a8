"""MACE training: building ``mace_run_train`` command lines, in one place.

Training data files written by :func:`training_frames` carry energies relative
to the fidelity's fitted E0s (``REF_energy``) and the forces (``REF_forces``);
models mftl trains from scratch hold zero E0s, so no model ever carries a
fidelity's reference energies into fine-tuning (see :mod:`mftl.references`).
A foundation model's own E0s are kept and the data re-referenced to them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms

from mftl.mace_options import MACE_REPLAY_DATASETS, RESERVED_FLAGS, mace_flags
from mftl.mace_options import mace_arg_parser as _mace_arg_parser  # noqa: F401 (tests)
from mftl.references import reference_energy
from mftl.structures import labels

ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def training_frames(
    frames: Sequence[Atoms],
    fidelity: str,
    fit: dict[int, float],
    held: dict[int, float] | None = None,
) -> list[Atoms]:
    """Copies of ``frames`` with ``REF_energy`` and ``REF_forces`` (eV, eV/A) for MACE.

    The energy is re-referenced from the fidelity's fitted E0s (``fit``) to the
    E0s the MACE model holds (``held``; zero for models mftl trains from scratch).
    """
    out = []
    for atoms in frames:
        energy, forces = labels(atoms, fidelity)
        shift = reference_energy(atoms, fit) - (reference_energy(atoms, held) if held else 0.0)
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.info = {"config_id": atoms.info.get("config_id"), ENERGY_KEY: energy - shift}
        copy.arrays[FORCES_KEY] = forces
        out.append(copy)
    return out


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

    def command(self) -> list[str]:
        clash = RESERVED_FLAGS & set(self.hyperparameters)
        if clash:
            raise ValueError(f"model/training options may not set {sorted(clash)}: mftl sets them")
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
        cmd += mace_flags(self.hyperparameters)
        return cmd

    def model_path(self, work_dir: Path) -> Path:
        return work_dir / f"{self.name}.model"

    def checkpoint_dir(self, work_dir: Path) -> Path:
        return work_dir / "checkpoints"


def model_e0s(model_path: Path, elements: Sequence[int]) -> dict[int, float]:
    """Atomic reference energies (eV) a MACE model holds, for ``elements`` (first head)."""
    import torch

    model = torch.load(model_path, map_location="cpu", weights_only=False)
    numbers = [int(z) for z in model.atomic_numbers]
    energies = model.atomic_energies_fn.atomic_energies.detach().cpu().double().reshape(-1, len(numbers))[0]
    missing = sorted(set(int(z) for z in elements) - set(numbers))
    if missing:
        raise ValueError(f"{model_path}: model has no element(s) Z={missing}")
    return {int(z): float(energies[numbers.index(int(z))]) for z in elements}


_CHECKPOINT = re.compile(r"_epoch-(\d+)\.pt$")


def checkpoints_by_epoch(checkpoint_dir: Path) -> dict[int, Path]:
    """Map epoch index (0-based) -> checkpoint file in a mace ``checkpoints/`` folder."""
    found = {}
    for path in Path(checkpoint_dir).glob("*_epoch-*.pt"):
        match = _CHECKPOINT.search(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def checkpoint_for_cap(checkpoint_dir: Path, cap: int) -> tuple[int, Path]:
    """The checkpoint a run capped at ``cap`` epochs would end with.

    mace saves a checkpoint only when the validation loss improves, and a capped
    run exports the last saved one, i.e. the best epoch among 0..cap-1. With
    ``--keep_checkpoints`` one long run keeps all of them.
    """
    eligible = {e: p for e, p in checkpoints_by_epoch(checkpoint_dir).items() if e < cap}
    if not eligible:
        raise FileNotFoundError(f"no checkpoint before epoch {cap} in {checkpoint_dir}")
    epoch = max(eligible)
    return epoch, eligible[epoch]


def checkpoints_to_drop(checkpoint_dir: Path, caps: Sequence[int]) -> list[Path]:
    """Checkpoints of a finished run that no epoch cap in ``caps`` is served from."""
    needed = {checkpoint_for_cap(checkpoint_dir, cap)[1] for cap in caps}
    return [p for p in checkpoints_by_epoch(checkpoint_dir).values() if p not in needed]


def epochs_run(log_text: str) -> int:
    """Number of epochs reported in a mace training log (0 if none)."""
    epochs = [int(m) for m in re.findall(r"Epoch (\d+):", log_text)]
    return max(epochs) + 1 if epochs else 0
