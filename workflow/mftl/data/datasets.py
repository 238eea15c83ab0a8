"""Datasets: source structure files and the labels each fidelity takes from them.

A dataset is declared in the config by a source extxyz file and its fidelities.
A fidelity is either *read* from keys of the source (``energy_key``,
``forces_key``) or *computed* by a named labeller (see :mod:`mftl.data.labellers`).
Labelled files use the canonical keys ``<fidelity>_energy``/``<fidelity>_forces``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from mftl.data.structures import StructureError, labels, read_structures, set_labels


class LabelFailureError(RuntimeError):
    """More configurations failed to label than the campaign allows."""


def load_source(path: str | Path, energy_key: str | None = None, forces_key: str | None = None) -> list[Atoms]:
    """Read a dataset's source file and give every configuration a ``config_id``.

    Ids already in the file are kept (and must be unique); otherwise the frame
    index is used. Energies or forces that are present under the given keys must be finite.
    """
    frames = read_structures(path)
    ids = [a.info.get("config_id", i) for i, a in enumerate(frames)]
    if len(set(ids)) != len(ids):
        raise StructureError(f"{path}: duplicate config_id values")
    for i, atoms in zip(ids, frames):
        atoms.info["config_id"] = int(i)
    if energy_key and forces_key:
        for atoms in frames:
            if energy_key in atoms.info or forces_key in atoms.arrays:
                _read_keys(atoms, "check", energy_key, forces_key, str(path))
    return frames


def select_frames(frames: list[Atoms], spec: dict, where: str | Path = "source") -> list[Atoms]:
    """The frames whose ``info[spec["key"]]`` is in ``spec["include"]`` (or not in ``spec["exclude"]``).

    Every frame must have the key, and every listed value must occur: a misspelled
    value would otherwise silently select nothing or everything.
    """
    key = spec["key"]
    listed = spec.get("include", spec.get("exclude"))
    if listed is None:
        raise ValueError(f"{where}: select needs 'include' or 'exclude'")
    values = []
    for atoms in frames:
        if key not in atoms.info:
            raise StructureError(f"{where}: config {atoms.info.get('config_id')} has no info key '{key}' to select on")
        values.append(atoms.info[key])
    absent = sorted(str(v) for v in set(listed) - set(values))
    if absent:
        raise ValueError(
            f"{where}: select.{'include' if 'include' in spec else 'exclude'}: no configuration has "
            f"{key} = {', '.join(absent)} (present: {', '.join(sorted(map(str, set(values))))})"
        )
    keep = set(listed)
    return [a for a, v in zip(frames, values) if (v in keep) == ("include" in spec)]


def _read_keys(atoms: Atoms, fidelity: str, energy_key: str, forces_key: str, where: str) -> Atoms:
    """A copy of ``atoms`` with the labels under ``energy_key``/``forces_key`` as ``fidelity``'s, checked finite."""
    cid = atoms.info.get("config_id")
    try:
        energy = float(atoms.info[energy_key])
    except KeyError:
        raise StructureError(f"{where}: config {cid} has no energy key '{energy_key}'") from None
    if forces_key not in atoms.arrays:
        raise StructureError(f"{where}: config {cid} has no forces key '{forces_key}'")
    forces = np.asarray(atoms.arrays[forces_key], dtype=float)
    if not np.isfinite(energy):
        raise StructureError(f"{where}: config {cid}: energy '{energy_key}' is not finite ({energy})")
    if forces.shape != (len(atoms), 3) or not np.all(np.isfinite(forces)):
        raise StructureError(f"{where}: config {cid}: forces '{forces_key}' are not finite or not (n_atoms, 3)")
    copy = atoms.copy()
    set_labels(copy, fidelity, energy, forces)
    return copy


def collect_labels(
    inputs: Sequence[str | Path],
    fidelity: str,
    energy_key: str | None = None,
    forces_key: str | None = None,
    reports: Sequence[str | Path] = (),
    max_failure_fraction: float = 0.0,
) -> tuple[list[Atoms], dict]:
    """Gather labelled configurations into one checked list and a combined report.

    With ``energy_key``/``forces_key`` the labels are read from those keys of
    the inputs; otherwise inputs must already carry canonical labels (labelled
    chunks). Failures listed in chunk ``reports`` are counted; above
    ``max_failure_fraction`` a LabelFailureError stops the campaign.
    """
    frames: list[Atoms] = []
    for path in inputs:
        if Path(path).stat().st_size == 0:  # a chunk in which every configuration failed
            continue
        for atoms in read_structures(path):
            if energy_key or forces_key:
                atoms = _read_keys(
                    atoms, fidelity, energy_key or f"{fidelity}_energy", forces_key or f"{fidelity}_forces", str(path)
                )
            else:
                try:
                    labels(atoms, fidelity)
                except StructureError as err:
                    raise StructureError(f"{path}: {err}") from None
            frames.append(atoms)
    failures = []
    n_total = len(frames)
    for path in reports:
        data = json.loads(Path(path).read_text())
        failures.extend(data["failures"])
    n_total += len(failures)
    fraction = len(failures) / n_total if n_total else 0.0
    report = {
        "fidelity": fidelity,
        "n_total": n_total,
        "n_labelled": len(frames),
        "n_failed": len(failures),
        "failure_fraction": fraction,
        "failures": failures,
    }
    if fraction > max_failure_fraction:
        raise LabelFailureError(
            f"{len(failures)} of {n_total} configurations ({fraction:.1%}) failed to label with '{fidelity}', "
            f"more than labelling.max_failure_fraction = {max_failure_fraction:.1%}; "
            f"first: config {failures[0]['config_id']}: {failures[0]['error']}"
        )
    if not frames:
        raise StructureError(f"no labelled configurations for fidelity '{fidelity}'")
    return frames, report
