"""mace-torch's console scripts: the ``mace_run_train`` and ``mace_eval_configs`` command lines mftl
builds, in one place, the data they read and write, and running them in this process.

Training data files written by :func:`training_frames` carry energies relative
to the fidelity's fitted E0s (``REF_energy``) and the forces (``REF_forces``);
models mftl trains from scratch hold zero E0s, so no model ever carries a
fidelity's reference energies into fine-tuning (see :mod:`mftl.reference_energies`).
A foundation model's own E0s are kept and the data re-referenced to them.
``mace_eval_configs`` predictions (:func:`predictions`) are put back on the fidelity's
scale: the model's E0 sum is replaced by the fidelity's fitted one.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from mftl.mace_options import MACE_REPLAY_DATASETS, RESERVED_FLAGS, mace_flags
from mftl.mace_options import mace_arg_parser as _mace_arg_parser  # noqa: F401 (tests)
from mftl.reference_energies import reference_energy
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


PRED_ENERGY_KEY = "MACE_energy"
PRED_FORCES_KEY = "MACE_forces"


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


def predictions(
    frames: Sequence[Atoms],
    fit: dict[int, float],
    held: dict[int, float],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Energies (eV) and forces (eV/A) on the fidelity's scale from ``mace_eval_configs`` output frames.

    The model's own E0s (``held``) are replaced by the fidelity's fitted ones (``fit``).
    """
    energies = np.array(
        [float(a.info[PRED_ENERGY_KEY]) - reference_energy(a, held) + reference_energy(a, fit) for a in frames]
    )
    forces = [np.asarray(a.arrays[PRED_FORCES_KEY], dtype=float) for a in frames]
    return energies, forces


#: what mace-torch logs when the validation loss has not improved for ``patience`` evaluations
PATIENCE_MESSAGE = "Stopping optimization after"


class _PatienceExceeded(Exception):
    """mace said patience is exceeded; the run is ended there (see :class:`_EndOnPatience`)."""


class _EndOnPatience(logging.Handler):
    """Early stopping that stops: end ``mace_run_train`` when it logs that patience is exceeded.

    mace-torch 0.3.16 logs "Stopping optimization after N epochs without improvement"
    and then trains on to ``max_num_epochs`` unless it runs distributed
    (ACEsuit/mace#1384; fix proposed in PR #1502, not released). The message goes to
    mace's own handlers first, then the run is ended; :func:`mftl.training.train` lets mace write
    the final model from its best checkpoint, as an early-stopped run does.
    """

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(PATIENCE_MESSAGE) or "Stage Two" in message:
            return
        for handler in logging.getLogger().handlers:
            if handler is not self and record.levelno >= handler.level:
                handler.handle(record)
        raise _PatienceExceeded(message)


def run_mace(cmd: list[str], cwd: Path, threads: int) -> bool:
    """Run the console script ``cmd`` (``mace_run_train``, ``mace_eval_configs``) in this process.

    Exactly what the installed script runs (its entry point, with ``cmd`` as its
    argv), in ``cwd``, but without a second Python start and import of torch, e3nn
    and mace (~5 s here, as long as a small demo fine-tuning). What the script
    changes in the process (working folder, logging handlers, torch's default
    dtype and threads, ``sys.argv``) is put back afterwards. The logged command
    line runs the same step by hand. Returns whether the run was ended early
    because mace's patience was exceeded (see :class:`_EndOnPatience`).
    """
    from importlib.metadata import entry_points

    scripts = entry_points(group="console_scripts", name=cmd[0])
    if not scripts:
        raise RuntimeError(f"{cmd[0]}: no such console script installed (is mace-torch installed?)")
    main = next(iter(scripts)).load()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    print("+ " + " ".join(cmd), flush=True)
    root = logging.getLogger()
    saved = (
        list(root.handlers),
        list(root.filters),
        root.level,
        torch.get_default_dtype(),
        torch.get_num_threads(),
        list(sys.argv),
        os.getcwd(),
    )
    torch.set_num_threads(threads)
    os.chdir(cwd)
    sys.argv = list(cmd)
    root.addHandler(_EndOnPatience())
    try:
        main()
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise RuntimeError(f"{cmd[0]} failed with exit code {stop.code} (see the log above)") from stop
    except _PatienceExceeded:
        return True
    finally:
        handlers, filters, level, dtype, n_threads, argv, cwd_before = saved
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers, root.filters = handlers, filters
        root.setLevel(level)
        torch.set_default_dtype(dtype)
        torch.set_num_threads(n_threads)
        sys.argv = argv
        os.chdir(cwd_before)
        sys.stdout.flush()
    return False
