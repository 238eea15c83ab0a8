"""Checking a campaign config before any job starts; errors name the offending key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """A config that cannot describe a campaign."""


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
    validator = jsonschema.Draft7Validator(schema)
    problems = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        if first.validator == "additionalProperties":
            unknown = sorted(set(first.instance) - set(first.schema.get("properties", {})))
            where = _key(list(first.absolute_path) + unknown[:1])
            raise ConfigError(f"config key '{where}': unknown key (allowed: "
                              f"{', '.join(sorted(first.schema.get('properties', {})))})")
        raise ConfigError(f"config key '{_key(first.absolute_path)}': {first.message}")
    _fill_defaults(schema, config, schema)
    downloads = config.get("downloads", {})
    for name, ds in config["datasets"].items():
        where = f"datasets.{name}"
        if "convert" in ds:
            if ds["convert"]["download"] not in downloads:
                raise ConfigError(f"config key '{where}.convert.download': '{ds['convert']['download']}' "
                                  f"is not an entry of 'downloads' {sorted(downloads)}")
            ds.setdefault("source", f"resources/datasets/{name}.extxyz")
        elif "source" not in ds:
            raise ConfigError(f"config key '{where}.source': required (or 'convert' to build it from downloads)")
        for fidelity, spec in ds["fidelities"].items():
            if "parameters" in spec and spec["parameters"] not in downloads:
                raise ConfigError(f"config key '{where}.fidelities.{fidelity}.parameters': "
                                  f"'{spec['parameters']}' is not an entry of 'downloads'")
        for role in ("high_fidelity", "low_fidelity"):
            if ds[role] not in ds["fidelities"]:
                raise ConfigError(f"config key '{where}.{role}': '{ds[role]}' is not one of the fidelities "
                                  f"{sorted(ds['fidelities'])}")
        if ds["high_fidelity"] == ds["low_fidelity"]:
            raise ConfigError(f"config key '{where}.low_fidelity': must differ from high_fidelity")
        needs_pretraining = {"mftl", "mftl_auto"} & set(ds["methods"])
        for key in ("pretrain_sizes", "epoch_caps"):
            if needs_pretraining and not ds[key]:
                raise ConfigError(f"config key '{where}.{key}': needed by method(s) {sorted(needs_pretraining)}")
        too_big = [n for n in ds["pretrain_sizes"] if n > ds["split"]["pretrain_pool"]]
        if too_big:
            raise ConfigError(f"config key '{where}.pretrain_sizes': {too_big} larger than "
                              f"split.pretrain_pool ({ds['split']['pretrain_pool']})")
    return config
