"""A bad config fails before any job starts, naming the key."""

import copy
import subprocess
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from conftest import BIN, REPO, env_with_venv, run_snakemake, tiny_config
from mftl.methods import FOUNDATION_METHODS, METHODS, PRETRAINED_METHODS, RUN_FOLDER_METHODS
from mftl.planning.config import ConfigError, check_config

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


#: config files that are overlays on another (snakemake --configfile BASE OVERLAY)
OVERLAYS = {
    "demo_full.yaml": "config.yaml",
    "demo_dftb.yaml": "config.yaml",
    "demo_strategies.yaml": "config.yaml",
    "demo_sampled.yaml": "config.yaml",
    "paper_extras.yaml": "paper.yaml",
}


def test_shipped_configs_are_valid():
    for path in (REPO / "config").glob("*.yaml"):
        config = yaml.safe_load(path.read_text())
        if path.name in OVERLAYS:  # merged as Snakemake merges several --configfile
            overlay, config = config, yaml.safe_load((REPO / "config" / OVERLAYS[path.name]).read_text())
            update_config(config, overlay)
        check_config(config, SCHEMA)


def test_the_schema_lists_exactly_the_methods_of_mftl_methods():
    """The schema (YAML, no Python) and mftl.methods name the same methods, in the same order."""
    schema = yaml.safe_load(SCHEMA.read_text())
    dataset = schema["definitions"]["dataset"]
    assert dataset["properties"]["methods"]["items"]["enum"] == list(METHODS)
    assert {*RUN_FOLDER_METHODS, *FOUNDATION_METHODS, *PRETRAINED_METHODS} <= set(METHODS)


def test_the_full_demo_overlay_plans_the_larger_grid():
    overlay = ["--configfile", "config/config.yaml", "config/demo_full.yaml"]
    plan = run_snakemake(["-n", "--forceall", "--cores", "1", *overlay], REPO, timeout=300)
    assert plan.returncode == 0, plan.stderr
    for target in (
        "results/demo/models/mftl/p1000_e3_n100_s1/training.json",
        "results/demo/eval/mftl_auto/p1000_n25_s0.json",
        "results/demo_ccsdt/models/chain_triple/n100_s1/training.json",
    ):
        assert target in plan.stdout, target


def test_defaults_are_filled():
    config = tiny_config(Path("x.extxyz"))
    del config["labelling"]
    checked = check_config(config, SCHEMA)
    assert checked["labelling"]["chunk_size"] == 1000


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(typo_key=1), "config key 'typo_key': unknown key"),
        (
            lambda c: c["datasets"]["tiny"].update(trian_sizes=[5]),
            "config key 'datasets.tiny.trian_sizes': unknown key",
        ),
        (
            lambda c: c["datasets"]["tiny"]["split"].update(test="ten"),
            "config key 'datasets.tiny.split.test': 'ten' is not of type 'integer'",
        ),
        (lambda c: c["datasets"]["tiny"].update(methods=["scratch", "magic"]), "config key 'datasets.tiny.methods.1'"),
        (lambda c: c["datasets"]["tiny"].update(seeds=[0, 0]), "config key 'datasets.tiny.seeds': .* non-unique"),
        (
            lambda c: c["datasets"]["tiny"].update(high_fidelity="ccsdt"),
            "config key 'datasets.tiny.high_fidelity': 'ccsdt' is not one of",
        ),
        (
            lambda c: c["datasets"]["tiny"]["fidelities"]["gfn1"].update(labeller="dftb"),
            "config key 'datasets.tiny.fidelities.gfn1.labeller': 'dftb' is not one of",
        ),
        (lambda c: c.update(device="gpu"), "config key 'device': 'gpu' is not one of"),
        (
            lambda c: c["datasets"]["tiny"].update(pretrain_sizes=[500]),
            "config key 'datasets.tiny.pretrain_sizes': \\[500\\] larger than",
        ),
        (
            lambda c: c["datasets"]["tiny"].update(epoch_caps=[]),
            "config key 'datasets.tiny.epoch_caps': needed by method",
        ),
        (  # tiny's parts: 10 test + 5 validation + 10 training pool + 40 pre-training pool
            lambda c: c["datasets"]["tiny"].update(comparison_sample=66),
            r"config key 'datasets.tiny.comparison_sample': 66 larger than the split's parts together \(65",
        ),
        (
            lambda c: c["datasets"]["tiny"].update(comparison_sample=0),
            "config key 'datasets.tiny.comparison_sample': 0 is less than the minimum of 1",
        ),
        (
            lambda c: c["training"]["finetune"].update(lrr=0.01),
            "config key 'training.finetune.lrr': mace_run_train has no option '--lrr'",
        ),
        (lambda c: c["model"].update(max_L="two"), "config key 'model.max_L': '--max_L' expects int, got 'two'"),
        (lambda c: c["training"]["scratch"].update(lr=True), "config key 'training.scratch.lr': '--lr' expects float"),
        (
            lambda c: c["datasets"]["tiny"].update(model={"default_dtype": "float16"}),
            "config key 'datasets.tiny.model.default_dtype': '--default_dtype' must be one of \\['float32', 'float64'\\]",
        ),
        (
            lambda c: c["training"]["pretrain"].update(ema="yes"),
            "config key 'training.pretrain.ema': '--ema' is a switch",
        ),
        (
            lambda c: c["training"]["scratch"].update(seed=3),
            "config key 'training.scratch.seed': '--seed' is set by mftl",
        ),
        (
            lambda c: c["datasets"]["tiny"].update(method_seeds={"delta": [0, 7]}),
            "config key 'datasets.tiny.method_seeds.delta': seed\\(s\\) \\[7\\] not among the dataset's seeds",
        ),
        (
            lambda c: c["datasets"]["tiny"].update(method_seeds={"foundation": [0]}),
            "config key 'datasets.tiny.method_seeds.foundation': 'foundation' is not among the dataset's methods",
        ),
    ],
)
def test_bad_config_names_the_key(mutate, message):
    config = copy.deepcopy(tiny_config(Path("x.extxyz")))
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        check_config(config, SCHEMA)


def _with_foundation_and_chain(config):
    config["datasets"]["tiny"]["methods"] += ["foundation", "foundation_multihead", "chain"]
    config["datasets"]["tiny"]["foundation"] = "analog"
    config["datasets"]["tiny"]["chains"] = {
        "triple": [{"dataset": "tiny", "fidelity": "gfn1", "size": 40, "epoch_cap": 3}]
    }
    config["foundations"] = {
        "analog": {
            "file": "analog.model",
            "replay": {"file": "replay.extxyz", "energy_key": "energy", "forces_key": "forces"},
        }
    }
    return config


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["datasets"]["tiny"].update(foundation="missing"),
            "config key 'datasets.tiny.foundation': 'missing' is not an entry of 'foundations'",
        ),
        (lambda c: c["datasets"]["tiny"].pop("foundation"), "config key 'datasets.tiny.foundation': needed by method"),
        (lambda c: c["foundations"]["analog"].pop("replay"), "config key 'foundations.analog.replay': multi-head"),
        (lambda c: c["foundations"]["analog"].update(name="small_off"), "config key 'foundations.analog'"),
        (lambda c: c["foundations"].update(other={"name": "tiny_off"}), "config key 'foundations.other.name'"),
        (
            lambda c: c["datasets"]["tiny"]["chains"]["triple"][0].update(fidelity="ref"),
            r"config key 'datasets.tiny.chains.triple\[0\].fidelity': a first stage with an epoch_cap pre-trains on "
            "the low fidelity",
        ),
        (
            lambda c: c["datasets"]["tiny"]["chains"]["triple"][0].update(epoch_cap=7),
            r"config key 'datasets.tiny.chains.triple\[0\]': size 40 / epoch_cap 7 must be among",
        ),
        (
            lambda c: c["datasets"]["tiny"]["chains"]["triple"].append(
                {"dataset": "tiny", "fidelity": "ref", "size": 11}
            ),
            r"config key 'datasets.tiny.chains.triple\[1\].size': 11 is larger than the training pool",
        ),
        (
            lambda c: c["datasets"]["tiny"]["chains"]["triple"].append(
                {"dataset": "nope", "fidelity": "ref", "size": 5}
            ),
            r"config key 'datasets.tiny.chains.triple\[1\].dataset': 'nope' is not a dataset",
        ),
        (lambda c: c["datasets"]["tiny"].pop("chains"), "config key 'datasets.tiny.chains': needed by method chain"),
        (lambda c: c["datasets"]["tiny"].update(select={"key": "molecule"}), "config key 'datasets.tiny.select'"),
        (
            lambda c: c["datasets"]["tiny"]["fidelities"]["ref"].update(cost={"per_config_s": 3}),
            "config key 'datasets.tiny.fidelities.ref.cost'",
        ),
    ],
)
def test_bad_foundation_chain_select_or_cost_names_the_key(mutate, message):
    config = _with_foundation_and_chain(copy.deepcopy(tiny_config(Path("x.extxyz"))))
    check_config(copy.deepcopy(config), SCHEMA)  # valid before the mutation
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        check_config(config, SCHEMA)


def test_snakemake_dry_run_refuses_a_bad_config_before_any_job(tmp_path):
    config = tiny_config(tmp_path / "missing.extxyz")
    config["datasets"]["tiny"]["split"]["tset"] = 10
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "bad.yaml")], tmp_path)
    assert result.returncode != 0
    assert "config key 'datasets.tiny.split.tset': unknown key" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("training.scratch", "lrr", 0.01, "config key 'training.scratch.lrr': mace_run_train has no option '--lrr'"),
        (
            "model",
            "num_channels",
            "sixteen",
            "config key 'model.num_channels': '--num_channels' expects int, got 'sixteen'",
        ),
    ],
)
def test_snakemake_dry_run_refuses_a_mace_flag_mace_would_refuse(tmp_path, tiny_source, section, key, value, message):
    """Refused when planning, not after splitting, labelling and a whole pre-training."""
    config = tiny_config(tiny_source)
    flags = config
    for part in section.split("."):
        flags = flags[part]
    flags[key] = value
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "bad.yaml")], tmp_path)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout, result.stderr[-2000:]
    assert not (tmp_path / "results").exists()


def check_config_command(cwd: Path, *configfiles: str) -> subprocess.CompletedProcess:
    """``mftl check-config`` run as a user runs it, in ``cwd``."""
    command = [str(BIN / "python"), "-m", "mftl", "check-config", *configfiles]
    return subprocess.run(command, cwd=cwd, env=env_with_venv(), capture_output=True, text=True, timeout=120)


BROKEN_YAML = "device: cpu\ndatasets:\n  tiny:\n    source: x.extxyz\n   methods: [scratch]\n"


def test_a_malformed_yaml_config_is_named_with_its_line(tmp_path):
    """The default config/config.yaml through the Snakefile, any file through `mftl check-config`.

    Snakemake 9.27 itself reads --configfile before the workflow and says only
    "Config file is not valid JSON or YAML" (the line shows with --verbose).
    """
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(BROKEN_YAML)
    result = run_snakemake(["-n"], tmp_path)
    assert result.returncode != 0
    assert "config/config.yaml: line 5, column 4: malformed YAML" in result.stdout + result.stderr, result.stderr[
        -2000:
    ]

    check = check_config_command(tmp_path, "config/config.yaml")
    assert check.returncode == 1
    assert "mftl check-config: error: config/config.yaml: line 5, column 4: malformed YAML" in check.stderr


def test_check_config_merges_files_as_snakemake_does_and_names_the_key(tmp_path, tiny_source):
    base = tiny_config(tiny_source)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump({"training": {"scratch": {"lrr": 0.1}}}))
    ok = check_config_command(tmp_path, "base.yaml")
    assert ok.returncode == 0 and "a valid campaign (tiny)" in ok.stdout, ok.stderr
    bad = check_config_command(tmp_path, "base.yaml", "overlay.yaml")
    assert bad.returncode == 1
    assert "config key 'training.scratch.lrr': mace_run_train has no option '--lrr'" in bad.stderr


def test_a_missing_source_file_is_refused_naming_the_key_and_the_path(tmp_path):
    """Not 'a valid campaign' by mftl check-config and not Snakemake's MissingInputException at planning:
    the key, the path and where a relative path is read from."""
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(tiny_config(Path("data/mine.extxyz"))))
    check = check_config_command(tmp_path, "my.yaml")
    message = (
        "config key 'datasets.tiny.source': data/mine.extxyz does not exist "
        f"(a relative path is read from the working directory {tmp_path})"
    )
    assert check.returncode == 1
    assert message in check.stderr
    result = run_snakemake(["-n", "--configfile", "my.yaml"], tmp_path)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "MissingInputException" not in result.stdout + result.stderr


def test_snakemake_lint_finds_nothing():
    """snakemake --lint on the demo and the paper campaign: no lint at all."""
    for args in ([], ["--configfile", str(REPO / "config/paper.yaml")]):
        result = run_snakemake(["--lint", *args], REPO)
        assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr, (
            result.stdout[-3000:] + result.stderr[-3000:]
        )
