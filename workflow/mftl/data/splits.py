"""Seeded, disjoint splits of a dataset into test / validation / training pool / pre-training pool.

All functions work on configuration ids (``info["config_id"]``), never on file order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms


class SplitError(ValueError):
    """A requested split that the data cannot provide."""


@dataclass(frozen=True)
class Split:
    test: tuple[int, ...]
    validation: tuple[int, ...]
    train_pool: tuple[int, ...]
    pretrain_pool: tuple[int, ...]

    def as_dict(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in self.__dict__.items()}

    def check_disjoint(self) -> None:
        parts = {"test": self.test, "validation": self.validation, "train_pool": self.train_pool}
        names = list(parts)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                overlap = set(parts[a]) & set(parts[b])
                if overlap:
                    raise SplitError(f"split parts '{a}' and '{b}' overlap in {len(overlap)} configurations")
        for held_out in ("test", "validation"):
            overlap = set(self.pretrain_pool) & set(parts[held_out])
            if overlap:
                raise SplitError(f"pre-training pool overlaps the {held_out} set in {len(overlap)} configurations")


def make_split(
    high_fidelity_ids: list[int],
    all_ids: list[int],
    n_test: int,
    n_validation: int,
    n_train_pool: int,
    n_pretrain_pool: int,
    seed: int,
) -> Split:
    """Draw test, validation and training pool from configurations with high-fidelity labels.

    The training pool holds ``n_train_pool`` configurations (the largest training
    size), so every part's size is known from the config before any data exists.
    The pre-training pool is drawn from all configurations of the same space
    except the test and validation sets.
    """
    hf = np.array(sorted(set(high_fidelity_ids)))
    if n_test + n_validation + n_train_pool > len(hf):
        raise SplitError(
            f"split.test ({n_test}) + split.validation ({n_validation}) + largest train size ({n_train_pool}) "
            f"= {n_test + n_validation + n_train_pool} exceeds the {len(hf)} configurations "
            "with high-fidelity labels"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(hf)
    test = order[:n_test]
    validation = order[n_test : n_test + n_validation]
    train_pool = order[n_test + n_validation : n_test + n_validation + n_train_pool]
    held_out = set(test.tolist()) | set(validation.tolist())
    candidates = np.array(sorted(set(all_ids) - held_out))
    if n_pretrain_pool > len(candidates):
        raise SplitError(
            f"split.pretrain_pool ({n_pretrain_pool}) is larger than the {len(candidates)} configurations "
            "outside the test and validation sets"
        )
    pretrain = rng.permutation(candidates)[:n_pretrain_pool]
    split = Split(*(tuple(int(i) for i in part) for part in (test, validation, train_pool, pretrain)))
    split.check_disjoint()
    return split


def subset(pool_ids: list[int], size: int, seed: int, what: str = "training pool") -> list[int]:
    """The first ``size`` ids of a seeded permutation: nested subsets for learning curves."""
    if size > len(pool_ids):
        raise SplitError(f"size {size} is larger than the {what} ({len(pool_ids)} configurations)")
    if size < 1:
        raise SplitError(f"size must be positive, got {size}")
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.permutation(np.array(pool_ids))[:size]]


def comparison_sample(high_ids: list[int], low_ids: list[int], size: int, seed: int) -> list[int]:
    """``size`` configurations drawn with ``seed`` from those carrying both fidelities' labels (fig. 2's
    "randomly sampled configurations"): the split's parts are disjoint seeded draws of the whole
    dataset, so a seeded draw from their union is a random sample of the dataset."""
    both = sorted(set(high_ids) & set(low_ids))
    return sorted(subset(both, size, seed, what="configurations of the split labelled with both fidelities"))


def split_source(
    source: str | Path, high_keys: tuple[str | None, str | None], select: dict | None, sizes: dict[str, int], seed: int
) -> tuple[dict[str, list[Atoms]], dict]:
    """The seeded split of a source file: each part's frames (``test``, ``validation``, ``train_pool``,
    ``pretrain_pool``) and the split's record (``split.json``).

    ``high_keys`` are the high fidelity's energy and forces keys (``None``: every frame carries it);
    ``select`` the config's frame selection; ``sizes`` the four parts' sizes. A split whose training data
    lacks an element of its test set is refused (:class:`~mftl.data.elements.ElementCoverageError`)
    before any labelling or training.
    """
    from mftl.data.datasets import load_source, select_frames
    from mftl.data.elements import ElementCoverageError, split_problem, symbols_by_id
    from mftl.data.structures import by_config_id

    energy_key, forces_key = high_keys
    frames = load_source(source, energy_key, forces_key)
    n_source = len(frames)
    if select:
        frames = select_frames(frames, select, source)
    hf_ids = [
        int(a.info["config_id"])
        for a in frames
        if energy_key is None or (energy_key in a.info and forces_key in a.arrays)
    ]
    split = make_split(
        hf_ids,
        [int(a.info["config_id"]) for a in frames],
        sizes["test"],
        sizes["validation"],
        sizes["train_pool"],
        sizes["pretrain_pool"],
        seed,
    )
    problem = split_problem(split.as_dict(), symbols_by_id(frames), str(source))
    if problem:
        raise ElementCoverageError(problem)
    by_id = by_config_id(frames)
    parts = {part: [by_id[i] for i in ids] for part, ids in split.as_dict().items()}
    record = {
        "seed": seed,
        "source": str(source),
        "n_source": n_source,
        "n_selected": len(frames),
        "select": select,
        **split.as_dict(),
    }
    return parts, record


def comparison_frames(
    high: list[Atoms], low: list[Atoms], size: int, seed: int
) -> tuple[list[Atoms], list[Atoms], str]:
    """The comparison sample of two labelled sets: the same ``size`` configurations (by id) of each, drawn
    with ``seed`` among those both label, and a line saying what was drawn."""
    from mftl.data.structures import by_config_id

    high_by_id, low_by_id = by_config_id(high), by_config_id(low)
    ids = comparison_sample(list(high_by_id), list(low_by_id), size, seed)
    note = (
        f"comparison sample: {len(ids)} of {len(set(high_by_id) & set(low_by_id))} configurations with both labels "
        f"({len(high_by_id)} high, {len(low_by_id)} low) drawn with seed {seed}"
    )
    return [high_by_id[i] for i in ids], [low_by_id[i] for i in ids], note


def given_geometries(path: str | Path) -> list[Atoms]:
    """The configurations of a ``pretrain_geometries`` file, geometry only (species, positions, cell, pbc: any
    labels it carries are dropped, the low fidelity labels them), numbered from
    :data:`~mftl.data.sampling.GEOMETRY_ID_OFFSET` in file order (``config_id``) with ``given_frame``, their
    frame in the file."""
    from ase import Atoms

    from mftl.data.sampling import GEOMETRY_ID_OFFSET
    from mftl.data.structures import read_structures

    frames = []
    for i, atoms in enumerate(read_structures(path)):
        bare = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        bare.info.update(config_id=GEOMETRY_ID_OFFSET + i, given_frame=i)
        frames.append(bare)
    return frames


def add_given_geometries(parts: dict[str, list[Atoms]], record: dict, path: str | Path) -> None:
    """Append the configurations of ``path`` (:func:`given_geometries`) to the split's pre-training pool,
    after its drawn part, and record the file and their ids in the split's record."""
    from mftl.data.sampling import check_id_space

    check_id_space(source_ids(record))  # the given and sampled ids lie above the source's
    frames = given_geometries(path)
    parts["pretrain_pool"] = [*parts["pretrain_pool"], *frames]
    given = [int(a.info["config_id"]) for a in frames]
    record.update(pretrain_geometries=str(path), given_ids=given, pretrain_pool=[*record["pretrain_pool"], *given])


def source_ids(record: dict) -> list[int]:
    """The ids of a split's record (``split.json``) drawn from its source: those of its parts but the
    ``pretrain_geometries`` file's."""
    from mftl.paths import PARTS

    given = set(record.get("given_ids", []))
    return [i for part in PARTS for i in record[part] if i not in given]
