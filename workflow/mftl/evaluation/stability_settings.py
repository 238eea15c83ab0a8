"""The settings of a model's stability checks (a dataset's ``stability`` config key; the schema describes each key).

A stability job (``mftl stability``, :mod:`mftl.evaluation.stability_job`) loads one trained model once and runs
its checks: Langevin MD from test configurations (:mod:`mftl.evaluation.md_stability`), the energy of element pairs
pulled together below the training data's shortest distance (:mod:`mftl.evaluation.repulsion`), and the error on the
starting model's own data after fine-tuning (:mod:`mftl.evaluation.forgetting`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from mftl.data.sampling import BOND_FACTOR, MIN_DISTANCE_A


@dataclass(frozen=True)
class StabilitySettings:
    """A dataset's ``stability`` (config.schema.yaml describes each key)."""

    enabled: bool = True
    sizes: str = "largest"
    temperature_K: float = 300.0
    timestep_fs: float = 0.5
    steps: int = 1000
    friction_per_fs: float = 0.01
    nve_steps: int = 200
    check_interval_steps: int = 10
    starts_per_molecule: int = 2
    max_starts: int = 24
    seed: int = 0
    min_distance_A: float = MIN_DISTANCE_A  # the sampler's physical-run checks, the same defaults
    bond_factor: float = BOND_FACTOR
    repulsion_points: int = 12
    repulsion_shrink: float = 0.5
    max_unstable_fraction: float = 0.2

    @classmethod
    def from_config(cls, spec: dict[str, Any] | None) -> StabilitySettings:
        """From the config's ``stability`` mapping (missing keys take the defaults above); unknown keys refused."""
        spec = dict(spec or {})
        unknown = sorted(set(spec) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"stability: unknown key(s) {unknown}")
        return cls(**spec)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def run_fs(self) -> float:
        """The Langevin run's length (fs)."""
        return self.steps * self.timestep_fs
