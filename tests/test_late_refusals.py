"""Refusals that came late or named the wrong thing now come when planning, naming key and file
(issue 24, item 2): label keys, half-labelled frames, truncated or non-extxyz sources, mace's
scheduler, tblite's method, and a pre-training size that labelling failures may leave without data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import molecule

from conftest import REPO, run_snakemake, tiny_config
from mftl.data.structures import set_labels, write_structures
from mftl.planning.config import ConfigError, check_config
from mftl.planning.source_checks import check_dataset

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def _write_source(path: Path, n: int = 60, drop=None) -> Path:
    """``n`` configurations of three molecules with ref labels; ``drop(atoms)`` may remove one of them."""
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        name = ("CH3OH", "CH3CHO", "H3CNH2")[i % 3]
        atoms = molecule(name)
        atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
        atoms.info.update(config_id=i, molecule=name)
        set_labels(atoms, "ref", -100.0 * len(atoms) + rng.normal(), rng.normal(size=(len(atoms), 3)))
        if drop:
            drop(atoms)
        frames.append(atoms)
    write_structures(path, frames)
    return path


def _dataset(source: Path, **fidelity) -> dict:
    config = tiny_config(source)
    config["datasets"]["tiny"].pop("select")
    config["datasets"]["tiny"]["fidelities"]["ref"].update(fidelity)
    return check_config(config, SCHEMA)["datasets"]["tiny"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "energy_key",
            "ref_enrgy",
            "'datasets.tiny.fidelities.ref.energy_key': no configuration of {source} has "
            "the info key 'ref_enrgy' (the file's info keys: config_id, molecule, pbc, ref_energy)",
        ),
        (
            "forces_key",
            "forces",
            "'datasets.tiny.fidelities.ref.forces_key': no configuration of {source} has the "
            "array 'forces' (the file's arrays: pos, ref_forces, species)",
        ),
    ],
)
def test_a_misspelt_label_key_is_named_with_the_keys_the_file_has(tmp_path, key, value, message):
    source = _write_source(tmp_path / "s.extxyz")
    with pytest.raises(ConfigError) as refused:
        check_dataset("tiny", _dataset(source, **{key: value}))
    assert str(refused.value) == "config key " + message.format(source=source)


def test_a_frame_with_forces_but_no_energy_or_the_reverse_is_refused(tmp_path):
    def no_energy(atoms):
        if atoms.info["config_id"] in (7, 31):
            del atoms.info["ref_energy"]

    source = _write_source(tmp_path / "a.extxyz", drop=no_energy)
    with pytest.raises(
        ConfigError,
        match=r"'datasets.tiny.fidelities.ref.energy_key': configuration\(s\) 7, 31 of "
        f"{source} have 'ref_forces' but no 'ref_energy'",
    ):
        check_dataset("tiny", _dataset(source))

    def no_forces(atoms):
        if atoms.info["config_id"] == 12:
            del atoms.arrays["ref_forces"]

    source = _write_source(tmp_path / "b.extxyz", drop=no_forces)
    with pytest.raises(ConfigError, match=r"'datasets.tiny.fidelities.ref.forces_key': configuration\(s\) 12 of "):
        check_dataset("tiny", _dataset(source))


def test_a_truncated_source_names_the_truncation_and_the_frame(tmp_path):
    source = _write_source(tmp_path / "s.extxyz")
    lines = source.read_text().splitlines(keepends=True)
    assert lines[-9].strip() == "7"  # the last frame: H3CNH2, 7 atoms, 9 lines
    truncated = tmp_path / "last.extxyz"
    truncated.write_text("".join(lines[:-2]))
    with pytest.raises(ConfigError) as refused:
        check_dataset("tiny", _dataset(truncated))
    assert str(refused.value) == (
        f"config key 'datasets.tiny.source': {truncated}: truncated: frame 59 (from line {len(lines) - 8}) declares 7"
        " atoms but the file ends after 5"
    )
    # cut in the middle of the third atom line of frame 30 (as an interrupted copy leaves it)
    start = 0
    for _ in range(30):  # each frame: a count line, a comment line, its atom lines
        start += 2 + int(lines[start])
    cut = start + 4
    middle = tmp_path / "middle.extxyz"
    middle.write_text("".join(lines[:cut]) + lines[cut][:15])
    with pytest.raises(ConfigError) as refused:
        check_dataset("tiny", _dataset(middle))
    assert str(refused.value).startswith(
        f"config key 'datasets.tiny.source': {middle}: not extxyz or truncated: line {cut + 1} (frame 30) is not an"
        " atom line of 7 columns"
    )


def test_a_text_file_as_source_is_refused_at_planning_without_traceback(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my PBE0 data, see the group wiki\nenergies in eV\n")
    config = tiny_config(notes)
    config["datasets"]["tiny"].pop("select")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["-n", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"config key 'datasets.tiny.source': {notes}: not extxyz: line 1 (frame 0) should hold the number of atoms"
        " of a configuration, not 'my PBE0 data, see the group wiki'"
    ) in output
    assert "Traceback" not in output and "source_index.py" not in output


def test_mace_scheduler_and_tblite_method_are_checked_at_planning(tmp_path):
    """mace's parser has no choices for --scheduler (its LRScheduler refuses an unknown one when training
    starts); tblite refuses an unknown method when labelling. Both against the tools' own tables."""
    import torch
    from mace.tools.scripts_utils import LRScheduler
    from tblite.interface import Calculator

    source = _write_source(tmp_path / "s.extxyz")
    config = tiny_config(source)
    config["training"]["scratch"]["scheduler"] = "Exponential"
    with pytest.raises(
        ConfigError,
        match=r"config key 'training.scratch.scheduler': '--scheduler' must be one of "
        r"\['ExponentialLR', 'ReduceLROnPlateau'\], got 'Exponential'",
    ):
        check_config(config, SCHEMA)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    args = type("Args", (), {"optimizer": "adam", "lr_scheduler_gamma": 0.9, "lr_factor": 0.8, "scheduler_patience": 5})
    for name in ("ExponentialLR", "ReduceLROnPlateau"):  # what the check accepts, mace accepts
        args.scheduler = name
        LRScheduler(optimizer, args)
    args.scheduler = "Exponential"
    with pytest.raises(RuntimeError, match="Unknown scheduler"):
        LRScheduler(optimizer, args)

    config = tiny_config(source)
    config["datasets"]["tiny"]["fidelities"]["gfn1"]["options"] = {"method": "GFN3-xTB"}
    with pytest.raises(
        ConfigError,
        match=r"config key 'datasets.tiny.fidelities.gfn1.options.method': tblite has no "
        r"method 'GFN3-xTB' \(known: .*GFN1-xTB.*\)",
    ):
        check_config(config, SCHEMA)
    assert "GFN3-xTB" not in Calculator._loader and {"GFN1-xTB", "GFN2-xTB"} <= set(Calculator._loader)


def test_a_pretraining_size_equal_to_the_pool_trains_on_what_labelled_within_the_allowed_failures(tmp_path, capsys):
    """labelling.max_failure_fraction > 0 lets labels fail; a size equal to the pool then trains on every
    labelled configuration and says so, instead of failing after all labelling ('size 10 is larger than
    the pool (9 configurations)'). A shortfall the report does not explain is still refused."""
    from mftl.data.splits import SplitError, subset
    from mftl.training.steps import draw

    pool = tmp_path / "pretrain_pool.gfn1.extxyz"
    labelled = [0, 1, 2, 3, 5, 6, 7, 8, 9]  # config 4 failed
    (tmp_path / "pretrain_pool.gfn1.report.json").write_text(json.dumps({"n_total": 10, "n_failed": 1}))
    assert sorted(draw(labelled, 10, 0, pool)) == labelled
    assert draw(labelled, 10, 0, pool) == subset(labelled, 9, 0)
    assert "size 10: 1 configuration(s) of" in capsys.readouterr().out
    assert draw(labelled, 5, 0, pool) == subset(labelled, 5, 0)  # smaller sizes are drawn as before
    with pytest.raises(SplitError, match="size 11 is larger than the pool"):
        draw(labelled, 11, 0, pool)
    (tmp_path / "pretrain_pool.gfn1.report.json").unlink()
    with pytest.raises(SplitError, match="size 10 is larger than the pool"):
        draw(labelled, 10, 0, pool)
