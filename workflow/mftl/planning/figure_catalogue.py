"""Which figures a campaign makes: the figure names, once, and why a dataset's config skips one.

Plain names and config reading only (no pandas, no plotting), so that planning can import it;
the figures are drawn by :mod:`mftl.report.plots` from the tables of :mod:`mftl.analysis.tables`.
"""

from __future__ import annotations

from collections.abc import Mapping

# The one list of figure names. Figures of a dataset, in the order they are made
# (results/<dataset>/figures/<name>.{png,pdf}; figure_availability says which a config makes):
FIGURES = (
    "fidelity_comparison",
    "learning_curves",
    "error_vs_epoch_cap",
    "delta_vs_single_fidelity",
    "fidelity_chain",
    "cost",
    "negative_transfer",
)
# Every figure `mftl figure --kind` draws, each by the function of its name in mftl.report.plots: the dataset
# figures, pretraining_fidelity (one per group of datasets, pretraining_fidelity_groups) and cost_to_target
# (drawn from tables/cost_to_target.csv, mftl.report.decision_figures).
FIGURE_KINDS = (*FIGURES, "pretraining_fidelity", "cost_to_target", "stability")
#: figures that show mftl at one of several (pre-training size, epoch cap): validation errors choose which
CHOOSING_FIGURES = ("delta_vs_single_fidelity", "fidelity_chain", "pretraining_fidelity")
#: figures of test error vs training size: they draw the low fidelity alone as a level (tables/fidelity_statistics.csv)
LEARNING_CURVE_FIGURES = ("learning_curves", "delta_vs_single_fidelity", "fidelity_chain", "pretraining_fidelity")


def figure_availability(dataset: Mapping) -> dict[str, str | None]:
    """For one dataset's configuration: figure name -> None if the campaign makes it, else why not."""
    methods = set(dataset["methods"])
    caps = dataset.get("epoch_caps", [])
    reasons: dict[str, str | None] = dict.fromkeys(FIGURES)
    if "mftl" not in methods:
        reasons["error_vs_epoch_cap"] = "method mftl is not run"
    elif len(caps) < 2:
        reasons["error_vs_epoch_cap"] = f"a single epoch cap ({caps})"
    missing = {"delta", "scratch"} - methods
    if missing:
        reasons["delta_vs_single_fidelity"] = f"method(s) {', '.join(sorted(missing))} not run"
    if "chain" not in methods:
        reasons["fidelity_chain"] = "method chain is not run"
    if not {"mftl", "mftl_auto"} & methods:
        reasons["negative_transfer"] = "method mftl is not run"
    return reasons


def pretraining_fidelity_groups(datasets: Mapping[str, Mapping]) -> dict[str, list[str]]:
    """Datasets that pre-train (mftl) on different low fidelities of the same configurations:
    the same source, selection, split and high fidelity. Keyed by the group's first dataset in
    config order, which holds the group's figure; groups of one dataset are left out."""

    def same_space(spec: Mapping) -> str:
        hf = spec["high_fidelity"]
        return repr([spec.get("source"), spec.get("select"), spec["split"], hf, spec["fidelities"][hf]])

    groups: dict[str, list[str]] = {}
    for name, spec in datasets.items():
        if "mftl" in spec["methods"]:
            groups.setdefault(same_space(spec), []).append(name)
    return {names[0]: names for names in groups.values() if len({datasets[n]["low_fidelity"] for n in names}) > 1}


def available_figures(dataset: Mapping) -> list[str]:
    return [name for name, reason in figure_availability(dataset).items() if reason is None]


def skipped_figures(datasets: Mapping[str, Mapping]) -> list[str]:
    """One note per figure a campaign does not make: '<dataset>/<figure>: <reason>'."""
    return [
        f"{name}/{figure}: {reason}"
        for name, dataset in datasets.items()
        for figure, reason in figure_availability(dataset).items()
        if reason is not None
    ]
