"""Planning of the stability checks (issue 33): which models a dataset checks, the data each check reads,
the config key's defaults and refusals, and the demo's dry run (mftl.planning.stability_plan through Campaign)."""

from __future__ import annotations

import copy
import dataclasses
import re

import pytest
import yaml

from conftest import REPO, full_tiny_config, run_snakemake, tiny_config
from mftl import paths
from mftl.evaluation.stability_settings import StabilitySettings
from mftl.planning.campaign import Campaign
from mftl.planning.config import ConfigError, check_config
from mftl.planning.stability_plan import PLANNING_DEFAULTS

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def _checked(config: dict) -> dict:
    return check_config(copy.deepcopy(config), SCHEMA)


@pytest.fixture(scope="module")
def demo():
    return Campaign(_checked(yaml.safe_load((REPO / "config/config.yaml").read_text())), REPO)


def _checked_runs(campaign: Campaign, dataset: str) -> set[tuple[str, str]]:
    return {(run.method, run.tag) for run in campaign.stability_runs(dataset)}


def test_the_demo_checks_every_route_of_demo_at_its_largest_size_and_no_other_dataset(demo):
    scratch_mftl = {("scratch", f"n60_s{s}") for s in (0, 1, 2)} | {("mftl", f"p1000_e12_n60_s{s}") for s in (0, 1, 2)}
    one_seed = {
        ("delta", "n60_s0"),
        ("foundation", "demo_analog_n60_s0"),
        ("foundation_multihead", "demo_analog_n60_s0"),
    }
    assert _checked_runs(demo, "demo") == scratch_mftl | one_seed
    assert demo.stability_results("demo") == [paths.stability("demo", m, t) for m, t in _runs_in_order(demo)]
    assert demo.stability_runs("demo_foundation") == demo.stability_runs("demo_ccsdt") == []
    assert demo.stability_targets("demo_ccsdt") == [] and demo.stability_targets("demo_foundation") == []
    targets = demo.figure_targets()
    assert {paths.table("demo", "stability"), *paths.figure_files("demo", "stability")} <= set(targets)
    assert not [t for t in targets if "stability" in t and not t.startswith("results/demo/")], targets


def _runs_in_order(campaign: Campaign) -> list[tuple[str, str]]:
    return [(run.method, run.tag) for run in campaign.model_runs("demo") if run.meta["train_size"] == 60]


def test_start_data_of_each_route_of_the_demo(demo):
    """mftl: demo's low-fidelity test labels; a foundation trained by the campaign: its dataset's high-fidelity
    test labels; a chain: its last stage's dataset and fidelity; scratch and Delta: none."""
    assert demo.stability_start_data("demo", "mftl", "p1000_e12_n60_s1") == (
        "results/demo/labels/test.gfn1.extxyz",
        "gfn1",
    )
    foundation = ("results/demo_foundation/labels/test.pbe0.extxyz", "pbe0")
    assert demo.stability_start_data("demo", "foundation", "demo_analog_n60_s0") == foundation
    assert demo.stability_start_data("demo", "foundation_multihead", "demo_analog_n60_s0") == foundation
    assert demo.stability_start_data("demo_ccsdt", "chain_triple", "n20_s0") == (
        "results/demo/labels/test.pbe0.extxyz",
        "pbe0",
    )
    assert demo.stability_start_data("demo", "scratch", "n60_s0") is None
    assert demo.stability_start_data("demo", "delta", "n60_s0") is None
    assert demo.stability_base_labeller("demo") == ("tblite", {"method": "GFN1-xTB"})


def _keys_only(config: dict) -> dict:
    """Every fidelity read from keys (a user's own labels, no labeller), as `mftl init` writes without one."""
    for ds in config["datasets"].values():
        ds["fidelities"]["gfn1"] = {"energy_key": "ref_energy", "forces_key": "ref_forces"}
    return config


def test_a_user_config_without_labeller_checks_every_size_and_skips_what_it_lacks(tiny_source, tmp_path):
    """Own data, no labeller: Delta has no base labeller (its MD is skipped by the job), a foundation from a
    file has no start data; sizes: all checks every training size, the strategies too."""
    model = tmp_path / "foundation.model"
    model.write_bytes(b"")
    config = _keys_only(tiny_config(tiny_source, stability={"sizes": "all"}))
    ds = config["datasets"]["tiny"]
    ds["methods"] += ["foundation", "mftl_lora"]
    ds["foundation"] = "own"
    config["foundations"] = {"own": {"file": str(model)}}
    campaign = Campaign(_checked(config))
    checked = _checked_runs(campaign, "tiny")
    assert {tag for _, tag in checked if tag.endswith("n5_s0")} and {
        tag for _, tag in checked if tag.endswith("n10_s0")
    }
    assert checked == {(run.method, run.tag) for run in campaign.model_runs("tiny")}
    assert {method for method, _ in checked} == {"scratch", "mftl", "mftl_lora", "delta", "foundation"}
    assert campaign.stability_base_labeller("tiny") is None
    assert campaign.stability_start_data("tiny", "foundation", "own_n10_s0") is None
    assert campaign.stability_start_data("tiny", "mftl_lora", "p40_e3_n10_s0") == (
        "results/tiny/labels/test.gfn1.extxyz",
        "gfn1",
    )


def test_the_mftl_runs_mftl_auto_chooses_among_are_checked_under_their_own_method(tiny_source):
    config = tiny_config(tiny_source, methods=["scratch", "mftl_auto"], stability={})
    campaign = Campaign(_checked(config))
    checked = _checked_runs(campaign, "tiny")
    assert checked == {("scratch", "n10_s0"), ("mftl", "p40_e1_n10_s0"), ("mftl", "p40_e3_n10_s0")}
    without = Campaign(_checked(tiny_config(tiny_source, methods=["scratch"], stability={})))
    assert _checked_runs(without, "tiny") == {("scratch", "n10_s0")}


def test_disabled_checks_plan_no_job_table_or_figure(tiny_source):
    campaign = Campaign(_checked(full_tiny_config(tiny_source)))
    assert campaign.stability_runs("tiny")  # on by default
    config = full_tiny_config(tiny_source)
    for ds in config["datasets"].values():
        ds["stability"] = {"enabled": False}
    campaign = Campaign(_checked(config))
    assert all(campaign.stability_runs(d) == [] for d in config["datasets"])
    assert not [t for t in campaign.final_targets() if "stability" in t]


def test_an_absent_key_is_filled_with_the_settings_defaults(tiny_source):
    """The campaign (and the job's --settings) always see a full mapping, equal to StabilitySettings()."""
    config = tiny_config(tiny_source)
    del config["datasets"]["tiny"]["stability"]  # the tests' tiny datasets turn the checks off
    config = _checked(config)
    assert StabilitySettings.from_config(config["datasets"]["tiny"]["stability"]) == StabilitySettings()
    assert set(config["datasets"]["tiny"]["stability"]) == {f.name for f in dataclasses.fields(StabilitySettings)}
    defaults = dataclasses.asdict(StabilitySettings())
    assert PLANNING_DEFAULTS == {key: defaults[key] for key in PLANNING_DEFAULTS}
    partial = _checked(tiny_config(tiny_source, stability={"steps": 50}))["datasets"]["tiny"]["stability"]
    assert partial == {**defaults, "steps": 50}


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"sizes": "some"}, "sizes"),
        ({"temperature_K": -1}, "temperature_K"),
        ({"steps": 0}, "steps"),
        ({"repulsion_shrink": 1.0}, "repulsion_shrink"),
        ({"max_unstable_fraction": 1.5}, "max_unstable_fraction"),
        ({"repulsion_points": 2}, "repulsion_points"),
        ({"temperature": 300}, "temperature"),
    ],
)
def test_a_bad_stability_key_is_refused_naming_it(tiny_source, spec, key):
    with pytest.raises(ConfigError, match=re.escape(f"datasets.tiny.stability.{key}'")):
        _checked(tiny_config(tiny_source, stability=spec))


def test_snakemake_dry_run_refuses_a_bad_stability_key_before_any_job(tiny_source, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_source, stability={"temperature_K": -1})))
    result = run_snakemake(["-n", "--configfile", str(config)], tmp_path, timeout=300)
    assert result.returncode != 0
    assert "config key 'datasets.tiny.stability.temperature_K'" in result.stdout + result.stderr
    assert "rule " not in result.stdout


def test_dry_run_of_the_demo_plans_a_check_of_each_route_at_n60_and_the_table_and_figure(demo):
    result = run_snakemake(["-n", "-p", "--forceall", "--cores", "1"], REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _jobs(result.stdout)
    checks = {job["output"]: job for job in jobs if job["rule"] == "stability"}
    assert set(checks) == set(demo.stability_results("demo")) and len(checks) == 9
    assert not [path for path in checks if "demo_foundation" in path or "demo_ccsdt" in path]
    assert {job["output"] for job in jobs if job["rule"] in ("stability_table", "stability_figure")} == {
        paths.table("demo", "stability"),
        ", ".join(paths.figure_files("demo", "stability")),
    }
    mftl = checks[paths.stability("demo", "mftl", "p1000_e12_n60_s2")]
    assert "results/demo/labels/test.gfn1.extxyz" in mftl["input"]
    assert "--start-data=results/demo/labels/test.gfn1.extxyz --start-fidelity=gfn1" in mftl["shell"]
    delta = checks[paths.stability("demo", "delta", "n60_s0")]
    low = '--low-labeller=tblite --low-options=\'{"method": "GFN1-xTB"}\''
    assert f"{low} --delta" in delta["shell"] and low in mftl["shell"] and "--delta" not in mftl["shell"]
    assert (
        "--start-data" not in delta["shell"]
        and "--start-data" not in checks[paths.stability("demo", "scratch", "n60_s1")]["shell"]
    )
    advice = [job for job in jobs if job["rule"] == "advice"]
    with_table = [job["wildcards"] for job in advice if paths.table("demo", "stability") in job["input"]]
    assert with_table == ["dataset=demo"], advice


def _jobs(output: str) -> list[dict]:
    """Each job a dry run with -p prints: rule, input, output, wildcards, shell command."""
    jobs = []
    for block in re.split(r"\n(?=\[.*\]\n\s*rule \w+:)|\n(?=\s*rule \w+:)", output):
        rule = re.search(r"^\s*(?:\[.*\]\n\s*)?rule (\w+):", block, re.M)
        if not rule:
            continue
        fields = dict(re.findall(r"^\s+(input|output|wildcards): (.*)$", block, re.M))
        shell = re.search(r"^\s*(?:Shell command: )?(\S*python\S* -m mftl .*)$", block, re.M)
        jobs.append({"rule": rule.group(1), **fields, "shell": shell.group(1) if shell else ""})
    return jobs
