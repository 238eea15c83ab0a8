"""The campaign through real sbatch: profiles/slurm on a throwaway one-node SLURM cluster.

The cluster (tests/slurm/cluster.py) is installed with apt if needed and started
by hand for this module. That changes the system (packages, daemons as root), so
the two cluster tests are opt-in: they run only with ``MFTL_TEST_SLURM=1``
(``make test-slurm``; ``.ci/run`` sets it) and skip otherwise, naming how to run
them. Opted in, a machine that cannot run the cluster (not root, apt-get cannot
install the packages) fails them.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import BIN, REPO, env_with_venv, full_tiny_config, run_snakemake, tiny_config
from mftl.data.reference_energies import e0s_from_json, reference_energy
from mftl.data.structures import labels, read_structures
from mftl.planning.campaign import Campaign
from mftl.planning.config import check_config
from slurm.cluster import ClusterUnavailable, SlurmCluster

PROFILE = REPO / "profiles" / "slurm"
PROFILE_SETTINGS = yaml.safe_load((PROFILE / "config.v8+.yaml").read_text())
#: rules the profile gives a GPU
GPU_RULES = {rule for rule, res in PROFILE_SETTINGS["set-resources"].items() if res.get("gpu")}
#: rules the brief and the Snakefile keep in the Snakemake process
LOCAL_RULES = {"split", "collect", "curves", "figure"}
# one torch thread per tiny training on a 2-core machine (jobs still ask SLURM for the profile's 4 CPUs)
ONE_THREAD = ["--set-threads", *(f"{rule}=1" for rule in sorted(GPU_RULES))]
# the command line replaces the profile's default-resources whole (docs/cluster.md)
DEFAULTS = [f"{key}={value}" for key, value in PROFILE_SETTINGS["default-resources"].items()]
#: the environment variable that switches the real-SLURM tests on
OPT_IN = "MFTL_TEST_SLURM"
OPT_IN_NOTE = (
    f"real-SLURM tests are opt-in: as root they apt-get install slurm-wlm, munge, slurmdbd and "
    f"mariadb-server and start their daemons; run them with `make test-slurm` or {OPT_IN}=1"
)


def training_rules() -> set[str]:
    """Rules of the workflow whose time limit is a training's (workflow/rules/*.smk), and the rules
    made from one of them by `use rule <training> as <name> with:` (they inherit its resources)."""
    rules, derived = set(), {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^(?=(?:use )?rule \w+)", smk.read_text(), flags=re.M):
            name = re.match(r"rule (\w+):", block)
            if name and re.search(r"runtime\s*=\s*training_runtime", block):
                rules.add(name.group(1))
            use = re.match(r"use rule (\w+) as (\w+) with:", block)
            if use and "runtime" not in block:
                derived[use.group(2)] = use.group(1)
    while new := {name for name, base in derived.items() if base in rules and name not in rules}:
        rules |= new
    return rules


def test_profile_gives_every_training_rule_a_gpu_and_sets_no_site_names():
    assert PROFILE_SETTINGS["executor"] == "slurm" and PROFILE_SETTINGS["retries"] >= 1
    assert {"pretrain", "mftl", "scratch"} <= training_rules()
    assert GPU_RULES == training_rules()
    for rule in GPU_RULES:
        assert PROFILE_SETTINGS["set-resources"][rule]["cpus_per_task"] >= 1
        assert PROFILE_SETTINGS["set-threads"][rule] >= 1
    text = (PROFILE / "config.v8+.yaml").read_text()
    assert not re.search(r"^\s*slurm_(account|partition)\s*:", text, re.M), "site names stay commented out"
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        assert not re.search(r"slurm_(account|partition)", smk.read_text()), smk


def test_the_cluster_tests_are_opt_in_and_change_nothing_without_it(tmp_path):
    """Without MFTL_TEST_SLURM the cluster tests skip, naming how to run them, before any apt-get."""
    apt_calls = tmp_path / "apt-get.calls"
    stub = tmp_path / "bin" / "apt-get"  # stands in for apt-get on PATH: records a call, installs nothing
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\necho "$@" >> {apt_calls}\nexit 1\n')
    stub.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key != OPT_IN}
    env["PATH"] = f"{stub.parent}:{BIN}:{env['PATH']}"
    result = subprocess.run(
        [str(BIN / "pytest"), "-q", "-rs", "-p", "no:cacheprovider", "-m", "slurm", str(Path(__file__))],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 skipped" in result.stdout and result.stdout.count(OPT_IN_NOTE) == 2, result.stdout[-3000:]
    assert not apt_calls.exists(), apt_calls.read_text()


def test_profile_groups_each_model_with_its_evaluations_only(tiny_source, tmp_path):
    """A dry run of every method through the profile: each group job is one training and the evaluations of
    its model; pre-training, chain stages and labelling stay single jobs, and so do the scratch run that
    trains the foundation analog and the foundation fine-tunes that start from it. The stability checks
    (CPU jobs) join no training's group: up to eight of one dataset share a group job of their own."""
    config = tmp_path / "config.yaml"
    spec = full_tiny_config(tiny_source)
    spec["datasets"]["tiny"]["stability"] = {"sizes": "all"}  # 2 sizes x 13 models: more than one group of 8
    spec["datasets"]["tiny_foundation"]["stability"] = {}  # the checks' defaults: on
    config.write_text(yaml.safe_dump(spec))
    result = run_snakemake(["--profile", str(PROFILE), "--configfile", str(config), "-n"], tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    single, groups = printed_jobs(result.stdout)
    checks = [members for name, members in groups if name.startswith("stability_")]
    assert {name for name, _ in groups if name.startswith("stability_")} == {
        "stability_tiny",
        "stability_tiny_foundation",
    }
    assert all({rule for rule, _ in members} == {"stability"} and len(members) <= 8 for members in checks), checks
    checked = [fields["output"] for members in checks for _, fields in members]
    campaign = Campaign(check_config(spec, REPO / "workflow/schemas/config.schema.yaml"))
    expected = [path for dataset in spec["datasets"] for path in campaign.stability_results(dataset)]
    assert len(expected) > 16 and sorted(checked) == sorted(expected), checked
    assert len(checks) == math.ceil(len(campaign.stability_results("tiny")) / 8) + 1, checks
    runs = set()
    for name, members in groups:
        if name.startswith("stability_"):
            continue
        trainings = [fields["output"] for rule, fields in members if rule in GPU_RULES]
        assert len(trainings) == 1, (name, members)
        run = re.fullmatch(r"results/(\w+)/models/(\w+)/(\w+)/training\.json", trainings[0])
        assert run and name == f"model_{run.group(2)}", (name, trainings)
        dataset, method, tag = run.groups()
        evaluations = {fields["output"] for rule, fields in members if rule not in GPU_RULES}
        test, validation = (f"results/{dataset}/{part}/{method}/{tag}.json" for part in ("eval", "valid"))
        assert test in evaluations <= {test, validation}, (name, members)
        runs.add((dataset, method))
    alone = {rule for jobs in single.values() for rule, _ in jobs}
    assert {"pretrain", "chain_stage", "label"} <= alone and not {"evaluate", "evaluate_validation"} & alone, alone
    assert "stability" not in alone, alone
    assert not alone & (GPU_RULES - {"pretrain", "chain_stage"}), alone
    methods = {method for dataset, method in runs}
    assert {"mftl", "scratch", "delta", "foundation", "foundation_multihead"} <= methods, runs
    assert any(method.startswith("chain") for method in methods) and ("tiny_foundation", "scratch") in runs, runs


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running cluster for this module, only with ``MFTL_TEST_SLURM=1`` (skips otherwise); opted in,
    a machine that cannot run it (not root, no apt) fails."""
    if os.environ.get(OPT_IN) != "1":
        pytest.skip(OPT_IN_NOTE)
    cluster = SlurmCluster()
    # a `timeout` around pytest sends SIGTERM: make it unwind through the teardown below
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            cluster.start()
        except ClusterUnavailable as exc:
            pytest.fail(f"{OPT_IN}=1 but no local SLURM cluster: {exc}")
        yield cluster
    finally:
        cluster.stop()
        signal.signal(signal.SIGTERM, previous)
    assert not cluster.running_daemons()


def write_config(workdir: Path, source: Path, pretrain_batch_size: int | None = None, **overrides) -> Path:
    """The tiny campaign cut to one chain of trainings: label, pretrain, mftl, evaluate."""
    config = tiny_config(
        source, **{"train_sizes": [5], "epoch_caps": [2], "seeds": [0], "methods": ["mftl"], **overrides}
    )
    config["labelling"]["chunk_size"] = 40  # the 40-configuration pre-training pool is one label job
    # no stability checks: this campaign measures the training's group (the dry run above checks the checks' groups)
    config["datasets"]["tiny"]["stability"] = {"enabled": False}
    if pretrain_batch_size:
        config["training"]["pretrain"]["batch_size"] = pretrain_batch_size
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake_command(workdir: Path, config: Path, *extra: str, timeout: int) -> list[str]:
    return [
        "timeout",
        "--kill-after=30",
        str(timeout),
        str(BIN / "snakemake"),
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--profile",
        str(PROFILE),
        "--configfile",
        str(config),
        "--slurm-init-seconds-before-status-checks",
        "1",
        *ONE_THREAD,
        *extra,
    ]


def snakemake_env(cluster: SlurmCluster) -> dict[str, str]:
    """The venv first on PATH, then the SLURM programs; no SLURM_* variables of an outer job."""
    env = {**cluster.env(), "OMP_NUM_THREADS": "1"}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    return env


def failure_report(workdir: Path, cluster: SlurmCluster, output: str) -> str:
    logs = []
    for path in sorted((workdir / "results").rglob("*.log")) + sorted((workdir / ".snakemake").rglob("*.log")):
        if "slurm_logs" in str(path) or "results" in str(path):
            logs.append(f"--- {path.relative_to(workdir)}\n{path.read_text(errors='replace')[-2000:]}")
    return f"{output[-6000:]}\n{''.join(logs)[-8000:]}\n{cluster.jobs()}\n{cluster.log_tails()}"


def printed_jobs(output: str) -> tuple[dict[str, list[tuple[str, dict]]], list[tuple[str, list[tuple[str, dict]]]]]:
    """The jobs Snakemake printed (a run's or a dry run's output): Snakemake job id -> [(rule, fields), ...]
    of single jobs, one per attempt, and [(group name, [(rule, fields), ...]), ...] of group jobs, each in
    the order printed (a group's members are indented under "Group job <name>"). ``fields`` are the printed
    ones (input, output, wildcards, ...), with "resources" as a dict."""
    single, groups = defaultdict(list), []
    rule, fields, indent, in_group = None, {}, "", False
    for line in [*output.splitlines(), ""]:
        if rule and (match := re.match(rf"{indent}    (\w+): (.*)$", line)):
            fields[match.group(1)] = match.group(2)
            continue
        if rule and not re.match(r"\s+\[", line):  # a group member's timestamp does not end its group
            fields["resources"] = dict(item.split("=", 1) for item in fields.get("resources", "").split(", ") if item)
            if indent:
                groups[-1][1].append((rule, fields))
            elif "jobid" in fields:
                single[fields["jobid"]].append((rule, fields))
            rule = None
        if line[:1].strip():  # a line at column 0 ends a group block (an error report indents its rules too)
            in_group = False
        if match := re.match(r"(    )?(?:local)?rule (\w+):$", line):
            if in_group or not match.group(1):
                indent, rule, fields = match.group(1) or "", match.group(2), {}
        elif match := re.match(r"\[.*\] Group job (\S+) ", line):
            groups.append((match.group(1), []))
            in_group = True
    return single, groups


def submitted_jobs(output: str) -> dict[str, dict]:
    """SLURM job id -> {"group": group name or None, "members": [(rule, fields), ...]} (see printed_jobs)."""
    single, groups = printed_jobs(output)
    submitted = {}
    for job_id, slurm_id in re.findall(r"^Job (\S+) has been submitted with SLURM jobid (\d+)", output, re.M):
        if job_id.isdigit():
            submitted[slurm_id] = {"group": None, "members": [single[job_id].pop(0)]}
        else:  # a group job, named by a UUID: the group printed just before it, in the same order
            name, members = groups.pop(0)
            submitted[slurm_id] = {"group": name, "members": members}
    return submitted


def run_jobs(cluster: SlurmCluster, output: str) -> list[dict]:
    """sacct's records of this Snakemake run's jobs (the executor names them by its run ID), each with its
    group (None for a single rule), its rules and what Snakemake printed of them ("members", see printed_jobs) and
    its rules' names ("rules")."""
    run_id = re.search(r"SLURM run ID: (\S+)", output).group(1)
    printed = submitted_jobs(output)
    jobs = [job for job in cluster.jobs() if job["JobName"] == run_id]
    assert sorted(job["JobID"] for job in jobs) == sorted(printed), (jobs, printed)
    for job in jobs:
        job.update(printed[job["JobID"]])
        job["rules"] = sorted(rule for rule, _ in job["members"])
    return jobs


def time_limit(minutes: int) -> str:
    """sacct's Timelimit text of a limit in minutes."""
    days, rest = divmod(int(minutes), 24 * 60)
    return (f"{days}-" if days else "") + f"{rest // 60:02d}:{rest % 60:02d}:00"


def assert_request_matches(job: dict, cluster: SlurmCluster) -> None:
    """What SLURM granted is what Snakemake computed for the job, plus the profile's GPU and CPUs.

    A group job runs its training, then its evaluations: Snakemake adds the time limits of the two
    levels and gives the job the larger level's memory (the evaluations' added up)."""
    training = [(rule, fields["resources"]) for rule, fields in job["members"] if rule in GPU_RULES]
    levels = [
        [res for _, res in training],
        [fields["resources"] for rule, fields in job["members"] if rule not in GPU_RULES],
    ]
    levels = [level for level in levels if level]
    runtime = sum(max(int(res["runtime"]) for res in level) for level in levels)
    mem_mb = max(sum(int(res["mem_mb"]) for res in level) for level in levels)
    assert f"mem={mem_mb}M" in job["ReqTRES"], job
    assert job["Timelimit"] == time_limit(runtime), job
    if training:
        cpus = PROFILE_SETTINGS["set-resources"][training[0][0]]["cpus_per_task"]
        assert f"gres/gpu={cluster.gpus}" in job["AllocTRES"] and f"cpu={cpus}," in job["AllocTRES"], job
    else:
        assert "gres/gpu" not in job["AllocTRES"], job


def mace_test_rmse(results: Path, run: str, predictions: Path) -> tuple[float, float]:
    """Energy (meV/atom) and force (meV/A) RMSE of a model on the test set, computed here from
    mace_eval_configs' predictions and the model's fitted reference energies (not by ``mftl evaluate``)."""
    model_dir, test_file = results / "models" / run, results / "labels/test.ref.extxyz"
    subprocess.run(
        [
            str(BIN / "mace_eval_configs"),
            f"--configs={test_file}",
            f"--model={model_dir / 'model.model'}",
            f"--output={predictions}",
            "--device=cpu",
            "--default_dtype=float32",
        ],
        check=True,
        env=env_with_venv(),
        capture_output=True,
    )
    e0s = e0s_from_json(json.loads((model_dir / "e0s.json").read_text())["fit"])
    energy, forces = [], []
    for ref, pred in zip(read_structures(test_file), read_structures(predictions), strict=True):
        ref_energy, ref_forces = labels(ref, "ref")
        energy.append((pred.info["MACE_energy"] + reference_energy(ref, e0s) - ref_energy) / len(ref))
        forces.append((pred.arrays["MACE_forces"] - ref_forces).ravel())
    return 1000 * np.sqrt(np.mean(np.square(energy))), 1000 * np.sqrt(np.mean(np.square(np.concatenate(forces))))


@pytest.mark.slurm
def test_tiny_campaign_runs_through_sbatch_with_gpus_for_training(slurm_cluster, tiny_source, tmp_path):
    start = time.monotonic()
    # mftl_auto adds a validation of the fine-tuned model (select_cap picks the cap on it)
    config = write_config(tmp_path, tiny_source, methods=["mftl", "mftl_auto"])
    # site names on the command line, as docs/cluster.md shows
    site = [f"slurm_account={slurm_cluster.account}", f"slurm_partition={slurm_cluster.partition}"]
    result = subprocess.run(
        snakemake_command(tmp_path, config, "--default-resources", *DEFAULTS, *site, timeout=600),
        cwd=tmp_path,
        env=snakemake_env(slurm_cluster),
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, failure_report(tmp_path, slurm_cluster, output)

    results = tmp_path / "results/tiny"
    curves = pd.read_csv(results / "curves.csv")
    mftl = curves[curves.method == "mftl"]
    assert len(mftl) == 1
    row = mftl.iloc[0]
    assert (row.train_size, row.epoch_cap, row.n_test) == (5, 2, 10)
    # the errors the grouped job's evaluation reported are those of the model its training left
    energy_rmse, forces_rmse = mace_test_rmse(results, "mftl/p40_e2_n5_s0", tmp_path / "predictions.extxyz")
    assert row.energy_rmse_meV_atom == pytest.approx(energy_rmse, rel=1e-4)
    assert row.forces_rmse_meV_A == pytest.approx(forces_rmse, rel=1e-4)
    validation = json.loads((results / "valid/mftl/p40_e2_n5_s0.json").read_text())
    assert validation["n_test"] == 5 and validation["energy_rmse_meV_atom"] > 0
    assert curves[curves.method == "mftl_auto"].iloc[0].energy_rmse_meV_atom == row.energy_rmse_meV_atom

    jobs = run_jobs(slurm_cluster, output)
    rules = sorted({rule for job in jobs for rule in job["rules"]})
    # compute rules went through sbatch; localrules did not
    assert {"label", "pretrain", "mftl", "evaluate", "evaluate_validation"} <= set(rules), rules
    assert not LOCAL_RULES & set(rules), rules
    for job in jobs:
        assert job["State"] == "COMPLETED", job
        assert (job["Account"], job["Partition"]) == (slurm_cluster.account, slurm_cluster.partition), job
        assert_request_matches(job, slurm_cluster)
    # the profile's groups: the fine-tuning and both evaluations of its model were one SLURM job
    grouped = [job for job in jobs if job["group"]]
    assert [job["rules"] for job in grouped] == [["evaluate", "evaluate_validation", "mftl"]], jobs
    group = grouped[0]
    assert group["group"] == PROFILE_SETTINGS["groups"]["mftl"] == "model_mftl"
    assert group["Comment"] == f"rule_{group['group']}_{'_'.join(group['rules'])}", group  # SLURM's record
    assert len(jobs) == sum(len(job["members"]) for job in jobs) - 2  # the group: 1 SLURM job for 3 jobs of rules
    # alone: labelling, isolated atoms, the pre-training and its low-fidelity evaluation at its cap (fig. S1;
    # not grouped, so the fine-tuning need not wait for it: docs/cluster.md)
    alone = (["label"], ["atom_energies"], ["pretrain"], ["evaluate_pretrained"])
    assert all(job["rules"] in alone for job in jobs if not job["group"]), jobs
    # inside it, one step per rule (sacct): the training on the job's CPUs, then the evaluations after it
    training_step, *evaluation_steps = slurm_cluster.steps(group["JobID"])
    assert (
        len(evaluation_steps) == 2
        and f"cpu={PROFILE_SETTINGS['set-resources']['mftl']['cpus_per_task']}," in training_step["AllocTRES"]
    ), (training_step, evaluation_steps)
    for step in (training_step, *evaluation_steps):
        assert step["State"] == "COMPLETED", step
    assert all(step["Start"] >= training_step["End"] for step in evaluation_steps), (training_step, evaluation_steps)
    elapsed = ", ".join(f"{'+'.join(job['rules'])} {job['Elapsed']}" for job in jobs)
    print(f"\nSLURM campaign: {time.monotonic() - start:.0f} s; jobs: {elapsed}")


def checkpoint_sizes(run_dir: Path) -> dict[int, int]:
    """Epoch -> file size of mace's checkpoints in a run folder."""
    sizes = {}
    for path in (run_dir / "checkpoints").glob("*_epoch-*.pt"):
        match = re.search(r"_epoch-(\d+)\.pt$", path.name)
        try:
            if match:
                sizes[int(match.group(1))] = path.stat().st_size
        except FileNotFoundError:
            pass
    return sizes


def wait_for_checkpointed_pretrain(
    cluster: SlurmCluster, run_dir: Path, process: subprocess.Popen, min_epoch: int, timeout: float
) -> tuple[str, int]:
    """The SLURM id of the running pretrain job, just after mace saved a checkpoint of epoch >= ``min_epoch``.

    mace writes checkpoints in place; cancelling right after one is complete, an
    epoch before the next save, keeps the cancel from leaving a truncated one.
    """
    end = time.monotonic() + timeout
    job_id, previous = None, {}
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"snakemake ended ({process.returncode}) before pretrain checkpointed")
        if job_id is None:
            for line in cluster.run("squeue", "-h", "-o", "%i|%T|%k", check=False).stdout.split():
                jid, state, comment = line.split("|")
                if state == "RUNNING" and comment.startswith("rule_pretrain"):
                    job_id = jid
            time.sleep(0.2)
            continue
        sizes = checkpoint_sizes(run_dir)
        done = [e for e, size in sizes.items() if e >= min_epoch and size > 0 and previous.get(e) == size]
        if done and max(done) == max(sizes):
            return job_id, max(done)
        previous = sizes
        time.sleep(0.05)
    raise AssertionError(f"no running pretrain job with a checkpoint of epoch >= {min_epoch} in {timeout} s")


def wait_for_group_evaluation(cluster: SlurmCluster, process: subprocess.Popen, timeout: float) -> str:
    """The SLURM id of the running group job of the fine-tuned model, once its training step ended and an
    evaluation step runs."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"snakemake ended ({process.returncode}) before the group job evaluated")
        for line in cluster.run("squeue", "-h", "-o", "%i|%T|%k", check=False).stdout.split():
            job_id, state, comment = line.split("|")
            if state == "RUNNING" and comment.startswith(f"rule_{PROFILE_SETTINGS['groups']['mftl']}_"):
                steps = cluster.steps(job_id)
                if len(steps) >= 2 and steps[-1]["State"] == "RUNNING":
                    return job_id
        time.sleep(0.2)
    raise AssertionError(f"no group job reached its evaluation in {timeout} s")


@pytest.mark.slurm
def test_cancelled_training_is_retried_and_resumes_from_its_checkpoint(slurm_cluster, tiny_source, tmp_path):
    start = time.monotonic()
    # batches of 2 make an epoch (~0.4 s here) long next to a checkpoint save; the job runs ~15 s on
    # after the cancel point
    max_epochs = 40
    config = write_config(tmp_path, tiny_source, pretrain_batch_size=2, epoch_caps=[max_epochs])
    run_dir = tmp_path / "results/tiny/pretrain/p40_s0"
    output_file = tmp_path / "snakemake.out"
    with open(output_file, "w") as out:
        process = subprocess.Popen(
            snakemake_command(tmp_path, config, timeout=600),
            cwd=tmp_path,
            env=snakemake_env(slurm_cluster),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            job_id, epoch = wait_for_checkpointed_pretrain(slurm_cluster, run_dir, process, min_epoch=2, timeout=300)
            slurm_cluster.run("scancel", job_id)
            cancelled_at = time.monotonic() - start
            # then the group job of the fine-tuned model, in its evaluation
            group_id = wait_for_group_evaluation(slurm_cluster, process, timeout=300)
            slurm_cluster.run("scancel", group_id)
            process.wait(timeout=600)
        finally:
            if process.poll() is None:  # the test failed: Ctrl-C makes Snakemake cancel its jobs and exit
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    output = output_file.read_text()
    assert process.returncode == 0, failure_report(tmp_path, slurm_cluster, output)
    assert (tmp_path / "results/tiny/curves.csv").exists()

    jobs = run_jobs(slurm_cluster, output)
    assert all(job["State"] == "COMPLETED" for job in jobs if job["JobID"] not in (job_id, group_id)), jobs
    pretrain = sorted((job for job in jobs if job["rules"] == ["pretrain"]), key=lambda job: int(job["JobID"]))
    assert [job["State"].split()[0] for job in pretrain] == ["CANCELLED", "COMPLETED"], pretrain
    assert pretrain[0]["JobID"] == job_id and "Trying to restart job" in output
    for job in pretrain:
        assert_request_matches(job, slurm_cluster)
    # the retry is the next attempt: a training's time limit grows with it
    first, retry = (int(job["members"][0][1]["resources"]["runtime"]) for job in pretrain)
    assert retry > first, pretrain

    # the retried job's log (rewritten by the retry) shows mace resuming from the checkpoint
    log = (tmp_path / "results/tiny/logs/pretrain/p40_s0.log").read_text()
    loaded = re.search(r"Loading checkpoint: (\S+_epoch-(\d+)\.pt)", log)
    assert loaded, log[-5000:]
    resumed_epoch = int(loaded.group(2))
    # mftl.training.resume hands mace the checkpoint saved after epoch index N as that of N + 1, so that
    # mace's restart trains on from N + 1 instead of repeating N
    shifted = re.search(r"resuming after epoch index (\d+)", log)
    saved_epoch = int(shifted.group(1)) if shifted else resumed_epoch
    assert resumed_epoch - saved_epoch in (0, 1) and saved_epoch >= epoch >= 2
    assert Path(loaded.group(1)).name.startswith("mace_run-0_epoch-")
    trained = [int(e) for e in re.findall(r"Epoch (\d+):", log)]
    assert trained and trained[0] == resumed_epoch and trained[-1] == max_epochs - 1, trained
    # mace appends both runs to its own log: the retry starts from the weights the first run saved,
    # so its initial validation loss is the one the first run logged at that epoch
    mace_log = (run_dir / "logs" / "mace_run-0.log").read_text()
    first_run, retry = mace_log.split("Loading checkpoint:", 1)
    saved_loss = float(re.findall(rf"Epoch {saved_epoch}: .*?loss=([0-9.eE+-]+)", first_run)[-1])
    initial_loss = float(re.search(r"Initial: .*?loss=([0-9.eE+-]+)", retry).group(1))
    assert initial_loss == pytest.approx(saved_loss, rel=1e-5)
    info = yaml.safe_load((run_dir / "training.json").read_text())
    assert info["max_epochs"] == max_epochs

    # a group job is retried whole: Snakemake removed the outputs of all its jobs, so the retry trains
    # the model again before evaluating it (docs/cluster.md, "Fewer jobs")
    groups = sorted((job for job in jobs if job["group"]), key=lambda job: int(job["JobID"]))
    assert [(job["JobID"], job["State"].split()[0]) for job in groups] == [
        (group_id, "CANCELLED"),
        (groups[-1]["JobID"], "COMPLETED"),
    ], groups
    cancelled_steps, retried_steps = (slurm_cluster.steps(job["JobID"]) for job in groups)
    assert [step["State"] for step in cancelled_steps] == ["COMPLETED", "CANCELLED"], cancelled_steps
    assert [step["State"] for step in retried_steps] == ["COMPLETED"] * 2, retried_steps
    assert "Removing output files of failed job mftl" in output
    finetune_log = (tmp_path / "results/tiny/logs/mftl/p40_e40_n5_s0.log").read_text()
    assert "the previous run finished" in finetune_log, finetune_log[-3000:]
    for job in groups:
        assert_request_matches(job, slurm_cluster)
    print(
        f"\nSLURM fault test: cancelled job {job_id} at epoch {epoch} after {cancelled_at:.0f} s, "
        f"resumed at epoch {resumed_epoch}; group job {group_id} cancelled in its evaluation and retried; "
        f"total {time.monotonic() - start:.0f} s"
    )
