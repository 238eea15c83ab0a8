# Config access for every stage: the campaign object (mftl.planning.campaign: which runs each dataset needs,
# their folders and inputs), the mftl command, and the resources of the job families. The input and
# argument functions of one stage's rules live in that stage's file (data, label, train, evaluate,
# figures); they turn the wildcards into questions to `campaign`.
import json
import os
import shlex
import sys

from mftl.training import chains
from mftl.planning.campaign import Campaign, quoted_option

# Rules run the library as `{params.mftl} <subcommand>`, that is with the interpreter that runs
# Snakemake (mftl installed in it), or, with --sdm conda, the job environment's python
# with this checkout's workflow/ on its path (the environments hold only dependencies).
_conda = "conda" in str(getattr(workflow.deployment_settings, "deployment_method", ""))
_job_pythonpath = shlex.quote(f"{workflow.basedir}/workflow")
MFTL = f"PYTHONPATH={_job_pythonpath} python -m mftl" if _conda else f"{shlex.quote(sys.executable)} -m mftl"

# The validated config as a campaign, built once per planning.
campaign = Campaign(config, workflow.basedir)


def dataset_config(wildcards):
    return campaign.dataset(wildcards.dataset)


def fidelity_config(wildcards):
    return campaign.fidelity(wildcards.dataset, wildcards.fidelity)


def high_fidelity(wildcards):
    return dataset_config(wildcards)["high_fidelity"]


def low_fidelity(wildcards):
    return dataset_config(wildcards)["low_fidelity"]


def high_fidelity_labels(wildcards, part):
    """A split part of the dataset labelled with its high fidelity."""
    return paths.labelled(wildcards.dataset, part, high_fidelity(wildcards))


def low_fidelity_labels(wildcards, part):
    """A split part of the dataset labelled with its low fidelity."""
    return paths.labelled(wildcards.dataset, part, low_fidelity(wildcards))


def foundation_needs(wildcards):
    """What a job using a foundation (fine-tuning, zero-shot) waits for: its model file, or the run that trains it."""
    return campaign.foundation_needs(wildcards.dataset, wildcards.foundation)


# ---- resources (SLURM partition, account and GPUs come from the profile) -------


def cpu_job_runtime(wildcards, attempt):
    """Minutes for one labelling chunk, E0 computation or dataset conversion; doubles on each retry."""
    return 60 * 2 ** (attempt - 1)


def training_memory_mb(wildcards, attempt):
    """A job killed for memory is retried with more."""
    return 8000 * attempt


def job_memory_mb(wildcards, attempt):
    return 4000 * attempt


def training_runtime(wildcards, attempt):
    """Minutes for one MACE training; a retry resumes from the last checkpoint with more time."""
    return 240 * attempt


# Evaluations are short and numerous (1,137 in the paper campaign): fixed values cost
# Snakemake nothing per job when planning, where a function is inspected for every job.
EVALUATION_MEMORY_MB = 4000
EVALUATION_RUNTIME_MIN = 60
# A stability job (MD, repulsion, forgetting of one model, on one core): MD of a few molecules at 1000 steps takes
# about 15 ms a step, some minutes in all; an hour leaves room for larger molecules and `sizes: all`.
STABILITY_RUNTIME_MIN = 60
