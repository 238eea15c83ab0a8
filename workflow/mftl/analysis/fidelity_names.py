"""How a fidelity is named where people read it: its labeller's method (``GFN1-xTB``), else its config key.

Plain Python, no pandas: the rules import it when planning (figure options), the decision tables and the
figures when they write.
"""

from __future__ import annotations

from collections.abc import Mapping


def method_name(fidelity_spec: Mapping, fidelity: str) -> str:
    """The name a fidelity is shown under: its labeller options' ``method`` (e.g. GFN1-xTB), else its key."""
    return str((fidelity_spec.get("options") or {}).get("method") or fidelity)


def dataset_fidelity_name(dataset_spec: Mapping, fidelity: str | None) -> str:
    """:func:`method_name` of one of a dataset's fidelities ('' for None)."""
    if not fidelity:
        return ""
    return method_name(dataset_spec.get("fidelities", {}).get(fidelity, {}), fidelity)
