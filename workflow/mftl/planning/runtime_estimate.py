"""A campaign's expected wall time on a laptop, before it runs (the comment ``mftl init`` writes).

Rates measured on the demo (``make demo`` on 2 CPU cores, the starter's small MACE: 16 channels, max_L 0,
float32; docs/performance.md, "Training to convergence"), per atom so that they carry over to molecules of
another size. A converged training runs until its validation loss has plateaued, so its length is known
only roughly: :data:`EPOCHS_TO_PLATEAU` is what the demo's runs needed. The estimate is a guide (within a
factor of two), not a promise: a larger model, a GPU or a busy machine changes it.
"""

from __future__ import annotations

from collections.abc import Mapping

from mftl.planning.config import given_geometries_count

#: seconds of training per atom and epoch (forward, forces, backward, optimiser step), one CPU thread
TRAIN_S_PER_ATOM_EPOCH = 8.0e-4
#: seconds of one validation pass per atom (one batch)
VALID_S_PER_ATOM = 2.5e-4
#: seconds a training costs besides its epochs (Python and torch start, data, final evaluation, model export)
TRAINING_FIXED_S = 15.0
#: seconds of one evaluation job (torch and mace import, model load dominate for small test sets)
EVALUATION_S = 7.0
#: seconds of one GFN1-xTB (tblite) calculation per atom, small molecules
GFN1_S_PER_ATOM = 1.5e-3
#: seconds of one Langevin MD step of GFN1-xTB (tblite) per atom, small molecules: 2.4 ms a step of CH3OH and
#: H3CNH2 (6-7 atoms) on one core (2026-12-06, tests/test_sampling.py's campaign; the SCF starts from the last step)
GFN1_MD_STEP_S_PER_ATOM = 3.7e-4
#: epochs a run trains until early stopping ends it, by stage: the medians of the demo's converged runs
#: (2026-12-06, sizes 15-60: scratch and Delta 160-320 epochs, fine-tuning 40-300; docs/performance.md, 7)
EPOCHS_TO_PLATEAU = {"scratch": 180, "finetune": 90}


def _training_s(size: int, validation: int, atoms: float, epochs: int) -> float:
    per_epoch = atoms * (size * TRAIN_S_PER_ATOM_EPOCH + validation * VALID_S_PER_ATOM)
    return TRAINING_FIXED_S + epochs * per_epoch


def sampling_seconds(sampling: Mapping, atoms_per_config: float) -> float:
    """CPU seconds of a ``pretrain_sampling`` (defaults filled): its trajectories' MD steps with GFN1-xTB."""
    trajectories = -(-sampling["size"] // sampling["snapshots_per_trajectory"])
    steps = sampling["equilibration_steps"] + sampling["snapshots_per_trajectory"] * sampling["interval_steps"]
    return trajectories * steps * atoms_per_config * GFN1_MD_STEP_S_PER_ATOM


def campaign_seconds(dataset: Mapping, atoms_per_config: float) -> dict[str, float]:
    """CPU seconds of one dataset's campaign by part: labelling, pre-training, trainings, evaluations.

    ``dataset`` is a checked dataset entry (sizes, seeds, methods, split, caps); ``atoms_per_config`` the
    mean number of atoms of its configurations.
    """
    split, methods, seeds = dataset["split"], set(dataset["methods"]), dataset["seeds"]
    validation = split["validation"]
    sizes = dataset["train_sizes"]
    pretrained = bool({"mftl", "mftl_auto"} & methods)
    labelled = (
        split["pretrain_pool"]
        + given_geometries_count(dataset)
        + (split["test"] + validation + max(sizes) if "delta" in methods else 0)
    )
    parts = {"labelling": labelled * atoms_per_config * GFN1_S_PER_ATOM if pretrained or "delta" in methods else 0.0}
    if pretrained and "pretrain_sampling" in dataset:
        parts["sampling"] = sampling_seconds(dataset["pretrain_sampling"], atoms_per_config)
    pre = 0.0
    if pretrained:
        # the pre-training holds out mace's 10% validation fraction of its pool
        for pool in dataset.get("pretrain_sizes", []):
            pre += len(seeds) * _training_s(
                int(0.9 * pool), int(0.1 * pool), atoms_per_config, max(dataset["epoch_caps"])
            )
    parts["pre-training"] = pre
    runs = {"scratch": "scratch", "delta": "scratch", "mftl": "finetune"}
    trainings = evaluations = 0.0
    for method, stage in runs.items():
        if method not in methods:
            continue
        caps = len(dataset.get("epoch_caps", [])) * len(dataset.get("pretrain_sizes", [])) if method == "mftl" else 1
        for size in sizes:
            per_run = _training_s(size, validation, atoms_per_config, EPOCHS_TO_PLATEAU[stage])
            trainings += caps * len(seeds) * per_run
            evaluations += caps * len(seeds) * EVALUATION_S
    parts["trainings"] = trainings
    parts["evaluations"] = evaluations
    return parts


def wall_minutes(parts: Mapping[str, float], cores: int = 2) -> float:
    """Wall minutes of ``parts`` (CPU seconds) with ``cores`` jobs side by side (one thread each)."""
    return sum(parts.values()) / max(cores, 1) / 60.0
