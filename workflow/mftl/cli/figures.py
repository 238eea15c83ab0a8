"""``mftl`` subcommands of the paper's figures and tables: ``figure``, ``summary``,
``fidelity-comparison-table``, ``costs``, ``paper-comparison``, ``negative-transfer-table`` and ``figure-notes``.
:func:`register` adds them to the ``mftl`` parser.
"""

from __future__ import annotations

import argparse
import json

from mftl.cli.output import write_csv


def _cmd_figure(args: argparse.Namespace) -> None:
    import pandas as pd

    from mftl.report import plots

    if (
        args.kind not in plots.FIGURE_FUNCTIONS
    ):  # the names: mftl.planning.figure_catalogue.FIGURE_KINDS (pandas: not at parser time)
        raise ValueError(f"--kind {args.kind}: no such figure (one of {', '.join(plots.FIGURE_FUNCTIONS)})")
    table = pd.concat([pd.read_csv(path) for path in args.table], ignore_index=True)
    options = {}
    if args.validation:
        if args.kind not in plots.CHOOSING_FIGURES:
            raise ValueError(
                f"--validation: figure {args.kind} chooses nothing (only {', '.join(plots.CHOOSING_FIGURES)})"
            )
        options["validation"] = pd.concat([pd.read_csv(path) for path in args.validation], ignore_index=True)
    if args.baseline:
        if args.kind not in plots.LEARNING_CURVE_FIGURES:
            raise ValueError(f"--baseline: figure {args.kind} draws no learning curves")
        options["baselines"] = _baselines(args.baseline, args.baseline_name)
    if args.pretrain_curve:
        if args.kind != "negative_transfer":
            raise ValueError(f"--pretrain-curve: only for --kind negative_transfer, not {args.kind}")
        options["pretrain_curve"] = pd.read_csv(args.pretrain_curve)
    plots.save(plots.FIGURE_FUNCTIONS[args.kind](table, title=args.title, **options), args.out)
    print(f"{args.kind}: wrote {' '.join(args.out)}")


def _pairs(items: list[str], option: str, what: str, key: str = "<fidelity>") -> dict[str, str]:
    """``KEY=VALUE`` items of a repeatable option as a dict."""
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"{option} {item!r}: expected {key}={what}")
        pairs[name] = value
    return pairs


def _baselines(items: list[str], names: list[str]):
    """The low fidelity alone of each ``--baseline FIDELITY=tables/fidelity_statistics.csv``, named by
    ``--baseline-name FIDELITY=NAME`` (else the fidelity key)."""
    import pandas as pd

    from mftl.analysis.fidelity_statistics import low_fidelity_level
    from mftl.report.plots import Baseline

    named = _pairs(names, "--baseline-name", "<name>")
    baselines = []
    for fidelity, path in _pairs(items, "--baseline", "<fidelity_statistics.csv>").items():
        level = low_fidelity_level(pd.read_csv(path), fidelity)
        if level is None:
            raise ValueError(f"--baseline {fidelity}={path}: no row compared={fidelity}, molecule=all")
        baselines.append(Baseline(named.get(fidelity, fidelity), *level))
    return baselines


def _cmd_summary(args: argparse.Namespace) -> None:
    import pandas as pd

    from mftl.analysis.tables import summary_table

    summary = summary_table(pd.read_csv(args.curves))
    write_csv(summary, args.out)
    print(f"summary: {len(summary)} rows -> {args.out}")


def _cmd_fidelity_comparison_table(args: argparse.Namespace) -> None:
    from mftl.analysis.tables import fidelity_outliers
    from mftl.data.structures import read_structures
    from mftl.evaluation.fidelity_comparison import compared_fidelities

    high = read_structures(args.high)
    zeroshot = _pairs(args.compare, "--compare", "<predictions file>", key="<foundation>")
    zeroshot = {name: read_structures(path) for name, path in zeroshot.items()}
    table = compared_fidelities(high, read_structures(args.low), (args.high_fidelity, args.low_fidelity), zeroshot)
    write_csv(table, args.out)
    if args.outliers:
        write_csv(fidelity_outliers(table), args.outliers)
    if args.statistics:
        from mftl.analysis.fidelity_statistics import fidelity_statistics, molecules_by_id

        write_csv(fidelity_statistics(table, molecules_by_id(high, args.molecule_key)), args.statistics)
    print(f"fidelity-comparison-table: {table['config_id'].nunique()} configurations in both fidelities -> {args.out}")


def _cmd_costs(args: argparse.Namespace) -> None:
    import pandas as pd

    from mftl.analysis.costs import costs_table

    table = costs_table(pd.read_csv(args.curves), json.loads(args.config), args.results)
    write_csv(table, args.out)
    unknown = table[table["unknown"] != ""]
    print(f"costs: {len(table)} rows -> {args.out}; {len(unknown)} with unknown components")


def _cmd_paper_comparison(args: argparse.Namespace) -> None:
    import pandas as pd

    from mftl.analysis.paper_comparison import paper_comparison, with_low_fidelity
    from mftl.planning.paper_results import read_paper_results
    from mftl.report import plots
    from mftl.report.paper_figure import comparison_figure

    fidelity_tables = {}
    for item in args.fidelity_table:
        dataset, sep, path = item.partition("=")
        if not sep or not dataset or not path:
            raise ValueError(f"--fidelity-table {item!r}: expected <dataset>=<tables/fidelity_comparison.csv>")
        fidelity_tables[dataset] = pd.read_csv(path)
    curves = with_low_fidelity(pd.read_csv(args.curves), fidelity_tables)
    validation = pd.concat([pd.read_csv(p) for p in args.validation], ignore_index=True) if args.validation else None
    table = paper_comparison(curves, read_paper_results(args.paper), validation)
    write_csv(table, args.out)
    if args.figure:
        plots.save(comparison_figure(table), args.figure)
    for _, row in table.iterrows():
        print(f"{row['dataset']} {row['method']} n={row['train_size']} {row['metric']}: {row['chosen_by']}")
    found = table["reproduced"].notna().sum()
    print(f"paper-comparison: {found} of {len(table)} paper numbers have a campaign point -> {args.out}")


def _cmd_negative_transfer_table(args: argparse.Namespace) -> None:
    import pandas as pd

    from mftl.analysis.curves import read_records
    from mftl.analysis.negative_transfer import negative_transfer_table, pretrain_curve_table

    records = read_records(args.pretrained)
    table = negative_transfer_table(records, pd.read_csv(args.curves))
    write_csv(table, args.out)
    if args.pretrain_curve:
        curve = pretrain_curve_table(records)
        write_csv(curve, args.pretrain_curve)
        print(f"negative-transfer-table: {len(curve)} epochs of pre-training validation -> {args.pretrain_curve}")
    print(f"negative-transfer-table: {len(table)} rows ({table['epoch_cap'].nunique()} caps) -> {args.out}")


def _cmd_report_page(args: argparse.Namespace) -> None:
    from mftl.atomic import write_text_atomic
    from mftl.report.report_page import campaign_warnings, report_page

    config = json.loads(args.config)
    warnings = campaign_warnings(config)
    write_text_atomic(args.out, report_page(config, warnings))
    if args.warnings:
        write_text_atomic(args.warnings, "".join(f"WARNING: {w}\n" for w in warnings))
    print(f"report-page: the report's first page -> {args.out}; {len(warnings)} warning(s)")


def _cmd_figure_notes(args: argparse.Namespace) -> None:
    notes = json.loads(args.skipped)
    if not notes:
        print("figures: every figure of the campaign was made")
    for note in notes:
        print(f"figures: skipped {note}")


#: subcommands only rules call, left out of ``mftl --help``
HIDDEN_COMMANDS = ("figure-notes",)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the figure and table subcommands to the ``mftl`` subparsers."""
    p = sub.add_parser("figure", help="one figure of the paper from a tidy table (curves.csv or the fidelity table)")
    p.add_argument(
        "--kind", required=True, help="a figure of mftl.planning.figure_catalogue.FIGURE_KINDS, e.g. learning_curves"
    )
    p.add_argument(
        "--table",
        "--curves",
        dest="table",
        required=True,
        nargs="+",
        help="curves.csv (several: their rows together), or tables/fidelity_comparison.csv for "
        "--kind fidelity_comparison",
    )
    p.add_argument(
        "--validation",
        nargs="+",
        default=[],
        help="valid_curves.csv: the validation errors that choose which mftl series (pre-training size, epoch cap) "
        "a figure shows where there are several (delta_vs_single_fidelity, fidelity_chain, pretraining_fidelity)",
    )
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="FIDELITY=FILE",
        help="draw the low fidelity alone as a level in a learning-curve figure: its row of "
        "tables/fidelity_statistics.csv (energy and force RMSD against the high fidelity); repeatable",
    )
    p.add_argument(
        "--baseline-name",
        action="append",
        default=[],
        metavar="FIDELITY=NAME",
        help="the method name a --baseline is labelled with (e.g. gfn1=GFN1-xTB; default the fidelity key)",
    )
    p.add_argument(
        "--pretrain-curve",
        help="tables/pretrain_validation.csv: the pre-training validation curve per epoch (--kind negative_transfer)",
    )
    p.add_argument("--title", default="")
    p.add_argument("--out", nargs="+", required=True, help="figure files; the format follows the suffix")
    p.set_defaults(func=_cmd_figure)

    p = sub.add_parser("summary", help="mean and std over seeds per series and training size, ratio to scratch")
    p.add_argument("--curves", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser(
        "fidelity-comparison-table", help="low vs high fidelity labels of the same configurations, as a table"
    )
    p.add_argument("--high", required=True, help="structures labelled with the high fidelity")
    p.add_argument("--low", required=True, help="the same configurations labelled with the low fidelity")
    p.add_argument("--high-fidelity", required=True)
    p.add_argument("--low-fidelity", required=True)
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="FOUNDATION=FILE",
        help="also a foundation's zero-shot predictions of the same configurations (mftl zeroshot "
        "--predictions), compared with the high fidelity the same way; repeatable",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--outliers", help="CSV: the worst configurations of each comparison (config ids)")
    p.add_argument("--statistics", help="CSV: RMSD, MAD (meV/atom, meV/A) and correlation per comparison and molecule")
    p.add_argument(
        "--molecule-key", default="molecule", help="info key of the molecule in --high (when every one has it)"
    )
    p.set_defaults(func=_cmd_fidelity_comparison_table)

    p = sub.add_parser("costs", help="what each curves.csv point cost: labels, training, evaluation")
    p.add_argument("--curves", required=True)
    p.add_argument("--config", required=True, help="the campaign config as JSON (datasets, foundations, labelling)")
    p.add_argument("--results", default="results")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_costs)

    p = sub.add_parser("paper-comparison", help="the paper's reported errors beside the campaign's (curves.csv)")
    p.add_argument("--curves", required=True, help="curves.csv of the campaign (results/curves.csv: every dataset)")
    p.add_argument("--paper", required=True, help="the paper's results, e.g. config/paper_results.csv")
    p.add_argument("--out", required=True, help="CSV: paper value, reproduced mean over seeds, difference, ratio")
    p.add_argument("--figure", nargs="+", default=[], help="figure files (reproduced / paper per number)")
    p.add_argument(
        "--validation",
        nargs="*",
        default=[],
        help="validation errors of the candidate models (valid_curves.csv, the columns of curves.csv): "
        "they choose where a row leaves pre-training size or epoch cap open (the test set never does)",
    )
    p.add_argument(
        "--fidelity-table",
        action="append",
        default=[],
        metavar="DATASET=FILE",
        help="a dataset's tables/fidelity_comparison.csv: its low-fidelity errors (method low_fidelity); repeatable",
    )
    p.set_defaults(func=_cmd_paper_comparison)

    p = sub.add_parser(
        "negative-transfer-table",
        help="fig. S1: the pre-trained model's low-fidelity test RMSE per epoch cap beside the fine-tuned "
        "models' high-fidelity test RMSE",
    )
    p.add_argument("--pretrained", nargs="+", required=True, help="mftl evaluate --cap results, one per run and cap")
    p.add_argument("--curves", required=True, help="the dataset's curves.csv (its mftl rows)")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--pretrain-curve",
        help="CSV: each pre-training run's validation loss and RMSEs per epoch up to the largest cap (mace's "
        "results file under results/<dataset>/pretrain/)",
    )
    p.set_defaults(func=_cmd_negative_transfer_table)

    p = sub.add_parser(
        "report-page", help="the report's first page (reStructuredText): datasets, summary tables, warnings"
    )
    p.add_argument("--config", required=True, help="the campaign config as JSON (its datasets)")
    p.add_argument("--out", required=True)
    p.add_argument("--warnings", help="also the quality warnings, one per line (printed at the end of a run)")
    p.set_defaults(func=_cmd_report_page)

    # a step of the rule all_figures (its notes come from the planning), not a user command: no help=, so
    # argparse leaves it out of the command list (mftl.cli leaves it out of the usage line: HIDDEN_COMMANDS)
    p = sub.add_parser("figure-notes", description="print which figures a campaign skips and why")
    p.add_argument("--skipped", default="[]", help="JSON list of '<dataset>/<figure>: <reason>' notes")
    p.set_defaults(func=_cmd_figure_notes)
