"""Warnings at planning for a campaign meant for SLURM (``--profile profiles/slurm``).

Snakemake reads the profile into its resource settings before the Snakefile: the profile's
``default-resources`` and ``set-resources`` (or the command line's, which replace the profile's
block whole) are what every job will ask for. From them alone, when the campaign is meant for
SLURM (a ``slurm_*`` or ``cpus_per_task`` resource is set anywhere), the planning warns when

* no ``slurm_account`` or no ``slurm_partition`` is set (the plugin guesses the account and
  leaves the partition to the site's default);
* the config says ``device: cpu`` while training rules ask for a GPU (the GPUs would sit idle);
* training rules ask for no GPU: most often ``--set-resources mftl:slurm_partition=gpu`` on
  the command line, which replaces the profile's whole ``set-resources`` and with it every
  training rule's ``gpu: 1`` and ``cpus_per_task: 4``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

#: the rules that train a MACE model (those profiles/slurm gives a GPU and CPUs)
TRAINING_RULES = (
    "pretrain",
    "mftl",
    "scratch",
    "delta",
    "foundation",
    "foundation_multihead",
    "mftl_freeze",
    "mftl_lora",
    "foundation_freeze",
    "foundation_lora",
    "foundation_pseudolabel",
    "chain_stage",
    "chain",
)
GPU_RESOURCES = ("gpu", "gpus", "gres")
SITE_RESOURCES = ("slurm_account", "slurm_partition")


def resource_keys(resource_settings) -> tuple[set[str], dict[str, set[str]]]:
    """The resource names of Snakemake's settings: (default resources, set-resources per rule)."""
    defaults = set()
    if resource_settings is not None and resource_settings.default_resources is not None:
        defaults = {arg.split("=", 1)[0] for arg in resource_settings.default_resources.args or []}
    rules = {}
    if resource_settings is not None:
        rules = {rule: set(values) for rule, values in resource_settings.overwrite_resources.items()}
    return defaults, rules


def _meant_for_slurm(defaults: set[str], rules: Mapping[str, set[str]]) -> bool:
    keys = defaults.union(*rules.values()) if rules else set(defaults)
    return any(key.startswith("slurm_") or key == "cpus_per_task" for key in keys)


def _listing(rules: Iterable[str]) -> str:
    return ", ".join(rules)


def safe_set_resources(partition: str = "<gpu_partition>") -> str:
    """The command-line ``--set-resources`` that gives every training rule a partition and keeps its GPU and
    CPUs (profiles/slurm's), and gives the evaluations grouped with them (``groups:``) the same partition."""
    training = [f"{r}:slurm_partition={partition} {r}:gpu=1 {r}:cpus_per_task=4" for r in TRAINING_RULES]
    grouped = [f"{r}:slurm_partition={partition}" for r in ("evaluate", "evaluate_validation")]
    return "--set-resources " + " ".join(training + grouped)


def slurm_warnings(config: dict, defaults: set[str], rules: Mapping[str, set[str]]) -> list[str]:
    """The warnings of the module docstring for a checked ``config`` and the resource names Snakemake holds."""
    if not _meant_for_slurm(defaults, rules):
        return []
    warnings = []
    for key in SITE_RESOURCES:
        if key not in defaults and not any(key in keys for keys in rules.values()):
            warnings.append(
                f"SLURM: no {key} is set: give it with --default-resources mem_mb=4000 runtime=60 "
                "slurm_account=<account> slurm_partition=<partition> (a command-line --default-resources "
                "replaces the profile's whole block, hence mem_mb and runtime), or in the profile "
                "(docs/cluster.md, 'Partition, account, GPU model')"
            )
    with_gpu = [r for r in TRAINING_RULES if set(GPU_RESOURCES) & rules.get(r, set())]
    without_gpu = [r for r in TRAINING_RULES if r not in with_gpu]
    if config.get("device") == "cpu" and with_gpu:
        warnings.append(
            f"SLURM: the config says device: cpu, but the training rules {_listing(with_gpu)} ask for a GPU: "
            "each job would hold a GPU it does not use. Set device: auto (or cuda), or drop gpu from "
            "their set-resources"
        )
    if config.get("device") != "cpu" and without_gpu:
        warnings.append(
            f"SLURM: the training rules {_listing(without_gpu)} ask for no GPU, so they train on the CPU of "
            "their job. A --set-resources on the command line replaces the profile's whole set-resources "
            "(its gpu: 1 and cpus_per_task: 4 for every training rule): repeat them beside the partition, "
            f"e.g. {safe_set_resources()}, or set slurm_partition in a copy of the profile "
            "(docs/cluster.md)"
        )
    return warnings


def print_slurm_warnings(config: dict, resource_settings) -> None:
    """The Snakefile's call: each warning on stderr, before any job runs."""
    for warning in slurm_warnings(config, *resource_keys(resource_settings)):
        print(f"WARNING: {warning}", file=sys.stderr)
