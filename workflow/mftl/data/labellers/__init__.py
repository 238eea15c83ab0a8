"""Labellers: one backend per module, chosen by name in the config.

A labeller turns a configuration into (energy eV, forces eV/A) through an ASE
calculator. Failures (an SCF that does not converge, an unsupported element)
are returned per configuration, never hidden; the caller records and counts them.
"""

from __future__ import annotations

import importlib
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mftl.data.structures import set_labels

#: labeller name -> module (under mftl.data.labellers) that defines ``make_calculator`` and ``SUPPORTED_ELEMENTS``.
BACKENDS = {"tblite": "tblite", "pyscf": "pyscf", "dftbplus": "dftbplus"}


class LabellerError(ValueError):
    """A labeller that cannot be used as configured (unknown name, unsupported element)."""


@dataclass
class Failure:
    config_id: int
    error: str


@dataclass
class LabelReport:
    """What happened when a set of configurations was labelled."""

    fidelity: str
    labeller: str
    n_total: int = 0
    n_labelled: int = 0
    failures: list[Failure] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failure_fraction(self) -> float:
        return len(self.failures) / self.n_total if self.n_total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "fidelity": self.fidelity,
            "labeller": self.labeller,
            "n_total": self.n_total,
            "n_labelled": self.n_labelled,
            "n_failed": len(self.failures),
            "failure_fraction": self.failure_fraction,
            "wall_s": self.wall_s,
            "failures": [{"config_id": f.config_id, "error": f.error} for f in self.failures],
        }


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished child processes (a labeller's program, e.g. dftb+)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def backend(name: str):
    if name not in BACKENDS:
        raise LabellerError(f"unknown labeller '{name}'; known: {', '.join(sorted(BACKENDS))}")
    return importlib.import_module(f"mftl.data.labellers.{BACKENDS[name]}")


def options_problem(name: str, options: dict[str, Any] | None) -> str | None:
    """Why labeller ``name`` would refuse its config ``options`` (a backend's ``options_problem``), or None."""
    check = getattr(backend(name), "options_problem", None)
    return check(dict(options or {})) if check else None


def make_calculator(name: str, options: dict[str, Any] | None = None, threads: int = 1) -> Calculator:
    """Build the ASE calculator of labeller ``name`` with its config ``options``."""
    return backend(name).make_calculator(dict(options or {}), threads=threads)


def supported_elements(name: str, options: dict[str, Any] | None = None) -> frozenset[str]:
    """Element symbols labeller ``name`` can do with its config ``options``.

    A backend whose elements depend on its options (DFTB+: the Slater-Koster
    folder) defines ``supported_elements_for(options)``; the others ``SUPPORTED_ELEMENTS``.
    """
    module = backend(name)
    for_options = getattr(module, "supported_elements_for", None)
    return frozenset(for_options(dict(options or {})) if for_options else module.SUPPORTED_ELEMENTS)


def check_elements(name: str, frames: Iterable[Atoms], options: dict[str, Any] | None = None) -> None:
    """Raise LabellerError naming the elements the labeller does not support."""
    error = unsupported_error(
        name, {s for atoms in frames for s in atoms.get_chemical_symbols()}, supported_elements(name, options)
    )
    if error:
        raise error


def unsupported_error(name: str, symbols: Iterable[str], supported: frozenset[str]) -> LabellerError | None:
    """The error for a configuration with element(s) the labeller cannot do, or None."""
    missing = sorted(set(symbols) - supported)
    if missing:
        return LabellerError(f"labeller '{name}' does not support element(s) {', '.join(missing)}")
    return None


def isolated_atom_energies(
    name: str, symbols: Iterable[str], options: dict[str, Any] | None = None, threads: int = 1
) -> dict[str, float]:
    """Energy (eV) of each isolated atom in ``symbols`` with labeller ``name`` and its ``options``.

    A backend with its own ``atom_energy`` (PySCF: spin by Hund's rule) computes it;
    the others compute a one-atom configuration as they compute any other.
    """
    symbols = sorted(set(symbols))
    check_elements(name, [Atoms(symbols)])
    module = backend(name)
    energies = {}
    for symbol in symbols:
        if hasattr(module, "atom_energy"):
            energies[symbol] = module.atom_energy(symbol, dict(options or {}), threads=threads)
        else:
            atom = Atoms(symbol)
            atom.calc = make_calculator(name, options, threads)
            energies[symbol] = float(atom.get_potential_energy())
    return energies


def label_frames(
    frames: list[Atoms],
    fidelity: str,
    labeller: str,
    options: dict[str, Any] | None = None,
    threads: int = 1,
    calculator_factory: Callable[[], Calculator] | None = None,
) -> tuple[list[Atoms], LabelReport]:
    """Label ``frames`` with one fidelity; return the labelled frames and a report.

    Configurations whose calculation fails, or that hold an element the labeller
    cannot do, are left out of the returned list and listed in the report with
    their error. Each configuration gets its own calculator so that no state
    (SCF guess, failure) leaks between them.
    """
    supported = supported_elements(labeller, options)
    factory = calculator_factory or (lambda: make_calculator(labeller, options, threads))
    report = LabelReport(fidelity=fidelity, labeller=labeller, n_total=len(frames))
    start = time.perf_counter()
    labelled: list[Atoms] = []
    for atoms in frames:
        work = atoms.copy()
        work.calc = factory()
        cid = int(atoms.info.get("config_id", len(labelled) + len(report.failures)))
        t0, c0 = time.perf_counter(), cpu_seconds()
        try:
            unsupported = unsupported_error(labeller, atoms.get_chemical_symbols(), supported)
            if unsupported:
                raise unsupported
            energy = work.get_potential_energy()
            forces = work.get_forces()
            if not (np.isfinite(energy) and np.all(np.isfinite(forces))):
                raise ValueError("calculator returned non-finite energy or forces")
        except Exception as err:  # every calculator has its own failure types
            report.failures.append(Failure(cid, f"{type(err).__name__}: {err}".strip()[:500]))
            continue
        out = atoms.copy()
        out.calc = None
        set_labels(out, fidelity, energy, forces)
        out.info[f"{fidelity}_wall_s"] = time.perf_counter() - t0
        out.info[f"{fidelity}_cpu_s"] = cpu_seconds() - c0
        labelled.append(out)
    report.n_labelled = len(labelled)
    report.wall_s = time.perf_counter() - start
    return labelled, report
