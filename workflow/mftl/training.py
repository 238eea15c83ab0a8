"""The training job: train one MACE model in its run folder (``mftl train``).

:func:`train` does the file work of one training job: draw the training set
(:func:`draw`), fit the E0s (:mod:`mftl.reference_energies`), write the training,
validation and replay data, run ``mace_run_train`` (in this process, see
:func:`mftl.mace_commands.run_mace`), and move the results into place atomically. A
rerun in the same folder resumes from mace's latest checkpoint (``--restart_latest``
with the same run name) only when it is the same unfinished run; otherwise it trains
from scratch (see :mod:`mftl.resume`). The evaluation jobs are in :mod:`mftl.evaluation`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

from ase.data import chemical_symbols

from mftl.atomic import atomic_path, write_text_atomic
from mftl.checkpoints import (
    checkpoint_for_cap,
    checkpoints_by_epoch,
    checkpoints_to_drop,
    epochs_run,
    export_checkpoint,
)
from mftl.elements import check_covered, element_union, symbols_by_id
from mftl.foundations import check_multihead, model_heads
from mftl.mace_commands import ENERGY_KEY, FORCES_KEY, MaceRun, model_e0s, resolve_device, run_mace, training_frames
from mftl.reference_energies import (
    e0s_to_json,
    fit_reference,
    outside_span,
    training_prior,
    undetermined_message,
)
from mftl.resume import run_fingerprint, start_or_resume
from mftl.splits import subset
from mftl.structures import (
    by_config_id,
    geometry_only,
    labels,
    read_structures,
    set_labels,
    write_structures,
)

RUN_NAME = "mace"
MODEL_FILE = "model.model"
E0S_FILE = "e0s.json"
INFO_FILE = "training.json"
#: the training data of a run, as mace read it
TRAIN_FILE = "train.extxyz"


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


def base_by_id(path: Path | None) -> dict | None:
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
    :func:`mftl.reference_energies.fit_reference`); ``e0s.json`` records the prior, the
    rank and condition number of the fit. With ``e0_span_test`` (the test configurations) a fit
    without prior that leaves test or validation energies undetermined is refused before training
    (:func:`refuse_undetermined`).
    """
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = by_config_id(read_structures(train_pool))
    base = base_by_id(base_pool)
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
        valid = _targets(read_structures(valid_file), fidelity, base_by_id(base_valid), base_fidelity)
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
    stopped_early = run_mace(run.command(), out_dir, threads)
    if stopped_early:  # mace restarts from its best (latest) checkpoint, trains no epoch, writes the model
        best_epoch = max(checkpoints_by_epoch(run.checkpoint_dir(out_dir)))
        print(f"patience exceeded: the model is the checkpoint of epoch index {best_epoch}", flush=True)
        run_mace(dataclasses.replace(run, max_epochs=best_epoch).command(), out_dir, threads)
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
