"""Hostile input, part 3: what planning (``snakemake -n``) refuses, naming the key, the frame or the id."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_snakemake, tiny_config
from mftl.planning.config import ConfigError, check_config

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def _config() -> dict:
    """The tiny config, a deep copy (tiny_config shares the fidelity entries of conftest's FIDELITIES)."""
    return copy.deepcopy(tiny_config(Path("x.extxyz")))


def _checked(config: dict) -> dict:
    return check_config(copy.deepcopy(config), SCHEMA)


def _plan(tmp_path: Path, config: dict):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    return result, result.stdout + result.stderr


# ---- 1. numbers that are not finite -------------------------------------------------------------


def _set(path: str, value):
    def mutate(config):
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return mutate


@pytest.mark.parametrize(
    "mutate, key",
    [
        (_set("datasets.tiny.targets.energy_meV_atom", math.nan), "datasets.tiny.targets.energy_meV_atom"),
        (_set("datasets.tiny.targets.energy_meV_atom", math.inf), "datasets.tiny.targets.energy_meV_atom"),
        (_set("datasets.tiny.targets.forces_meV_A", [100, math.nan]), "datasets.tiny.targets.forces_meV_A[1]"),
        (_set("datasets.tiny.targets.max_extrapolation", math.inf), "datasets.tiny.targets.max_extrapolation"),
        (_set("labelling.max_failure_fraction", math.nan), "labelling.max_failure_fraction"),
        (_set("datasets.tiny.fidelities.ref.e0s.H", math.nan), "datasets.tiny.fidelities.ref.e0s.H"),
        (
            _set("datasets.tiny.fidelities.ref.cost.per_config_s", math.inf),
            "datasets.tiny.fidelities.ref.cost.per_config_s",
        ),
        (_set("training.scratch.lr", -math.inf), "training.scratch.lr"),
    ],
)
def test_a_number_that_is_not_finite_is_refused_naming_the_key(mutate, key):
    """YAML's .nan passes every bound of the schema (a NaN compares false); .inf passes exclusiveMinimum."""
    config = _config()
    mutate(config)
    with pytest.raises(ConfigError, match=re.escape(f"config key '{key}': ") + "-?(nan|inf) is not a finite number"):
        _checked(config)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_a_mace_float_flag_written_as_nan_or_inf_text_is_refused(value):
    """`lr: nan` in YAML is the text 'nan', which mace's float() reads as NaN."""
    config = _config()
    config["training"]["finetune"]["lr"] = value
    with pytest.raises(ConfigError, match="config key 'training.finetune.lr': '--lr' expects a finite number"):
        _checked(config)


def test_snakemake_dry_run_refuses_a_nan_target_and_a_nan_failure_fraction(tmp_path, tiny_source):
    config = tiny_config(tiny_source, targets={"energy_meV_atom": math.nan})
    result, output = _plan(tmp_path, config)
    assert ".nan" in (tmp_path / "config.yaml").read_text()
    assert result.returncode != 0
    assert "config key 'datasets.tiny.targets.energy_meV_atom': nan is not a finite number" in output, output[-2000:]

    config = tiny_config(tiny_source)
    config["labelling"]["max_failure_fraction"] = math.nan
    result, output = _plan(tmp_path, config)
    assert result.returncode != 0
    assert "config key 'labelling.max_failure_fraction': nan is not a finite number" in output, output[-2000:]
    assert not (tmp_path / "results").exists()


# ---- 5. a pre-training's max_epochs ---------------------------------------------------------------


def test_a_pretraining_max_epochs_is_refused_pointing_at_epoch_caps():
    config = _config()
    config["training"]["pretrain"]["max_epochs"] = 5
    with pytest.raises(ConfigError, match="config key 'training.pretrain.max_epochs': .*epoch_caps"):
        _checked(config)
    del config["training"]["pretrain"]["max_epochs"]
    _checked(config)


# ---- 3. a dataset name too long for the file names built from it ---------------------------------


def _renamed(name: str) -> dict:
    config = _config()
    config["datasets"] = {name: config["datasets"]["tiny"]}
    return config


def test_a_dataset_name_too_long_for_its_file_names_is_refused_stating_the_limit(tmp_path):
    """The longest file name built from a dataset's name is the temporary file of its conversion summary,
    .<name>.summary.json.<8 random characters>.tmp: 27 bytes beside the name, of a file name's 255."""
    with pytest.raises(
        ConfigError, match=f"config key 'datasets.{'a' * 40}...': a dataset name of 300 characters .* 228"
    ):
        _checked(_renamed("a" * 300))
    with pytest.raises(ConfigError, match="a dataset name of 229 characters is longer than 228"):
        _checked(_renamed("b" * 229))
    _checked(_renamed("c" * 228))
    # the name that passes fits: every file the convert job writes, beside its temporary file
    from mftl.atomic import write_text_atomic

    folder = tmp_path / "resources" / "datasets"
    write_text_atomic(folder / f"{'c' * 228}.summary.json", "{}")
    with pytest.raises(OSError, match="File name too long"):
        write_text_atomic(folder / f"{'c' * 229}.summary.json", "{}")
