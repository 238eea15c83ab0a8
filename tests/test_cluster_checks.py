"""Planning with profiles/slurm warns about what would waste a cluster allocation (dry runs, no cluster)."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from conftest import REPO, run_snakemake, tiny_config
from mftl.planning.cluster_checks import TRAINING_RULES, safe_set_resources
from test_slurm import training_rules

PROFILE = str(REPO / "profiles" / "slurm")
SITE = ["--default-resources", "mem_mb=4000", "runtime=60", "slurm_account=chem", "slurm_partition=cpu"]


def plan(tmp_path, tiny_source, *args: str, device: str = "auto") -> str:
    config = tiny_config(tiny_source, methods=["scratch", "mftl"], epoch_caps=[1])
    config["device"] = device
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", "c.yaml", *args], tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("WARNING: SLURM:")]


def test_the_training_rules_are_those_the_profile_gives_a_gpu():
    assert set(TRAINING_RULES) == training_rules()


def test_the_local_profiles_commented_gpu_block_names_every_training_rule():
    text = (REPO / "profiles/local/config.v8+.yaml").read_text()
    block = text[text.index("# resources:") :]
    uncommented = yaml.safe_load("\n".join(line.removeprefix("# ") for line in block.splitlines()))
    assert uncommented["resources"] == {"gpu": 1}
    assert uncommented["set-resources"] == {rule: {"gpu": 1} for rule in TRAINING_RULES}


def test_the_profile_without_account_and_partition_warns_naming_both(tmp_path, tiny_source):
    found = warnings(plan(tmp_path, tiny_source, "--profile", PROFILE))
    assert [w.split(":")[2].strip() for w in found] == ["no slurm_account is set", "no slurm_partition is set"]
    assert "--default-resources mem_mb=4000 runtime=60 slurm_account=<account>" in found[0]


def test_the_profile_with_site_resources_plans_without_warnings_and_no_profile_never_warns(tmp_path, tiny_source):
    assert warnings(plan(tmp_path, tiny_source, "--profile", PROFILE, *SITE)) == []
    assert warnings(plan(tmp_path, tiny_source, "--set-resources", "mftl:mem_mb=8000")) == []


def test_device_cpu_under_a_profile_that_gives_trainings_a_gpu_warns(tmp_path, tiny_source):
    found = warnings(plan(tmp_path, tiny_source, "--profile", PROFILE, *SITE, device="cpu"))
    assert len(found) == 1
    assert f"device: cpu, but the training rules {', '.join(TRAINING_RULES)} ask for a GPU" in found[0]


def test_a_command_line_partition_that_drops_the_profiles_gpus_warns_and_its_safe_form_keeps_them(
    tmp_path, tiny_source
):
    # with the profile's groups the plan then fails (a group's evaluations stay on the other partition);
    # each job alone (--groups pretrain=pretrain, docs/cluster.md) it plans and the GPUs are silently gone
    alone = ["--groups", "pretrain=pretrain"]
    dropped = plan(
        tmp_path, tiny_source, "--profile", PROFILE, *SITE, *alone, "--set-resources", "mftl:slurm_partition=gpu"
    )
    found = warnings(dropped)
    assert len(found) == 1 and "ask for no GPU, so they train on the CPU of their job" in found[0]
    assert safe_set_resources() in found[0]
    mftl = _job_resources(dropped, "mftl")
    assert "gpu" not in mftl and mftl["slurm_partition"] == "gpu"  # what the warning is about

    safe = shlex.split(safe_set_resources("gpu"))
    kept = plan(tmp_path, tiny_source, "--profile", PROFILE, *SITE, *safe)
    assert warnings(kept) == []
    for rule in ("mftl", "scratch", "pretrain"):
        resources = _job_resources(kept, rule)
        assert (resources["gpu"], resources["cpus_per_task"], resources["slurm_partition"]) == ("1", "4", "gpu")


def _job_resources(output: str, rule: str) -> dict[str, str]:
    """The resources Snakemake's dry run prints for the first job of ``rule``."""
    block = re.search(rf"rule {rule}:\n(.*?)\n\n", output, re.S)
    assert block, f"no job of rule {rule}"
    line = re.search(r"resources: (.*)", block.group(1))
    return dict(item.split("=", 1) for item in line.group(1).split(", "))


@pytest.mark.parametrize("rule", TRAINING_RULES)
def test_the_safe_command_names_every_training_rule(rule):
    assert f"{rule}:gpu=1 {rule}:cpus_per_task=4" in safe_set_resources()


def test_docs_cluster_shows_the_safe_command_the_warning_names():
    text = (REPO / "docs" / "cluster.md").read_text()
    block = text.split("**A partition for the trainings on the command line**")[1].split("```bash\n")[1].split("```")[0]
    words = shlex.split(block.replace("\\\n", " "))
    given = words[words.index("--set-resources") :]
    assert given == shlex.split(safe_set_resources("gpu"))
