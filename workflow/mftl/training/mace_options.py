"""mace_run_train options from the config, checked against mace's own argument parser.

Kept apart from :mod:`mftl.training.mace_commands` so that checking a config when Snakemake
plans imports neither torch nor ASE: loading the parser costs ~10 ms.
"""

from __future__ import annotations

import argparse
import functools
import math
from pathlib import Path
from typing import Any

#: mace-torch flags that mftl sets itself and a config must not override
RESERVED_FLAGS = frozenset(
    {
        "name",
        "seed",
        "train_file",
        "valid_file",
        "valid_fraction",
        "test_file",
        "E0s",
        "energy_key",
        "forces_key",
        "max_num_epochs",
        "foundation_model",
        "device",
        "restart_latest",
        "keep_checkpoints",
        "work_dir",
        "model_dir",
        "log_dir",
        "checkpoints_dir",
        "results_dir",
        "multiheads_finetuning",
        "pt_train_file",
    }
)

#: replay data sets mace-torch 0.3.x downloads itself for ``--pt_train_file`` (mace.tools.multihead_tools)
MACE_REPLAY_DATASETS = ("mp", "omat", "matpes_pbe", "matpes_r2scan")

_SWITCHES = (argparse._StoreTrueAction, argparse._StoreFalseAction)

#: choices mace-torch 0.3.16 checks only when training starts, not in its parser
#: (``mace.tools.scripts_utils.LRScheduler``: "Unknown scheduler")
LATE_CHOICES = {"scheduler": ("ExponentialLR", "ReduceLROnPlateau")}


def option_problem(key: str, value: Any) -> str | None:
    """Why ``--key=value`` would not be accepted by mace_run_train, or None when it would.

    The value is converted as argparse converts the command line mftl writes
    (``--key=<value>``): with the option's ``type`` (int, float, mace's
    ``str2bool``, ...), then checked against its ``choices``. Switches
    (``store_true`` flags such as ``ema``) take true or false.
    """
    action = _actions().get(key)
    if action is None:
        return f"mace_run_train has no option '--{key}'"
    if key in RESERVED_FLAGS:
        return f"'--{key}' is set by mftl itself and may not be given in the config"
    if isinstance(action, _SWITCHES):
        return None if isinstance(value, bool) else f"'--{key}' is a switch: give true or false, not {value!r}"
    converted = str(value)
    if callable(action.type):
        try:
            converted = action.type(str(value))
        except (TypeError, ValueError, argparse.ArgumentTypeError) as err:
            kind = getattr(action.type, "__name__", "the option's type")
            return f"'--{key}' expects {kind}, got {value!r} ({err})"
    if isinstance(converted, float) and not math.isfinite(converted):  # 'nan' and 'inf' parse as floats
        return f"'--{key}' expects a finite number, got {value!r}"
    choices = action.choices if action.choices is not None else LATE_CHOICES.get(key)
    if choices is not None and converted not in choices:
        return f"'--{key}' must be one of {list(choices)}, got {value!r}"
    return None


def mace_flags(options: dict[str, Any]) -> list[str]:
    """Command-line flags for mace_run_train options, checked against mace's own parser.

    Switches (``store_true`` flags such as ``ema``) are written bare when true and
    left out when false; an option mace does not know is refused by name.
    """
    actions = _actions()
    flags = []
    for key, value in sorted(options.items()):
        action = actions.get(key)
        if action is None:
            raise ValueError(f"mace_run_train has no option '--{key}' (from the model/training config)")
        if isinstance(action, argparse._StoreTrueAction):
            flags += [f"--{key}"] if value else []
        else:
            flags.append(f"--{key}={value}")
    return flags


@functools.cache
def _actions() -> dict[str, argparse.Action]:
    return {a.dest: a for a in mace_arg_parser()._actions}


@functools.cache
def mace_arg_parser() -> argparse.ArgumentParser:
    """mace_run_train's argument parser, without importing torch.

    ``mace.tools`` imports torch and e3nn (~4 s here), once more in every training
    job before mace_run_train imports them again itself; its ``arg_parser.py`` needs
    only argparse. It is loaded from mace's installed files under a private package
    name, falling back to the normal import if that ever fails.
    """
    import importlib.util
    import sys
    import types

    name = "_mftl_mace_tools"
    try:
        spec = importlib.util.find_spec("mace")
        tools = Path(spec.submodule_search_locations[0]) / "tools"
        package = types.ModuleType(name)
        package.__path__ = [str(tools)]
        sys.modules.setdefault(name, package)
        module_spec = importlib.util.spec_from_file_location(f"{name}.arg_parser", tools / "arg_parser.py")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
        return module.build_default_arg_parser()
    except Exception:  # a mace whose parser needs more than argparse
        from mace.tools import build_default_arg_parser

        return build_default_arg_parser()
