"""``mftl`` subcommands from curves to decisions: ``decision-tables`` (learning-curve fits, data efficiency,
cost to target), ``stability-table`` (the models' stability checks per route) and ``advice``. :func:`register`
adds them to the ``mftl`` parser; the computing lives in :mod:`mftl.analysis.decision_tables`,
:mod:`mftl.analysis.stability` and :mod:`mftl.analysis.advice`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mftl.cli.output import write_csv
from mftl.paths import DECISION_TABLES


def _cmd_decision_tables(args: argparse.Namespace) -> None:
    import pandas as pd

    from mftl.analysis.decision_tables import decision_tables

    statistics = pd.read_csv(args.fidelity_statistics) if args.fidelity_statistics else None
    results = Path(args.curves).resolve().parent.parent  # results/<dataset>/curves.csv: the run folders' root
    curves, costs, spec = pd.read_csv(args.curves), pd.read_csv(args.costs), json.loads(args.dataset_config)
    tables, no_efficiency = decision_tables(curves, costs, statistics, spec, results)
    for name, table in tables.items():
        write_csv(table, getattr(args, name))
    skipped = int(tables["fits"]["n_nan_skipped"].sum())
    print(f"decision-tables: {len(tables['fits'])} fits ({skipped} points with NaN errors left out) -> {args.fits}")
    for dataset, note in no_efficiency.items():
        print(f"decision-tables: {dataset}: no data efficiency ({note})")
    print(f"decision-tables: {len(tables['cost_to_target'])} route-target rows -> {args.cost_to_target}")


def _cmd_stability_table(args: argparse.Namespace) -> None:
    from mftl.analysis.stability import check_record, stability_table

    records = []
    for path in args.records:
        try:
            record = json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a stability record ({err})") from None
        check_record(record, path)
        records.append(record)
    table = stability_table(records)
    write_csv(table, args.out)
    unstable = table[table["unstable_in_md"].astype(bool)]["route"].unique()
    print(
        f"stability-table: {len(records)} models, {len(table)} route-size rows -> {args.out}"
        + (f"; unstable in MD: {', '.join(unstable)}" if len(unstable) else "")
    )


def _cmd_advice(args: argparse.Namespace) -> None:
    import pandas as pd

    from mftl.analysis.advice import advice_text
    from mftl.analysis.decision_tables import dataset_folders, newer_inputs
    from mftl.atomic import write_text_atomic

    folder = Path(args.folder)
    refresh = f"snakemake --cores 1 {folder}/advice.txt (with the campaign's --configfile; it trains nothing)"
    datasets = dataset_folders(folder)
    if datasets:
        raise FileNotFoundError(
            f"{folder} is the campaign's folder of datasets {', '.join(datasets)}; the advice is per dataset: "
            + " or ".join(f"mftl advice {folder / name}" for name in datasets)
        )
    files = {name: folder / "tables" / f"{name}.csv" for name in DECISION_TABLES}
    missing = [f"tables/{path.name}" for path in files.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}; make them with {refresh}")
    newer = newer_inputs(folder, list(files.values()))
    if newer:
        print(
            f"WARNING: {folder}: {', '.join(newer)} changed after the decision tables were made: this advice is from "
            f"the earlier results; refresh it with {refresh}",
            file=sys.stderr,
        )
    tables = {name: pd.read_csv(path) for name, path in files.items()}
    stability = folder / "tables" / "stability.csv"  # made where the dataset's stability checks run
    stability = pd.read_csv(stability) if stability.is_file() else None
    text = advice_text(
        folder.name, tables["learning_curve_fits"], tables["data_efficiency"], tables["cost_to_target"], stability
    )
    print(text, end="")
    if args.out:
        write_text_atomic(args.out, text)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the decision subcommands to the ``mftl`` subparsers."""
    p = sub.add_parser(
        "decision-tables", help="power-law fits, data efficiency and cost to target of a dataset's curves and costs"
    )
    p.add_argument("--curves", required=True, help="results/<dataset>/curves.csv")
    p.add_argument("--costs", required=True, help="results/<dataset>/costs.csv")
    p.add_argument(
        "--dataset-config",
        required=True,
        help="the dataset's config as JSON (split, targets; high_fidelity, low_fidelity and their fidelities entries)",
    )
    p.add_argument(
        "--fidelity-statistics",
        help="tables/fidelity_statistics.csv: the low fidelity's own error, the baseline (none: no baseline)",
    )
    p.add_argument("--fits", required=True, help="out: tables/learning_curve_fits.csv")
    p.add_argument("--efficiency", required=True, help="out: tables/data_efficiency.csv")
    p.add_argument("--cost-to-target", required=True, help="out: tables/cost_to_target.csv")
    p.set_defaults(func=_cmd_decision_tables)

    p = sub.add_parser(
        "stability-table", help="the stability checks of a dataset's models (MD, repulsion, forgetting) per route"
    )
    p.add_argument("records", nargs="+", help="results/<dataset>/stability/<method>/<tag>.json (mftl stability)")
    p.add_argument("--out", required=True, help="out: results/<dataset>/tables/stability.csv")
    p.set_defaults(func=_cmd_stability_table)

    p = sub.add_parser("advice", help="which route to take: the cheapest way to each target, from a dataset's tables")
    p.add_argument(
        "folder",
        help="results/<dataset> (reads its tables/learning_curve_fits.csv, ..., tables/stability.csv where made; "
        "warns when they are older than its curves.csv or costs.csv)",
    )
    p.add_argument("--out", help="also write the advice to this file (results/<dataset>/advice.txt)")
    p.set_defaults(func=_cmd_advice)
