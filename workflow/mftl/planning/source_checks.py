"""Checks of a campaign against its source files, when Snakemake plans it.

A dataset without ``convert`` whose ``source`` does not exist is refused, naming the key
and the path. For every dataset whose ``source`` exists when planning (not one a ``convert``
job has yet to write), the split is drawn exactly as the split job will draw it,
from a cheap index of the file (:mod:`mftl.planning.source_index`), and the campaign is
refused, naming the config key, the file and example configuration ids, when

* a labeller cannot do an element of a configuration it would label;
* the test or validation set holds an element the training pool lacks;
* a training set (train size, seed) would lack an element of the test or
  validation set. This needs the high fidelity read from the source: labels a
  labeller computes may fail and change which configurations are drawn (as
  failed base labels do for Delta-learning), so that case is left to the
  training job;
* the file is not extxyz, ends inside a configuration, has a configuration of no
  atoms or a ``config_id`` twice, or the high fidelity's ``energy_key``/``forces_key``
  is absent or present without the other;
* one geometry (same species in the same order, positions equal to 1e-6 A) is in the
  file under several ids and its copies fall on different sides of the split (test,
  validation, training: the training and pre-training pools): a model would be tested
  or validated on a geometry it trained on. Copies on one side are a warning;
* a ``pretrain_geometries`` file holds an element the low fidelity's labeller cannot do or the
  test set lacks, or the geometry of a test or validation configuration;
* a training set's E0 fit has no prior (no ``e0s``, no labeller) and its
  compositions do not determine the reference energies of test or validation
  configurations (unless ``allow_undetermined_e0s``); the training job checks
  the same where planning cannot.

What cannot be known here is checked by the jobs: the split job (training pool),
the training job (the drawn training set against the validation set) and the
evaluation (the model's training data against the test set).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

from mftl.data.elements import EXAMPLES, coverage_problem, describe_ids, element_union, split_problem
from mftl.data.reference_energies import undetermined_compositions, undetermined_message
from mftl.data.splits import SplitError, make_split, subset
from mftl.methods import FOUNDATION_FINETUNINGS, PRETRAINED_METHODS
from mftl.planning.config import ConfigError
from mftl.planning.source_index import SourceFormatError, file_stamp, source_index, write_cache

#: a dataset passed these checks with these inputs: one empty file per digest (see :func:`_digest`)
PASSED_DIR = Path(".snakemake/mftl/checked")
#: bump when the checks change, so that earlier passes are not trusted
CHECKS_VERSION = 3

#: methods whose model is trained on a seeded subset of the dataset's high-fidelity training pool,
#: with the E0 fit of that subset (Delta-learning fits the difference of two fidelities)
POOL_TRAINED = ("scratch", *PRETRAINED_METHODS, *FOUNDATION_FINETUNINGS, "chain")


#: the sides of a split a geometry may be on once: a copy in the test set and one in a training pool
#: tests a model on its own training data (the pre-training pool may hold training-pool configurations)
SIDES = {"test": "test", "validation": "validation", "train_pool": "training", "pretrain_pool": "training"}


def check_sources(config: dict) -> None:
    """Raise ConfigError for the first problem found in a dataset whose source file exists; print its
    warnings (duplicate geometries on one side of the split) on stderr.

    A dataset that passed with the same config entry, source file (path, modification
    time, size) and labeller parameter folders is not checked again (its warnings are
    kept with the pass): for a source of millions of configurations the checks take
    seconds even with the index cached.
    """
    for name, ds in config["datasets"].items():
        if not Path(ds["source"]).is_file():
            if "convert" not in ds:  # a converted source is written by its convert job
                raise ConfigError(missing_source(name, ds["source"]))
            continue
        passed = PASSED_DIR / _digest(name, ds)
        if passed.exists():
            warnings = passed.read_text()
        else:
            warnings = "".join(f"WARNING: {warning}\n" for warning in check_dataset(name, ds))
            write_cache(passed, warnings.encode())
        sys.stderr.write(warnings)


def missing_source(name: str, source: str) -> str:
    """The refusal of a dataset whose ``source`` file does not exist (and no ``convert`` job writes it)."""
    where = "" if Path(source).is_absolute() else f" (a relative path is read from the working directory {Path.cwd()})"
    kind = "is not a file" if Path(source).exists() else "does not exist"
    return f"config key 'datasets.{name}.source': {source} {kind}{where}"


def _digest(name: str, ds: dict) -> str:
    """Everything the checks of one dataset depend on, hashed."""
    folders = []
    for spec in ds["fidelities"].values():  # DFTB+'s elements are the files of its skf_dir
        folder = (spec.get("options") or {}).get("skf_dir") or os.environ.get("DFTB_PREFIX")
        folders.append(file_stamp(folder) if folder and Path(folder).is_dir() else None)
    given = file_stamp(ds["pretrain_geometries"]) if "pretrain_geometries" in ds else None
    inputs = [CHECKS_VERSION, name, ds, file_stamp(ds["source"]), folders, given]
    return hashlib.sha1(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def check_dataset(name: str, ds: dict) -> list[str]:
    """The checks of the module docstring for dataset ``name`` (config entry ``ds``), its source read;
    returns the warnings."""
    where = f"datasets.{name}"
    source = ds["source"]
    hf = ds["fidelities"][ds["high_fidelity"]]
    select = ds.get("select")
    info_keys = {hf["energy_key"]} if "energy_key" in hf else set()
    array_keys = {hf["forces_key"]} if "forces_key" in hf else set()
    try:
        index = source_index(source, {select["key"]} if select else set(), info_keys, array_keys)
    except (SourceFormatError, UnicodeDecodeError) as err:
        raise ConfigError(f"config key '{where}.source': {err}") from None
    if not index.ids:
        raise ConfigError(f"config key '{where}.source': {source} contains no structures")
    _check_ids(where, source, index.ids)
    rows = _selected(index, select, f"{where}.select", source)
    _check_atoms(where, source, index, rows)
    if "energy_key" in hf:
        _check_label_keys(f"{where}.fidelities.{ds['high_fidelity']}", hf, index, rows, source)
    symbols = {index.ids[i]: index.symbols[i] for i in rows}
    hf_ids = [index.ids[i] for i in rows if "energy_key" not in hf or index.has(i, hf["energy_key"], hf["forces_key"])]
    try:
        split = make_split(
            hf_ids,
            [index.ids[i] for i in rows],
            ds["split"]["test"],
            ds["split"]["validation"],
            max(ds["train_sizes"]),
            ds["split"]["pretrain_pool"],
            ds["split"]["seed"],
        )
    except SplitError as err:
        raise ConfigError(f"config key '{where}.split': {err} (source {source})") from None
    parts = split.as_dict()
    warnings = _check_geometries(where, source, duplicate_geometries(index, rows), parts)
    _check_labellers(where, ds, source, {i: symbols[i] for ids in parts.values() for i in ids})
    problem = split_problem(parts, symbols, source)
    if problem:
        raise ConfigError(f"config key '{where}.split': {problem}")
    _check_given_elements(where, ds, {symbols[i] for i in parts["test"]})
    _check_given_copies(where, ds, index, rows, parts)
    lf = ds["fidelities"][ds["low_fidelity"]]
    only_delta_on_computed_base = set(ds["methods"]) <= {"delta"} and "labeller" in lf
    if "energy_key" in hf and not only_delta_on_computed_base:
        _check_training_sets(where, ds, parts, symbols, source)
        compositions = {index.ids[i]: dict(index.compositions[i]) for i in rows}
        _check_reference_energies(name, ds, parts, compositions)
    return warnings


def _check_ids(where: str, source: str, ids) -> None:
    """Every configuration has its own ``config_id`` (the split, labels and tables are keyed by it)."""
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        raise ConfigError(
            f"config key '{where}.source': {source} has duplicate config_id values: {describe_ids(repeated)} "
            "(each on more than one configuration); give every configuration its own config_id"
        )


def _check_atoms(where: str, source: str, index, rows: list[int]) -> None:
    """No configuration the campaign reads (``rows``) is empty: it would be labelled without failure and
    then fail every evaluation."""
    empty = [i for i in rows if not index.compositions[i]]
    if empty:
        frames = ", ".join(f"frame {i} (config_id {index.ids[i]})" for i in empty[:EXAMPLES])
        more = f", ... ({len(empty)} in all)" if len(empty) > EXAMPLES else ""
        raise ConfigError(
            f"config key '{where}.source': {source} has configuration(s) of no atoms: {frames}{more} "
            "(frames counted from 0); remove them from the file or drop them with select"
        )


def duplicate_geometries(index, rows: list[int]) -> list[list[int]]:
    """The config ids of each geometry (:func:`mftl.planning.source_index.geometry_key`) that two or more
    configurations of ``rows`` share, in file order."""
    by_geometry: dict[int, list[int]] = {}
    for i in rows:
        by_geometry.setdefault(index.geometries[i], []).append(index.ids[i])
    return [ids for ids in by_geometry.values() if len(ids) > 1]


def _check_geometries(where: str, source: str, copies: list[list[int]], parts: dict) -> list[str]:
    """Refuse copies of one geometry on different sides of the split (:data:`SIDES`); the warning for the
    others, naming the ids."""
    part_of: dict[int, list[str]] = {}
    for part, ids in parts.items():
        for i in ids:
            part_of.setdefault(i, []).append(part)
    crossing = [ids for ids in copies if len({SIDES[p] for i in ids for p in part_of.get(i, ())}) > 1]
    what = "the same geometry (species in the same order, positions equal to 1e-6 A)"
    if crossing:
        raise ConfigError(
            f"config key '{where}.source': {source} holds {what} under several config_ids that fall on different "
            f"sides of the split, so a model would be tested or validated on a geometry it trained on: "
            f"{_placed(crossing, part_of)}; remove the copies from the file or drop them with select"
        )
    if not copies:
        return []
    return [f"{where}: {source} holds {what} under several config_ids: {_placed(copies, part_of)}"]


def _placed(copies: list[list[int]], part_of: dict) -> str:
    """``config_ids 3 (test), 57 (train_pool, pretrain_pool); ...`` for the first few groups of copies."""
    shown = [
        "config_ids " + ", ".join(f"{i} ({', '.join(part_of.get(i, ['not drawn']))})" for i in ids)
        for ids in copies[:EXAMPLES]
    ]
    more = f"; ... ({len(copies)} geometries in all)" if len(copies) > EXAMPLES else ""
    return "; ".join(shown) + more


def has_prior(ds: dict, fidelity: str) -> bool:
    """Whether a fidelity's E0 fit starts from a prior: its ``e0s`` or its labeller's isolated atoms."""
    spec = ds["fidelities"][fidelity]
    return "e0s" in spec or "labeller" in spec


def checks_e0_span(ds: dict, delta: bool = False) -> bool:
    """Whether a high-fidelity training of dataset ``ds`` must refuse an E0 fit that leaves test or
    validation energies undetermined: no prior for its target (Delta: either fidelity) and no opt-in."""
    fidelities = [ds["high_fidelity"], ds["low_fidelity"]] if delta else [ds["high_fidelity"]]
    return not ds.get("allow_undetermined_e0s") and not all(has_prior(ds, f) for f in fidelities)


def _check_label_keys(key: str, hf: dict, index, rows: list[int], source: str) -> None:
    """The high fidelity's energy and forces keys exist in the file, and no configuration ``select`` keeps
    (``rows``) has one without the other."""
    energy, forces = hf["energy_key"], f"arrays:{hf['forces_key']}"
    with_energy = [index.ids[i] for i in rows if energy in index.keys[i]]
    with_forces = [index.ids[i] for i in rows if forces in index.keys[i]]
    all_keys = set().union(*index.keys)
    arrays = sorted(k.removeprefix("arrays:") for k in all_keys if k.startswith("arrays:"))
    info = sorted(k for k in all_keys if not k.startswith("arrays:"))
    for name, found, kind, present in (
        ("energy_key", with_energy, "info key", info),
        ("forces_key", with_forces, "array", arrays),
    ):
        if not found:
            raise ConfigError(
                f"config key '{key}.{name}': no configuration of {source} has the {kind} '{hf[name]}'"
                f" (the file's {kind}s:"
                f" {', '.join(present) or 'none'})"
            )
    energy_only, forces_only = set(with_energy) - set(with_forces), set(with_forces) - set(with_energy)
    for ids, has, lacks in ((energy_only, "energy_key", "forces_key"), (forces_only, "forces_key", "energy_key")):
        if ids:
            raise ConfigError(
                f"config key '{key}.{lacks}': configuration(s) {describe_ids(ids)} of {source} have '{hf[has]}'"
                f" but no '{hf[lacks]}': a label is never guessed; fix the file or drop them with select"
            )


def _check_reference_energies(name: str, ds: dict, parts: dict, compositions: dict) -> None:
    """Every training set's E0 fit determines the test and validation energies, or has a prior."""
    hf, lf = ds["high_fidelity"], ds["low_fidelity"]
    checked = [m for m in ds["methods"] if m in POOL_TRAINED and not has_prior(ds, hf)]
    base_from_file = "labeller" not in ds["fidelities"][lf]  # a computed base may fail: the training job checks
    if "delta" in ds["methods"] and base_from_file and not (has_prior(ds, hf) and has_prior(ds, lf)):
        checked.append("delta")
    if not checked or ds.get("allow_undetermined_e0s"):
        return
    problems = undetermined_points(ds, parts, compositions)
    if problems:
        fidelities = [hf, lf] if checked == ["delta"] else [hf]
        elements = sorted({e for c in compositions.values() for e in c})
        raise ConfigError(
            undetermined_message(name, fidelities, problems, checked, elements, _sizes_that_determine(ds, problems))
        )


def undetermined_points(ds: dict, parts: dict, compositions: dict, sizes=None) -> list[dict]:
    """Per (train size, seed) whose training compositions leave test or validation energies undetermined:
    the ids of those configurations (see :func:`mftl.data.reference_energies.undetermined_compositions`)."""
    pool = sorted(parts["train_pool"])  # as the training job draws from the labelled pool
    held_out = {part: sorted(parts[part]) for part in ("test", "validation")}
    problems = []
    for seed in ds["seeds"]:
        for size in sizes or ds["train_sizes"]:
            train = [compositions[i] for i in subset(pool, size, seed)]
            found = {
                part: [ids[k] for k in undetermined_compositions(train, [compositions[i] for i in ids])]
                for part, ids in held_out.items()
            }
            if found["test"] or found["validation"]:
                problems.append(
                    {
                        "size": size,
                        "seed": seed,
                        "test": found["test"],
                        "n_test": len(held_out["test"]),
                        "validation": found["validation"],
                        "n_validation": len(held_out["validation"]),
                    }
                )
    return problems


def _sizes_that_determine(ds: dict, problems: list[dict]) -> str:
    """' (sizes X, Y of the config determine them for every seed)' or ''."""
    bad = {p["size"] for p in problems}
    good = [size for size in sorted(ds["train_sizes"]) if size not in bad]
    return f" (size(s) {', '.join(map(str, good))} of the config determine them for every seed)" if good else ""


def _selected(index, select: dict | None, key: str, source: str) -> list[int]:
    """Rows of the index that ``select`` keeps, refused as :func:`mftl.data.datasets.select_frames` refuses."""
    rows = list(range(len(index.ids)))
    if not select:
        return rows
    lacking = [index.ids[i] for i in rows if select["key"] not in index.values[i]]
    if lacking:
        raise ConfigError(
            f"config key '{key}.key': configuration(s) {describe_ids(lacking)} of {source} "
            f"have no info key '{select['key']}'"
        )
    values = [index.values[i][select["key"]] for i in rows]
    listed = select.get("include", select.get("exclude"))
    absent = sorted(str(v) for v in set(listed) - set(values))
    if absent:
        which = "include" if "include" in select else "exclude"
        raise ConfigError(
            f"config key '{key}.{which}': no configuration of {source} has {select['key']} = "
            f"{', '.join(absent)} (present: {', '.join(sorted(map(str, set(values))))})"
        )
    keep = set(listed)
    return [i for i, v in zip(rows, values) if (v in keep) == ("include" in select)]


def _check_labellers(where: str, ds: dict, source: str, drawn: dict) -> None:
    """Every configuration the split draws may be labelled by every labelled fidelity."""
    from mftl.data.labellers import supported_elements

    for fidelity, spec in ds["fidelities"].items():
        if "labeller" not in spec:
            continue
        supported = supported_elements(spec["labeller"], spec.get("options"))
        unsupported = {}
        for cid, symbols in drawn.items():
            for symbol in set(symbols) - supported:
                unsupported.setdefault(symbol, []).append(cid)
        if unsupported:
            listing = "; ".join(
                f"{s} in configuration(s) {describe_ids(ids)}" for s, ids in sorted(unsupported.items())
            )
            raise ConfigError(
                f"config key '{where}.fidelities.{fidelity}.labeller': labeller '{spec['labeller']}' "
                f"does not support element(s) {', '.join(sorted(unsupported))} of {source}: {listing}"
            )


def _check_given_elements(where: str, ds: dict, test_symbols: set) -> None:
    """Every element of the ``pretrain_geometries`` file can be labelled by the low fidelity's labeller and is
    in the test set (an element the campaign never tests is pre-trained for nothing)."""
    if "pretrain_geometries" not in ds:
        return
    from mftl.data.labellers import supported_elements

    path, key = ds["pretrain_geometries"], f"config key '{where}.pretrain_geometries'"
    index = source_index(path)
    lf = ds["fidelities"][ds["low_fidelity"]]
    for lacking, what in (
        (supported_elements(lf["labeller"], lf.get("options")), f"the low fidelity's labeller '{lf['labeller']}'"),
        (element_union(test_symbols), "the test set"),
    ):
        frames = {i: sorted(set(s) - lacking) for i, s in enumerate(index.symbols) if set(s) - lacking}
        if frames:
            missing = sorted({e for elements in frames.values() for e in elements})
            raise ConfigError(
                f"{key}: {path} has element(s) {', '.join(missing)} that {what} lacks, in frame(s) "
                f"{list(frames)[:EXAMPLES]} (counted from 0)"
            )


def _check_given_copies(where: str, ds: dict, index, rows: list[int], parts: dict) -> None:
    """No configuration of the ``pretrain_geometries`` file is a test or validation configuration's geometry
    (:func:`mftl.planning.source_index.geometry_key`): a model would be tested or validated on a geometry it
    pre-trained on."""
    if "pretrain_geometries" not in ds:
        return
    held_out = {i: part for part in ("test", "validation") for i in parts[part]}
    held = {index.geometries[r]: index.ids[r] for r in rows if index.ids[r] in held_out}
    path = ds["pretrain_geometries"]
    copies = [(f, held[g]) for f, g in enumerate(source_index(path).geometries) if g in held]
    if copies:
        listing = ", ".join(f"frame {f} = config_id {i} ({held_out[i]})" for f, i in copies[:EXAMPLES])
        raise ConfigError(
            f"config key '{where}.pretrain_geometries': {path} holds the geometry of test or validation "
            f"configuration(s) of {ds['source']} (species in the same order, positions equal to 1e-6 A): {listing}"
            f"{f', ... ({len(copies)} in all)' if len(copies) > EXAMPLES else ''} (frames counted from 0); a model "
            "would be tested or validated on a geometry it pre-trained on: remove them from the file"
        )


def _check_training_sets(where: str, ds: dict, parts: dict, symbols: dict, source: str) -> None:
    """Each training set a model of the campaign draws holds every element of the test and validation sets."""
    pool = sorted(parts["train_pool"])  # as the training job draws from the labelled pool
    for seed in ds["seeds"]:
        for size in ds["train_sizes"]:
            drawn = element_union(symbols[i] for i in subset(pool, size, seed))
            for part in ("test", "validation"):
                problem = coverage_problem(
                    {i: symbols[i] for i in parts[part]},
                    drawn,
                    f"{part} set",
                    f"the training set of size {size}, seed {seed}, drawn from {source}",
                )
                if problem:
                    raise ConfigError(f"config key '{where}.train_sizes': {problem}")
