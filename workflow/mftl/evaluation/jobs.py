"""The evaluation jobs: a trained model's errors on a test or validation set (``mftl evaluate``), a
foundation model's as it is (``mftl zeroshot``).

Predictions come from mace-torch's own ``mace_eval_configs`` (run in this process, see
:func:`mftl.training.mace_runner.run_mace`), never from training logs; energies are put back on the
fidelity's scale (:func:`mftl.training.e0_scale.predictions`) and compared by
:mod:`mftl.evaluation.error_statistics`. Energy errors whose reference energies the training data cannot
determine are left empty (:func:`undetermined_energies`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from mftl.data.elements import check_covered, element_union, symbols_by_id
from mftl.data.reference_energies import e0s_from_json, outside_record_span, span_report
from mftl.data.structures import geometry_only, labels, read_structures, set_labels, write_structures
from mftl.evaluation.error_statistics import error_statistics, errors, in_span_errors
from mftl.evaluation.molecules import errors_by_molecule
from mftl.planning.source_index import scan
from mftl.training.checkpoints import checkpoint_for_cap, export_checkpoint
from mftl.training.e0_scale import predictions
from mftl.training.foundations import model_dtype
from mftl.training.mace_commands import PRED_ENERGY_KEY, PRED_FORCES_KEY, eval_command
from mftl.training.mace_runner import resolve_device, run_mace
from mftl.training.steps import E0S_FILE, INFO_FILE, MODEL_FILE, TRAIN_FILE, base_by_id, run_flags, trained_as


def _predict(model: Path, frames, device: str, dtype: str, threads: int, work_parent: Path) -> list:
    """``mace_eval_configs`` predictions (``MACE_energy``/``MACE_forces``) of ``model`` for the
    geometries of ``frames`` (labels stripped), in a temporary folder under ``work_parent``."""
    with tempfile.TemporaryDirectory(dir=work_parent, prefix="eval-") as tmp:  # one per evaluation job
        work = Path(tmp)
        write_structures(work / "configs.extxyz", [geometry_only(atoms) for atoms in frames])
        output = work / "predictions.extxyz"
        command = eval_command(
            (work / "configs.extxyz").resolve(), Path(model).resolve(), output.resolve(), resolve_device(device), dtype
        )
        run_mace(command, work, threads)
        return read_structures(output)


def zeroshot(
    model: Path,
    test_file: Path,
    fidelity: str,
    label: str,
    device: str,
    threads: int = 1,
    predictions_out: Path | None = None,
) -> dict:
    """Errors of a foundation model as it is (no training) on ``test_file`` (labels of ``fidelity``).

    A foundation's energies are on its own reference (its training data's method and
    atomic energies), not the test fidelity's. They are compared as the low fidelity is
    in the fidelity comparison (:func:`mftl.evaluation.fidelity_comparison.fidelity_comparison_table`): energy
    per atom relative to each side's own least-squares atomic reference energies fitted
    on the test set, so per-element constant offsets drop out and what remains is how
    the foundation's energy surface differs; forces are compared as they are. The
    predictions are written to ``predictions_out`` under ``<label>_energy`` and
    ``<label>_forces``.
    """
    from mftl.evaluation.fidelity_comparison import fidelity_comparison_table, fidelity_errors

    reference = read_structures(test_file)
    predicted = _predict(
        model,
        reference,
        device,
        model_dtype(model),
        threads,
        Path(predictions_out).parent if predictions_out else Path.cwd(),
    )
    frames = []
    for atoms, pred in zip(reference, predicted, strict=True):
        copy = geometry_only(atoms)
        set_labels(
            copy, label, float(pred.info[PRED_ENERGY_KEY]), np.asarray(pred.arrays[PRED_FORCES_KEY], dtype=float)
        )
        frames.append(copy)
    if predictions_out is not None:
        write_structures(predictions_out, frames)
    found = fidelity_errors(fidelity_comparison_table(reference, frames, fidelity, label))
    return {
        **error_statistics(found["energy_meV_atom"], found["forces_meV_A"]),
        "model": str(model),
        "device": resolve_device(device),
        "energy_reference": "each side's least-squares E0s fitted on the test set",
    }


def evaluate(
    model_dir: Path,
    test_file: Path,
    fidelity: str,
    device: str,
    threads: int = 1,
    base_file: Path | None = None,
    base_fidelity: str | None = None,
    cap: int | None = None,
) -> dict[str, float]:
    """Errors of ``model_dir``'s model on ``test_file`` (labels of ``fidelity``).

    For a Delta model, ``base_file`` holds the base fidelity's labels of the test
    configurations; the prediction is base + model. With ``cap``, ``model_dir`` is a
    pre-training run and the model evaluated is the one it serves at that epoch cap (the
    checkpoint a fine-tuning with ``init_cap`` (its training job) starts from), exported to a temporary file.
    """
    reference = read_structures(test_file)
    if (model_dir / TRAIN_FILE).exists():  # instead of mace's "9 is not in list" after the predictions
        check_covered(
            symbols_by_id(reference),
            element_union(scan(model_dir / TRAIN_FILE).symbols),
            f"evaluation set {test_file}",
            f"the training data of {model_dir}",
        )
    e0s = json.loads((model_dir / E0S_FILE).read_text())
    fit, held = e0s_from_json(e0s["fit"]), e0s_from_json(e0s["model"])
    dtype = json.loads((model_dir / INFO_FILE).read_text())["default_dtype"]
    if cap is None:
        predicted = _predict(model_dir / MODEL_FILE, reference, device, dtype, threads, model_dir)
    else:
        epoch, checkpoint = checkpoint_for_cap(model_dir / "checkpoints", cap)
        print(f"the model served at cap {cap}: {checkpoint} (epoch index {epoch})", flush=True)
        with tempfile.TemporaryDirectory(dir=model_dir, prefix=f"cap{cap}-") as tmp:
            capped = Path(tmp) / MODEL_FILE
            export_checkpoint(model_dir / MODEL_FILE, checkpoint, capped)
            predicted = _predict(capped, reference, device, dtype, threads, model_dir)
    energies, forces = predictions(predicted, fit, held)
    span = span_report(reference, e0s, test_file)
    if base_file is not None:
        base = base_by_id(base_file)
        missing = [int(a.info["config_id"]) for a in reference if int(a.info["config_id"]) not in base]
        if missing:
            raise ValueError(f"{base_file}: no {base_fidelity} labels for test configurations {missing[:10]}")
        for i, atoms in enumerate(reference):
            base_energy, base_forces = labels(base[int(atoms.info["config_id"])], base_fidelity)
            energies[i] += base_energy
            forces[i] = forces[i] + base_forces
    by_molecule = errors_by_molecule(reference, fidelity, energies, forces)
    result = {
        **errors(reference, fidelity, energies, forces),
        **span,
        **in_span_errors(reference, fidelity, energies, forces, outside_record_span(reference, e0s)),
        **run_flags(model_dir),
        **trained_as(model_dir, served_cap=cap is not None),
        **({"by_molecule": by_molecule} if by_molecule else {}),
    }
    return undetermined_energies(result, e0s)


#: the energy errors a result leaves empty when reference energies are undetermined
ENERGY_METRICS = ("energy_rmse_meV_atom", "energy_mae_meV_atom")


def undetermined_energies(result: dict, e0s_record: dict) -> dict:
    """``result`` with ``n_test_undetermined``: the test configurations whose reference energy the model's
    E0 fit (no prior) left undetermined. With any, the energy errors are None (never reported); forces stay."""
    undetermined = result.get("n_test_outside_span", 0) if e0s_record.get("prior") is None else 0
    result = {**result, "n_test_undetermined": int(undetermined)}
    if undetermined:
        result.update(dict.fromkeys(ENERGY_METRICS))
        if "by_molecule" in result:  # per-molecule energies rest on the same undetermined reference
            result["by_molecule"] = {
                name: {**stats, **dict.fromkeys(ENERGY_METRICS)} for name, stats in result["by_molecule"].items()
            }
        print(
            f"energy errors not reported: {undetermined} test configurations have undetermined reference energies",
            flush=True,
        )
    return result
