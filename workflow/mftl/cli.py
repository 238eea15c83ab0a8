"""The ``mftl`` command line: one subcommand per workflow step.

Rules in ``workflow/rules/*.smk`` call these; each also runs by hand.
This module does the I/O; the computing lives in the library modules.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mftl.sources import CONVERTERS
from mftl.training_job import TrainingJob, field_summary


def _cmd_demo_data(args: argparse.Namespace) -> None:
    from mftl.demo import generate_demo

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


def train_command(job: TrainingJob, out_dir: str | Path, threads: int | None = None) -> list[str]:
    """The command line of an ``mftl train`` run of ``job`` by hand (the ``mftl`` beside this Python), as tests
    and bench/training.py run it; the rules pass the campaign's job the same way (``--job``)."""
    command = [str(Path(sys.executable).parent / "mftl"), "train", "--job", job.to_json()]
    command += ["--threads", str(threads)] if threads is not None else []
    return [*command, "--out-dir", str(out_dir)]


def _write_json(path: str | Path, data: dict) -> None:
    from mftl.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _cmd_check_config(args: argparse.Namespace) -> None:
    from mftl.campaigns import warn_campaign_files
    from mftl.config import check_config, load_config_file, merge_configs
    from mftl.source_checks import check_sources

    config: dict = {}
    for path in args.configfiles:
        merge_configs(config, load_config_file(path))
    check_config(config, Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml")
    check_sources(config)
    warn_campaign_files(config)
    print(f"{' + '.join(args.configfiles)}: a valid campaign ({', '.join(config['datasets'])})")


def _cmd_init(args: argparse.Namespace) -> None:
    import shlex

    from mftl.starter_config import build_starter, render, summarize

    e0s = source = None
    if args.e0s_labeller:
        from mftl.labellers import isolated_atom_energies

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


def _cmd_fetch(args: argparse.Namespace) -> None:
    import shutil

    from mftl.sources.download import fetch

    out = fetch(args.url, args.out, md5=args.md5, sha256=args.sha256)
    if args.unpack_to:
        shutil.unpack_archive(out, args.unpack_to)
    print(f"fetched {args.url} -> {out}")


def _cmd_convert(args: argparse.Namespace) -> None:
    from mftl.sources import convert

    summary = convert(args.converter, args.inputs, args.out, fidelity=args.fidelity)
    _write_json(args.summary, summary.as_dict())
    print(json.dumps(summary.as_dict()))


def _cmd_split(args: argparse.Namespace) -> None:
    from mftl.datasets import load_source, select_frames
    from mftl.elements import ElementCoverageError, split_problem, symbols_by_id
    from mftl.splits import make_split
    from mftl.structures import by_config_id, write_structures

    frames = load_source(args.source, args.high_energy_key, args.high_forces_key)
    n_source = len(frames)
    if args.select:
        frames = select_frames(frames, json.loads(args.select), args.source)
    hf_ids = [
        int(a.info["config_id"])
        for a in frames
        if args.high_energy_key is None or (args.high_energy_key in a.info and args.high_forces_key in a.arrays)
    ]
    split = make_split(
        hf_ids,
        [int(a.info["config_id"]) for a in frames],
        args.test,
        args.validation,
        args.train_pool,
        args.pretrain_pool,
        args.seed,
    )
    problem = split_problem(split.as_dict(), symbols_by_id(frames), str(args.source))
    if problem:  # refused before any labelling or training
        raise ElementCoverageError(problem)
    by_id = by_config_id(frames)
    out = Path(args.out_dir)
    for part, ids in split.as_dict().items():
        write_structures(out / f"{part}.extxyz", [by_id[i] for i in ids])
    _write_json(
        out / "split.json",
        {
            "seed": args.seed,
            "source": str(args.source),
            "n_source": n_source,
            "n_selected": len(frames),
            "select": json.loads(args.select or "null"),
            **split.as_dict(),
        },
    )


def _cmd_label(args: argparse.Namespace) -> None:
    from mftl.labellers import label_frames
    from mftl.structures import read_structures, write_structures

    frames = read_structures(args.input)
    chunk = frames[args.chunk * args.chunk_size : (args.chunk + 1) * args.chunk_size]
    options = json.loads(args.options)
    labelled, report = label_frames(chunk, args.fidelity, args.labeller, options, threads=args.threads)
    for failure in report.failures:
        print(f"config {failure.config_id}: {failure.error}", file=sys.stderr)
    write_structures(args.out, labelled) if labelled else Path(args.out).write_text("")
    _write_json(args.report, report.as_dict())


def _cmd_comparison_sample(args: argparse.Namespace) -> None:
    from mftl.splits import comparison_sample
    from mftl.structures import by_config_id, read_structures, write_structures

    high = by_config_id([a for path in args.high for a in read_structures(path)])
    low = by_config_id([a for path in args.low for a in read_structures(path)])
    ids = comparison_sample(list(high), list(low), args.size, args.seed)
    write_structures(args.out_high, [high[i] for i in ids])
    write_structures(args.out_low, [low[i] for i in ids])
    print(
        f"comparison sample: {len(ids)} of {len(set(high) & set(low))} configurations with both labels "
        f"({len(high)} high, {len(low)} low) drawn with seed {args.seed}"
    )


def _cmd_atom_energies(args: argparse.Namespace) -> None:
    from mftl.labellers import isolated_atom_energies
    from mftl.reference_energies import prior_record
    from mftl.structures import read_structures

    elements = set(args.elements or [])
    for path in [p for p in args.structures or [] if Path(p).stat().st_size]:  # an empty split part has none
        elements |= {s for atoms in read_structures(path) for s in atoms.get_chemical_symbols()}
    if args.given is not None:
        given = json.loads(args.given)
        missing = sorted(elements - set(given))
        if missing:
            raise ValueError(f"{args.where or '--given'}: no E0 (eV) for element(s) {', '.join(missing)} of the data")
        record = prior_record(given, f"config {args.where}" if args.where else "given")
    elif args.labeller:
        options = json.loads(args.options)
        energies = isolated_atom_energies(args.labeller, elements, options, threads=args.threads)
        record = prior_record(
            energies, f"isolated atoms, labeller {args.labeller} {json.dumps(options, sort_keys=True)}"
        )
    else:
        raise ValueError("give --labeller (compute isolated atoms) or --given (E0s from the config)")
    _write_json(args.out, record)
    print(json.dumps(record["e0s"]))


def _cmd_e0_prior(args: argparse.Namespace) -> None:
    from mftl.reference_energies import e0s_by_symbol, fit_reference, prior_record, read_prior, transferred_prior
    from mftl.structures import read_structures

    high, high_source = read_prior(args.atoms)
    low, low_source = read_prior(args.low_atoms)
    low_fit = fit_reference(read_structures(args.low_pool), args.low_fidelity, low, low_source)
    source = (
        f"{high_source} + binding per element of {args.low_fidelity} fitted on {args.low_pool}"
        f" (rank {low_fit.rank} of {len(low_fit.elements)} elements) from {low_source}"
    )
    record = prior_record(e0s_by_symbol(transferred_prior(high, low_fit)), source)
    _write_json(args.out, record)
    print(json.dumps(record["e0s"]))


def _cmd_collect(args: argparse.Namespace) -> None:
    from mftl.datasets import collect_labels
    from mftl.structures import write_structures

    frames, report = collect_labels(
        args.inputs,
        args.fidelity,
        args.energy_key,
        args.forces_key,
        args.reports,
        args.max_failure_fraction,
    )
    write_structures(args.out, frames)
    _write_json(args.report, report)


def _cmd_train(args: argparse.Namespace) -> None:
    from mftl.training import train

    text = Path(args.job_file).read_text() if args.job_file else args.job
    train(TrainingJob.from_json(text), Path(args.out_dir), threads=args.threads)


def _cmd_fetch_foundation(args: argparse.Namespace) -> None:
    from mftl.foundations import fetch_named

    print(f"foundation model '{args.name}' -> {fetch_named(args.name, Path(args.out))}")


def _cmd_campaign_curves(args: argparse.Namespace) -> None:
    import pandas as pd

    from mftl.atomic import atomic_path
    from mftl.curves import TABLE_COLUMNS

    tables = [pd.read_csv(path) for path in args.inputs]
    # reindex: a dataset's curves.csv written before a column existed gets it empty
    merged = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    merged = merged.reindex(columns=TABLE_COLUMNS)
    with atomic_path(args.out) as tmp:
        merged.to_csv(tmp, index=False)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from mftl.evaluation import evaluate

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
    _write_json(args.out, {**metadata, **result})


def _cmd_zeroshot(args: argparse.Namespace) -> None:
    from mftl.evaluation import zeroshot

    result = zeroshot(
        Path(args.model),
        Path(args.test),
        args.fidelity,
        args.label,
        args.device,
        threads=args.threads,
        predictions_out=Path(args.predictions),
    )
    _write_json(args.out, {**json.loads(args.metadata), **result})


def _cmd_select_cap(args: argparse.Namespace) -> None:
    from mftl.curves import read_records
    from mftl.error_statistics import select_by_validation

    chosen = select_by_validation(read_records(args.valid), read_records(args.test))
    chosen.update(json.loads(args.metadata))
    print(f"selected epoch cap {chosen['epoch_cap']} from {chosen['selected_from_caps']}")
    _write_json(args.out, chosen)


def _cmd_curves(args: argparse.Namespace) -> None:
    from mftl.atomic import atomic_path
    from mftl.curves import curves_table, read_records
    from mftl.quality import with_quality_columns

    records = read_records(args.inputs)
    table = with_quality_columns(curves_table(records))
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    if args.by_molecule:
        from mftl.molecules import molecule_table

        with atomic_path(args.by_molecule) as tmp:
            molecule_table(records).to_csv(tmp, index=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mftl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="generate the embedded demo dataset (GFN1 sampling + PySCF labels)")
    p.add_argument("--out", default="resources/demo/demo.extxyz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-per-molecule", type=int, default=300)
    p.add_argument("--n-high-per-molecule", type=int, default=70)
    p.add_argument("--fidelity", default="pbe0")
    p.add_argument("--method", default="dft", choices=["dft", "ccsd(t)"], help="PySCF method of the labels")
    p.add_argument("--xc", default="pbe0", help="functional (method dft)")
    p.add_argument("--basis", default="6-31g*")
    p.add_argument("--molecules", nargs="+", help="ASE G2 names (default: the ten demo molecules)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser(
        "check-config",
        help="check config files as planning does (YAML line, schema, mace flags, "
        "sources), merged in order like snakemake --configfile A B",
    )
    p.add_argument("configfiles", nargs="+")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser(
        "init",
        help="write a commented starter campaign for an extxyz file to stdout (mftl init my.extxyz > my.yaml)",
    )
    p.add_argument("source", help="extxyz file: configurations, energies (eV) and forces (eV/A) under keys")
    p.add_argument("--energy-key", help="info key of the total energy (default: the one energy-like key found)")
    p.add_argument("--forces-key", help="per-atom array key of the forces (default: the one force-like key found)")
    p.add_argument(
        "--preset",
        choices=["first", "quick"],
        default="first",
        help="first: a small model, three training sizes, three seeds, trained to convergence (default); quick: a tiny model for "
        "a few epochs, to check the whole path in minutes",
    )
    p.add_argument("--e0s-labeller", help="compute the high fidelity's isolated-atom E0s (eV) with this labeller")
    p.add_argument("--e0s-options", default="{}", help="its options as JSON (the method of the labels)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("fetch", help="download a file, verify its checksum, optionally unpack it")
    p.add_argument("--url", required=True)
    p.add_argument("--md5")
    p.add_argument("--sha256")
    p.add_argument("--unpack-to")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("convert", help="convert upstream dataset files to the project's extxyz convention")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--converter", required=True, choices=list(CONVERTERS))
    p.add_argument("--fidelity")
    p.add_argument("--out", required=True)
    p.add_argument("--summary", required=True)
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("split", help="seeded test / validation / training pool / pre-training pool split")
    p.add_argument("--source", required=True)
    p.add_argument("--high-energy-key", help="info key of the high-fidelity energy in the source (if read from it)")
    p.add_argument("--high-forces-key")
    p.add_argument("--test", type=int, required=True)
    p.add_argument("--validation", type=int, required=True)
    p.add_argument("--train-pool", type=int, required=True, help="size of the training pool (largest train size)")
    p.add_argument("--pretrain-pool", type=int, required=True)
    p.add_argument("--select", help='JSON {"key": K, "include"|"exclude": [values]}: configurations to keep')
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=_cmd_split)

    p = sub.add_parser("label", help="label one chunk of a structure file with a named labeller")
    p.add_argument("--input", required=True)
    p.add_argument("--fidelity", required=True)
    p.add_argument("--labeller", required=True)
    p.add_argument("--options", default="{}", help="labeller options as JSON")
    p.add_argument("--chunk", type=int, default=0)
    p.add_argument("--chunk-size", type=int, default=10**9)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    p.set_defaults(func=_cmd_label)

    p = sub.add_parser(
        "comparison-sample",
        help="a seeded sample of the split's configurations with both fidelities' labels (zero-shot, fig. 2)",
    )
    p.add_argument("--high", nargs="+", required=True, help="split parts labelled with the high fidelity")
    p.add_argument("--low", nargs="+", required=True, help="the same parts labelled with the low fidelity")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-high", required=True)
    p.add_argument("--out-low", required=True)
    p.set_defaults(func=_cmd_comparison_sample)

    p = sub.add_parser("atom-energies", help="E0 prior of a fidelity: isolated-atom energies (eV) of a labeller")
    p.add_argument("--labeller", help="labeller that computes the isolated atoms")
    p.add_argument("--options", default="{}", help="labeller options as JSON")
    p.add_argument("--elements", nargs="+", help="element symbols, e.g. H C N O")
    p.add_argument("--structures", nargs="+", help="also every element of these structure files")
    p.add_argument(
        "--given", help="E0s given in the config (JSON symbol -> eV): checked to cover the elements, written"
    )
    p.add_argument("--where", help="the config key of --given, for messages")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="JSON file: {'e0s': {symbol: eV}, 'source': ...}")
    p.set_defaults(func=_cmd_atom_energies)

    p = sub.add_parser("e0-prior", help="E0 prior of a high fidelity: its isolated atoms plus a low fidelity's binding")
    p.add_argument("--atoms", required=True, help="the high fidelity's isolated-atom energies (mftl atom-energies)")
    p.add_argument("--low-atoms", required=True, help="the low fidelity's isolated-atom energies")
    p.add_argument(
        "--low-pool", required=True, help="configurations labelled with the low fidelity (pre-training pool)"
    )
    p.add_argument("--low-fidelity", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_e0_prior)

    p = sub.add_parser("collect", help="gather labelled chunks (or read labels from keys) into one checked file")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--fidelity", required=True)
    p.add_argument("--energy-key", help="read the energy from this info key instead of '<fidelity>_energy'")
    p.add_argument("--forces-key", help="read forces from this array key instead of '<fidelity>_forces'")
    p.add_argument("--reports", nargs="*", default=[], help="labelling reports of the chunks")
    p.add_argument("--max-failure-fraction", type=float, default=0.0)
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser(
        "train",
        help="train a MACE model: one training job (mftl.training_job.TrainingJob, as JSON)",
        description="Train the MACE model of one training job into --out-dir. The job is the JSON of "
        f"mftl.training_job.TrainingJob, with the fields {field_summary()}.",
    )
    job = p.add_mutually_exclusive_group(required=True)
    job.add_argument("--job", help="the training job as JSON")
    job.add_argument("--job-file", help="a file holding the training job as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("campaign-curves", help="one curves table of several datasets (results/curves.csv)")
    p.add_argument("inputs", nargs="*")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_campaign_curves)

    p = sub.add_parser("fetch-foundation", help="fetch a named MACE foundation model (mace's cache or download)")
    p.add_argument("--name", required=True, help="mace_run_train's name, e.g. small_off, medium")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_fetch_foundation)

    p = sub.add_parser("evaluate", help="test-set errors of a trained model from mace_eval_configs predictions")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--fidelity", required=True)
    p.add_argument("--base", help="Delta models: base-fidelity labels of the test configurations")
    p.add_argument("--base-fidelity")
    p.add_argument(
        "--cap", type=int, help="--model-dir is a pre-training run: evaluate the model it serves at this epoch cap"
    )
    p.add_argument("--metadata", default="{}", help="JSON merged into the result (method, sizes, seed)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("zeroshot", help="test-set errors of a foundation model as it is (no training)")
    p.add_argument("--model", required=True, help="the foundation model file")
    p.add_argument("--test", required=True)
    p.add_argument("--fidelity", required=True, help="the fidelity of the test labels")
    p.add_argument("--label", required=True, help="name the predictions are stored under (<label>_energy, ...)")
    p.add_argument("--metadata", default="{}", help="JSON merged into the result (method, foundation)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--predictions", required=True, help="extxyz: the test configurations with the predictions")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_zeroshot)

    p = sub.add_parser("select-cap", help="mftl_auto: the epoch cap whose fine-tuned model is best on validation")
    p.add_argument("--valid", nargs="+", required=True, help="validation results, one per cap")
    p.add_argument("--test", nargs="+", required=True, help="test results of the same models, same order")
    p.add_argument("--metadata", default="{}")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_select_cap)

    p = sub.add_parser("curves", help="tidy learning-curve table from evaluation results")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--by-molecule", help="also the errors per model and molecule (CSV; empty without a molecule key)")
    p.set_defaults(func=_cmd_curves)

    from mftl.figures_cli import HIDDEN_COMMANDS
    from mftl.figures_cli import register as register_figure_commands

    register_figure_commands(sub)
    from mftl.decisions_cli import register as register_decision_commands

    register_decision_commands(sub)
    sub.metavar = "{" + ",".join(name for name in sub.choices if name not in HIDDEN_COMMANDS) + "}"
    return parser


def main(argv: list[str] | None = None) -> int:
    from mftl.log_filters import quiet_known_warnings

    quiet_known_warnings()  # known harmless third-party warnings out of the job logs (MFTL_DEBUG_WARNINGS=1 keeps them)
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"mftl {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
