"""``mftl`` subcommands of the data and planning steps: ``demo-data``, ``check-config``, ``check-yaml``, ``init``,
``fetch``,
``convert``, ``split``, ``label``, ``sample``, ``comparison-sample``, ``atom-energies``, ``e0-prior`` and ``collect``.

Each reads its arguments and writes files; the computing lives in :mod:`mftl.data` and :mod:`mftl.planning`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mftl.cli.output import write_json


def cmd_demo_data(args: argparse.Namespace) -> None:
    from mftl.data.demo import generate_demo

    start = time.perf_counter()
    generate_demo(
        Path(args.out),
        seed=args.seed,
        n_per_molecule=args.n_per_molecule,
        n_high_per_molecule=args.n_high_per_molecule,
        fidelity=args.fidelity,
        options={"method": args.method, "basis": args.basis, **({"xc": args.xc} if args.method == "dft" else {})},
        threads=args.threads,
        **({"molecules": tuple(args.molecules)} if args.molecules else {}),
    )
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


def cmd_check_config(args: argparse.Namespace) -> None:
    from mftl.planning.config import SCHEMA, check_config, load_config_file, merge_configs
    from mftl.planning.results_folder import warn_campaign_files
    from mftl.planning.source_checks import check_sources

    config: dict = {}
    for path in args.configfiles:
        merge_configs(config, load_config_file(path))
    check_config(config, SCHEMA)
    check_sources(config)
    warn_campaign_files(config)
    print(f"{' + '.join(args.configfiles)}: a valid campaign ({', '.join(config['datasets'])})")


def configfiles_of(snakemake_args: list[str]) -> list[str]:
    """The files a Snakemake command line passes with ``--configfile``/``--configfiles`` (each followed by one
    or more files, up to the next option) or ``--configfile=<file>``, in order."""
    files, taking = [], False
    for arg in snakemake_args:
        if arg.startswith("-"):
            name, _, value = arg.partition("=")
            taking = name in ("--configfile", "--configfiles")
            if taking and value:
                files.append(value)
                taking = False
        elif taking:
            files.append(arg)
    return files


def cmd_check_yaml(args: argparse.Namespace) -> None:
    """Snakemake reads ``--configfile`` before the workflow runs and says only "Config file is not valid
    JSON or YAML": ``make run`` reads each file first, so that a syntax error (a tab, an indentation)
    is named with its line and column."""
    from mftl.planning.config import load_config_file

    for path in configfiles_of(args.snakemake_args):
        if Path(path).is_file():  # a missing file: Snakemake's own message names it
            load_config_file(path)


def cmd_init(args: argparse.Namespace) -> None:
    import shlex

    from mftl.planning.starter_config import build_starter, render, summarize

    e0s = source = None
    if args.e0s_labeller:
        from mftl.data.labellers import isolated_atom_energies

        options = json.loads(args.e0s_options)
        elements = summarize(args.source)[0].elements
        e0s = isolated_atom_energies(args.e0s_labeller, elements, options, threads=args.threads)
        source = f"labeller {args.e0s_labeller} {json.dumps(options, sort_keys=True)}"
    starter = build_starter(
        args.source, args.energy_key, args.forces_key, preset=args.preset, e0s=e0s, e0s_source=source
    )
    command = shlex.join(
        ["mftl", "init", *sys.argv[2:]] if sys.argv[1:2] == ["init"] else ["mftl", "init", args.source]
    )
    sys.stdout.write(render(starter, command))


def cmd_fetch(args: argparse.Namespace) -> None:
    import shutil

    from mftl.data.sources.download import fetch

    out = fetch(args.url, args.out, md5=args.md5, sha256=args.sha256)
    if args.unpack_to:
        shutil.unpack_archive(out, args.unpack_to)
    print(f"fetched {args.url} -> {out}")


def cmd_convert(args: argparse.Namespace) -> None:
    from mftl.data.sources import convert

    summary = convert(args.converter, args.inputs, args.out, fidelity=args.fidelity)
    write_json(args.summary, summary.as_dict())
    print(json.dumps(summary.as_dict()))


def cmd_split(args: argparse.Namespace) -> None:
    from mftl.data.splits import split_source
    from mftl.data.structures import write_structures

    sizes = {"test": args.test, "validation": args.validation, "train_pool": args.train_pool}
    parts, record = split_source(
        args.source,
        (args.high_energy_key, args.high_forces_key),
        json.loads(args.select or "null"),
        {**sizes, "pretrain_pool": args.pretrain_pool},
        args.seed,
    )
    if args.pretrain_geometries:
        from mftl.data.splits import add_given_geometries

        add_given_geometries(parts, record, args.pretrain_geometries)
    out = Path(args.out_dir)
    for part, frames in parts.items():
        write_structures(out / f"{part}.extxyz", frames)
    write_json(out / "split.json", record)


def cmd_label(args: argparse.Namespace) -> None:
    from mftl.data.labellers import label_frames
    from mftl.data.structures import read_structures, write_structures

    frames = read_structures(args.input)
    chunk = frames[args.chunk * args.chunk_size : (args.chunk + 1) * args.chunk_size]
    options = json.loads(args.options)
    labelled, report = label_frames(chunk, args.fidelity, args.labeller, options, threads=args.threads)
    for failure in report.failures:
        print(f"config {failure.config_id}: {failure.error}", file=sys.stderr)
    write_structures(args.out, labelled) if labelled else Path(args.out).write_text("")
    write_json(args.report, report.as_dict())


def cmd_comparison_sample(args: argparse.Namespace) -> None:
    from mftl.data.splits import comparison_frames
    from mftl.data.structures import read_structures, write_structures

    high = [a for path in args.high for a in read_structures(path)]
    low = [a for path in args.low for a in read_structures(path)]
    high, low, note = comparison_frames(high, low, args.size, args.seed)
    write_structures(args.out_high, high)
    write_structures(args.out_low, low)
    print(note)


def cmd_atom_energies(args: argparse.Namespace) -> None:
    from mftl.data.reference_energies import atom_energy_prior

    record = atom_energy_prior(
        set(args.elements or []),
        args.structures or [],
        json.loads(args.given) if args.given is not None else None,
        args.where,
        (args.labeller, json.loads(args.options)) if args.labeller else None,
        threads=args.threads,
    )
    write_json(args.out, record)
    print(json.dumps(record["e0s"]))


def cmd_e0_prior(args: argparse.Namespace) -> None:
    from mftl.data.reference_energies import transferred_prior_record

    record = transferred_prior_record(args.atoms, args.low_atoms, args.low_pool, args.low_fidelity)
    write_json(args.out, record)
    print(json.dumps(record["e0s"]))


def cmd_collect(args: argparse.Namespace) -> None:
    from mftl.data.datasets import collect_labels
    from mftl.data.structures import write_structures

    frames, report = collect_labels(
        args.inputs,
        args.fidelity,
        args.energy_key,
        args.forces_key,
        args.reports,
        args.max_failure_fraction,
    )
    if args.sample_reports:
        from mftl.data.sampling import combined_report

        report["sampling"] = combined_report([json.loads(Path(p).read_text()) for p in args.sample_reports])
    write_structures(args.out, frames)
    write_json(args.report, report)


def cmd_sample(args: argparse.Namespace) -> None:
    from mftl.data.labellers import check_elements, make_calculator
    from mftl.data.sampling import SamplingSettings, check_id_space, sample_chunk
    from mftl.data.splits import source_ids
    from mftl.data.structures import read_structures, write_structures

    split = json.loads(Path(args.split_ids).read_text())
    check_id_space(source_ids(split))  # every source configuration the campaign uses
    starts = read_structures(args.starts)  # the training pool: never test or validation
    options = json.loads(args.options)
    check_elements(args.labeller, starts, options)
    settings = SamplingSettings.from_config(json.loads(args.settings))
    frames, report = sample_chunk(
        starts, args.fidelity, settings, args.chunk, lambda: make_calculator(args.labeller, options, args.threads)
    )
    for failure in report.first_failures:
        print(f"dropped: {failure}", file=sys.stderr)
    write_structures(args.out, frames)
    write_json(args.report, report.as_dict())
    print(json.dumps(report.as_dict()))
