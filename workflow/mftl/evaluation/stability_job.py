"""A model's stability job (``mftl stability``): its calculator built once, then every check of
:mod:`mftl.evaluation.stability_settings`'s docstring, in one record (``results/<d>/stability/<method>/<tag>.json``).

The model is mace-torch's own ASE calculator (``mace.calculators.MACECalculator``) on the model file of the run
folder, in the dtype it was trained in; a Delta model runs on top of its base fidelity's labeller (ASE's
``SumCalculator``), without which its MD and repulsion checks are skipped and say why. The starting model of a
fine-tuning is the ``--foundation_model`` of the run's recorded ``mace_run_train`` command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ase.calculators.calculator import Calculator

from mftl.data.structures import read_structures
from mftl.evaluation.forgetting import forgetting
from mftl.evaluation.md_stability import md_checks, starts
from mftl.evaluation.repulsion import pair_scans
from mftl.evaluation.stability_settings import StabilitySettings
from mftl.training.mace_runner import resolve_device
from mftl.training.steps import INFO_FILE, MODEL_FILE, TRAIN_FILE


def model_calculator(model: str | Path, device: str, dtype: str) -> Calculator:
    """mace-torch's ASE calculator of a model file (its default head)."""
    from mace.calculators import MACECalculator

    return MACECalculator(model_paths=str(model), device=resolve_device(device), default_dtype=dtype)


def start_model(model_dir: Path) -> Path | None:
    """The model a run fine-tuned (``--foundation_model`` of its recorded command); None for a run from scratch."""
    command = json.loads((model_dir / INFO_FILE).read_text()).get("command", [])
    found = [arg.split("=", 1)[1] for arg in command if arg.startswith("--foundation_model=")]
    return Path(found[-1]) if found else None


def _forgetting(model_dir: Path, calculator: Calculator, data: str | None, fidelity: str | None, device, dtype) -> dict:
    if data is None:
        return {"skipped": "not fine-tuned from a model whose data the campaign has"}
    start = start_model(model_dir)
    if start is None or not start.is_file():
        return {"skipped": f"the starting model {start} is not there"}
    frames = read_structures(data)
    try:
        return forgetting(frames, fidelity, model_calculator(start, device, dtype), calculator, data, start)
    except (KeyError, ValueError, RuntimeError) as err:  # e.g. an element the model lacks
        return {"skipped": f"{type(err).__name__}: {err}"[:300]}


def stability(
    model_dir: Path,
    test_file: Path,
    settings: StabilitySettings,
    device: str = "cpu",
    start_data: str | None = None,
    start_fidelity: str | None = None,
    low: Calculator | None = None,
    delta: bool = False,
) -> dict:
    """Every check of one model. ``low``: the low fidelity's calculator (the repulsion scans' reference; a Delta
    model's base, without which its MD and repulsion are skipped)."""
    t0 = time.perf_counter()
    dtype = json.loads((model_dir / INFO_FILE).read_text())["default_dtype"]
    calculator = model_calculator(model_dir / MODEL_FILE, device, dtype)
    test = read_structures(test_file)
    record = {"model": str(model_dir / MODEL_FILE), "settings": settings.as_dict()}
    if delta and low is None:
        why = "a Delta model needs its base fidelity's calculator, and the low fidelity has no labeller"
        record.update(md={"skipped": why}, repulsion={"skipped": why})
    else:
        if delta:
            from ase.calculators.mixing import SumCalculator

            calculator = SumCalculator([low, calculator])
        record["md"] = md_checks(test, calculator, settings)
        training = read_structures(model_dir / TRAIN_FILE)
        scanned = starts(test, settings.starts_per_molecule, settings.max_starts)
        record["repulsion"] = pair_scans(scanned, training, calculator, settings, reference=low)
    record["forgetting"] = _forgetting(model_dir, calculator, start_data, start_fidelity, device, dtype)
    record["wall_s"] = time.perf_counter() - t0
    return record
