"""A mace run's checkpoints: which one an epoch cap is served from, which to drop, epochs run, export.

mace saves a checkpoint (``checkpoints/<name>_run-<seed>_epoch-<i>.pt``, epoch index
``i`` 0-based) whenever the validation loss improves. One long pre-training run kept
with ``--keep_checkpoints`` serves every epoch cap from them: a run capped at ``cap``
epochs would end with the last checkpoint before epoch index ``cap``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mftl.atomic import atomic_path

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


def export_checkpoint(final_model: Path, checkpoint: Path, out: Path) -> None:
    """Write a model file holding the weights of ``checkpoint`` (same architecture as ``final_model``)."""
    import torch

    model = torch.load(final_model, map_location="cpu", weights_only=False)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    with atomic_path(out) as tmp:
        torch.save(model, tmp)
