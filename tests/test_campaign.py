"""mftl.planning.campaign: the runs a config asks for, called without Snakemake, and checked against Snakemake's
own plan of the same config (bench/compare_dryruns.py records every job of a real dry run)."""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from conftest import PLACEHOLDER_E0S, REPO, env_with_venv, full_tiny_config, tiny_config
from mftl import paths
from mftl.planning.campaign import Campaign
from mftl.planning.config import check_config
from mftl.training.training_job import TrainingJob

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
#: training rule -> the stage whose options it passes (Delta: scratch's, with its own prior)
STAGES = {"scratch": "scratch", "pretrain": "pretrain", "mftl": "finetune", "finetune": "finetune"}
STAGES |= {"foundation": "finetune", "foundation_multihead": "multihead", "chain": "finetune"}


def _checked(config: dict) -> dict:
    return check_config(copy.deepcopy(config), SCHEMA)


def _recorder():
    """bench/compare_dryruns.py, which records every job of a real dry run."""
    spec = importlib.util.spec_from_file_location("compare_dryruns", REPO / "bench/compare_dryruns.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


@pytest.fixture(scope="module")
def demo_plan():
    """The demo config (every method: scratch, mftl, mftl_auto, delta, foundations, zero-shot, a chain) and
    every job of its real dry run, paths relative to the planning directory."""
    jobs = _recorder().record([str(REPO / "config/config.yaml")], [])
    text = yaml.safe_dump(jobs).replace("<workdir>/", "")
    config = _checked(yaml.safe_load((REPO / "config/config.yaml").read_text()))
    return config, yaml.safe_load(text)


def _outputs(jobs, rule=None) -> set[str]:
    return {path for job in jobs if rule in (None, job["rule"]) for path in job["output"]}


def test_the_campaign_names_the_models_snakemake_plans_to_train_and_test(demo_plan):
    config, jobs = demo_plan
    campaign = Campaign(config, REPO)
    models = {paths.evaluation(d, run.method, run.tag) for d in config["datasets"] for run in campaign.model_runs(d)}
    assert models == _outputs(jobs, "evaluate")
    curves = {job["wildcards"]["dataset"]: set(job["input"]) for job in jobs if job["rule"] == "curves"}
    assert curves == {d: set(campaign.evaluation_results(d)) for d in config["datasets"]}
    every_output = _outputs(jobs)
    assert {"mftl_auto", "chain_triple", "foundation_zeroshot", "foundation_multihead", "delta"} <= {
        re.match(r"results/[^/]+/eval/([^/]+)/", path).group(1)
        for d in config["datasets"]
        for path in campaign.evaluation_results(d)
    }
    (final,) = [job for job in jobs if job["rule"] == "all"]
    assert sorted(final["input"]) == sorted(campaign.final_targets())
    # what the costs are charged from: every run and benchmark is a job of the plan
    benchmarks = {job["benchmark"] for job in jobs if job["benchmark"]}
    for d in config["datasets"]:
        records = campaign.cost_records(d)
        assert records["runs"] and set(records["runs"]) <= every_output, d
        assert records["benchmarks"] and set(records["benchmarks"]) <= benchmarks, d


def _input_files(job) -> set[str]:
    inputs = job["input"] if isinstance(job["input"], dict) else {"_list": job["input"]}
    return {path for value in inputs.values() for path in (value if isinstance(value, list) else [value])}


def _check_trainings(campaign: Campaign, jobs: list[dict]) -> list[dict]:
    """Each training rule passes the campaign's TrainingJob of its wildcards, intact through the shell, with
    the options of its stage; every file the job names is an input of the rule, or lies in the folder of an
    input run (the pre-training run, the chain's previous stage, the foundation the campaign trains)."""
    trainings = [job for job in jobs if job["rule"] in (*STAGES, "delta", "chain_stage")]
    for job in trainings:
        planned = campaign.training_job(job["rule"], job["wildcards"])
        assert job["params"]["job"] == planned.to_json(), job["output"]
        argv = shlex.split(job["shell"].split(" train ", 1)[1].split(" > ")[0])
        assert TrainingJob.from_json(argv[argv.index("--job") + 1]) == planned
        if job["rule"] != "chain_stage":
            stage = campaign.stage_options(job["wildcards"]["dataset"], STAGES.get(job["rule"], "scratch"))
            assert {name: getattr(planned, name) for name in stage} == stage
        inputs = _input_files(job)
        for name, path in planned.files().items():
            runs = {f"{path}/training.json", f"{os.path.dirname(path)}/training.json"}
            assert path in inputs or runs & inputs, (job["rule"], name, path)
        assert planned.files()["train_pool"] == job["input"]["pool"]
    return trainings


def test_every_training_runs_its_campaign_job_whose_files_are_its_inputs(demo_plan):
    config, jobs = demo_plan
    trainings = _check_trainings(Campaign(config, REPO), jobs)
    assert {job["rule"] for job in trainings} >= {"scratch", "pretrain", "delta", "foundation", "chain"}


def test_chain_stages_and_replay_files_are_planned_from_the_campaign_too(tiny_source, tmp_path):
    """The tiny campaign's chain stage and multi-head fine-tunings (the analog's own training data, a replay
    file of the config, which is the job's input)."""
    config = full_tiny_config(tiny_source)
    config["datasets"]["tiny"]["foundation"] = ["analog", "other"]
    replay = tmp_path / "replay.extxyz"
    for path in (tmp_path / "other.model", replay):
        path.write_text("")
    config["foundations"]["other"] = {
        "file": str(tmp_path / "other.model"),
        "replay": {"file": str(replay), "energy_key": "e", "forces_key": "f"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    jobs = yaml.safe_load(
        yaml.safe_dump(_recorder().record([str(tmp_path / "config.yaml")], [])).replace("<workdir>/", "")
    )
    trainings = _check_trainings(Campaign(_checked(config), REPO), jobs)
    assert {job["rule"] for job in trainings} >= {"chain_stage", "foundation_multihead"}
    other = [j for j in trainings if j["rule"] == "foundation_multihead" and j["wildcards"]["foundation"] == "other"]
    assert len(other) == 2 and all(job["input"]["replay"] == str(replay) for job in other)


def test_the_epoch_cap_reaches_mace(demo_plan):
    """The pre-training epoch cap, config -> campaign -> rule -> `mftl train`: a pre-training runs to the
    largest cap and serves every cap; a fine-tuning starts from the pre-training run at its own cap."""
    config, jobs = demo_plan
    for job in jobs:
        if job["rule"] not in (*STAGES, "delta", "chain_stage"):
            continue
        planned = TrainingJob.from_json(job["params"]["job"])
        caps = sorted(config["datasets"][job["wildcards"]["dataset"]].get("epoch_caps", []))
        if job["rule"] == "pretrain":
            assert planned.max_epochs == caps[-1] and planned.serve_caps == tuple(caps)
        if "cap" in job["wildcards"] and job["rule"] != "pretrain":
            assert planned.init_cap == int(job["wildcards"]["cap"])
            assert f"{planned.init_from}/training.json" in _outputs(jobs, "pretrain")
            assert job["input"]["pretrained"] == f"{planned.init_from}/training.json"


def test_user_data_without_isolated_atoms_gets_no_prior_and_given_e0s_transfer_the_binding(tmp_path):
    source = tmp_path / "mine.extxyz"
    config = tiny_config(source)
    config["datasets"]["tiny"]["fidelities"]["ref"].pop("e0s")
    config["datasets"]["tiny"]["fidelities"]["gfn1"] = {"energy_key": "gfn1_energy", "forces_key": "gfn1_forces"}
    campaign = Campaign(_checked(config))
    assert campaign.e0_prior("tiny", "ref") is None and campaign.e0_prior("tiny", "gfn1") is None
    assert campaign.scratch_job("tiny", 5, 0).prior is None
    pretrain = campaign.pretrain_job("tiny", 40, 0)
    assert (pretrain.prior, pretrain.serve_caps, pretrain.max_epochs, pretrain.device) == (None, (1, 3), 3, "cpu")

    given = copy.deepcopy(config)
    for fidelity in ("ref", "gfn1"):
        given["datasets"]["tiny"]["fidelities"][fidelity]["e0s"] = dict(PLACEHOLDER_E0S)
    campaign = Campaign(_checked(given))
    assert campaign.transfers_binding("tiny", "ref") and not campaign.transfers_binding("tiny", "gfn1")
    assert campaign.e0_prior("tiny", "ref") == paths.e0_prior("tiny", "ref")
    assert campaign.e0_prior("tiny", "gfn1") == paths.atom_energies("tiny", "gfn1")
    # a Delta model's prior is the high fidelity's isolated atoms alone
    assert campaign.delta_job("tiny", 5, 0).prior == paths.atom_energies("tiny", "ref")
    assert campaign.scratch_job("tiny", 5, 0).prior == paths.e0_prior("tiny", "ref")
    no_pool = copy.deepcopy(given)
    no_pool["datasets"]["tiny"]["split"]["pretrain_pool"] = 0
    no_pool["datasets"]["tiny"]["methods"] = ["scratch"]
    for key in ("pretrain_sizes", "epoch_caps"):
        no_pool["datasets"]["tiny"].pop(key)
    assert not Campaign(_checked(no_pool)).transfers_binding("tiny", "ref")


def test_sizes_seeds_and_caps_multiply_and_unknown_models_are_refused(tmp_path):
    config = tiny_config(tmp_path / "mine.extxyz", seeds=[0, 1, 2], train_sizes=[5, 10], epoch_caps=[1, 3, 7])
    campaign = Campaign(_checked(config))
    runs = campaign.model_runs("tiny")
    by_method = {m: sum(1 for r in runs if r.method == m) for m in {r.method for r in runs}}
    assert by_method == {"scratch": 3 * 2, "delta": 3 * 2, "mftl": 3 * 2 * 1 * 3}
    assert len(campaign.auto_cap_runs("tiny")) == 3 * 2
    assert len(campaign.pretrained_evaluations("tiny")) == 1 * 3 * 3
    assert campaign.run_metadata("tiny", "mftl", paths.mftl_tag(40, 7, 10, 2))["epoch_cap"] == 7
    with pytest.raises(ValueError, match="no model mftl/p40_e5_n10_s2 in dataset tiny"):
        campaign.run_metadata("tiny", "mftl", paths.mftl_tag(40, 5, 10, 2))
    with pytest.raises(ValueError, match="datasets.tiny.foundation does not list 'mace_mp'"):
        campaign.foundation_spec("tiny", "mace_mp")


def test_method_seeds_run_a_route_with_fewer_seeds_and_pre_train_for_every_mftl_seed(tmp_path):
    config = tiny_config(tmp_path / "mine.extxyz", seeds=[0, 1, 2], train_sizes=[5, 10], epoch_caps=[1, 3])
    config["datasets"]["tiny"]["method_seeds"] = {"delta": [1]}
    campaign = Campaign(_checked(config))
    seeds = {
        m: sorted({r.meta["seed"] for r in campaign.model_runs("tiny") if r.method == m})
        for m in ("scratch", "delta", "mftl")
    }
    assert seeds == {"scratch": [0, 1, 2], "delta": [1], "mftl": [0, 1, 2]}
    assert sum(1 for r in campaign.model_runs("tiny") if r.method == "delta") == 2
    assert sorted({s for _, _, s in campaign.pretrained_points("tiny")}) == [0, 1, 2]
    # mftl_auto with one seed and mftl with two: the mftl runs (and pre-trainings) serve both
    config["datasets"]["tiny"]["method_seeds"] = {"mftl": [0, 1], "mftl_auto": [2]}
    campaign = Campaign(_checked(config))
    assert campaign.seeds("tiny", "mftl") == [0, 1, 2]
    assert sorted({meta["seed"] for _, meta in campaign.auto_cap_runs("tiny")}) == [2]


def test_planning_imports_no_analysis_code():
    """The campaign (what planning imports) loads neither pandas nor the tables, plots or cost code."""
    code = "import sys, mftl.planning.campaign; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env_with_venv(), "PYTHONPATH": str(REPO / "workflow")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    analysis = {
        "pandas",
        "matplotlib",
        "mftl.analysis.tables",
        "mftl.report.plots",
        "mftl.analysis.costs",
        "mftl.analysis.paper_comparison",
    }
    assert "mftl.planning.campaign" in out and not analysis & set(out)
