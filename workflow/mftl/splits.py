"""Seeded, disjoint splits of a dataset into test / validation / training pool / pre-training pool.

All functions work on configuration ids (``info["config_id"]``), never on file order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
