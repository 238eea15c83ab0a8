"""A starter campaign for one's own extxyz file (``mftl init``).

Reads the file with ASE and writes a commented config that passes the planning checks
as it is: the high fidelity read from the energy (eV) and forces (eV/A) keys of the file,
GFN1-xTB (tblite, H to Rn) as low fidelity computed by the workflow, a split and training
sizes that fit the number of labelled configurations, the methods scratch, mftl and delta,
a small MACE model, the ``e0s`` of the high fidelity (the ``mftl atom-energies`` command
that computes them, or their values), and ``cost`` when a per-configuration cost key exists.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from mftl.data.datasets import load_source
from mftl.planning.config import SCHEMA, ConfigError, check_config, dataset_name_limit
from mftl.planning.runtime_estimate import campaign_seconds, sampling_seconds, wall_minutes

#: keys ASE's extxyz reader turns into calculator results (not kept in ``info``/``arrays``)
ASE_CALCULATOR_KEYS = ("energy", "free_energy", "forces", "stress", "virial", "dipole", "charges", "magmom")
#: info keys that name the molecule or system of a configuration, in order of preference
MOLECULE_KEYS = ("molecule", "mol", "molecule_name", "system", "name", "formula", "config_type")
#: the labeller of the starter's low fidelity and the elements it covers
LOW_FIDELITY = {"name": "gfn1", "labeller": "tblite", "options": {"method": "GFN1-xTB"}}
#: the largest pre-training pool of a starter campaign (GFN1-xTB labels: ~10 ms per small molecule)
MAX_PRETRAIN_POOL = {"first": 1000, "quick": 200}


class InitError(ValueError):
    """A file a starter config cannot be written for, with what to do."""


@dataclass
class FileSummary:
    """What ``mftl init`` found in a structure file."""

    path: str
    n_configs: int
    elements: list[str]
    energy_keys: list[str]
    forces_keys: list[str]
    cost_keys: list[str]
    molecule_key: str | None = None
    molecules: Counter = field(default_factory=Counter)
    periodic: bool = False
    calculator_keys: list[str] = field(default_factory=list)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def summarize(path: str | Path) -> tuple[FileSummary, list]:
    """The keys, elements and molecules of an extxyz file, and its frames (ASE, with ``config_id``)."""
    frames = load_source(path)
    info_counts: Counter = Counter()
    number_keys: set[str] = set()
    string_keys: set[str] = set()
    array_keys: Counter = Counter()
    calculator = set()
    for atoms in frames:
        for key, value in atoms.info.items():
            info_counts[key] += 1
            (number_keys if _is_number(value) else string_keys if isinstance(value, str) else set()).add(key)
        for key, value in atoms.arrays.items():
            if key not in ("numbers", "positions") and np.shape(value) == (len(atoms), 3):
                array_keys[key] += 1
        if atoms.calc is not None:
            calculator |= set(atoms.calc.results)
    number_keys.discard("config_id")
    energy = sorted(k for k in number_keys if "energy" in k.lower())
    forces = sorted(k for k in array_keys if "force" in k.lower() or "grad" in k.lower())
    cost = sorted(k for k in number_keys if re.search(r"(cpu|wall|time|cost|seconds|_s$)", k.lower()))
    cost = [k for k in cost if k not in energy and "temperature" not in k.lower()]
    summary = FileSummary(
        path=str(path),
        n_configs=len(frames),
        elements=sorted({s for a in frames for s in a.get_chemical_symbols()}, key=_atomic_number),
        energy_keys=energy,
        forces_keys=forces,
        cost_keys=cost,
        periodic=any(a.pbc.any() for a in frames),
        calculator_keys=sorted(calculator),
    )
    for key in MOLECULE_KEYS:
        if key in string_keys and info_counts[key] == len(frames):
            values = Counter(str(a.info[key]) for a in frames)
            if 1 < len(values) <= max(2, len(frames) // 2):
                summary.molecule_key, summary.molecules = key, values
                break
    return summary, frames


def _atomic_number(symbol: str) -> int:
    from ase.data import atomic_numbers

    return atomic_numbers[symbol]


def _choose(found: list[str], given: str | None, what: str, option: str, prefer: str | None = None) -> str:
    if given is not None:
        return given
    if prefer:
        matching = [k for k in found if k.split("_")[0] == prefer]
        if len(matching) == 1:
            return matching[0]
    if len(found) == 1:
        return found[0]
    if not found:
        raise InitError(f"no {what} key found; name it with {option}")
    raise InitError(f"several {what} keys ({', '.join(found)}): choose one with {option}")


def fidelity_name(energy_key: str) -> str:
    """A fidelity name (letters and digits, as the rules' wildcard) from an energy key: pbe0_energy -> pbe0."""
    stem = re.sub(r"(?i)[_-]?(total_)?energ(y|ies)[_-]?", "", energy_key)
    name = re.sub(r"[^A-Za-z0-9]", "", stem)
    if not name or not name[0].isalpha() or name.lower() == LOW_FIDELITY["name"]:
        return "high"
    return name


def dataset_name(path: str | Path) -> str:
    """The file's name as a dataset name: its characters outside letters, digits, _ and - as _, cut to the
    longest name planning accepts (:func:`mftl.planning.config.dataset_name_limit`)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", Path(path).name.split(".")[0])[: dataset_name_limit()].strip("_-")
    return name if name and name[0].isalnum() else "mydata"


def split_sizes(n_labelled: int, n_configs: int, preset: str) -> dict:
    """Test (20%), validation (10%, at least 2), training pool (the rest) of the labelled configurations,
    training sizes spaced by 3 down from the pool (at least 5), and a pre-training pool of the other
    configurations (at most :data:`MAX_PRETRAIN_POOL`)."""
    test = max(2, round(0.2 * n_labelled))
    validation = max(2, round(0.1 * n_labelled))
    pool = n_labelled - test - validation
    if pool < 5:
        raise InitError(
            f"{n_labelled} labelled configurations: too few for a test set ({test}), a validation set "
            f"({validation}) and a training set of at least 5"
        )
    sizes = sorted({max(5, round(pool / 3**k)) for k in range(3 if preset == "first" else 2)})
    pretrain_pool = min(n_configs - test - validation, MAX_PRETRAIN_POOL[preset])
    return {"test": test, "validation": validation, "train_sizes": sizes, "pretrain_pool": pretrain_pool}


MODEL = {
    "model": "MACE",
    "num_channels": 16,
    "max_L": 0,
    "correlation": 2,
    "num_interactions": 2,
    "r_max": 5.0,
    "default_dtype": "float32",
}
TINY_MODEL = {**MODEL, "num_channels": 8, "r_max": 4.0}
#: the settings that let a run end on a validation plateau (config/README.md, "Training to convergence"):
#: the learning rate halves after 60 optimiser steps without a better validation loss, early stopping after
#: 180 (at least 5 and 15 epochs); max_epochs is a safety net a converged run does not reach
CONVERGENCE = {
    "max_epochs": 1000,
    "scheduler_patience_steps": 60,
    "patience_steps": 180,
    "scheduler_patience": 5,
    "lr_factor": 0.5,
    "patience": 15,
}
TRAINING = {
    "first": {
        "pretrain": {"batch_size": 10, "lr": 0.01, "patience": 1000, "energy_weight": 1.0, "forces_weight": 10.0},
        "finetune": {**CONVERGENCE, "batch_size": 5, "lr": 0.005},
        "scratch": {**CONVERGENCE, "batch_size": 5, "lr": 0.01},
    },
    "quick": {
        "pretrain": {"batch_size": 10},
        "finetune": {"max_epochs": 3, "batch_size": 5},
        "scratch": {"max_epochs": 3, "batch_size": 5},
    },
}
for _stage in ("finetune", "scratch"):
    TRAINING["first"][_stage].update(energy_weight=1.0, forces_weight=10.0)


@dataclass
class Starter:
    """A starter campaign: the config and what the comments say about it."""

    config: dict
    summary: FileSummary
    n_labelled: int
    high: str
    e0s_command: str
    e0s_source: str | None
    cost_key: str | None
    notes: list[str]
    #: mean number of atoms of the file's configurations (the runtime estimate scales with it)
    atoms_per_config: float = 0.0


def build_starter(
    path: str | Path,
    energy_key: str | None = None,
    forces_key: str | None = None,
    *,
    preset: str = "first",
    e0s: dict[str, float] | None = None,
    e0s_source: str | None = None,
) -> Starter:
    """A campaign for ``path`` that passes the planning checks (schema, split, labeller elements,
    element coverage of every training set); :class:`InitError` when the file cannot give one."""
    from mftl.data.labellers import supported_elements
    from mftl.planning.source_checks import check_dataset

    summary, frames = summarize(path)
    if summary.calculator_keys and (energy_key in (None, "energy") or forces_key in (None, "forces")):
        raise InitError(
            f"{path}: ASE reads the key(s) {', '.join(summary.calculator_keys)} as a calculator's results, "
            "not as labels mftl can name; rename them in the file (e.g. energy= -> dft_energy=, "
            "forces:R:3 -> dft_forces:R:3 in every comment line) and run mftl init again"
        )
    energy_key = _choose(summary.energy_keys, energy_key, "energy-like info", "--energy-key")
    forces_key = _choose(
        summary.forces_keys, forces_key, "force-like per-atom array", "--forces-key", prefer=energy_key.split("_")[0]
    )
    labelled = [a for a in frames if energy_key in a.info and forces_key in a.arrays]
    if not labelled:
        raise InitError(f"{path}: no configuration carries both '{energy_key}' (info) and '{forces_key}' (arrays)")
    unsupported = sorted(set(summary.elements) - supported_elements(LOW_FIDELITY["labeller"]))
    if unsupported:
        raise InitError(
            f"{path}: element(s) {', '.join(unsupported)} are beyond GFN1-xTB (tblite, H to Rn); "
            "write the low fidelity by hand (config/README.md, 'A dataset')"
        )
    high = fidelity_name(energy_key)
    prefix = energy_key.split("_")[0]
    cost_keys = [k for k in summary.cost_keys if all(k in a.info for a in labelled)]
    cost_key = next((k for k in cost_keys if k.startswith(prefix) and "cpu" in k), None) or next(
        (k for k in cost_keys if k.startswith(prefix)), None
    )
    sizes = split_sizes(len(labelled), summary.n_configs, preset)
    high_spec: dict = {"energy_key": energy_key, "forces_key": forces_key}
    if cost_key:
        high_spec["cost"] = {"info_key": cost_key}
    if e0s:
        high_spec["e0s"] = {s: float(e0s[s]) for s in summary.elements}
    dataset = {
        "source": str(path),
        "fidelities": {high: high_spec, LOW_FIDELITY["name"]: {k: v for k, v in LOW_FIDELITY.items() if k != "name"}},
        "high_fidelity": high,
        "low_fidelity": LOW_FIDELITY["name"],
        "split": {
            "seed": 0,
            "test": sizes["test"],
            "validation": sizes["validation"],
            "pretrain_pool": sizes["pretrain_pool"],
        },
        "train_sizes": sizes["train_sizes"],
        "pretrain_sizes": [sizes["pretrain_pool"]],
        "epoch_caps": [12] if preset == "first" else [2],
        "seeds": [0, 1, 2] if preset == "first" else [0],
        "methods": ["scratch", "mftl", "delta"],
    }
    if preset == "quick":  # a first look: the stability checks as short as a quick training
        dataset["stability"] = dict(QUICK_STABILITY)
    name = dataset_name(path)
    config = {
        "device": "auto",
        "datasets": {name: dataset},
        "model": MODEL if preset == "first" else TINY_MODEL,
        "training": copy.deepcopy(TRAINING[preset]),
    }
    if preset == "first":  # one batch per validation pass: validating stays short beside the epoch's training
        for stage in ("finetune", "scratch"):
            config["training"][stage]["valid_batch_size"] = min(sizes["validation"], 100)
    notes = _fit_to_checks(config, name, check_dataset)
    atoms_command = (
        "mftl atom-energies --labeller pyscf --options "
        '\'{"method": "dft", "xc": "<functional>", "basis": "<basis>"}\' '
        f"--elements {' '.join(summary.elements)} --out {high}_atoms.json"
    )
    atoms = float(np.mean([len(a) for a in frames]))
    return Starter(config, summary, len(labelled), high, atoms_command, e0s_source, cost_key, notes, atoms)


def _fit_to_checks(config: dict, name: str, check_dataset) -> list[str]:
    """Run the planning checks; a training size that misses an element of the test set is dropped,
    a split that leaves one out of the training pool is redrawn with the next seed. Returns notes."""
    notes = []
    ds = config["datasets"][name]
    for _ in range(20):
        checked = check_config(copy.deepcopy(config), SCHEMA)
        try:
            check_dataset(name, checked["datasets"][name])
            return notes
        except ConfigError as err:
            message = str(err)
            if "train_sizes" in message and len(ds["train_sizes"]) > 1:
                notes.append(f"train size {ds['train_sizes'][0]} left out: {message}")
                ds["train_sizes"] = ds["train_sizes"][1:]
            elif ".split'" in message and "absent from the training pool" in message:
                ds["split"]["seed"] += 1
                notes.append(f"split seed {ds['split']['seed']}: seed {ds['split']['seed'] - 1} gave {message}")
            else:
                raise InitError(f"no starter campaign passes the planning checks: {message}") from None
    raise InitError("no starter campaign passes the planning checks after 20 attempts")


def _flow(value) -> str:
    """``value`` as inline YAML (a scalar without the document end marker ``...`` PyYAML adds)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()
    return text.removesuffix("\n...").strip()


def render(starter: Starter, command: str) -> str:
    """The starter campaign as commented YAML."""
    s, config = starter.summary, starter.config
    name, ds = next(iter(config["datasets"].items()))
    high, hf = starter.high, ds["fidelities"][starter.high]
    lines = [
        f"# Starter campaign written by: {command}",
        f"# {s.path}: {s.n_configs} configurations, {starter.n_labelled} with '{hf['energy_key']}' and "
        f"'{hf['forces_key']}'; elements {' '.join(s.elements)}" + ("; periodic cells" if s.periodic else ""),
        f"# energy-like info keys found: {', '.join(s.energy_keys) or 'none'}; force-like arrays: "
        f"{', '.join(s.forces_keys) or 'none'}; cost-like keys: {', '.join(s.cost_keys) or 'none'}",
    ]
    if s.molecule_key:
        listing = ", ".join(f"{m} ({n})" for m, n in sorted(s.molecules.items()))
        lines.append(f"# molecules (info key '{s.molecule_key}'): {listing}")
    lines += [
        "# Check it: mftl check-config <this file>; plan: snakemake -n --configfile <this file>;",
        "# run: make run ARGS='--configfile <this file>'. Every key is documented in config/README.md.",
        "# Relative paths (source) are read from the directory you run these commands in.",
        "",
        "device: auto   # cuda when torch sees a GPU, else cpu",
        "",
        "datasets:",
        f"  {name}:",
        f"    source: {_flow(ds['source'])}",
    ]
    if s.molecule_key:
        some = sorted(s.molecules)[:1]
        lines.append(f"    # select: {_flow({'key': s.molecule_key, 'exclude': some})}   # keep a subset of molecules")
    lines += [
        "    fidelities:",
        f"      {high}:   # the labels in the file: total energy (eV), forces (eV/A)",
        f"        energy_key: {_flow(hf['energy_key'])}",
        f"        forces_key: {_flow(hf['forces_key'])}",
    ]
    if starter.cost_key:
        lines.append(f"        cost: {{info_key: {starter.cost_key}}}   # seconds of each calculation, for costs.csv")
    else:
        lines += [
            "        # cost: {per_config_s: 60, source: 'my estimate'}   # seconds per label, for costs.csv;",
            "        #   or {info_key: <key>} when the file stores each calculation's seconds",
        ]
    if "e0s" in hf:
        lines += [
            f"        # E0 prior (eV): isolated atoms, {starter.e0s_source}",
            f"        e0s: {_flow(hf['e0s'])}",
        ]
    else:
        lines += [
            "        # E0 prior (eV): isolated-atom energies of the method that made these labels. Without it a",
            "        # test configuration whose composition the training set does not span has a meaningless",
            "        # energy error (the evaluation log says so). Compute them with the same method, e.g.",
            f"        #   {starter.e0s_command}",
            "        # (or mftl init ... --e0s-labeller pyscf --e0s-options '{...}' writes them here), then:",
            f"        # e0s: {_flow({el: 0.0 for el in s.elements})}",
        ]
    lines += [
        f"      {LOW_FIDELITY['name']}:   # low fidelity, computed by the workflow (tblite covers H to Rn)",
        f"        labeller: {LOW_FIDELITY['labeller']}",
        f"        options: {_flow(LOW_FIDELITY['options'])}",
        f"    high_fidelity: {high}",
        f"    low_fidelity: {LOW_FIDELITY['name']}",
        f"    # test and validation from the {starter.n_labelled} labelled configurations; pre-training pool "
        "(GFN1-xTB labels) from the others",
        f"    split: {_flow(ds['split'])}",
        f"    train_sizes: {_flow(ds['train_sizes'])}   # nested subsets of the training pool "
        f"({starter.n_labelled - ds['split']['test'] - ds['split']['validation']} configurations)",
        f"    pretrain_sizes: {_flow(ds['pretrain_sizes'])}",
        *sampling_lines(ds, starter.atoms_per_config),
        f"    epoch_caps: {_flow(ds['epoch_caps'])}   # pre-training epochs; several caps: add method mftl_auto",
        f"    seeds: {_flow(ds['seeds'])}",
        "    # more: mftl_auto, foundation, foundation_multihead, foundation_zeroshot, chain (config/README.md)",
        f"    methods: {_flow(ds['methods'])}",
        *stability_lines(ds),
    ]
    lines += [f"    # {note}" for note in starter.notes]
    lines += ["", "# a small MACE for a first run; raise num_channels, max_L and r_max for production", "model:"]
    lines += [f"  {k}: {_flow(v)}" for k, v in config["model"].items()]
    lines += [
        "",
        "# mace_run_train flags per stage. Fine-tuning and scratch train to convergence: the learning rate halves",
        "# after scheduler_patience epochs without a better validation loss, and a run ends after `patience`",
        "# validations without one; max_epochs is a safety net (config/README.md, 'Training to convergence').",
        "training:",
    ]
    lines += [f"  {stage}: {_flow(flags)}" for stage, flags in config["training"].items()]
    lines += ["", *runtime_lines(checked_dataset(config, name), starter.atoms_per_config)]
    return "\n".join(lines) + "\n"


#: the stability checks of the quick preset (schema defaults otherwise: 1,000 Langevin steps from two starts per molecule)
QUICK_STABILITY = {"steps": 100, "nve_steps": 50, "starts_per_molecule": 1}


def stability_lines(ds: dict) -> list[str]:
    """The dataset's ``stability`` (the quick preset's), or the defaults as a comment."""
    lines = [
        "    # does each route's potential run: Langevin MD from test molecules, pairs pulled together, forgetting",
        "    # (tables/stability.csv, advice.txt; config/README.md, stability); on by default",
    ]
    if "stability" in ds:
        return [*lines, f"    stability: {_flow(ds['stability'])}   # short: a first look, not a verdict"]
    return [*lines, "    # stability: {temperature_K: 300, steps: 1000, starts_per_molecule: 2}   # the defaults"]


#: a sampled pre-training pool this many times the largest training size (the paper pre-trains on 10-30 times)
SAMPLING_FACTOR = 20


def sampling_lines(ds: dict, atoms_per_config: float) -> list[str]:
    """A commented ``pretrain_sampling`` of :data:`SAMPLING_FACTOR` times the largest training size, with the
    CPU time of its MD (:func:`mftl.planning.runtime_estimate.sampling_seconds`)."""
    size = SAMPLING_FACTOR * max(ds["train_sizes"])
    spec = {"size": size, "temperature_K": 500}
    defaults = {"equilibration_steps": 50, "interval_steps": 10, "snapshots_per_trajectory": 10}
    seconds = sampling_seconds({**spec, **defaults}, atoms_per_config)
    took = f"{seconds / 60:.0f} CPU min" if seconds >= 60 else f"{seconds:.0f} CPU s"
    return [
        "    # a larger pre-training pool, sampled by GFN1-xTB MD from the training pool (never test or validation):",
        f"    # {size} configurations take about {took} of MD; then set pretrain_sizes: [{size}] (the",
        "    # pre-training grows with it) and split.pretrain_pool may be 0 (config/README.md, pretrain_sampling)",
        f"    # pretrain_sampling: {_flow(spec)}",
    ]


def checked_dataset(config: dict, name: str) -> dict:
    """The dataset entry with the schema's defaults filled in."""
    return check_config(copy.deepcopy(config), SCHEMA)["datasets"][name]


def runtime_lines(dataset: dict, atoms_per_config: float, cores: int = 2) -> list[str]:
    """The starter's expected runtime, as comment lines (:mod:`mftl.planning.runtime_estimate`)."""
    parts = campaign_seconds(dataset, atoms_per_config)
    detail = ", ".join(f"{part} {seconds / 60:.0f} min" for part, seconds in parts.items() if seconds)
    return [
        f"# Expected runtime on {cores} CPU cores: about {wall_minutes(parts, cores):.0f} min ({detail} of CPU;",
        f"# {atoms_per_config:.1f} atoms per configuration). Rates measured on the demo (docs/performance.md); a rough",
        "# guide within a factor of two: converged runs stop when their validation loss plateaus, not at a set epoch.",
    ]
