"""Running the real tools for one training or one evaluation, in a working folder.

These functions do the file work of one workflow job: write the inputs, run
``mace_run_train`` / ``mace_eval_configs`` as subprocesses, and move the results
into place atomically. A rerun in the same folder resumes from mace's latest
checkpoint (``--restart_latest`` with the same run name).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mftl.evaluation import errors, eval_command, predictions
from mftl.references import e0s_from_json, e0s_to_json, fit_e0s
from mftl.splits import subset
from mftl.structures import atomic_path, read_structures, write_structures, write_text_atomic
from mftl.training import MaceRun, checkpoint_for_cap, epochs_run, resolve_device, training_frames

RUN_NAME = "mace"
MODEL_FILE = "model.model"
E0S_FILE = "e0s.json"
INFO_FILE = "training.json"


def _run(cmd: list[str], cwd: Path, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    beside_python = Path(sys.executable).parent / cmd[0]
    if shutil.which(cmd[0]) is None and beside_python.exists():  # a venv used without activating it
        cmd = [str(beside_python), *cmd[1:]]
    print("+ " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, cwd=cwd, env=env, stdout=sys.stdout, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed with exit code {result.returncode} (see the log above)")


def export_checkpoint(final_model: Path, checkpoint: Path, out: Path) -> None:
    """Write a model file holding the weights of ``checkpoint`` (same architecture as ``final_model``)."""
    import torch

    model = torch.load(final_model, map_location="cpu", weights_only=False)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    with atomic_path(out) as tmp:
        torch.save(model, tmp)


def train(
    out_dir: Path, train_pool: Path, fidelity: str, size: int, subset_seed: int, seed: int,
    max_epochs: int, valid_file: Path | None, device: str, hyperparameters: dict[str, Any],
    threads: int = 1, init_checkpoint_dir: Path | None = None, init_cap: int | None = None,
    keep_checkpoints: bool = False,
) -> None:
    """Train one MACE model on ``size`` configurations of ``train_pool`` into ``out_dir``.

    Writes ``model.model`` (MACE, zero E0s), ``e0s.json`` (the fidelity's fitted
    E0s in eV) and ``training.json`` (device, epochs run, wall time) last, so a
    complete ``training.json`` means a complete run.
    """
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    pool = read_structures(train_pool)
    by_id = {int(a.info["config_id"]): a for a in pool}
    chosen = [by_id[i] for i in subset(sorted(by_id), size, subset_seed, what=f"pool {train_pool}")]
    e0s = fit_e0s(chosen, fidelity)
    write_structures(out_dir / "train.extxyz", training_frames(chosen, fidelity, e0s))
    valid_path = None
    if valid_file is not None:
        valid_path = out_dir / "valid.extxyz"
        write_structures(valid_path, training_frames(read_structures(valid_file), fidelity, e0s))
    foundation = None
    if init_checkpoint_dir is not None:
        epoch, checkpoint = checkpoint_for_cap(init_checkpoint_dir / "checkpoints", init_cap)
        foundation = out_dir / f"pretrained_cap{init_cap}.model"
        export_checkpoint(init_checkpoint_dir / MODEL_FILE, checkpoint, foundation)
        print(f"fine-tuning from {checkpoint} (epoch index {epoch}, cap {init_cap})", flush=True)
    elements = sorted({int(z) for a in chosen for z in a.numbers})
    run = MaceRun(
        name=RUN_NAME, train_file=Path("train.extxyz"), seed=seed, max_epochs=max_epochs, elements=elements,
        device=resolve_device(device), valid_file=Path("valid.extxyz") if valid_path else None,
        foundation_model=foundation.resolve() if foundation else None, keep_checkpoints=keep_checkpoints,
        hyperparameters=hyperparameters,
    )
    _run(run.command(), out_dir, threads)
    log_text = "".join(p.read_text() for p in (out_dir / "logs").glob(f"{RUN_NAME}_run-{seed}*.log"))
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        shutil.copyfile(run.model_path(out_dir), tmp)
    write_text_atomic(out_dir / E0S_FILE, json.dumps(e0s_to_json(e0s), indent=2) + "\n")
    info = {
        "fidelity": fidelity, "size": size, "seed": seed, "max_epochs": max_epochs,
        "epochs_run": epochs_run(log_text), "device": run.device, "wall_s": time.perf_counter() - start,
        "command": run.command(), "init_cap": init_cap,
        "default_dtype": hyperparameters.get("default_dtype", "float64"),
    }
    write_text_atomic(out_dir / INFO_FILE, json.dumps(info, indent=2) + "\n")


def evaluate(model_dir: Path, test_file: Path, fidelity: str, device: str, threads: int = 1) -> dict[str, float]:
    """Errors of ``model_dir``'s model on ``test_file`` (labels of ``fidelity``)."""
    reference = read_structures(test_file)
    e0s = e0s_from_json(json.loads((model_dir / E0S_FILE).read_text()))
    dtype = json.loads((model_dir / INFO_FILE).read_text())["default_dtype"]
    work = model_dir / "eval"
    work.mkdir(exist_ok=True)
    geometry = [a.copy() for a in reference]
    for atoms in geometry:
        atoms.info = {"config_id": atoms.info.get("config_id")}
        for key in list(atoms.arrays):
            if key not in ("numbers", "positions"):
                del atoms.arrays[key]
    write_structures(work / "configs.extxyz", geometry)
    output = work / "predictions.extxyz"
    command = eval_command((work / "configs.extxyz").resolve(), (model_dir / MODEL_FILE).resolve(),
                           output.resolve(), resolve_device(device), dtype)
    _run(command, work, threads)
    energies, forces = predictions(read_structures(output), e0s)
    return errors(reference, fidelity, energies, forces)
