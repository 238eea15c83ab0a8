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


# ---- 2 and 4. the source: a frame of no atoms, an id twice, a geometry twice ----------------------


def _source_with(tmp_path: Path, frames) -> Path:
    from mftl.data.structures import write_structures

    path = tmp_path / "source.extxyz"
    write_structures(path, frames)
    return path


def _check(source: Path) -> list[str]:
    from mftl.planning.source_checks import check_dataset

    return check_dataset("tiny", _checked(tiny_config(source))["datasets"]["tiny"])


def test_a_frame_of_no_atoms_is_refused_naming_the_frame_and_its_id(tiny_source, tmp_path):
    """It passed planning and splitting, was 'labelled' with no failure, then every evaluation failed
    (zero-size array)."""
    from ase import Atoms

    from mftl.data.structures import read_structures

    frames = read_structures(tiny_source)
    cid = frames[7].info["config_id"]
    frames[7] = Atoms(info={"config_id": cid, "molecule": frames[7].info["molecule"]})
    source = _source_with(tmp_path, frames)
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"config key 'datasets.tiny.source': {source} has configuration(s) of no atoms: frame 7 (config_id {cid})"
        ),
    ):
        _check(source)


def test_a_config_id_twice_is_refused_naming_the_id(tiny_source, tmp_path):
    from mftl.data.structures import read_structures

    frames = read_structures(tiny_source)
    frames[5].info["config_id"] = frames[4].info["config_id"]
    source = _source_with(tmp_path, frames)
    with pytest.raises(ConfigError, match=f"{source} has duplicate config_id values: {frames[4].info['config_id']} "):
        _check(source)


def _split_job_parts(source: Path) -> dict[str, list[int]]:
    """The config ids of each part as the split job (mftl.data.splits.split_source) draws them."""
    from mftl.data.splits import split_source

    ds = tiny_config(source)["datasets"]["tiny"]
    sizes = {**ds["split"], "train_pool": max(ds["train_sizes"])}
    _, record = split_source(source, ("ref_energy", "ref_forces"), ds["select"], sizes, ds["split"]["seed"])
    return {part: record[part] for part in ("test", "validation", "train_pool", "pretrain_pool")}


def _with_copy(tiny_source: Path, tmp_path: Path, original_part: str, copy_part: str):
    """The tiny source with the geometry of a configuration of ``original_part`` copied onto one of the same
    molecule in ``copy_part`` (its own id and labels kept): the two ids."""
    from mftl.data.structures import read_structures

    parts = _split_job_parts(tiny_source)
    frames = read_structures(tiny_source)
    by_id = {a.info["config_id"]: a for a in frames}
    original = by_id[parts[original_part][0]]
    copy_id = next(
        i
        for i in parts[copy_part]
        if by_id[i].info["molecule"] == original.info["molecule"] and i != original.info["config_id"]
    )
    by_id[copy_id].positions = original.positions.copy()
    return _source_with(tmp_path, frames), original.info["config_id"], copy_id


def test_the_tiny_source_holds_no_geometry_twice(tiny_source):
    assert _check(tiny_source) == []


def test_a_test_geometry_copied_into_the_training_pool_is_refused_naming_both_ids(tiny_source, tmp_path):
    source, test_id, copy_id = _with_copy(tiny_source, tmp_path, "test", "train_pool")
    with pytest.raises(ConfigError) as refused:
        _check(source)
    message = str(refused.value)
    assert message.startswith(f"config key 'datasets.tiny.source': {source} holds the same geometry"), message
    assert "fall on different sides of the split" in message
    assert f"{test_id} (test)" in message and f"{copy_id} (train_pool" in message, message


def test_copies_on_one_side_of_the_split_are_a_warning_at_every_plan(tiny_source, tmp_path):
    """Two training-pool configurations of one geometry: no leak, a warning naming both ids, also when
    planning reuses the dataset's earlier pass."""
    source, first, second = _with_copy(tiny_source, tmp_path, "train_pool", "train_pool")
    for _ in range(2):
        result, output = _plan(tmp_path, tiny_config(source))
        assert result.returncode == 0, output[-2000:]
        assert f"WARNING: datasets.tiny: {source} holds the same geometry" in output, output[-2000:]
        assert f"{first} (train_pool" in output and f"{second} (train_pool" in output


def test_copies_are_found_to_1e_6_angstrom_and_species_order_counts(tmp_path):
    """geometry_key, through the index planning reads: positions equal after rounding to 1e-6 A are copies;
    a move of 1e-4 A, other species order or another lattice is another geometry."""
    from mftl.planning.source_index import scan

    def frame(cid, atoms, lattice=None):
        cell = f' Lattice="{lattice}" pbc="T T T"' if lattice else ""
        lines = [f"{s} {x} 0.0 0.0" for s, x in atoms]
        return "\n".join([str(len(atoms)), f"Properties=species:S:1:pos:R:3 config_id={cid}{cell}", *lines])

    water = [("O", "0.00000000"), ("H", "0.95700000"), ("H", "-0.23990000")]
    frames = [
        frame(0, water),
        frame(1, [("O", "0.000000001"), ("H", "0.957"), ("H", "-0.2399")]),  # the same, written otherwise
        frame(2, [("O", "0.0001"), *water[1:]]),
        frame(3, [water[1], water[0], water[2]]),
        frame(4, water, "5 0 0 0 5 0 0 0 5"),
        frame(5, water, "6 0 0 0 6 0 0 0 6"),
    ]
    (tmp_path / "f.extxyz").write_text("\n".join(frames) + "\n")
    keys = list(scan(tmp_path / "f.extxyz").geometries)
    assert keys[0] == keys[1]
    assert len(set(keys[1:])) == 5


# ---- 6. a tab in a --configfile -------------------------------------------------------------------


def _check_yaml(cwd: Path, *snakemake_args: str):
    import subprocess

    from conftest import BIN, env_with_venv

    command = [str(BIN / "python"), "-m", "mftl", "check-yaml", "--", *snakemake_args]
    return subprocess.run(command, cwd=cwd, env=env_with_venv(), capture_output=True, text=True, timeout=120)


def test_make_run_names_the_line_of_a_tab_in_a_configfile(tmp_path):
    """Snakemake parses --configfile before the Snakefile runs (the workflow cannot step in) and says only
    'Config file is not valid JSON or YAML'; make run, dryrun and report first run mftl check-yaml on
    their ARGS."""
    (tmp_path / "base.yaml").write_text("device: cpu\n")
    (tmp_path / "tab.yaml").write_text("device: cpu\ntraining:\n\tscratch: {max_epochs: 2}\n")
    bad = _check_yaml(tmp_path, "--cores", "2", "--configfile", "base.yaml", "tab.yaml", "-n")
    assert bad.returncode == 1
    assert "mftl check-yaml: error: tab.yaml: line 3, column 1: malformed YAML" in bad.stderr, bad.stderr
    assert "found character '\\t' that cannot start any token" in bad.stderr
    for args in (["--configfile=base.yaml"], ["--configfiles", "base.yaml", "--cores", "1"], ["-n"], []):
        assert _check_yaml(tmp_path, *args).returncode == 0, args
    assert _check_yaml(tmp_path, "--configfile=tab.yaml").returncode == 1

    import subprocess

    for target in ("run", "dryrun", "report"):
        plan = subprocess.run(
            ["make", "-n", "-C", str(REPO), target, "ARGS=--configfile tab.yaml"], capture_output=True, text=True
        ).stdout
        assert "-m mftl check-yaml -- --configfile tab.yaml" in plan.split("snakemake")[0], (target, plan)


def test_mftl_init_cuts_a_long_file_name_to_a_dataset_name_planning_accepts():
    from mftl.planning.starter_config import dataset_name

    assert dataset_name(f"{'a' * 250}.extxyz") == "a" * 228
    _checked(_renamed(dataset_name(f"{'a' * 250}.extxyz")))
