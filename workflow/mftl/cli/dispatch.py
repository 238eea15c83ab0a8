"""The ``mftl`` command line: one subcommand per workflow step.

Rules in ``workflow/rules/*.smk`` call these; each also runs by hand.
This module only parses and dispatches: the subcommands' options are defined here, their implementations
are in :mod:`mftl.cli.data`, :mod:`mftl.cli.training`, :mod:`mftl.cli.evaluation`, :mod:`mftl.cli.figures`
and :mod:`mftl.cli.decisions` (reading arguments, writing files), the computing in the library's layers.
"""

from __future__ import annotations

import argparse
import sys

from mftl.cli import data, evaluation, training
from mftl.data.sources import CONVERTERS
from mftl.training.training_job import field_summary


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
    p.set_defaults(func=data.cmd_demo_data)

    p = sub.add_parser(
        "check-config",
        help="check config files as planning does (YAML line, schema, mace flags, "
        "sources), merged in order like snakemake --configfile A B",
    )
    p.add_argument("configfiles", nargs="+")
    p.set_defaults(func=data.cmd_check_config)

    p = sub.add_parser(
        "check-yaml",
        help="the YAML syntax of each --configfile of a snakemake command line (make run's ARGS, after --), "
        "an error named with its line and column (Snakemake's own message has neither)",
    )
    p.add_argument("snakemake_args", nargs="*", help="the arguments snakemake will get")
    p.set_defaults(func=data.cmd_check_yaml)

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
    p.set_defaults(func=data.cmd_init)

    p = sub.add_parser("fetch", help="download a file, verify its checksum, optionally unpack it")
    p.add_argument("--url", required=True)
    p.add_argument("--md5")
    p.add_argument("--sha256")
    p.add_argument("--unpack-to")
    p.add_argument("--out", required=True)
    p.set_defaults(func=data.cmd_fetch)

    p = sub.add_parser("convert", help="convert upstream dataset files to the project's extxyz convention")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--converter", required=True, choices=list(CONVERTERS))
    p.add_argument("--fidelity")
    p.add_argument("--out", required=True)
    p.add_argument("--summary", required=True)
    p.set_defaults(func=data.cmd_convert)

    p = sub.add_parser("split", help="seeded test / validation / training pool / pre-training pool split")
    p.add_argument("--source", required=True)
    p.add_argument("--high-energy-key", help="info key of the high-fidelity energy in the source (if read from it)")
    p.add_argument("--high-forces-key")
    p.add_argument("--test", type=int, required=True)
    p.add_argument("--validation", type=int, required=True)
    p.add_argument("--train-pool", type=int, required=True, help="size of the training pool (largest train size)")
    p.add_argument("--pretrain-pool", type=int, required=True)
    p.add_argument("--pretrain-geometries", help="a file of geometries that join the pre-training pool (unlabelled)")
    p.add_argument("--select", help='JSON {"key": K, "include"|"exclude": [values]}: configurations to keep')
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=data.cmd_split)

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
    p.set_defaults(func=data.cmd_label)

    p = sub.add_parser(
        "sample",
        help="one chunk of the pre-training pool sampled by Langevin MD with the low fidelity (pretrain_sampling)",
    )
    p.add_argument("--starts", required=True, help="start configurations: the split's training pool")
    p.add_argument("--split-ids", required=True, help="the split's split.json (sampled ids must not collide)")
    p.add_argument("--fidelity", required=True)
    p.add_argument("--labeller", required=True)
    p.add_argument("--options", default="{}", help="labeller options as JSON")
    p.add_argument("--settings", required=True, help="the dataset's pretrain_sampling as JSON")
    p.add_argument("--chunk", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    p.set_defaults(func=data.cmd_sample)

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
    p.set_defaults(func=data.cmd_comparison_sample)

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
    p.set_defaults(func=data.cmd_atom_energies)

    p = sub.add_parser("e0-prior", help="E0 prior of a high fidelity: its isolated atoms plus a low fidelity's binding")
    p.add_argument("--atoms", required=True, help="the high fidelity's isolated-atom energies (mftl atom-energies)")
    p.add_argument("--low-atoms", required=True, help="the low fidelity's isolated-atom energies")
    p.add_argument(
        "--low-pool", required=True, help="configurations labelled with the low fidelity (pre-training pool)"
    )
    p.add_argument("--low-fidelity", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=data.cmd_e0_prior)

    p = sub.add_parser("collect", help="gather labelled chunks (or read labels from keys) into one checked file")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--fidelity", required=True)
    p.add_argument("--energy-key", help="read the energy from this info key instead of '<fidelity>_energy'")
    p.add_argument("--forces-key", help="read forces from this array key instead of '<fidelity>_forces'")
    p.add_argument("--reports", nargs="*", default=[], help="labelling reports of the chunks")
    p.add_argument("--max-failure-fraction", type=float, default=0.0)
    p.add_argument("--sample-reports", nargs="*", default=[], help="reports of sampled chunks (rule sample)")
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    p.set_defaults(func=data.cmd_collect)

    p = sub.add_parser(
        "train",
        help="train a MACE model: one training job (mftl.training.training_job.TrainingJob, as JSON)",
        description="Train the MACE model of one training job into --out-dir. The job is the JSON of "
        f"mftl.training.training_job.TrainingJob, with the fields {field_summary()}.",
    )
    job = p.add_mutually_exclusive_group(required=True)
    job.add_argument("--job", help="the training job as JSON")
    job.add_argument("--job-file", help="a file holding the training job as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=training.cmd_train)

    p = sub.add_parser("campaign-curves", help="one curves table of several datasets (results/curves.csv)")
    p.add_argument("inputs", nargs="*")
    p.add_argument("--out", required=True)
    p.set_defaults(func=evaluation.cmd_campaign_curves)

    p = sub.add_parser("fetch-foundation", help="fetch a named MACE foundation model (mace's cache or download)")
    p.add_argument("--name", required=True, help="mace_run_train's name, e.g. small_off, medium")
    p.add_argument("--out", required=True)
    p.set_defaults(func=training.cmd_fetch_foundation)

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
    p.set_defaults(func=evaluation.cmd_evaluate)

    p = sub.add_parser(
        "stability", help="does a trained model run: MD from test molecules, short-range repulsion, forgetting"
    )
    p.add_argument("--model-dir", required=True, help="the run folder (model.model, training.json, train.extxyz)")
    p.add_argument("--test", required=True, help="the test configurations (MD starts, repulsion scans)")
    p.add_argument("--settings", default="{}", help="JSON: the dataset's stability mapping (defaults fill the rest)")
    p.add_argument("--metadata", default="{}", help="JSON merged into the record (method, sizes, seed)")
    p.add_argument("--start-data", help="labels of the starting model's own data (forgetting); none: skipped")
    p.add_argument("--start-fidelity", help="the fidelity of --start-data's labels")
    p.add_argument(
        "--low-labeller", help="the low fidelity's labeller: the repulsion scans' reference, a Delta model's base"
    )
    p.add_argument("--low-options", default="{}", help="JSON: the low labeller's options")
    p.add_argument("--delta", action="store_true", help="a Delta model: it runs on top of --low-labeller")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.set_defaults(func=evaluation.cmd_stability)

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
    p.set_defaults(func=evaluation.cmd_zeroshot)

    p = sub.add_parser("select-cap", help="mftl_auto: the epoch cap whose fine-tuned model is best on validation")
    p.add_argument("--valid", nargs="+", required=True, help="validation results, one per cap")
    p.add_argument("--test", nargs="+", required=True, help="test results of the same models, same order")
    p.add_argument("--metadata", default="{}")
    p.add_argument("--out", required=True)
    p.set_defaults(func=evaluation.cmd_select_cap)

    p = sub.add_parser("curves", help="tidy learning-curve table from evaluation results")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--by-molecule", help="also the errors per model and molecule (CSV; empty without a molecule key)")
    p.set_defaults(func=evaluation.cmd_curves)

    from mftl.cli.figures import HIDDEN_COMMANDS
    from mftl.cli.figures import register as register_figure_commands

    register_figure_commands(sub)
    from mftl.cli.decisions import register as register_decision_commands

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
