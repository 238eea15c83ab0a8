"""Per-fidelity atomic reference energies (E0s).

Energies of different fidelities differ by tens of eV per molecule (GFN1-xTB vs
PBE0 totals). MACE's naive fine-tuning keeps the pre-trained model's E0s, so we
never let MACE hold them: each fidelity's E0s are fitted by least squares on its
own training data, subtracted before training (MACE is trained with all E0s zero)
and added back to every prediction.

A small training set holds few distinct compositions: the per-element fit is then
rank-deficient or ill-conditioned and any test composition outside the span of
the training compositions gets an arbitrary reference energy (E0(C) = +145 eV
from ten configurations of six molecules). So the fit starts from a *prior*
(isolated-atom energies or E0s given in the config) and corrects it only along
the well-determined directions of the composition matrix (truncated SVD);
every other direction stays at the prior. :class:`E0Fit` records how well
determined the fit was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from mftl.data.structures import labels

#: Directions of the composition matrix whose singular value is below this fraction
#: of the largest one are not fitted (they keep the prior, or zero without one).
#: A direction's fitted E0 carries the energies' residual scatter amplified by
#: 1/singular value; at 1e-2 that is at most 100x the best-determined direction's,
#: a direction along which the training compositions differ by about an atom in
#: ~100 atoms. Measured on the demo's PBE0 data (README, "Reference energies").
RELATIVE_SINGULAR_VALUE_THRESHOLD = 1e-2

#: a composition whose distance (in atoms) from the fitted row space exceeds this
#: fraction of its number of atoms lies outside the span of the training compositions
SPAN_TOLERANCE = 1e-6


def composition_matrix(frames: Sequence[Atoms], elements: Sequence[int]) -> np.ndarray:
    index = {z: i for i, z in enumerate(elements)}
    counts = np.zeros((len(frames), len(elements)))
    for row, atoms in enumerate(frames):
        for z in atoms.numbers:
            counts[row, index[int(z)]] += 1
    return counts


def _truncated_svd(counts: np.ndarray, threshold: float):
    """SVD of a composition matrix and which singular values the E0 fit keeps (see :func:`fit_reference`)."""
    u, singular, vt = np.linalg.svd(counts, full_matrices=False)
    kept = singular > threshold * singular[0] if singular.size else singular.astype(bool)
    return u, singular, vt, kept


def undetermined_compositions(
    train: Sequence[dict[str, int]],
    others: Sequence[dict[str, int]],
    threshold: float = RELATIVE_SINGULAR_VALUE_THRESHOLD,
    tolerance: float = SPAN_TOLERANCE,
) -> list[int]:
    """Indices of the compositions ``others`` (element -> count) whose reference energy an E0 fit
    without prior on the compositions ``train`` leaves undetermined: outside the fitted row space
    (elements the training data lacks count as outside), as :func:`outside_span` finds them for a
    fitted model."""
    elements = sorted({e for c in (*train, *others) for e in c})
    index = {e: i for i, e in enumerate(elements)}

    def matrix(compositions):
        counts = np.zeros((len(compositions), len(elements)))
        for row, composition in enumerate(compositions):
            for element, n in composition.items():
                counts[row, index[element]] = n
        return counts

    _, _, vt, kept = _truncated_svd(matrix(train), threshold) if train else (None, None, np.zeros((0, 0)), [])
    basis = vt[kept] if len(train) else np.zeros((0, len(elements)))
    counts = matrix(others)
    distance = np.linalg.norm(counts - (counts @ basis.T) @ basis, axis=1) if len(others) else np.zeros(0)
    return [int(i) for i in np.flatnonzero(distance > tolerance * counts.sum(axis=1))]


def undetermined_message(
    dataset: str,
    fidelities: Sequence[str],
    problems: Sequence[dict],
    methods: Sequence[str],
    elements: Sequence[str],
    sizes_ok: str = "",
) -> str:
    """One refusal for every training (size, seed) whose E0 fit leaves test or validation energies
    undetermined. ``problems``: dicts with size, seed, test (ids), n_test, validation (ids), n_validation."""
    from mftl.data.elements import describe_ids

    where = f"datasets.{dataset}"
    points = "; ".join(
        f"size {p['size']}, seed {p['seed']}: {len(p['test'])} of {p['n_test']} test configurations"
        + (f" (config ids {describe_ids(p['test'])})" if p["test"] else "")
        + (f", {len(p['validation'])} of {p['n_validation']} validation" if p["validation"] else "")
        for p in problems
    )
    sizes = sorted({p["size"] for p in problems})
    seeds = sorted({p["seed"] for p in problems})
    n_test = max(len(p["test"]) for p in problems)
    n_valid = max(len(p["validation"]) for p in problems)
    held_out = f"{n_test} test" + (f" and {n_valid} validation" if n_valid else "")
    e0s_keys = " and ".join(f"{where}.fidelities.{f}.e0s" for f in fidelities)
    method_note = f" (methods {', '.join(methods)})" if methods else ""
    return (
        f"config key '{where}.train_sizes': dataset {dataset}, fidelity {' minus '.join(fidelities)}"
        f"{method_note}: the E0 fit of training size(s) {', '.join(map(str, sizes))}, seed(s)"
        f" {', '.join(map(str, seeds))} has no prior and its training compositions do not determine the reference"
        f" energies of up to {held_out} configurations (compositions outside their span, or a lone atom), so"
        f" their energy errors would be meaningless: {points}. Remedies: give {e0s_keys}, the isolated-atom"
        " energies (eV) of the method that made the labels (e.g. `mftl atom-energies --labeller pyscf --options"
        ' \'{"method": "dft", "xc": "pbe0", "basis": "6-31g*"}\''
        f" --elements {' '.join(elements)} --out atoms.json` prints them, with that method's options); or larger"
        f" train_sizes{sizes_ok}; or keep fewer compositions with {where}.select; or set"
        f" {where}.allow_undetermined_e0s: true to run anyway, reporting no energy error for those points"
        " (n_test_undetermined in curves.csv)"
    )


@dataclass
class E0Fit:
    """Fitted E0s (eV per element) and how well the training compositions determined them.

    ``row_space`` holds the fitted directions (orthonormal rows over ``elements``):
    the E0s differ from the prior only along them.
    """

    e0s: dict[int, float]
    elements: list[int]
    prior: dict[int, float] | None
    prior_source: str | None
    rank: int
    condition_number: float
    singular_values: list[float]
    threshold: float
    row_space: np.ndarray

    def as_json(self) -> dict:
        """The record ``e0s.json`` keeps next to ``fit`` (``fit`` itself is ``e0s``)."""
        return {
            "prior": e0s_to_json(self.prior) if self.prior is not None else None,
            "prior_source": self.prior_source,
            "rank": self.rank,
            "n_elements": len(self.elements),
            "condition_number": self.condition_number if np.isfinite(self.condition_number) else None,
            "singular_values": self.singular_values,
            "relative_singular_value_threshold": self.threshold,
            "row_space": {"elements": self.elements, "basis": self.row_space.tolist()},
        }


def fit_reference(
    frames: Sequence[Atoms],
    fidelity: str,
    prior: dict[int, float] | None = None,
    prior_source: str | None = None,
    threshold: float = RELATIVE_SINGULAR_VALUE_THRESHOLD,
) -> E0Fit:
    """E0 per element (eV) so that E_total ~ sum_i E0[Z_i]: the prior plus a truncated-SVD correction.

    Parameters
    ----------
    frames
        Configurations labelled with ``fidelity`` (total energies in eV).
    prior
        E0s (eV) per atomic number the fit starts from; every element of ``frames``
        must have one. Without a prior the fit starts from zero (then it is the
        minimum-norm least-squares fit, cut to its well-determined directions).
    threshold
        Singular values below ``threshold`` times the largest are not fitted.
    """
    elements = sorted({int(z) for atoms in frames for z in atoms.numbers})
    if prior is not None:
        missing = [chemical_symbols[z] for z in elements if z not in prior]
        if missing:
            raise ValueError(
                f"the E0 prior ({prior_source or 'given'}) has no energy for element(s) {', '.join(missing)}"
            )
    start = np.array([prior[z] for z in elements]) if prior is not None else np.zeros(len(elements))
    counts = composition_matrix(frames, elements)
    residual = np.array([labels(atoms, fidelity)[0] for atoms in frames]) - counts @ start
    u, singular, vt, kept = _truncated_svd(counts, threshold)
    correction = vt[kept].T @ ((u[:, kept].T @ residual) / singular[kept])
    e0s = {z: float(e) for z, e in zip(elements, start + correction)}
    if prior is not None:  # elements of the prior that the data never saw keep it
        e0s = {**{int(z): float(e) for z, e in prior.items()}, **e0s}
    # numerically rank-deficient (numpy.linalg.matrix_rank's tolerance): the condition number is infinite
    full_rank = singular.size == len(elements) and singular[-1] > singular[0] * max(counts.shape) * np.finfo(float).eps
    return E0Fit(
        e0s=e0s,
        elements=elements,
        prior=dict(prior) if prior is not None else None,
        prior_source=prior_source,
        rank=int(kept.sum()),
        condition_number=float(singular[0] / singular[-1]) if full_rank else float("inf"),
        singular_values=[float(s) for s in singular],
        threshold=threshold,
        row_space=vt[kept],
    )


def fit_e0s(frames: Sequence[Atoms], fidelity: str) -> dict[int, float]:
    """E0s (eV) fitted without a prior; see :func:`fit_reference`."""
    return fit_reference(frames, fidelity).e0s


def outside_span(
    frames: Sequence[Atoms], elements: Sequence[int], row_space: np.ndarray, tolerance: float = SPAN_TOLERANCE
) -> list[int]:
    """Indices of ``frames`` whose composition lies outside the fitted row space.

    Elements outside ``elements`` count as outside: the fit never saw them.
    """
    known = set(int(z) for z in elements)
    out = []
    for i, atoms in enumerate(frames):
        counts = composition_matrix([atoms[[int(z) in known for z in atoms.numbers]]], elements)[0]
        unseen = sum(1 for z in atoms.numbers if int(z) not in known)
        distance = (
            np.linalg.norm(counts - row_space.T @ (row_space @ counts)) if len(row_space) else np.linalg.norm(counts)
        )
        if np.hypot(distance, unseen) > tolerance * len(atoms):
            out.append(i)
    return out


def e0s_by_symbol(e0s: dict[int, float]) -> dict[str, float]:
    """E0s keyed by element symbol (the config's and ``mftl atom-energies``' form)."""
    return {chemical_symbols[z]: e for z, e in sorted(e0s.items())}


def e0s_from_symbols(e0s: dict[str, float], where: str) -> dict[int, float]:
    """E0s keyed by atomic number from a mapping symbol -> eV; ``where`` names its origin in errors."""
    unknown = [s for s in e0s if s not in atomic_numbers]
    if unknown:
        raise ValueError(f"{where}: unknown element symbol(s) {', '.join(map(repr, unknown))}")
    return {atomic_numbers[s]: float(e) for s, e in e0s.items()}


def reference_energy(atoms: Atoms, e0s: dict[int, float]) -> float:
    """Sum of atomic reference energies (eV) of a configuration."""
    missing = sorted({int(z) for z in atoms.numbers} - set(e0s))
    if missing:
        raise ValueError(f"no reference energy (E0) for element(s) Z={missing}")
    return float(sum(e0s[int(z)] for z in atoms.numbers))


def e0s_to_json(e0s: dict[int, float]) -> dict[str, float]:
    return {str(z): e for z, e in sorted(e0s.items())}


def e0s_from_json(data: dict[str, float]) -> dict[int, float]:
    return {int(z): float(e) for z, e in data.items()}


def prior_record(e0s: dict[str, float], source: str) -> dict:
    """The content of an E0 prior file (``mftl atom-energies``): E0s by symbol (eV) and where they come from."""
    return {"e0s": dict(sorted(e0s.items())), "source": source}


def read_prior(path: str | os.PathLike) -> tuple[dict[int, float], str]:
    """E0s by atomic number (eV) and their source, from an E0 prior file."""
    record = json.loads(Path(path).read_text())
    return e0s_from_symbols(record["e0s"], str(path)), record["source"]


def training_prior(
    prior: str | os.PathLike | None, base_prior: str | os.PathLike | None, delta: bool
) -> tuple[dict[int, float] | None, str | None]:
    """The E0 prior of a training: its fidelity's, or for Delta-learning high minus low (both needed)."""
    if prior is None or (delta and base_prior is None):
        return None, None
    high, high_source = read_prior(prior)
    if not delta:
        return high, high_source
    low, low_source = read_prior(base_prior)
    common = sorted(set(high) & set(low))
    return {z: high[z] - low[z] for z in common}, f"({high_source}) minus ({low_source})"


def outside_record_span(frames: Sequence[Atoms], e0s_record: dict) -> list[int] | None:
    """Indices of ``frames`` outside the span of the training compositions of a model's ``e0s.json`` record
    (:func:`outside_span`); None for a record without its row space (written before it was recorded)."""
    if "row_space" not in e0s_record:
        return None
    space = e0s_record["row_space"]
    return outside_span(frames, space["elements"], np.array(space["basis"]).reshape(-1, len(space["elements"])))


def span_report(frames: Sequence[Atoms], e0s_record: dict, where: str | os.PathLike, max_ids: int = 10) -> dict:
    """``n_test_outside_span`` of ``frames`` against a model's ``e0s.json`` record, with a log line.

    Outside the span of the training compositions the reference energy is the prior
    (informational) or, without one, undetermined (a loud warning).
    """
    outside = outside_record_span(frames, e0s_record)
    if outside is None:
        return {}
    ids = [int(frames[i].info.get("config_id", i)) for i in outside[:max_ids]]
    if outside and e0s_record.get("prior") is None:
        print(
            f"WARNING: {len(outside)} of {len(frames)} configurations of {where} have compositions outside the span"
            f" of the training compositions and the E0 fit has no prior: their reference energies are arbitrary"
            f" (give the fidelity 'e0s' in the config); config ids {ids}",
            flush=True,
        )
    elif outside:
        print(
            f"note: {len(outside)} of {len(frames)} configurations of {where} lie outside the span of the training"
            f" compositions; their E0s there are the prior's ({e0s_record.get('prior_source')}); config ids {ids}",
            flush=True,
        )
    return {"n_test_outside_span": len(outside)}


def transferred_prior(high_atoms: dict[int, float], low_fit: E0Fit) -> dict[int, float]:
    """Isolated-atom energies of the high fidelity plus the low fidelity's fitted binding per element (eV).

    ``low_fit`` is the low fidelity's E0 fit on its large pre-training pool, started
    from its own isolated atoms: ``low_fit.e0s - low_fit.prior`` is what an atom of
    each element gains by binding in this configuration space. Binding energies of
    two fidelities agree far better than their totals, so this is a much closer
    prior than bare atoms where a small high-fidelity set determines nothing
    (E0-only test error 89 vs 771 meV/atom, tests/test_reference_priors.py data).
    """
    if low_fit.prior is None:
        raise ValueError("the low-fidelity fit needs its isolated-atom prior to give binding energies")
    return {
        z: e + low_fit.e0s.get(z, 0.0) - low_fit.prior.get(z, 0.0) if z in low_fit.e0s else e
        for z, e in high_atoms.items()
    }


def atom_energy_prior(
    elements: set[str],
    structure_files: Sequence[str | os.PathLike],
    given: dict | None,
    where: str | None,
    labeller: tuple[str, dict] | None,
    threads: int | None = None,
) -> dict:
    """The E0 prior record of a fidelity (``e0s`` by symbol and their ``source``) for ``elements`` and
    every element of ``structure_files`` (an empty file, an empty split part, has none): the E0s
    ``given`` in the config at ``where``, or the isolated-atom energies of ``labeller`` (name, options)."""
    from mftl.data.labellers import isolated_atom_energies
    from mftl.data.structures import read_structures

    elements = set(elements)
    for path in [p for p in structure_files if Path(p).stat().st_size]:
        elements |= {s for atoms in read_structures(path) for s in atoms.get_chemical_symbols()}
    if given is not None:
        missing = sorted(elements - set(given))
        if missing:
            raise ValueError(f"{where or '--given'}: no E0 (eV) for element(s) {', '.join(missing)} of the data")
        return prior_record(given, f"config {where}" if where else "given")
    if labeller:
        name, options = labeller
        energies = isolated_atom_energies(name, elements, options, threads=threads)
        return prior_record(energies, f"isolated atoms, labeller {name} {json.dumps(options, sort_keys=True)}")
    raise ValueError("give --labeller (compute isolated atoms) or --given (E0s from the config)")


def transferred_prior_record(
    atoms: str | os.PathLike, low_atoms: str | os.PathLike, low_pool: str | os.PathLike, low_fidelity: str
) -> dict:
    """The E0 prior record of a high fidelity: its isolated atoms (the prior file ``atoms``) plus the binding
    per element of ``low_fidelity``, fitted on ``low_pool`` from its own prior ``low_atoms``."""
    from mftl.data.structures import read_structures

    high, high_source = read_prior(atoms)
    low, low_source = read_prior(low_atoms)
    low_fit = fit_reference(read_structures(low_pool), low_fidelity, low, low_source)
    source = (
        f"{high_source} + binding per element of {low_fidelity} fitted on {low_pool}"
        f" (rank {low_fit.rank} of {len(low_fit.elements)} elements) from {low_source}"
    )
    return prior_record(e0s_by_symbol(transferred_prior(high, low_fit)), source)
