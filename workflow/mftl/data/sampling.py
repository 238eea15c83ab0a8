"""A pre-training pool sampled by the low fidelity: Langevin MD from the training pool's configurations.

Each trajectory starts from one configuration of the training pool (never test or validation: the caller
passes only those), draws Maxwell-Boltzmann velocities at ``temperature_K``, runs ``equilibration_steps``
of Langevin MD (ASE, the fidelity's labeller as calculator, :func:`mftl.data.labellers.make_calculator`),
then keeps a snapshot every ``interval_steps`` until it has ``snapshots_per_trajectory``. A snapshot
carries the energy and forces the MD step computed (the calculator's cached results, no second call)
under the fidelity's label keys, and in ``info`` where it came from: ``sampled_from`` (the start's
config_id), ``md_step``, ``temperature_K``, ``sample_seed``.

Junk is dropped and counted, never kept silently: a snapshot whose bonds (ASE's covalent radii times
``bond_factor``) differ from the start's (``bonding_changed``), with two atoms closer than
``min_distance_A`` (``close_contact``), with non-finite labels (``non_finite``), or a step at which the
calculator raised (``calculator_error``) ends its trajectory; the snapshots kept before it stay, and the
next trajectory starts from the next start configuration. A chunk whose failed trajectories exceed
``max_failure_fraction`` of its planned ones raises :class:`SamplingError` with the reasons.

Ids. A sampled frame's ``config_id`` is :data:`SAMPLED_ID_OFFSET` plus its slot in the whole sample
(chunk ``c`` owns slots ``c * chunk_trajectories * snapshots_per_trajectory`` onwards), so ids are unique
across chunks and never those of a source configuration (:func:`check_id_space` refuses a source with
ids at or above the offset).

Balance. Start configurations are grouped by composition (chemical formula); trajectory ``t`` starts
from group ``t mod G`` (groups in formula order), its member ``t div G`` cycled, so every composition
gets the same share of trajectories whatever its share of the training pool.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from mftl.data.structures import set_labels

#: sampled frames' config_ids start here; a source configuration's id must be below it
SAMPLED_ID_OFFSET = 1_000_000_000
#: configurations of a dataset's ``pretrain_geometries`` file are numbered from here (above every sampled id)
GEOMETRY_ID_OFFSET = 2_000_000_000

#: the physical-run checks' defaults (sampled snapshots, stability runs): the closest two atoms may come (A);
#: a bond is two atoms closer than their covalent radii times BOND_FACTOR
MIN_DISTANCE_A = 0.5
BOND_FACTOR = 1.2

REASONS = ("bonding_changed", "close_contact", "non_finite", "calculator_error")


class SamplingError(ValueError):
    """Sampling that cannot go on: too many failed trajectories, or ids that would collide."""


@dataclass(frozen=True)
class SamplingSettings:
    """A dataset's ``pretrain_sampling`` (config.schema.yaml describes each key)."""

    size: int
    temperature_K: float
    timestep_fs: float = 0.5
    interval_steps: int = 10
    equilibration_steps: int = 50
    friction_per_fs: float = 0.01
    snapshots_per_trajectory: int = 10
    seed: int = 0
    chunk_trajectories: int = 20
    max_failure_fraction: float = 0.5
    min_distance_A: float = MIN_DISTANCE_A
    bond_factor: float = BOND_FACTOR

    @classmethod
    def from_config(cls, spec: dict[str, Any]) -> SamplingSettings:
        return cls(**spec)

    @property
    def trajectories(self) -> int:
        return math.ceil(self.size / self.snapshots_per_trajectory)

    @property
    def chunks(self) -> int:
        return math.ceil(self.trajectories / self.chunk_trajectories)

    def chunk_slots(self, chunk: int) -> range:
        """The sample's slots (config_id minus the offset) chunk ``chunk`` fills."""
        per_chunk = self.chunk_trajectories * self.snapshots_per_trajectory
        return range(chunk * per_chunk, min((chunk + 1) * per_chunk, self.size))


@dataclass
class SamplingReport:
    chunk: int
    n_snapshots: int = 0
    trajectories: int = 0
    failed_trajectories: int = 0
    md_steps: int = 0
    wall_s: float = 0.0
    dropped: dict[str, int] | None = None
    first_failures: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_id_space(source_ids: Sequence[int]) -> None:
    """Refuse source ids that sampled ids could take (at or above :data:`SAMPLED_ID_OFFSET`)."""
    clash = sorted(i for i in source_ids if int(i) >= SAMPLED_ID_OFFSET)
    if clash:
        raise SamplingError(
            f"config_id(s) {clash[:5]} of the source are at or above {SAMPLED_ID_OFFSET}, "
            "where sampled configurations are numbered; renumber the source's config_id below it"
        )


def balanced_starts(starts: Sequence[Atoms]) -> list[Atoms]:
    """Start configurations in trajectory order: compositions in turn, each composition's members cycled."""
    groups: dict[str, list[Atoms]] = defaultdict(list)
    for atoms in starts:
        groups[atoms.get_chemical_formula()].append(atoms)
    ordered = [groups[formula] for formula in sorted(groups)]
    longest = max(len(group) for group in ordered)
    return [group[k % len(group)] for k in range(longest) for group in ordered]


def bonds(atoms: Atoms, factor: float) -> set[tuple[int, int]]:
    """Pairs (i < j) closer than the sum of their covalent radii (ASE's natural cutoffs) times ``factor``."""
    from ase.neighborlist import natural_cutoffs, neighbor_list

    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=factor))
    return {(int(a), int(b)) for a, b in zip(i, j, strict=True) if a < b}


def min_distance(atoms: Atoms) -> float:
    if len(atoms) < 2:
        return math.inf
    d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return float(d[np.triu_indices(len(atoms), 1)].min())


def snapshot_problem(atoms: Atoms, start_bonds: set, settings: SamplingSettings) -> str | None:
    """Why a snapshot is junk (one of :data:`REASONS`), or None."""
    if min_distance(atoms) < settings.min_distance_A:
        return "close_contact"
    if bonds(atoms, settings.bond_factor) != start_bonds:
        return "bonding_changed"
    return None


def _snapshot(atoms: Atoms, source: Atoms, fidelity: str, energy: float, forces: np.ndarray, meta: dict) -> Atoms:
    out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    if "molecule" in source.info:
        out.info["molecule"] = source.info["molecule"]
    out.info.update(meta)
    set_labels(out, fidelity, energy, forces)
    return out


def langevin(start: Atoms, calculator: Calculator, settings, rng: np.random.Generator):
    """(atoms, dynamics): a copy of ``start`` with ``calculator``, its centre of mass fixed (ASE's ``FixCom``, ASE's
    advice over Langevin's ``fixcm``), Maxwell-Boltzmann velocities at ``settings.temperature_K`` drawn from ``rng``
    without net momentum, and ASE's Langevin dynamics (``timestep_fs``, ``friction_per_fs``) drawing its noise from
    the same ``rng``: the MD of the sampler and of the stability checks
    (:mod:`mftl.evaluation.md_stability`)."""
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    atoms = Atoms(numbers=start.numbers, positions=start.positions, cell=start.cell, pbc=start.pbc)
    atoms.calc = calculator
    atoms.set_constraint(FixCom())
    thermalize_momenta(atoms, settings.temperature_K, rng=rng)
    Stationary(atoms)
    dyn = Langevin(
        atoms,
        timestep=settings.timestep_fs * units.fs,
        temperature_K=settings.temperature_K,
        friction=settings.friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )
    return atoms, dyn


def run_trajectory(
    start: Atoms,
    calculator: Calculator,
    fidelity: str,
    settings: SamplingSettings,
    seed: int,
    n_snapshots: int,
) -> tuple[list[Atoms], str | None, str, int]:
    """One trajectory: (kept snapshots, the reason it ended early or None, the error text, MD steps run)."""
    atoms, dyn = langevin(start, calculator, settings, np.random.default_rng(seed))
    start_bonds = bonds(start, settings.bond_factor)
    meta = {"sampled_from": int(start.info["config_id"]), "temperature_K": settings.temperature_K, "sample_seed": seed}
    kept: list[Atoms] = []
    steps = settings.equilibration_steps
    try:
        dyn.run(settings.equilibration_steps)
        while len(kept) < n_snapshots:
            dyn.run(settings.interval_steps)
            steps += settings.interval_steps
            energy = atoms.get_potential_energy()  # the step's cached results, as the MD computed them
            forces = atoms.get_forces(apply_constraint=False)  # the calculator's forces, not FixCom's
            if not (np.isfinite(energy) and np.all(np.isfinite(forces))):
                return kept, "non_finite", f"md step {steps}: energy {energy}", steps
            problem = snapshot_problem(atoms, start_bonds, settings)
            if problem:
                return kept, problem, f"md step {steps}", steps
            kept.append(_snapshot(atoms, start, fidelity, energy, forces, {**meta, "md_step": steps}))
    except Exception as err:  # every calculator has its own failure types
        return kept, "calculator_error", f"md step ~{steps}: {type(err).__name__}: {err}"[:300], steps
    return kept, None, "", steps


def sample_chunk(
    starts: Sequence[Atoms],
    fidelity: str,
    settings: SamplingSettings,
    chunk: int,
    calculator_factory: Callable[[], Calculator],
) -> tuple[list[Atoms], SamplingReport]:
    """The snapshots of chunk ``chunk`` of the sample (its slots, :meth:`SamplingSettings.chunk_slots`)."""
    if not starts:
        raise SamplingError("no start configurations (the training pool is empty)")
    order = balanced_starts(starts)
    slots = settings.chunk_slots(chunk)
    planned = math.ceil(len(slots) / settings.snapshots_per_trajectory)
    report = SamplingReport(chunk=chunk, dropped=dict.fromkeys(REASONS, 0), first_failures=[])
    frames: list[Atoms] = []
    t0 = time.perf_counter()
    while len(frames) < len(slots):
        k = report.trajectories
        start = order[(chunk * settings.chunk_trajectories + k) % len(order)]
        seed = int(np.random.SeedSequence([settings.seed, chunk, k]).generate_state(1)[0])
        wanted = min(settings.snapshots_per_trajectory, len(slots) - len(frames))
        kept, reason, error, steps = run_trajectory(start, calculator_factory(), fidelity, settings, seed, wanted)
        report.trajectories += 1
        report.md_steps += steps
        for atoms in kept:
            atoms.info["config_id"] = SAMPLED_ID_OFFSET + slots[len(frames)]
            frames.append(atoms)
        if reason:
            _count_failure(report, reason, f"trajectory {k} from config {start.info['config_id']}: {error}")
            if report.failed_trajectories > settings.max_failure_fraction * planned:
                raise SamplingError(_failure_message(report, planned, settings))
    report.n_snapshots = len(frames)
    report.wall_s = time.perf_counter() - t0
    return frames, report


def _count_failure(report: SamplingReport, reason: str, text: str) -> None:
    report.failed_trajectories += 1
    report.dropped[reason] += 1
    if len(report.first_failures) < 5:
        report.first_failures.append(f"{reason}: {text}")


def _failure_message(report: SamplingReport, planned: int, settings: SamplingSettings) -> str:
    reasons = ", ".join(f"{n} {reason}" for reason, n in Counter(report.dropped).most_common() if n)
    return (
        f"chunk {report.chunk}: {report.failed_trajectories} trajectories ended in a dropped snapshot ({reasons}), "
        f"more than pretrain_sampling.max_failure_fraction = {settings.max_failure_fraction} of the {planned} planned; "
        f"first: {report.first_failures[0]}"
    )


def combined_report(reports: Sequence[dict]) -> dict[str, Any]:
    """The sampling reports of every chunk as one: totals, snapshots dropped by reason, first failures."""
    dropped = Counter()
    for report in reports:
        dropped.update(report["dropped"])
    total = {key: sum(r[key] for r in reports) for key in ("n_snapshots", "trajectories", "failed_trajectories")}
    return {
        **total,
        "md_steps": sum(r["md_steps"] for r in reports),
        "wall_s": sum(r["wall_s"] for r in reports),
        "dropped": {reason: dropped[reason] for reason in REASONS},
        "first_failures": [f for r in reports for f in r["first_failures"]][:10],
        "chunks": len(reports),
    }
