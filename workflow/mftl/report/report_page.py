"""The first page of the Snakemake report (``snakemake --report``): the campaign's results.

Rule ``report_page`` writes ``results/report.rst`` from each dataset's ``summary.csv``,
``costs.csv``, ``curves.csv`` (the quality warnings, also ``results/warnings.txt``, which the run
prints at its end), fidelity statistics and stability table (where the dataset checks stability); ``workflow/report/workflow.rst`` includes it, so the report opens on the
datasets, the summary table (test RMSEs, ratios to scratch, costs) and the run's warnings
instead of Snakemake's generic page. CSV files are offered only as downloads by Snakemake's
report, so the tables are written inline here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from mftl import paths
from mftl.analysis.series import series_label
from mftl.analysis.tables import SERIES_KEYS, with_series_keys


def _key(values) -> tuple[str, ...]:
    """A series key that compares equal however pandas read it (blank, 1000, 1000.0)."""
    return tuple(
        "" if pd.isna(v) else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values
    )


def _number(value: float, digits: int = 1) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _mean_sd(mean: float, sd: float) -> str:
    if pd.isna(mean):
        return ""
    return _number(mean) if pd.isna(sd) else f"{_number(mean)} +- {_number(sd)}"


def list_table(header: list[str], rows: list[list[str]], indent: str = "") -> list[str]:
    """A reStructuredText list-table (cells may be empty)."""
    lines = [f"{indent}.. list-table::", f"{indent}   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"{indent}   * - {row[0] or ' '}".rstrip() if row[0] else f"{indent}   * -")
        lines += [f"{indent}     - {cell}".rstrip() if cell else f"{indent}     -" for cell in row[1:]]
    return [*lines, ""]


def summary_rows(summary: pd.DataFrame, costs: pd.DataFrame | None) -> list[list[str]]:
    """One row per series and training size: mean +- sd over seeds, ratios to scratch, mean total cost (s)."""
    keys = [*SERIES_KEYS, "train_size"]
    cost = {}
    if costs is not None and len(costs):
        for key, group in with_series_keys(costs).groupby(keys, dropna=False):
            cost[_key(key)] = group["total_s"].mean()
    rows = []
    for _, row in summary.iterrows():
        key = _key(row[k] for k in keys)
        rows.append(
            [
                series_label(row),
                str(int(row["train_size"])),
                str(int(row["n_seeds"])),
                _mean_sd(row["energy_rmse_meV_atom_mean"], row["energy_rmse_meV_atom_std"]),
                _mean_sd(row["forces_rmse_meV_A_mean"], row["forces_rmse_meV_A_std"]),
                _number(row["energy_rmse_meV_atom_ratio_to_scratch"], 2),
                _number(row["forces_rmse_meV_A_ratio_to_scratch"], 2),
                _number(cost.get(key, math.nan), 0),
            ]
        )
    return rows


SUMMARY_HEADER = [
    "method",
    "n train",
    "seeds",
    "energy RMSE (meV/atom)",
    "force RMSE (meV/A)",
    "energy / scratch",
    "forces / scratch",
    "total cost (s)",
]


def dataset_section(name: str, ds: dict, summary: pd.DataFrame | None, costs: pd.DataFrame | None) -> list[str]:
    hf, lf = ds["high_fidelity"], ds["low_fidelity"]

    def how(fidelity: str) -> str:
        spec = ds["fidelities"][fidelity]
        if "labeller" in spec:
            options = spec.get("options") or {}
            return f"computed by {spec['labeller']}" + (f" {options['method']}" if "method" in options else "")
        return f"read from ``{spec['energy_key']}``/``{spec['forces_key']}``"

    title = f"Dataset {name}"
    lines = [title, "-" * len(title), ""]
    lines += [
        f"Source ``{ds['source']}``; high fidelity **{hf}** ({how(hf)}), low fidelity **{lf}** ({how(lf)}); "
        f"{ds['split']['test']} test and {ds['split']['validation']} validation configurations "
        f"(split seed {ds['split']['seed']}), training sizes {ds['train_sizes']}, seeds {ds['seeds']}, "
        f"methods {', '.join(ds['methods'])}"
        + (
            f"; pre-training on {ds['pretrain_sizes']} {lf} configurations, epoch caps {ds['epoch_caps']}"
            if ds.get("pretrain_sizes")
            else ""
        )
        + ".",
        "",
    ]
    if summary is None:
        return [*lines, f"``{paths.dataset_file(name, 'summary.csv')}`` is not made yet.", ""]
    lines += [
        f"Test errors, mean +- standard deviation over seeds, ratio of the mean to scratch at the same training "
        f"size, and the mean total cost of a point in seconds (``{paths.dataset_file(name, 'summary.csv')}``, "
        f"``{paths.dataset_file(name, 'costs.csv')}``):",
        "",
    ]
    lines += list_table(SUMMARY_HEADER, summary_rows(summary, costs))
    lines += advice_section(Path(paths.dataset_file(name, "advice.txt")))
    statistics = Path(paths.table(name, "fidelity_statistics"))
    if statistics.is_file():
        lines += [
            f"How close the low fidelity (and zero-shot foundations) is to {hf} on the test set "
            f"(``{statistics}``): RMSD and correlation of relative energies per atom and of force components:",
            "",
        ]
        lines += list_table(STATISTICS_HEADER, statistics_rows(pd.read_csv(statistics)))
    return lines + stability_section(name)


STABILITY_HEADER = [
    "route",
    "n train",
    "models",
    "MD runs stable",
    "median failure (fs)",
    "NVE drift (meV/atom/ps)",
    "not repulsive",
    "forces on the starting data (meV/A)",
    "skipped",
]


def _text(value) -> str:
    return "" if pd.isna(value) else str(value)


def stability_rows(table: pd.DataFrame) -> list[list[str]]:
    rows = []
    for _, row in table.iterrows():
        runs = int(row["md_runs"])
        stable = f"{round(row['md_stable_fraction'] * runs)} of {runs}" if runs else ""
        before, after = row["forgetting_forces_before_meV_A"], row["forgetting_forces_after_meV_A"]
        forgetting = "" if pd.isna(before) else f"{_number(before, 0)} -> {_number(after, 0)}"
        unstable = " (unstable)" if bool(row["unstable_in_md"]) else ""
        rows.append(
            [
                str(row["route"]),
                str(int(row["train_size"])),
                str(int(row["n_models"])),
                stable + unstable,
                _number(row["md_median_failure_fs"], 0),
                _number(row["nve_drift_meV_atom_ps"], 2),
                _text(row["non_repulsive_pairs"]),
                forgetting,
                _text(row["skipped"]),
            ]
        )
    return rows


def stability_section(name: str) -> list[str]:
    """The dataset's ``tables/stability.csv`` (``mftl stability-table``), what its checks show and cannot show at
    their run length, and where its figure is; nothing where the dataset checks no model's stability."""
    table_file = Path(paths.table(name, "stability"))
    if not table_file.is_file():
        return []
    table = pd.read_csv(table_file)
    length = ", ".join(f"{v:g}" for v in sorted(table["md_run_fs"].dropna().unique()))
    temperature = ", ".join(f"{v:g}" for v in sorted(table["md_temperature_K"].dropna().unique()))
    threshold = ", ".join(f"{v:.0%}" for v in sorted(table["max_unstable_fraction"].dropna().unique()))
    lines = ["Stability", "~~~~~~~~~", ""]
    lines += [
        f"Each checked model ran Langevin MD at {temperature} K for {length} fs from test molecules, with the "
        "model as the calculator; a run fails when its bonds change, two atoms come too close or its forces turn "
        "non-finite, and a stable run goes on in NVE for its energy drift. The table also lists element pairs whose "
        "energy drops as they are pulled below the training data's shortest distance, and the force error on the "
        f"starting model's own data before and after fine-tuning (``{table_file}``). A route with more than "
        f"{threshold} of its runs failed is unstable, and the advice does not rank it cheapest while another route "
        f"is stable. What a stable run shows: the model holds these molecules together for {length} fs at "
        f"{temperature} K. What it cannot show at this length: slow drifts and rare events of longer runs (ps to "
        "ns), other temperatures, or molecules and geometries unlike the test set's.",
        "",
    ]
    lines += list_table(STABILITY_HEADER, stability_rows(table))
    figure = paths.figure(name, "stability", "png")
    return [*lines, f"The figure ``{figure}`` (among the report's figures of {name}) draws the same per route.", ""]


def advice_section(advice: Path) -> list[str]:
    """``advice.txt`` (``mftl advice``: the cheapest route to each target error and how sure that is) as a
    literal block; nothing when the campaign has not written it."""
    if not advice.is_file():
        return []
    text = advice.read_text().rstrip("\n").splitlines()
    return [f"What the learning curves and costs advise (``{advice}``)::", "", *(f"    {line}" for line in text), ""]


STATISTICS_HEADER = [
    "compared",
    "molecule",
    "configurations",
    "energy RMSD (meV/atom)",
    "energy correlation",
    "force RMSD (meV/A)",
    "force correlation",
]


def statistics_rows(table: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(row["compared"]),
            str(row["molecule"]),
            str(int(row["n_configs"])),
            _number(row["energy_rmsd_meV_atom"]),
            _number(row["energy_correlation"], 3),
            _number(row["forces_rmsd_meV_A"], 0),
            _number(row["forces_correlation"], 3),
        ]
        for _, row in table.iterrows()
    ]


def campaign_warnings(config: dict) -> list[str]:
    """The quality warnings (:func:`mftl.analysis.quality.quality_warnings`) of every dataset's curves.csv made so far."""
    from mftl.analysis.quality import quality_warnings

    warnings = []
    for name in config["datasets"]:
        curves = Path(paths.dataset_file(name, "curves.csv"))
        if curves.is_file():
            warnings += quality_warnings(pd.read_csv(curves))
    return warnings


def warnings_section(warnings: list[str]) -> list[str]:
    lines = ["Warnings", "--------", ""]
    if not warnings:
        return [
            *lines,
            "None: every model stopped early or before its max_epochs, trained on its planned sizes without "
            "resuming, and every test energy rests on reference energies fitted on its training compositions.",
            "",
        ]
    return lines + [f"* {warning}" for warning in warnings] + [""]


def report_page(config: dict, warnings: list[str] | None = None) -> str:
    """The report's first page as reStructuredText, from the files under ``results/`` (working directory)."""
    lines = ["Campaign results", "================", ""]
    lines += [
        "Multi-fidelity transfer learning (MFTL) of MACE potentials: low-fidelity labels pre-train a "
        "MACE model for a capped number of epochs, which is then fine-tuned on high-fidelity data and "
        "compared with training from scratch. The figures and tables of each dataset follow in the "
        "report's sections; every number below is in its CSV file.",
        "",
    ]
    lines += warnings_section(campaign_warnings(config) if warnings is None else warnings)
    for name, ds in config["datasets"].items():
        summary_file, costs_file = Path(paths.dataset_file(name, "summary.csv")), paths.dataset_file(name, "costs.csv")
        summary = pd.read_csv(summary_file) if summary_file.is_file() else None
        costs = pd.read_csv(costs_file) if Path(costs_file).is_file() else None
        lines += dataset_section(name, ds, summary, costs)
    return "\n".join(lines) + "\n"
