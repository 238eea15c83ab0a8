"""Checking a campaign config before any job starts; errors name the offending key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mftl import paths
from mftl.atomic import temporary_name
from mftl.methods import FOUNDATION_METHODS, MULTIHEAD_FINETUNINGS, PRETRAINED_METHODS, STRATEGY_FLAGS

#: the config's JSON schema (workflow/schemas/config.schema.yaml)
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


#: bytes one file name (path component) may hold: NAME_MAX of ext4, XFS, Btrfs, Lustre, GPFS and NFS
NAME_MAX = 255


class ConfigError(ValueError):
    """A config that cannot describe a campaign."""


def load_config_file(path: str | Path) -> dict:
    """A YAML (or JSON) config file as a dict; a malformed one is refused with its line and column.

    Snakemake 9 reads ``--configfile`` before the workflow and reports a parse error
    as "Config file is not valid JSON or YAML" without the line (it shows only with
    ``--verbose``); ``mftl check-config`` and the Snakefile's default config use this.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        what = "; ".join(str(part) for part in (err.context, err.problem) if part)
        raise ConfigError(f"{path}: {where}: malformed YAML ({what})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: malformed YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config is a mapping of keys (datasets, model, training, ...), not {type(data).__name__}"
        )
    return data


def merge_configs(base: dict, overlay: dict) -> dict:
    """``overlay`` merged into ``base`` key by key, as Snakemake merges several config files."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_configs(base[key], value)
        else:
            base[key] = value
    return base


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _fill_defaults(schema: dict, instance: Any, root: dict) -> None:
    """Fill ``default`` values of the schema into ``instance`` in place."""
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    if not isinstance(instance, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        if name not in instance and "default" in sub:
            instance[name] = sub["default"] if not isinstance(sub["default"], (dict, list)) else type(sub["default"])()
        if name in instance:
            _fill_defaults(sub, instance[name], root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name, value in instance.items():
            if name not in schema.get("properties", {}):
                _fill_defaults(extra, value, root)


def check_config(config: dict, schema_path: str | Path) -> dict:
    """Validate ``config`` against the JSON schema and the campaign's own rules; fill defaults."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    _check_finite(config)
    _check_replaced_keys(config)
    validator = jsonschema.Draft7Validator(schema)
    problems = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        if first.validator == "additionalProperties":
            unknown = sorted(set(first.instance) - set(first.schema.get("properties", {})))
            where = _key(list(first.absolute_path) + unknown[:1])
            raise ConfigError(
                f"config key '{where}': unknown key (allowed: {', '.join(sorted(first.schema.get('properties', {})))})"
            )
        raise ConfigError(f"config key '{_key(first.absolute_path)}': {first.message}")
    _fill_defaults(schema, config, schema)
    _check_pretrain_stage(config["training"]["pretrain"])
    _check_file_paths(config)
    _check_mace_options(config, set(schema["definitions"]["stage"]["properties"]))
    downloads = config.get("downloads", {})
    for name, ds in config["datasets"].items():
        _check_dataset_name(name)
        where = f"datasets.{name}"
        if "convert" in ds:
            _check_convert(ds["convert"], downloads, f"{where}.convert")
            ds.setdefault("source", paths.converted_source(name))
        elif "source" not in ds:
            raise ConfigError(f"config key '{where}.source': required (or 'convert' to build it from downloads)")
        for fidelity, spec in ds["fidelities"].items():
            _check_labeller_options(f"{where}.fidelities.{fidelity}", spec)
            if "parameters" in spec and spec["parameters"] not in downloads:
                raise ConfigError(
                    f"config key '{where}.fidelities.{fidelity}.parameters': "
                    f"'{spec['parameters']}' is not an entry of 'downloads'"
                )
        for role in ("high_fidelity", "low_fidelity"):
            if ds[role] not in ds["fidelities"]:
                raise ConfigError(
                    f"config key '{where}.{role}': '{ds[role]}' is not one of the fidelities {sorted(ds['fidelities'])}"
                )
        if ds["high_fidelity"] == ds["low_fidelity"]:
            raise ConfigError(f"config key '{where}.low_fidelity': must differ from high_fidelity")
        needs_pretraining = set(PRETRAINED_METHODS) & set(ds["methods"])
        for key in ("pretrain_sizes", "epoch_caps"):
            if needs_pretraining and not ds[key]:
                raise ConfigError(f"config key '{where}.{key}': needed by method(s) {sorted(needs_pretraining)}")
        _check_sampling(ds, where)
        _check_given_geometries(ds, where)
        pool = pretrain_pool_size(ds)
        too_big = [n for n in ds["pretrain_sizes"] if n > pool]
        if too_big:
            sampled = (
                f" + pretrain_sampling.size ({ds['pretrain_sampling']['size']})" if "pretrain_sampling" in ds else ""
            )
            if "pretrain_geometries" in ds:
                sampled += f" + pretrain_geometries ({given_geometries_count(ds)})"
            raise ConfigError(
                f"config key '{where}.pretrain_sizes': {too_big} larger than the pre-training pool, "
                f"split.pretrain_pool ({ds['split']['pretrain_pool']}){sampled}"
            )
        split = ds["split"]
        parts = split["test"] + split["validation"] + max(ds["train_sizes"]) + split["pretrain_pool"]
        if ds.get("comparison_sample", 0) > parts:
            raise ConfigError(
                f"config key '{where}.comparison_sample': {ds['comparison_sample']} larger than the split's "
                f"parts together ({parts}: test, validation, training pool, pre-training pool)"
            )
        _check_method_seeds(ds, where)
        _check_foundation(config, name, ds)
        _check_chains(config, name, ds)
    return config


def longest_file_name(dataset: str) -> str:
    """The longest file name the workflow builds from a dataset's name (the name itself is ``results/<name>``):
    the temporary file of its conversion summary (:func:`mftl.atomic.atomic_path`), its random part as X."""
    names = [dataset, Path(paths.converted_source(dataset)).name, Path(paths.conversion_summary(dataset)).name]
    return temporary_name(max(names, key=len))


def dataset_name_limit() -> int:
    """The longest dataset name whose file names fit :data:`NAME_MAX` bytes (names are ASCII: the schema)."""
    return NAME_MAX - (len(longest_file_name("")))


def _check_dataset_name(name: str) -> None:
    limit = dataset_name_limit()
    if len(name.encode()) > limit:
        shown = name if len(name) <= 40 else f"{name[:40]}..."
        raise ConfigError(
            f"config key 'datasets.{shown}': a dataset name of {len(name.encode())} characters is longer than "
            f"{limit}, the most that fits the file names built from it: the longest, "
            f"{longest_file_name('<name>')}, adds {NAME_MAX - limit} to the name, and a file name holds at most "
            f"{NAME_MAX} bytes"
        )


def _check_finite(value: Any, path: tuple = ()) -> None:
    """Every number of the config is finite: YAML's ``.nan`` and ``.inf`` pass the schema's bounds (a NaN
    compares false with any of them) and mean nothing as an error target, a fraction, an energy or a
    cost; a NaN target made a route vanish from the advice, a NaN ``max_failure_fraction`` switched the
    failure check off."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{_key(path)}': {value} is not a finite number")
    if isinstance(value, dict):
        for name, item in value.items():
            _check_finite(item, (*path, name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, (*path[:-1], f"{path[-1]}[{i}]") if path else (f"[{i}]",))


def _check_pretrain_stage(stage: dict) -> None:
    """A pre-training runs to the largest of each dataset's ``epoch_caps`` (checkpoints at every cap), so a
    ``max_epochs`` of ``training.pretrain`` would be silently dropped: refused."""
    if "max_epochs" in stage:
        raise ConfigError(
            "config key 'training.pretrain.max_epochs': a pre-training's length is set by each dataset's "
            "epoch_caps (it runs to the largest cap and keeps a checkpoint at every cap); remove max_epochs "
            "here and list the caps in datasets.<name>.epoch_caps"
        )


def _check_method_seeds(ds: dict, where: str) -> None:
    """``method_seeds`` names methods the dataset runs, each with a subset of its ``seeds``."""
    for method, seeds in ds.get("method_seeds", {}).items():
        key = f"config key '{where}.method_seeds.{method}'"
        if method not in ds["methods"]:
            raise ConfigError(f"{key}: '{method}' is not among the dataset's methods {ds['methods']}")
        extra = sorted(set(seeds) - set(ds["seeds"]))
        if extra:
            raise ConfigError(f"{key}: seed(s) {extra} not among the dataset's seeds {ds['seeds']}")


def pretrain_pool_size(ds: dict) -> int:
    """Configurations of a dataset's pre-training pool: drawn from the source (``split.pretrain_pool``) plus
    those sampled by the low fidelity (``pretrain_sampling.size``) and those given in ``pretrain_geometries``."""
    return ds["split"]["pretrain_pool"] + ds.get("pretrain_sampling", {}).get("size", 0) + given_geometries_count(ds)


def given_geometries_count(ds: dict) -> int:
    """Configurations of a dataset's ``pretrain_geometries`` file (0 without one), counted from the cached index
    of the file (:mod:`mftl.planning.source_index`); :func:`_check_given_geometries` refuses a bad file first."""
    from mftl.planning.source_index import source_index

    return len(source_index(ds["pretrain_geometries"]).ids) if "pretrain_geometries" in ds else 0


def _check_given_geometries(ds: dict, where: str) -> None:
    """A ``pretrain_geometries`` file exists, is extxyz, holds configurations, none of no atoms; the low fidelity
    has a labeller to label them."""
    if "pretrain_geometries" not in ds:
        return
    from mftl.planning.source_index import SourceFormatError, source_index

    path, key = ds["pretrain_geometries"], f"config key '{where}.pretrain_geometries'"
    if "labeller" not in ds["fidelities"][ds["low_fidelity"]]:
        raise ConfigError(
            f"{key}: the low fidelity '{ds['low_fidelity']}' has no labeller to label the geometries of {path}"
        )
    if not Path(path).is_file():
        raise ConfigError(f"{key}: {path} {'is not a file' if Path(path).exists() else 'does not exist'}")
    try:
        index = source_index(path)
    except (SourceFormatError, UnicodeDecodeError) as err:
        raise ConfigError(f"{key}: {err}") from None
    if not index.ids:
        raise ConfigError(f"{key}: {path} contains no structures")
    empty = [i for i, composition in enumerate(index.compositions) if not composition]
    if empty:
        raise ConfigError(f"{key}: {path} has configuration(s) of no atoms: frame(s) {empty[:5]} (counted from 0)")


def _check_sampling(ds: dict, where: str) -> None:
    """``pretrain_sampling`` runs MD with the low fidelity's labeller: a low fidelity read from keys has none."""
    if "pretrain_sampling" in ds and "labeller" not in ds["fidelities"][ds["low_fidelity"]]:
        raise ConfigError(
            f"config key '{where}.pretrain_sampling': the low fidelity '{ds['low_fidelity']}' has no labeller "
            "(its labels are read from keys): sampling runs MD with the low fidelity's labeller (tblite, dftbplus)"
        )


def _check_labeller_options(key: str, spec: dict) -> None:
    """A labeller's options its backend checks itself (tblite's and pyscf's ``method``), refused when planning."""
    if "labeller" not in spec:
        return
    from mftl.data.labellers import options_problem

    problem = options_problem(spec["labeller"], spec.get("options"))
    if problem:
        field, _, message = problem.partition(": ")
        raise ConfigError(f"config key '{key}.{field}': {message}")


def conversion_downloads(convert: dict) -> list[str]:
    """The ``downloads`` entries a dataset's ``convert`` pools, in order (one name or a list)."""
    names = convert["download"]
    return [names] if isinstance(names, str) else list(names)


def _check_convert(convert: dict, downloads: dict, where: str) -> None:
    """Every pooled download exists; a single-file converter gets one file; sgdml gets zip archives."""
    from mftl.data.sources import SINGLE_FILE_CONVERTERS

    names = conversion_downloads(convert)
    for i, download in enumerate(names):
        key = f"{where}.download" if isinstance(convert["download"], str) else f"{where}.download[{i}]"
        if download not in downloads:
            raise ConfigError(f"config key '{key}': '{download}' is not an entry of 'downloads' {sorted(downloads)}")
    files = [item["name"] for download in names for item in downloads[download]["files"]]
    if convert["converter"] in SINGLE_FILE_CONVERTERS and len(files) != 1:
        raise ConfigError(
            f"config key '{where}.download': converter {convert['converter']} reads one file, "
            f"the download(s) {names} hold {len(files)}: {files}"
        )
    not_zip = [f for f in files if not f.endswith(".zip")]
    if convert["converter"] == "sgdml" and not_zip:
        raise ConfigError(
            f"config key '{where}.download': converter sgdml pools '<molecule>_ccsd_t.zip' archives, not {not_zip}"
        )


def _check_mace_options(config: dict, own: set[str]) -> None:
    """mace_run_train flags of ``model``, ``datasets.<d>.model`` and ``training.<stage>``, by mace's parser;
    ``own``: a stage's keys that are mftl's own (the schema's ``stage`` properties, training job fields)."""
    from mftl.training.mace_options import option_problem

    stages = {stage: flags for stage, flags in config["training"].items() if stage != "strategies"}
    strategies = config["training"].get("strategies", {})
    sections = {
        "model": config["model"],
        **{f"training.{stage}": flags for stage, flags in stages.items()},
        **{f"training.strategies.{name}": flags for name, flags in strategies.items()},
        **{f"datasets.{name}.model": ds.get("model", {}) for name, ds in config["datasets"].items()},
    }
    for where, flags in sections.items():
        for key, value in flags.items():
            problem = None if where.removeprefix("training.") in stages and key in own else option_problem(key, value)
            if problem:
                raise ConfigError(f"config key '{where}.{key}': {problem}")
    for name, flags in strategies.items():  # the flag that makes the strategy what it is stays on
        for key, default in STRATEGY_FLAGS[name].items():
            if isinstance(default, bool) and key in flags and flags[key] is not True:
                raise ConfigError(f"config key 'training.strategies.{name}.{key}': the {name} strategy needs it true")
        if name == "freeze" and not int(flags.get("freeze", 1)) >= 1:
            raise ConfigError(
                "config key 'training.strategies.freeze.freeze': freezes nothing below 1 (mace-torch 0.3.16)"
            )


def _check_file_paths(config: dict) -> None:
    """Files Snakemake reads or writes may be named with any character but braces, which it
    takes for wildcards (spaces, quotes, ``$`` and ``;`` reach the shell quoted)."""
    paths = {f"datasets.{name}.source": ds.get("source") for name, ds in config["datasets"].items()}
    paths.update({f"foundations.{name}.file": spec.get("file") for name, spec in config["foundations"].items()})
    paths["paper_results"] = config.get("paper_results")
    paths.update(
        {
            f"downloads.{name}.files[{i}].name": item["name"]
            for name, entry in config["downloads"].items()
            for i, item in enumerate(entry["files"])
        }
    )
    for key, path in paths.items():
        if path is not None and ("{" in path or "}" in path):
            raise ConfigError(
                f"config key '{key}': '{path}' holds a brace, which Snakemake reads as a wildcard "
                "in a file path; rename (or link) the file without '{' and '}'"
            )


def _check_foundation(config: dict, name: str, ds: dict) -> None:
    where = f"datasets.{name}"
    needs = sorted(set(FOUNDATION_METHODS) & set(ds["methods"]))
    if not needs:
        return
    foundations = config.get("foundations", {})
    if "foundation" not in ds:
        raise ConfigError(f"config key '{where}.foundation': needed by method(s) {needs}")
    listed = [ds["foundation"]] if isinstance(ds["foundation"], str) else ds["foundation"]
    for i, foundation in enumerate(listed):
        at = f"{where}.foundation" + ("" if isinstance(ds["foundation"], str) else f"[{i}]")
        if foundation not in foundations:
            raise ConfigError(
                f"config key '{at}': '{foundation}' is not an entry of 'foundations' {sorted(foundations)}"
            )
        _check_foundation_entry(config, name, ds, foundation, foundations[foundation])


def _check_foundation_entry(config: dict, name: str, ds: dict, foundation: str, spec: dict) -> None:
    key = f"foundations.{foundation}"
    if "trained_by" in spec:
        by = spec["trained_by"]
        source = config["datasets"].get(by["dataset"])
        if source is None:
            raise ConfigError(f"config key '{key}.trained_by.dataset': '{by['dataset']}' is not a dataset")
        if by["dataset"] == name:
            raise ConfigError(
                f"config key '{key}.trained_by.dataset': a foundation for '{name}' must come "
                "from another dataset (another configuration space)"
            )
        for field, values in (
            ("method", source["methods"]),
            ("train_size", source["train_sizes"]),
            ("seed", source["seeds"]),
        ):
            if by[field] not in values:
                raise ConfigError(
                    f"config key '{key}.trained_by.{field}': {by[field]!r} is not among "
                    f"datasets.{by['dataset']}.{field}s {values}"
                )
    if set(MULTIHEAD_FINETUNINGS) & set(ds["methods"]) and "trained_by" not in spec and "replay" not in spec:
        raise ConfigError(
            f"config key '{key}.replay': multi-head fine-tuning needs replay data "
            "(mace otherwise falls back to naive fine-tuning for a foundation that is "
            "not a Materials Project model, and downloads MP data for one that is): "
            "a file, or 'mp' for mace's own Materials Project replay (network needed)"
        )


def _check_replaced_keys(config: dict) -> None:
    """Keys an older config may still hold, refused with how to write them now (before the schema,
    whose message would only call them unknown)."""
    for name, ds in (config.get("datasets") or {}).items():
        if isinstance(ds, dict) and "chain" in ds:
            raise ConfigError(
                f"config key 'datasets.{name}.chain': replaced by named chains, "
                f"'datasets.{name}.chains: {{<name>: [<stages>]}}' (e.g. chains: {{triple: [...]}}); "
                "method chain runs each of them as method chain_<name>"
            )


def _check_chains(config: dict, name: str, ds: dict) -> None:
    where = f"datasets.{name}.chains"
    if "chain" not in ds["methods"]:
        return
    if not ds.get("chains"):
        raise ConfigError(f"config key '{where}': needed by method chain (named chains: {{<name>: [<stages>]}})")
    for chain, stages in ds["chains"].items():
        for k, stage in enumerate(stages):
            _check_chain_stage(config, f"{where}.{chain}[{k}]", k, stage)


def _check_chain_stage(config: dict, key: str, k: int, stage: dict) -> None:
    """Stage 0: a pre-training run (with epoch_cap) or a scratch model (without); later stages fine-tune."""
    source = config["datasets"].get(stage["dataset"])
    if source is None:
        raise ConfigError(f"config key '{key}.dataset': '{stage['dataset']}' is not a dataset")
    if stage["fidelity"] not in source["fidelities"]:
        raise ConfigError(
            f"config key '{key}.fidelity': '{stage['fidelity']}' is not a fidelity of "
            f"datasets.{stage['dataset']} {sorted(source['fidelities'])}"
        )
    pool = max(source["train_sizes"])
    if k == 0 and "epoch_cap" in stage:
        if stage["fidelity"] != source["low_fidelity"]:
            raise ConfigError(
                f"config key '{key}.fidelity': a first stage with an epoch_cap pre-trains on the "
                f"low fidelity of datasets.{stage['dataset']} ('{source['low_fidelity']}'); "
                "without epoch_cap it is a model trained from scratch on the high fidelity"
            )
        if stage["size"] not in source["pretrain_sizes"] or stage["epoch_cap"] not in source["epoch_caps"]:
            raise ConfigError(
                f"config key '{key}': size {stage['size']} / epoch_cap {stage['epoch_cap']} "
                f"must be among datasets.{stage['dataset']}.pretrain_sizes "
                f"{source['pretrain_sizes']} / epoch_caps {source['epoch_caps']}"
            )
        return
    if k == 0:
        # a model trained from scratch: the campaign's own scratch run of that dataset
        if stage["fidelity"] != source["high_fidelity"]:
            raise ConfigError(
                f"config key '{key}.fidelity': a first stage without epoch_cap is a model trained "
                f"from scratch on the high fidelity of datasets.{stage['dataset']} "
                f"('{source['high_fidelity']}'); a pre-training on '{stage['fidelity']}' needs "
                "an epoch_cap"
            )
    elif "epoch_cap" in stage:
        raise ConfigError(f"config key '{key}.epoch_cap': only the first stage has an epoch cap")
    if stage["size"] > pool:
        raise ConfigError(
            f"config key '{key}.size': {stage['size']} is larger than the training pool "
            f"of datasets.{stage['dataset']} (max of its train_sizes, {pool})"
        )
