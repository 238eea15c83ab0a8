"""Running the real tools for one training or one evaluation, in a working folder.

These functions do the file work of one workflow job: write the inputs, run
``mace_run_train`` / ``mace_eval_configs`` (in this process, see :func:`_run`), and move the results
into place atomically. A rerun in the same folder resumes from mace's latest
checkpoint (``--restart_latest`` with the same run name) only when it is the same
unfinished run; otherwise it trains from scratch (see :mod:`mftl.resume`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from mftl.atomic import atomic_path, write_text_atomic
from mftl.elements import check_covered, element_union, symbols_by_id
from mftl.evaluation import PRED_ENERGY_KEY, PRED_FORCES_KEY, error_statistics, errors, eval_command, predictions
from mftl.foundations import check_multihead, model_dtype, model_heads
from mftl.molecules import errors_by_molecule
from mftl.quality import run_flags
from mftl.references import (
    e0s_from_json,
    e0s_to_json,
    fit_reference,
    outside_span,
    span_report,
    training_prior,
    undetermined_message,
)
from mftl.resume import run_fingerprint, start_or_resume
from mftl.source_index import scan
from mftl.splits import subset
from mftl.structures import (
    by_config_id,
    geometry_only,
    labels,
    read_structures,
    set_labels,
    write_structures,
)
from mftl.training import (
    ENERGY_KEY,
    FORCES_KEY,
    MaceRun,
    checkpoint_for_cap,
    checkpoints_by_epoch,
    checkpoints_to_drop,
    epochs_run,
    model_e0s,
    resolve_device,
    training_frames,
)

RUN_NAME = "mace"
MODEL_FILE = "model.model"
E0S_FILE = "e0s.json"
INFO_FILE = "training.json"
#: the training data of a run, as mace read it
TRAIN_FILE = "train.extxyz"


#: what mace-torch logs when the validation loss has not improved for ``patience`` evaluations
PATIENCE_MESSAGE = "Stopping optimization after"


class _PatienceExceeded(Exception):
    """mace said patience is exceeded; the run is ended there (see :class:`_EndOnPatience`)."""


class _EndOnPatience(logging.Handler):
    """Early stopping that stops: end ``mace_run_train`` when it logs that patience is exceeded.

    mace-torch 0.3.16 logs "Stopping optimization after N epochs without improvement"
    and then trains on to ``max_num_epochs`` unless it runs distributed
    (ACEsuit/mace#1384; fix proposed in PR #1502, not released). The message goes to
    mace's own handlers first, then the run is ended; :func:`train` lets mace write
    the final model from its best checkpoint, as an early-stopped run does.
    """

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(PATIENCE_MESSAGE) or "Stage Two" in message:
            return
        for handler in logging.getLogger().handlers:
            if handler is not self and record.levelno >= handler.level:
                handler.handle(record)
        raise _PatienceExceeded(message)


def _run(cmd: list[str], cwd: Path, threads: int) -> bool:
    """Run the console script ``cmd`` (``mace_run_train``, ``mace_eval_configs``) in this process.

    Exactly what the installed script runs (its entry point, with ``cmd`` as its
    argv), in ``cwd``, but without a second Python start and import of torch, e3nn
    and mace (~5 s here, as long as a small demo fine-tuning). What the script
    changes in the process (working folder, logging handlers, torch's default
    dtype and threads, ``sys.argv``) is put back afterwards. The logged command
    line runs the same step by hand. Returns whether the run was ended early
    because mace's patience was exceeded (see :class:`_EndOnPatience`).
    """
    from importlib.metadata import entry_points

    scripts = entry_points(group="console_scripts", name=cmd[0])
    if not scripts:
        raise RuntimeError(f"{cmd[0]}: no such console script installed (is mace-torch installed?)")
    main = next(iter(scripts)).load()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    print("+ " + " ".join(cmd), flush=True)
    root = logging.getLogger()
    saved = (
        list(root.handlers),
        list(root.filters),
        root.level,
        torch.get_default_dtype(),
        torch.get_num_threads(),
        list(sys.argv),
        os.getcwd(),
    )
    torch.set_num_threads(threads)
    os.chdir(cwd)
    sys.argv = list(cmd)
    root.addHandler(_EndOnPatience())
    try:
        main()
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise RuntimeError(f"{cmd[0]} failed with exit code {stop.code} (see the log above)") from stop
    except _PatienceExceeded:
        return True
    finally:
        handlers, filters, level, dtype, n_threads, argv, cwd_before = saved
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers, root.filters = handlers, filters
        root.setLevel(level)
        torch.set_default_dtype(dtype)
        torch.set_num_threads(n_threads)
        sys.argv = argv
        os.chdir(cwd_before)
        sys.stdout.flush()
    return False


def export_checkpoint(final_model: Path, checkpoint: Path, out: Path) -> None:
    """Write a model file holding the weights of ``checkpoint`` (same architecture as ``final_model``)."""
    import torch

    model = torch.load(final_model, map_location="cpu", weights_only=False)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    with atomic_path(out) as tmp:
        torch.save(model, tmp)


def _targets(frames, fidelity: str, base: dict | None, base_fidelity: str | None) -> list:
    """Frames labelled with what the model learns: ``fidelity``, or ``fidelity - base_fidelity`` (Delta)."""
    if base is None:
        return [a for a in frames]
    out = []
    for atoms in frames:
        cid = int(atoms.info["config_id"])
        energy, forces = labels(atoms, fidelity)
        base_energy, base_forces = labels(base[cid], base_fidelity)
        diff = atoms.copy()
        set_labels(diff, fidelity, energy - base_energy, forces - base_forces)
        out.append(diff)
    return out


def _base_by_id(path: Path | None) -> dict | None:
    return None if path is None else by_config_id(read_structures(path))


def replay_frames(frames, keys: tuple[str, str] | None) -> list:
    """Replay data for mace's pt_head under ``REF_energy``/``REF_forces``.

    Without ``keys`` the frames already carry those keys (a foundation this campaign
    trained replays its own training file, referenced to the foundation's E0s).
    """
    out = []
    for atoms in frames:
        copy = geometry_only(atoms)
        energy_key, forces_key = keys or (ENERGY_KEY, FORCES_KEY)
        if energy_key not in atoms.info or forces_key not in atoms.arrays:
            raise ValueError(
                f"replay configuration {atoms.info.get('config_id', '?')} has no '{energy_key}'/'{forces_key}' labels"
            )
        copy.info = {ENERGY_KEY: float(atoms.info[energy_key])}
        copy.arrays[FORCES_KEY] = atoms.arrays[forces_key]
        out.append(copy)
    return out


def _starting_model_files(init_from: Path | None, init_cap: int | None) -> dict[str, Path]:
    """The files the model a run starts from is made of, by role (none for a run from scratch)."""
    if init_from is None:
        return {}
    if init_from.is_dir():
        return {
            "pretrained_checkpoint": checkpoint_for_cap(init_from / "checkpoints", init_cap)[1],
            "pretrained_model": init_from / MODEL_FILE,
        }
    return {"foundation_model": init_from}


def train(
    out_dir: Path,
    train_pool: Path,
    fidelity: str,
    size: int,
    seed: int,
    max_epochs: int,
    valid_file: Path | None,
    device: str,
    hyperparameters: dict[str, Any],
    threads: int = 1,
    init_from: Path | None = None,
    init_cap: int | None = None,
    keep_checkpoints: bool = False,
    serve_caps: list[int] | None = None,
    base_fidelity: str | None = None,
    base_pool: Path | None = None,
    base_valid: Path | None = None,
    replay: Path | None = None,
    replay_keys: tuple[str, str] | None = None,
    replay_size: int | None = None,
    prior: Path | None = None,
    base_prior: Path | None = None,
    replay_dataset: str | None = None,
    e0_span_test: Path | None = None,
    dataset: str | None = None,
) -> None:
    """Train one MACE model on ``size`` configurations of ``train_pool`` into ``out_dir``.

    With ``serve_caps`` (a pre-training run), every improving checkpoint is kept while
    training and, once it finished, only those the caps are served from.
    ``init_from`` is either a pre-training folder (then ``init_cap`` picks its
    checkpoint) or a model file (a foundation model): the model is then fine-tuned
    naively from it. With ``base_fidelity`` the model learns the difference
    ``fidelity - base_fidelity`` (Delta-learning); ``base_pool``/``base_valid``
    hold the base labels of the same configurations.

    Writes ``model.model``, ``e0s.json`` (``fit``: the target's least-squares E0s;
    ``model``: the E0s the MACE model itself holds, zero unless a foundation model
    brought its own) and, last, ``training.json``; a complete ``training.json``
    means a complete run. Configurations without base labels (failed labelling)
    are not drawn, and counted in ``training.json``.

    With ``replay`` (and a foundation model in ``init_from``) the model is fine-tuned
    multi-head: mace trains a ``pt_head`` on the replay data beside the new head.
    The replay file holds ``REF_energy``/``REF_forces`` relative to the foundation's
    E0s, or total energies under ``replay_keys`` (energy, forces); ``replay_size``
    replays a seeded random subset of it. A run that mace quietly turned into naive
    fine-tuning fails instead of being reported as multi-head. ``replay_dataset``
    (``mp``, ...) instead replays mace's own data set, which mace downloads (network
    needed where the job runs); ``replay_size`` is then mace's ``--num_samples_pt``.

    ``prior`` (and for Delta-learning ``base_prior``) are E0 prior files written by
    ``mftl atom-energies``: the E0 fit starts from them (see
    :func:`mftl.references.fit_reference`); ``e0s.json`` records the prior, the
    rank and condition number of the fit. With ``e0_span_test`` (the test configurations) a fit
    without prior that leaves test or validation energies undetermined is refused before training
    (:func:`refuse_undetermined`).
    """
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = by_config_id(read_structures(train_pool))
    base = _base_by_id(base_pool)
    eligible = sorted(by_id) if base is None else sorted(set(by_id) & set(base))
    chosen = [by_id[i] for i in draw(eligible, size, seed, train_pool, base_pool)]
    if valid_file is not None:  # refused before training: the model could not predict what it lacks
        check_covered(
            symbols_by_id(read_structures(valid_file)),
            element_union(symbols_by_id(chosen).values()),
            f"validation set {valid_file}",
            f"the training set ({size} of {train_pool}, seed {seed})",
        )
    targets = _targets(chosen, fidelity, base, base_fidelity)
    prior_e0s, prior_source = training_prior(prior, base_prior, delta=base_fidelity is not None)
    reference_fit = fit_reference(targets, fidelity, prior_e0s, prior_source)
    fit = reference_fit.e0s
    print(
        f"E0 fit: rank {reference_fit.rank} of {len(reference_fit.elements)} elements, condition number "
        f"{reference_fit.condition_number:.3g}, prior: {prior_source or 'none'}",
        flush=True,
    )
    if e0_span_test is not None and reference_fit.prior is None:
        refuse_undetermined(reference_fit, e0_span_test, valid_file, size, seed, dataset, fidelity, base_fidelity)

    foundation = None
    if init_from is not None and init_from.is_dir():
        epoch, checkpoint = checkpoint_for_cap(init_from / "checkpoints", init_cap)
        foundation = out_dir / f"pretrained_cap{init_cap}.model"
        export_checkpoint(init_from / MODEL_FILE, checkpoint, foundation)
        print(f"fine-tuning from {checkpoint} (epoch index {epoch}, cap {init_cap})", flush=True)
    elif init_from is not None:
        foundation = init_from
        print(f"fine-tuning from model {foundation}", flush=True)
    elements = sorted({int(z) for a in chosen for z in a.numbers})
    held = model_e0s(foundation, elements) if foundation is not None else {z: 0.0 for z in elements}

    write_structures(out_dir / "train.extxyz", training_frames(targets, fidelity, fit, held))
    valid_path = None
    if valid_file is not None:
        valid_path = out_dir / "valid.extxyz"
        valid = _targets(read_structures(valid_file), fidelity, _base_by_id(base_valid), base_fidelity)
        write_structures(valid_path, training_frames(valid, fidelity, fit, held))
    replay_file = None
    if replay is not None:
        if foundation is None:
            raise ValueError("multi-head fine-tuning (replay data) needs a foundation model to start from")
        replay_file = Path("replay.extxyz")
        replayed = read_structures(replay)
        if replay_size is not None:
            replayed = [
                replayed[i] for i in subset(list(range(len(replayed))), replay_size, seed, what=f"replay data {replay}")
            ]
        write_structures(out_dir / replay_file, replay_frames(replayed, replay_keys))
    if replay_dataset is not None and foundation is None:
        raise ValueError(f"multi-head fine-tuning (replay data set {replay_dataset}) needs a foundation model")
    run = MaceRun(
        name=RUN_NAME,
        train_file=Path("train.extxyz"),
        seed=seed,
        max_epochs=max_epochs,
        e0s=held,
        device=resolve_device(device),
        valid_file=Path("valid.extxyz") if valid_path else None,
        foundation_model=foundation.resolve() if foundation else None,
        replay_file=replay_file,
        replay_dataset=replay_dataset,
        replay_samples=replay_size if replay_dataset is not None else None,
        keep_checkpoints=keep_checkpoints or bool(serve_caps),
        hyperparameters=hyperparameters,
    )
    fingerprint = run_fingerprint(
        run.command(),
        {
            "train": out_dir / "train.extxyz",
            "valid": valid_path,
            "replay": out_dir / replay_file if replay_file else None,
            **_starting_model_files(init_from, init_cap),
        },
        {
            "fidelity": fidelity,
            "base_fidelity": base_fidelity,
            "size": size,
            "seed": seed,
            "max_epochs": max_epochs,
            "init_cap": init_cap,
            "keep_checkpoints": keep_checkpoints,
            "serve_caps": serve_caps,
            "replay_size": replay_size,
            "replay_keys": replay_keys,
            "replay_dataset": replay_dataset,
        },
    )
    # model.model is written once mace has finished; Snakemake deletes training.json before a rerun
    start_or_resume(out_dir, fingerprint, RUN_NAME, (MODEL_FILE, E0S_FILE, INFO_FILE), finished=MODEL_FILE)
    stopped_early = _run(run.command(), out_dir, threads)
    if stopped_early:  # mace restarts from its best (latest) checkpoint, trains no epoch, writes the model
        best_epoch = max(checkpoints_by_epoch(run.checkpoint_dir(out_dir)))
        print(f"patience exceeded: the model is the checkpoint of epoch index {best_epoch}", flush=True)
        _run(dataclasses.replace(run, max_epochs=best_epoch).command(), out_dir, threads)
    log_text = "".join(p.read_text() for p in (out_dir / "logs").glob(f"{RUN_NAME}_run-{seed}*.log"))
    heads = None  # a model trained from scratch has mace's one default head; fine-tuned ones are checked
    multihead = replay_file is not None or replay_dataset is not None
    if multihead:
        heads = check_multihead(run.model_path(out_dir), log_text)
    elif foundation is not None:
        heads = model_heads(run.model_path(out_dir))
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        shutil.copyfile(run.model_path(out_dir), tmp)
    if serve_caps:
        for path in checkpoints_to_drop(run.checkpoint_dir(out_dir), serve_caps):
            path.unlink()
    e0s = {"fit": e0s_to_json(fit), "model": e0s_to_json(held), **reference_fit.as_json()}
    write_text_atomic(out_dir / E0S_FILE, json.dumps(e0s, indent=2) + "\n")
    info = {
        "fidelity": fidelity,
        "base_fidelity": base_fidelity,
        "size": size,
        "seed": seed,
        "max_epochs": max_epochs,
        "epochs_run": epochs_run(log_text),
        "stopped_early": stopped_early,
        "device": run.device,
        "wall_s": time.perf_counter() - start,
        "command": run.command(),
        "init_cap": init_cap,
        "n_without_base_labels": len(by_id) - len(eligible),
        "n_trained": len(chosen),
        "default_dtype": hyperparameters.get("default_dtype", "float64"),
        "foundation": str(init_from) if init_from is not None and not init_from.is_dir() else None,
        "heads": heads,
        "multihead": multihead,
        "replay_dataset": replay_dataset,
        "n_replay": len(replayed) if replay_file is not None else replay_size if multihead else None,
        "multihead_lr_forced": "To use a different learning rate, set --force_mh_ft_lr" in log_text,
    }
    write_text_atomic(out_dir / INFO_FILE, json.dumps(info, indent=2) + "\n")


def labelling_failures(pool: Path | None) -> int:
    """Configurations of a labelled pool that failed to label (its collect report beside it), 0 without one."""
    report = None if pool is None else Path(pool).with_name(Path(pool).name.removesuffix(".extxyz") + ".report.json")
    return int(json.loads(report.read_text()).get("n_failed", 0)) if report and report.is_file() else 0


def draw(eligible: list[int], size: int, seed: int, pool: Path, base_pool: Path | None = None) -> list[int]:
    """The ids of a training set: ``size`` of ``eligible`` drawn with ``seed`` (:func:`mftl.splits.subset`).

    A size that is the whole planned pool while labelling failures within
    ``labelling.max_failure_fraction`` left fewer labelled configurations trains on every
    labelled one, and says so (``n_trained`` in training.json); any other shortfall is refused.
    """
    failed = labelling_failures(pool) + labelling_failures(base_pool)
    if len(eligible) < size <= len(eligible) + failed:
        print(
            f"size {size}: {failed} configuration(s) of {pool} failed to label (within"
            f" labelling.max_failure_fraction), so this run trains on all {len(eligible)} labelled ones",
            flush=True,
        )
        size = len(eligible)
    return subset(eligible, size, seed, what=f"pool {pool}")


def refuse_undetermined(
    fit, test_file: Path, valid_file: Path | None, size: int, seed: int, dataset, fidelity: str, base_fidelity
) -> None:
    """Raise ValueError (the planning check's message) when the E0 fit ``fit`` leaves test or validation
    configurations outside the span of the training compositions."""
    found = {}
    for part, path in (("test", test_file), ("validation", valid_file)):
        frames = read_structures(path) if path is not None and Path(path).stat().st_size else []
        found[part] = [
            int(frames[i].info.get("config_id", i)) for i in outside_span(frames, fit.elements, fit.row_space)
        ]
        found[f"n_{part}"] = len(frames)
    if found["test"] or found["validation"]:
        elements = sorted({chemical_symbols[z] for z in fit.elements})
        fidelities = [fidelity] if base_fidelity is None else [fidelity, base_fidelity]
        problem = {"size": size, "seed": seed, **found}
        raise ValueError(undetermined_message(dataset or "?", fidelities, [problem], [], elements))


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
        _run(command, work, threads)
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
    in the fidelity comparison (:func:`mftl.tables.fidelity_comparison_table`): energy
    per atom relative to each side's own least-squares atomic reference energies fitted
    on the test set, so per-element constant offsets drop out and what remains is how
    the foundation's energy surface differs; forces are compared as they are. The
    predictions are written to ``predictions_out`` under ``<label>_energy`` and
    ``<label>_forces``.
    """
    from mftl.tables import fidelity_comparison_table, fidelity_errors

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
    checkpoint a fine-tuning with ``--init-cap`` starts from), exported to a temporary file.
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
        base = _base_by_id(base_file)
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
        **run_flags(model_dir),
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
