# mftl: multi-fidelity transfer learning of MACE potentials (Cui, Reuter, Margraf 2025).
# This file is a table of contents; see workflow/rules/ for the stages.
import sys

from snakemake.utils import min_version

sys.path.insert(0, f"{workflow.basedir}/workflow")
from mftl import paths
from mftl.planning.results_folder import check_campaign_files, warn_campaign_files
from mftl.planning.cluster_checks import print_slurm_warnings
from mftl.analysis.quality import print_warnings
from mftl.planning.config import check_config, load_config_file
from mftl.methods import method_wildcard
from mftl.planning.source_checks import check_sources

min_version("9.0")


# The demo is the default campaign; a --configfile replaces it instead of merging into it.
if not workflow.config_settings.configfiles:
    load_config_file("config/config.yaml")  # a malformed file named with its line (Snakemake drops it)

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


check_config(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")
check_sources(config)
warn_campaign_files(config)  # another campaign's results/curves.csv here: a run refuses (onstart)
print_slurm_warnings(config, workflow.resource_settings)  # a SLURM profile without account, GPUs, ...


onstart:
    check_campaign_files(config)


# Wildcards of every rule's paths, so a path cannot be parsed two ways.
wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    part="test|validation|train_pool|pretrain_pool",
    fidelity=r"[A-Za-z][A-Za-z0-9]*",
    chunk=r"\d+",
    size=r"\d+",
    pretrain=r"\d+",
    cap=r"\d+",
    seed=r"\d+",
    method=method_wildcard(),  # mftl.methods.RUN_FOLDER_METHODS|chain_<name>
    chain=r"[A-Za-z0-9]+",
    stage=r"\d+",
    foundation=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    download=r"[A-Za-z0-9_-]+",
    filename=r"[^/]+",
    tag=r"[A-Za-z0-9_-]+",  # foundation runs: <foundation>_n<size>_s<seed>


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/label.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"


onsuccess:
    print_warnings()  # the quality warnings (mftl.analysis.quality) of results/warnings.txt, last on the screen


rule all:
    input:
        campaign.final_targets(),
