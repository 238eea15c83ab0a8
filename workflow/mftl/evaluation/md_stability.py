"""Does a potential run? Short Langevin MD with a model's ASE calculator from test configurations.

Each run (:func:`md_run`) starts from one test configuration, draws Maxwell-Boltzmann velocities at the
settings' temperature (seeded by :func:`run_seed`: the settings' seed and the configuration's id), and runs
``steps`` of ASE's Langevin dynamics, set up as the sampler's (:func:`mftl.data.sampling.langevin`: the molecule's
centre of mass fixed by ASE's ``FixCom``), then ``nve_steps`` of velocity Verlet. Every ``check_interval_steps`` the run
is checked as the sampler checks its snapshots (:func:`mftl.data.sampling.snapshot_problem`): finite energy and
forces, no two atoms closer than ``min_distance_A``, the bonds (ASE's covalent radii times ``bond_factor``) those
of the start (not for periodic cells, where neighbours change legitimately). The first failed check ends the
run: its reason and time (fs) are recorded. A run that survives the Langevin part is continued in NVE and its
drift is the slope of the total energy per atom over time (meV/atom/ps, a linear fit of the checks' values).

Starts (:func:`starts`): the first ``starts_per_molecule`` test configurations of each molecule (``info``
key ``molecule``, else the chemical formula), in the test file's order (the split is random already), at most
``max_starts`` in all (molecules evenly spread when a test set has more).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from mftl.data.sampling import bonds, langevin, min_distance
from mftl.evaluation.stability_settings import StabilitySettings

#: why a run ended early (as :data:`mftl.data.sampling.REASONS`)
FAILURES = ("bonding_changed", "close_contact", "non_finite", "calculator_error")


class _Failed(Exception):
    def __init__(self, reason: str, time_fs: float, detail: str):
        super().__init__(detail)
        self.reason, self.time_fs, self.detail = reason, time_fs, detail


def kind(atoms: Atoms) -> str:
    """The molecule a configuration is of: ``info['molecule']``, else its chemical formula."""
    return str(atoms.info.get("molecule", atoms.get_chemical_formula()))


def starts(frames: Sequence[Atoms], per_molecule: int, most: int | None = None) -> list[Atoms]:
    """The first ``per_molecule`` configurations of each molecule, molecules in name order; with more than ``most``
    starts, ``most`` molecules evenly spread over that order (a test set of thousands of molecules, QM7-X's)
    keep ``per_molecule`` each, as far as ``most`` allows."""
    groups: dict[str, list[Atoms]] = defaultdict(list)
    for atoms in frames:
        if len(groups[kind(atoms)]) < per_molecule:
            groups[kind(atoms)].append(atoms)
    names = sorted(groups)
    if most is not None and len(names) * per_molecule > most:
        keep = max(1, most // per_molecule)
        names = [names[k] for k in np.unique(np.linspace(0, len(names) - 1, keep).round().astype(int))]
    chosen = [atoms for name in names for atoms in groups[name]]
    return chosen[:most] if most is not None else chosen


def run_seed(settings: StabilitySettings, config_id: int) -> int:
    """The seed of the run from configuration ``config_id`` (velocities and thermostat noise)."""
    return int(np.random.SeedSequence([settings.seed, int(config_id)]).generate_state(1)[0])


def _checker(atoms: Atoms, start_bonds: set | None, settings: StabilitySettings, dyn, offset_steps: int):
    """An MD observer that raises :class:`_Failed` at the first unphysical check."""

    def check():
        time_fs = (offset_steps + dyn.nsteps) * settings.timestep_fs
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces(apply_constraint=False)
        if not (np.isfinite(energy) and np.all(np.isfinite(forces))):
            raise _Failed("non_finite", time_fs, f"energy {energy}")
        closest = min_distance(atoms)
        if closest < settings.min_distance_A:
            raise _Failed("close_contact", time_fs, f"two atoms {closest:.2f} A apart")
        if start_bonds is not None:
            now = bonds(atoms, settings.bond_factor)
            if now != start_bonds:
                broken, formed = sorted(start_bonds - now), sorted(now - start_bonds)
                raise _Failed("bonding_changed", time_fs, f"bonds broken {broken[:3]}, formed {formed[:3]}")

    return check


def md_run(start: Atoms, calculator: Calculator, settings: StabilitySettings) -> tuple[dict, Atoms]:
    """One run from ``start``: (its record, the atoms at the end of the Langevin part or at the failure)."""
    from ase.md.verlet import VelocityVerlet

    config_id = int(start.info.get("config_id", 0))
    seed = run_seed(settings, config_id)
    atoms, dyn = langevin(start, calculator, settings, np.random.default_rng(seed))
    periodic = bool(atoms.pbc.any())
    start_bonds = None if periodic else bonds(start, settings.bond_factor)
    record = {"config_id": config_id, "molecule": kind(start), "n_atoms": len(start), "seed": seed}
    record.update(stable=True, failure=None, failure_fs=None, detail="", nve_drift_meV_atom_ps=None)
    dyn.attach(_checker(atoms, start_bonds, settings, dyn, 0), interval=settings.check_interval_steps)
    try:
        dyn.run(settings.steps)
        final = atoms.copy()
        if settings.nve_steps:
            record["nve_drift_meV_atom_ps"] = _nve_drift(atoms, start_bonds, settings, VelocityVerlet)
    except _Failed as failure:
        record.update(stable=False, failure=failure.reason, failure_fs=failure.time_fs, detail=failure.detail)
        final = atoms.copy()
    except Exception as err:  # a calculator has its own failure types (e.g. no neighbours, NaN in the graph)
        record.update(stable=False, failure="calculator_error", detail=f"{type(err).__name__}: {err}"[:300])
        record["failure_fs"] = None  # somewhere after the last passed check
        final = atoms.copy()
    return record, final


def _nve_drift(atoms: Atoms, start_bonds: set | None, settings: StabilitySettings, verlet) -> float:
    """Continue in NVE for ``nve_steps``; the slope of total energy per atom over time (meV/atom/ps)."""
    dyn = verlet(atoms, timestep=settings.timestep_fs * units.fs)
    times, totals = [], []

    def record_energy():
        times.append(dyn.nsteps * settings.timestep_fs / 1000.0)  # ps
        totals.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())

    dyn.attach(_checker(atoms, start_bonds, settings, dyn, settings.steps), interval=settings.check_interval_steps)
    dyn.attach(record_energy, interval=settings.check_interval_steps)
    dyn.run(settings.nve_steps)
    if len(times) < 2:
        return math.nan
    slope = np.polyfit(np.array(times), np.array(totals) / len(atoms), 1)[0]
    return float(1000.0 * slope)


def md_checks(frames: Sequence[Atoms], calculator: Calculator, settings: StabilitySettings) -> dict:
    """Runs from :func:`starts` of ``frames``, and their summary (the ``md`` entry of a stability record)."""
    chosen = starts(frames, settings.starts_per_molecule, settings.max_starts)
    runs = [md_run(start, calculator, settings)[0] for start in chosen]
    failed = [r["failure_fs"] for r in runs if not r["stable"] and r["failure_fs"] is not None]
    drifts = [abs(r["nve_drift_meV_atom_ps"]) for r in runs if r["stable"] and r["nve_drift_meV_atom_ps"] is not None]
    drifts = [d for d in drifts if np.isfinite(d)]
    n_stable = sum(r["stable"] for r in runs)
    return {
        "runs": runs,
        "n_runs": len(runs),
        "n_stable": n_stable,
        "stable_fraction": n_stable / len(runs) if runs else math.nan,
        "run_fs": settings.run_fs,
        "median_failure_fs": float(np.median(failed)) if failed else None,
        "median_abs_drift_meV_atom_ps": float(np.median(drifts)) if drifts else None,
    }
