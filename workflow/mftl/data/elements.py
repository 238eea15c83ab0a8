"""Elements of sets of configurations, and refusing a set whose elements the training data lacks.

A MACE model and its fitted E0s know only the elements of the data they were
trained on; a test or validation configuration holding another element cannot be
predicted (``mace_eval_configs`` fails with ``9 is not in list``). These checks
name the element, the set and example configuration ids instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: configuration ids listed per element in a message
EXAMPLES = 5


class ElementCoverageError(ValueError):
    """A set of configurations holds an element that the training data lacks."""


def describe_ids(ids: Iterable[int], limit: int = EXAMPLES) -> str:
    """``3, 17, 20`` or ``3, 17, 20, 21, 40, ... (12 in all)``."""
    ids = sorted(ids)
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown if len(ids) <= limit else f"{shown}, ... ({len(ids)} in all)"


def element_union(symbols: Iterable[Iterable[str]]) -> set[str]:
    return {s for each in symbols for s in each}


def missing_elements(needed: Mapping[int, Iterable[str]], available: Iterable[str]) -> dict[str, list[int]]:
    """Element -> ids of the configurations in ``needed`` (id -> element symbols) that hold it,
    for every element not in ``available``."""
    have = set(available)
    missing: dict[str, list[int]] = {}
    for cid, symbols in needed.items():
        for symbol in set(symbols) - have:
            missing.setdefault(symbol, []).append(int(cid))
    return dict(sorted(missing.items()))


def coverage_problem(
    needed: Mapping[int, Iterable[str]], available: Iterable[str], what: str, training: str
) -> str | None:
    """Message naming the elements of ``what`` that ``training`` lacks, or None if it has them all."""
    missing = missing_elements(needed, available)
    if not missing:
        return None
    listing = "; ".join(f"{symbol} in configuration(s) {describe_ids(ids)}" for symbol, ids in missing.items())
    return (
        f"element(s) {', '.join(missing)} of the {what} absent from {training} "
        f"(which holds {', '.join(sorted(set(available))) or 'nothing'}): {listing}; "
        "a model cannot predict an element it was not trained on"
    )


def check_covered(needed: Mapping[int, Iterable[str]], available: Iterable[str], what: str, training: str) -> None:
    """Raise ElementCoverageError when configurations of ``what`` hold an element ``training`` lacks."""
    problem = coverage_problem(needed, available, what, training)
    if problem:
        raise ElementCoverageError(problem)


def symbols_by_id(frames) -> dict[int, frozenset[str]]:
    """Config id -> element symbols of ASE frames."""
    return {int(a.info["config_id"]): frozenset(a.get_chemical_symbols()) for a in frames}


def split_problem(parts: Mapping[str, Iterable[int]], symbols: Mapping[int, Iterable[str]], source: str) -> str | None:
    """Why the test or validation set holds an element the training pool lacks (None if it does not).

    ``parts`` maps split part names (test, validation, train_pool) to config ids;
    every training set is drawn from the training pool.
    """
    pool = element_union(symbols[i] for i in parts["train_pool"])
    for part in ("test", "validation"):
        problem = coverage_problem(
            {i: symbols[i] for i in parts[part]}, pool, f"{part} set", f"the training pool of {source}"
        )
        if problem:
            return problem
    return None
