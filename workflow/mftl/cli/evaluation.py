"""``mftl`` subcommands of the evaluation step and the learning curves: ``evaluate``, ``zeroshot``,
``select-cap``, ``curves``, ``campaign-curves`` and ``stability``. The computing lives in :mod:`mftl.evaluation` and
:mod:`mftl.analysis.curves`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mftl.cli.output import write_csv, write_json


def cmd_campaign_curves(args: argparse.Namespace) -> None:
    from mftl.analysis.curves import campaign_curves

    write_csv(campaign_curves(args.inputs), args.out)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from mftl.evaluation.jobs import evaluate

    metadata = json.loads(args.metadata)
    result = evaluate(
        Path(args.model_dir),
        Path(args.test),
        args.fidelity,
        args.device,
        threads=args.threads,
        base_file=Path(args.base) if args.base else None,
        base_fidelity=args.base_fidelity,
        cap=args.cap,
    )
    write_json(args.out, {**metadata, **result})


def cmd_zeroshot(args: argparse.Namespace) -> None:
    from mftl.evaluation.jobs import zeroshot

    result = zeroshot(
        Path(args.model),
        Path(args.test),
        args.fidelity,
        args.label,
        args.device,
        threads=args.threads,
        predictions_out=Path(args.predictions),
    )
    write_json(args.out, {**json.loads(args.metadata), **result})


def cmd_stability(args: argparse.Namespace) -> None:
    import torch

    from mftl.evaluation.stability_job import stability
    from mftl.evaluation.stability_settings import StabilitySettings

    torch.set_num_threads(args.threads)
    low = None
    if args.low_labeller:
        from mftl.data.labellers import make_calculator

        low = make_calculator(args.low_labeller, json.loads(args.low_options), threads=args.threads)
    record = stability(
        Path(args.model_dir),
        Path(args.test),
        StabilitySettings.from_config(json.loads(args.settings)),
        args.device,
        start_data=args.start_data,
        start_fidelity=args.start_fidelity,
        low=low,
        delta=args.delta,
    )
    md = record["md"]
    print(f"MD: {md.get('n_stable')} of {md.get('n_runs')} runs stable" if "runs" in md else f"MD: {md['skipped']}")
    write_json(args.out, {**json.loads(args.metadata), **record})


def cmd_select_cap(args: argparse.Namespace) -> None:
    from mftl.analysis.curves import read_records
    from mftl.evaluation.error_statistics import select_by_validation

    chosen = select_by_validation(read_records(args.valid), read_records(args.test))
    chosen.update(json.loads(args.metadata))
    print(f"selected epoch cap {chosen['epoch_cap']} from {chosen['selected_from_caps']}")
    write_json(args.out, chosen)


def cmd_curves(args: argparse.Namespace) -> None:
    from mftl.analysis.curves import curves_table, read_records
    from mftl.analysis.quality import with_quality_columns

    records = read_records(args.inputs)
    write_csv(with_quality_columns(curves_table(records)), args.out)
    if args.by_molecule:
        from mftl.evaluation.molecules import molecule_table

        write_csv(molecule_table(records), args.by_molecule)
