"""A bad config fails before any job starts, naming the key."""

import copy
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_snakemake, tiny_config
from mftl.config import ConfigError, check_config

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def test_shipped_configs_are_valid():
    for path in (REPO / "config").glob("*.yaml"):
        check_config(yaml.safe_load(path.read_text()), SCHEMA)


def test_defaults_are_filled():
    config = tiny_config(Path("x.extxyz"))
    del config["labelling"]
    checked = check_config(config, SCHEMA)
    assert checked["labelling"]["chunk_size"] == 1000


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(typo_key=1), "config key 'typo_key': unknown key"),
        (lambda c: c["datasets"]["tiny"].update(trian_sizes=[5]), "config key 'datasets.tiny.trian_sizes': unknown key"),
        (lambda c: c["datasets"]["tiny"]["split"].update(test="ten"), "config key 'datasets.tiny.split.test': 'ten' is not of type 'integer'"),
        (lambda c: c["datasets"]["tiny"].update(methods=["scratch", "magic"]), "config key 'datasets.tiny.methods.1'"),
        (lambda c: c["datasets"]["tiny"].update(seeds=[0, 0]), "config key 'datasets.tiny.seeds': .* non-unique"),
        (lambda c: c["datasets"]["tiny"].update(high_fidelity="ccsdt"), "config key 'datasets.tiny.high_fidelity': 'ccsdt' is not one of"),
        (lambda c: c["datasets"]["tiny"]["fidelities"]["gfn1"].update(labeller="dftb"), "config key 'datasets.tiny.fidelities.gfn1.labeller': 'dftb' is not one of"),
        (lambda c: c.update(device="gpu"), "config key 'device': 'gpu' is not one of"),
        (lambda c: c["datasets"]["tiny"].update(pretrain_sizes=[500]), "config key 'datasets.tiny.pretrain_sizes': \\[500\\] larger than"),
        (lambda c: c["datasets"]["tiny"].update(epoch_caps=[]), "config key 'datasets.tiny.epoch_caps': needed by method"),
    ],
)
def test_bad_config_names_the_key(mutate, message):
    config = copy.deepcopy(tiny_config(Path("x.extxyz")))
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


def test_snakemake_lint_finds_nothing():
    """snakemake --lint on the demo and the paper campaign: no lint at all."""
    for args in ([], ["--configfile", str(REPO / "config/paper.yaml")]):
        result = run_snakemake(["--lint", *args], REPO)
        assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr, (
            result.stdout[-3000:] + result.stderr[-3000:])
