"""Whether a training job resumes an interrupted run or starts afresh, in one place.

mace's ``--restart_latest`` continues from whatever checkpoint lies in the run
folder, also one left by a run with other data, options or epoch cap. A job
therefore writes a fingerprint of everything that determines its result
(:func:`run_fingerprint`) at its start; :func:`start_or_resume` lets mace resume
only the same, unfinished run and clears the folder's mace state otherwise.

What mace-torch 0.3.16 restores on resume, read from its source
(``mace/cli/run_train.py``, ``mace/tools/checkpoint.py``, ``mace/tools/train.py``):
the model weights, the optimizer state and the learning-rate scheduler state of
the latest checkpoint. Not restored: the training data loader's shuffling
generator (seeded afresh, so epoch k after a resume draws epoch 0's order), the
lowest validation loss and patience counter (reset, so the first epoch after a
resume is always saved as the best), the scheduler step that the first epoch
after a resume skips, and the EMA (the checkpoint holds the EMA-averaged weights,
which become the raw weights; the average restarts). mace also restarts *at* the
epoch of its checkpoint, training that epoch twice; :func:`shift_latest_checkpoint`
undoes that. A resumed run therefore equals an uninterrupted one when every
epoch is one batch, the validation loss improves at the first epoch after the
resume, the scheduler does not change the learning rate and EMA is off; otherwise
it is a valid but different training run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mftl.atomic import atomic_path, write_text_atomic
from mftl.training.checkpoints import checkpoints_by_epoch

FINGERPRINT_FILE = "run.fingerprint.json"
#: what mace writes into a run folder besides ``<name>*.model``; mftl's own outputs are named by the caller
MACE_FOLDERS = ("checkpoints", "logs", "results")


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def run_fingerprint(command: Sequence[str], files: Mapping[str, Path | None], arguments: Mapping[str, Any]) -> dict:
    """Everything that determines a training run's result, as a JSON-able dict.

    Parameters
    ----------
    command
        the ``mace_run_train`` command line
    files
        the files it trains on by role (training/validation/replay extxyz, the model it
        starts from); ``None`` for a role the run does not have
    arguments
        mftl's own arguments of the run (size, seed, fidelity, caps, ...)
    """
    try:
        mace_version = version("mace-torch")
    except PackageNotFoundError:
        mace_version = None
    return {
        "command": [str(part) for part in command],
        "files": {role: (file_sha256(path) if path is not None else None) for role, path in sorted(files.items())},
        "arguments": json.loads(json.dumps(dict(arguments), default=str)),
        "mace_version": mace_version,
    }


def changed_fields(old: Mapping, new: Mapping) -> list[str]:
    """Names of the fingerprint fields that differ, e.g. ``['command', 'files.train']``."""
    changed = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            changed += [f"{key}.{inner}" for inner in changed_fields(before, after)]
        elif before != after:
            changed.append(key)
    return changed


def _run_state(out_dir: Path, run_name: str, outputs: Sequence[str]) -> list[Path]:
    found = []
    for pattern in (*MACE_FOLDERS, f"{run_name}*.model", *outputs):
        found += sorted(out_dir.glob(pattern))
    return found


def start_or_resume(out_dir: Path, fingerprint: dict, run_name: str, outputs: Sequence[str], finished: str) -> bool:
    """Prepare ``out_dir`` for a run with ``fingerprint``; return whether mace may resume.

    mace resumes only an unfinished run with an identical fingerprint. Otherwise the
    folder's mace state (checkpoints, logs, results, ``<run_name>*.model``) and ``outputs``
    (mftl's files of a run, e.g. ``model.model``) are removed, with one printed line
    saying why. ``finished`` names the file a completed run writes last: a completed
    run is never continued. A resumed run loses its unreadable newest checkpoints
    (:func:`drop_unreadable_checkpoints`) and continues after the epoch of the
    latest one (:func:`shift_latest_checkpoint`). The fingerprint is then written atomically.
    """
    path = out_dir / FINGERPRINT_FILE
    old = json.loads(path.read_text()) if path.exists() else None
    state = _run_state(out_dir, run_name, outputs)
    resume = False
    if state:
        if old is None:
            reason = f"fingerprint missing ({FINGERPRINT_FILE})"
        elif old != fingerprint:
            reason = "fingerprint changed: " + ", ".join(changed_fields(old, fingerprint))
        elif (out_dir / finished).exists():
            reason = f"the previous run finished ({finished})"
        else:
            reason = None
            resume = True
            drop_unreadable_checkpoints(out_dir / "checkpoints")
            shift_latest_checkpoint(out_dir / "checkpoints")
        if reason:
            print(
                f"training from scratch in {out_dir}, {reason}; removing " + ", ".join(p.name for p in state),
                flush=True,
            )
            for stale in state:
                if stale.is_dir():
                    shutil.rmtree(stale)
                else:
                    stale.unlink()
    if old != fingerprint:
        write_text_atomic(path, json.dumps(fingerprint, indent=2) + "\n")
    return resume


def drop_unreadable_checkpoints(checkpoint_dir: Path) -> None:
    """Remove truncated newest checkpoints left by a job killed while mace saved.

    mace writes checkpoints in place; with ``--restart_latest`` it fails to load a
    truncated one and silently trains from epoch 0. Without it the retry resumes
    from the last good checkpoint.
    """
    checkpoints = sorted(checkpoints_by_epoch(checkpoint_dir).items(), reverse=True)
    if not checkpoints:
        return
    import torch

    for _, path in checkpoints:
        try:
            torch.load(path, map_location="cpu", weights_only=False)
            return
        except Exception as err:  # any unreadable file
            print(f"removing unreadable checkpoint {path}: {err}", flush=True)
            path.unlink()


def shift_latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """Make mace resume *after* the epoch of its latest checkpoint; return the copy made.

    mace-torch 0.3.16 saves ``<tag>_epoch-k.pt`` after training epoch k (0-based) and
    restarts with ``start_epoch = k``, training epoch k a second time. A copy named
    ``_epoch-(k+1)`` makes it start at k+1. The copy holds what a run capped at k+2
    epochs without improvement at epoch k+1 would export, so caps served from the
    checkpoints stay right; mace overwrites it when epoch k+1 improves. A latest
    checkpoint byte-identical to its predecessor is such a copy and is not shifted again.
    """
    checkpoints = checkpoints_by_epoch(checkpoint_dir)
    if not checkpoints:
        return None
    epoch, latest = max(checkpoints.items())
    before = checkpoints.get(epoch - 1)
    if before is not None and file_sha256(before) == file_sha256(latest):
        return None
    shifted = latest.with_name(latest.name.replace(f"_epoch-{epoch}.pt", f"_epoch-{epoch + 1}.pt"))
    with atomic_path(shifted) as tmp:
        shutil.copyfile(latest, tmp)
    print(f"resuming after epoch index {epoch}: {latest.name} copied to {shifted.name}", flush=True)
    return shifted
