"""Fine-tuning strategies mace-torch ships (layer freezing, LoRA, pseudolabelled replay): what a run of one
records and checks beyond mace's model file.

The strategies themselves are mace's (``--freeze``, ``--lora``, ``--pseudolabel_replay``; mftl passes their
flags, :attr:`mftl.training.training_job.TrainingJob.strategy_flags`). What mftl adds: the number of
parameters the run trained (:func:`trainable_parameters`), a pseudolabelled replay that mace quietly turned
into original-label replay refused (:func:`check_pseudolabels`), and the pseudolabels mace trained on written
into the run folder (:func:`recording_pseudolabels`), so that they can be checked against the foundation.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

#: the replay configurations with the labels mace's pseudolabelling gave them (a run's folder)
PSEUDOLABELS_FILE = "pseudolabels.extxyz"

_LORA_COUNTS = re.compile(r"(Original model|Model with LoRA) has (\d+) trainable parameters")


def trainable_parameters(start: Path | None, final: Path, log_text: str) -> int:
    """Parameters (numbers) the run trained: LoRA's adapters (mace logs the model's size before and after
    injecting them), else those of the final model that differ from the model it started from (a frozen
    layer keeps its values bit for bit; a run from scratch trained them all)."""
    counts = dict((what, int(n)) for what, n in _LORA_COUNTS.findall(log_text))
    if len(counts) == 2:
        return counts["Model with LoRA"] - counts["Original model"]
    import torch

    final_params = dict(torch.load(final, map_location="cpu", weights_only=False).named_parameters())
    if start is None:
        return int(sum(p.numel() for p in final_params.values()))
    # the starting model's buffers too: a fine-tuned model may train what its start held fixed (mace's bessel weights)
    start_params = torch.load(start, map_location="cpu", weights_only=False).state_dict()
    changed = 0
    for name, param in final_params.items():
        before = start_params.get(name)
        if before is None or before.shape != param.shape or not torch.equal(before, param):
            changed += param.numel()
    return changed


def check_pseudolabels(log_text: str) -> None:
    """Raise unless mace relabelled the replay data: mace-torch 0.3.16 logs a failed pseudolabelling as a
    warning and trains on the replay file's own labels, which is not pseudolabelled replay."""
    if "Successfully applied pseudolabels" not in log_text or "Pseudolabeling was not successful" in log_text:
        raise RuntimeError(
            "pseudolabelled replay was requested but mace did not relabel the replay data with the foundation "
            "(see the log: 'Pseudolabeling was not successful'); not reporting original-label replay as pseudolabelled"
        )


@contextlib.contextmanager
def recording_pseudolabels(path: Path):
    """While mace trains in this process, write every configuration its pseudolabelling returns (energy and
    forces the foundation predicted, its head) to ``path``: what the replay head trained on."""
    from mace.tools import multihead_tools

    original = multihead_tools.generate_pseudolabels_for_configs
    written = []

    def recorded(*args, **kwargs):
        configs = original(*args, **kwargs)
        written.extend(configs)
        return configs

    multihead_tools.generate_pseudolabels_for_configs = recorded
    try:
        yield
    finally:
        multihead_tools.generate_pseudolabels_for_configs = original
        if written:
            _write_configs(written, path)


def _write_configs(configs, path: Path) -> None:
    import numpy as np
    from ase import Atoms

    from mftl.data.structures import write_structures

    frames = []
    for config in configs:
        atoms = Atoms(numbers=config.atomic_numbers, positions=config.positions)
        atoms.info = {"pseudo_energy": float(config.properties["energy"]), "head": config.head}
        atoms.arrays["pseudo_forces"] = np.asarray(config.properties["forces"], dtype=float)
        frames.append(atoms)
    write_structures(path, frames)
