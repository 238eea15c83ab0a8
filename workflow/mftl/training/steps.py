"""The training job: train one MACE model in its run folder (``mftl train``).

:func:`train` does the file work of one training job (a :class:`mftl.training.training_job.TrainingJob`), in
steps that each take the job: draw the training set (:func:`draw_data`), fit the E0s
(:func:`fit_e0s`), resolve the model it starts from (:func:`resolve_start`), write the training,
validation and replay data (:func:`write_inputs`), run ``mace_run_train`` (in this process, see
:func:`mftl.training.mace_runner.run_mace`; :func:`run_training`), and record the results atomically
(:func:`record`). A
rerun in the same folder resumes from mace's latest checkpoint (``--restart_latest``
with the same run name) only when it is the same unfinished run; otherwise it trains
from scratch (see :mod:`mftl.training.resume`). The evaluation jobs are in :mod:`mftl.evaluation.jobs`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path

from ase.data import chemical_symbols

from mftl.atomic import atomic_path, write_text_atomic
from mftl.data.elements import check_covered, element_union, symbols_by_id
from mftl.data.reference_energies import (
    e0s_to_json,
    fit_reference,
    outside_span,
    training_prior,
    undetermined_message,
)
from mftl.data.splits import subset
from mftl.data.structures import (
    by_config_id,
    geometry_only,
    labels,
    read_structures,
    set_labels,
    write_structures,
)
from mftl.training.checkpoints import (
    checkpoint_for_cap,
    checkpoints_by_epoch,
    checkpoints_to_drop,
    epochs_run,
    export_checkpoint,
)
from mftl.training.e0_scale import model_e0s, training_frames
from mftl.training.foundations import check_multihead, model_heads
from mftl.training.mace_commands import ENERGY_KEY, FORCES_KEY, MaceRun
from mftl.training.mace_runner import resolve_device, run_mace
from mftl.training.resume import run_fingerprint, start_or_resume
from mftl.training.strategies import (
    PSEUDOLABELS_FILE,
    check_pseudolabels,
    recording_pseudolabels,
    trainable_parameters,
)
from mftl.training.training_job import TrainingJob

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


@dataclasses.dataclass
class TrainingData:
    """The drawn training set: its frames as labelled in the pool and as the model learns them."""

    chosen: list
    targets: list
    n_without_base_labels: int


@dataclasses.dataclass
class MaceInputs:
    """What mace trains on, written into the run folder: the command, the E0s the model holds, the files."""

    run: MaceRun
    held: dict[int, float]
    files: dict[str, Path | None]
    n_replay: int | None
    #: optimiser steps of one epoch (training and replay configurations over the batch size)
    steps_per_epoch: int = 1


def train(job: TrainingJob, out_dir: Path, threads: int = 1) -> None:
    """Train the model of ``job`` (:class:`mftl.training.training_job.TrainingJob`) into ``out_dir``.

    The steps, each a function of the job: :func:`draw_data` (``size`` configurations of the pool,
    with their Delta-learning base labels), :func:`fit_e0s` (the E0 fit, from the prior when there is
    one, refused when it leaves test energies undetermined), :func:`resolve_start` (the model it
    fine-tunes: a pre-training run's checkpoint at ``init_cap``, or a model file), :func:`write_inputs`
    (training, validation and replay data for mace), :func:`run_training` (``mace_run_train``, resumed
    only for the same unfinished run) and :func:`record` (the model, ``e0s.json`` and, last,
    ``training.json``: a complete ``training.json`` means a complete run).

    With ``serve_caps`` (a pre-training run), every improving checkpoint is kept while training and, once
    it finished, only those the caps are served from. With ``base_fidelity`` the model learns the
    difference ``fidelity - base_fidelity`` (Delta-learning); ``base_pool``/``base_valid`` hold the base
    labels of the same configurations; configurations without base labels (failed labelling) are not
    drawn, and counted in ``training.json``.

    With ``replay`` (and a foundation model in ``init_from``) the model is fine-tuned multi-head: mace
    trains a ``pt_head`` on the replay data beside the new head. The replay file holds
    ``REF_energy``/``REF_forces`` relative to the foundation's E0s, or total energies under
    ``replay_keys`` (energy, forces); ``replay_size`` replays a seeded random subset of it. A run that mace
    quietly turned into naive fine-tuning fails instead of being reported as multi-head.
    ``replay_dataset`` (``mp``, ...) instead replays mace's own data set, which mace downloads (network
    needed where the job runs); ``replay_size`` is then mace's ``--num_samples_pt``.
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = draw_data(job)
    reference_fit = fit_e0s(job, data)
    start = resolve_start(job, out_dir)
    inputs = write_inputs(job, out_dir, data, reference_fit.e0s, start)
    stopped_early, log_text, resumed_at = run_training(job, out_dir, inputs, threads)
    outcome = (stopped_early, log_text, time.perf_counter() - started, resumed_at)
    record(job, out_dir, data, reference_fit, inputs, outcome)


def draw_data(job: TrainingJob) -> TrainingData:
    """``size`` configurations of the pool drawn with ``seed`` (:func:`draw`), labelled with what the model
    learns; a validation element the training set lacks is refused here, before training."""
    by_id = by_config_id(read_structures(job.path("train_pool")))
    base = base_by_id(job.path("base_pool"))
    eligible = sorted(by_id) if base is None else sorted(set(by_id) & set(base))
    chosen = [by_id[i] for i in draw(eligible, job.size, job.seed, job.path("train_pool"), job.path("base_pool"))]
    if job.valid is not None:  # the model could not predict what it lacks
        check_covered(
            symbols_by_id(read_structures(job.valid)),
            element_union(symbols_by_id(chosen).values()),
            f"validation set {job.valid}",
            f"the training set ({job.size} of {job.train_pool}, seed {job.seed})",
        )
    targets = _targets(chosen, job.fidelity, base, job.base_fidelity)
    return TrainingData(chosen, targets, len(by_id) - len(eligible))


def fit_e0s(job: TrainingJob, data: TrainingData):
    """The least-squares E0s of the training targets, starting from ``prior`` (and for Delta-learning
    ``base_prior``; :func:`mftl.data.reference_energies.fit_reference`). With ``e0_span_test`` a fit without prior
    that leaves test or validation energies undetermined is refused before training (:func:`refuse_undetermined`)."""
    prior_e0s, prior_source = training_prior(
        job.path("prior"), job.path("base_prior"), delta=job.base_fidelity is not None
    )
    reference_fit = fit_reference(data.targets, job.fidelity, prior_e0s, prior_source)
    print(
        f"E0 fit: rank {reference_fit.rank} of {len(reference_fit.elements)} elements, condition number "
        f"{reference_fit.condition_number:.3g}, prior: {prior_source or 'none'}",
        flush=True,
    )
    if job.e0_span_test is not None and reference_fit.prior is None:
        refuse_undetermined(reference_fit, job)
    return reference_fit


def resolve_start(job: TrainingJob, out_dir: Path) -> Path | None:
    """The model file the run fine-tunes: a pre-training folder's checkpoint at ``init_cap`` epochs, exported
    into ``out_dir``, or the model file ``init_from``; None for a run from scratch."""
    init_from = job.path("init_from")
    if init_from is None:
        return None
    if init_from.is_dir():
        epoch, checkpoint = checkpoint_for_cap(init_from / "checkpoints", job.init_cap)
        start = out_dir / f"pretrained_cap{job.init_cap}.model"
        export_checkpoint(init_from / MODEL_FILE, checkpoint, start)
        print(f"fine-tuning from {checkpoint} (epoch index {epoch}, cap {job.init_cap})", flush=True)
        return start
    print(f"fine-tuning from model {init_from}", flush=True)
    return init_from


def write_inputs(
    job: TrainingJob, out_dir: Path, data: TrainingData, fit: dict[int, float], start: Path | None
) -> MaceInputs:
    """Training, validation and replay data in ``out_dir``, referenced to the E0s the model holds (zero unless
    the model it starts from brought its own), and the ``mace_run_train`` run that trains on them."""
    elements = sorted({int(z) for a in data.chosen for z in a.numbers})
    held = model_e0s(start, elements) if start is not None else {z: 0.0 for z in elements}
    write_structures(out_dir / TRAIN_FILE, training_frames(data.targets, job.fidelity, fit, held))
    valid_path = None
    if job.valid is not None:
        valid_path = out_dir / "valid.extxyz"
        valid = _targets(
            read_structures(job.valid), job.fidelity, base_by_id(job.path("base_valid")), job.base_fidelity
        )
        write_structures(valid_path, training_frames(valid, job.fidelity, fit, held))
    replay_file, n_replay = None, job.replay_size if job.replay_dataset is not None else None
    if job.replay is not None:
        if start is None:
            raise ValueError("multi-head fine-tuning (replay data) needs a foundation model to start from")
        replay_file = Path("replay.extxyz")
        replayed = read_structures(job.replay)
        if job.replay_size is not None:
            what = f"replay data {job.replay}"
            replayed = [replayed[i] for i in subset(list(range(len(replayed))), job.replay_size, job.seed, what=what)]
        write_structures(out_dir / replay_file, replay_frames(replayed, job.replay_keys))
        n_replay = len(replayed)
    if job.replay_dataset is not None and start is None:
        raise ValueError(f"multi-head fine-tuning (replay data set {job.replay_dataset}) needs a foundation model")
    steps = steps_per_epoch(len(data.chosen) + (n_replay or 0), job.hyperparameters)
    run = MaceRun(
        name=RUN_NAME,
        train_file=Path(TRAIN_FILE),
        seed=job.seed,
        max_epochs=job.max_epochs,
        e0s=held,
        device=resolve_device(job.device),
        valid_file=Path("valid.extxyz") if valid_path else None,
        foundation_model=start.resolve() if start else None,
        replay_file=replay_file,
        replay_dataset=job.replay_dataset,
        replay_samples=job.replay_size if job.replay_dataset is not None else None,
        keep_checkpoints=job.keep_checkpoints or bool(job.serve_caps),
        hyperparameters={**job.hyperparameters, **patience_flags(job, steps)},
        extra_flags=job.strategy_flags,
    )
    files = {
        "train": out_dir / TRAIN_FILE,
        "valid": valid_path,
        "replay": out_dir / replay_file if replay_file else None,
        **_starting_model_files(job.path("init_from"), job.init_cap),
    }
    return MaceInputs(run, held, files, n_replay, steps)


def steps_per_epoch(n_configs: int, hyperparameters: dict) -> int:
    """Optimiser steps of one epoch over ``n_configs`` configurations: batches of mace's ``batch_size`` (its
    default 10)."""
    return max(1, math.ceil(n_configs / int(hyperparameters.get("batch_size", 10))))


def patience_flags(job: TrainingJob, steps: int) -> dict[str, int]:
    """mace's ``patience`` (validations, every ``eval_interval`` epochs) and ``scheduler_patience`` (epochs) for
    the job's step patiences at ``steps`` optimiser steps per epoch, never below the stage's own flags: a
    training set of 15 configurations (3 steps per epoch) waits four times as many epochs as one of 60."""
    flags = job.hyperparameters
    out = {}
    if job.patience_steps is not None:
        per_validation = steps * int(flags.get("eval_interval", 1))
        out["patience"] = max(int(flags.get("patience", 0)), math.ceil(job.patience_steps / per_validation))
    if job.scheduler_patience_steps is not None:
        out["scheduler_patience"] = max(
            int(flags.get("scheduler_patience", 0)), math.ceil(job.scheduler_patience_steps / steps)
        )
    return out


def run_training(job: TrainingJob, out_dir: Path, inputs: MaceInputs, threads: int) -> tuple[bool, str, int | None]:
    """Run mace in ``out_dir``, resuming only the same unfinished run (the fingerprint: mace's command, the
    files it trains on and the job itself, :mod:`mftl.training.resume`); (stopped early, mace's log, the epoch
    index mace resumed at from a checkpoint of an interrupted run, None when it trained from its start)."""
    run = inputs.run
    fingerprint = run_fingerprint(run.command(), inputs.files, json.loads(job.to_json()))
    # model.model is written once mace has finished; Snakemake deletes training.json before a rerun
    outputs = (MODEL_FILE, E0S_FILE, INFO_FILE, PSEUDOLABELS_FILE)
    may_resume = start_or_resume(out_dir, fingerprint, RUN_NAME, outputs, finished=MODEL_FILE)
    # killed before its first checkpoint, a run starts afresh: only a checkpoint makes it a resumed run
    resumed_at = max(checkpoints_by_epoch(run.checkpoint_dir(out_dir)), default=None) if may_resume else None
    stopped_early = _run_mace(job, run.command(), out_dir, threads)
    if stopped_early:  # mace restarts from its best (latest) checkpoint, trains no epoch, writes the model
        best_epoch = max(checkpoints_by_epoch(run.checkpoint_dir(out_dir)))
        print(f"patience exceeded: the model is the checkpoint of epoch index {best_epoch}", flush=True)
        _run_mace(job, dataclasses.replace(run, max_epochs=best_epoch).command(), out_dir, threads)
    log_text = "".join(p.read_text() for p in (out_dir / "logs").glob(f"{RUN_NAME}_run-{job.seed}*.log"))
    return stopped_early, log_text, resumed_at


def _run_mace(job: TrainingJob, command: list[str], out_dir: Path, threads: int) -> bool:
    """:func:`mftl.training.mace_runner.run_mace`; a pseudolabelled replay writes the labels mace gave the replay
    data into the run folder."""
    if job.strategy != "pseudolabel":
        return run_mace(command, out_dir, threads)
    with recording_pseudolabels(out_dir / PSEUDOLABELS_FILE):
        return run_mace(command, out_dir, threads)


def record(job: TrainingJob, out_dir: Path, data: TrainingData, reference_fit, inputs: MaceInputs, outcome) -> None:
    """Check the heads of a fine-tuned model, move it into place, drop the checkpoints no cap is served from,
    and write ``e0s.json`` (``fit``: the target's least-squares E0s, ``model``: the E0s the model holds, the
    prior, rank and condition number of the fit) and, last, ``training.json``. ``outcome``: (stopped early,
    mace's log, wall seconds, the epoch index a resumed run continued at or None).

    ``training.json`` says what was trained where it may differ from the plan: ``n_trained`` (fewer than
    ``size`` when labelling failures left fewer, :func:`draw`), ``resumed`` (continued from a checkpoint of
    an interrupted run: a valid run, but not the uninterrupted one's numbers, :mod:`mftl.training.resume`)
    and, for a run that starts from other runs (a pre-training, chain stages), theirs under ``pretraining``
    (:func:`pretraining`)."""
    stopped_early, log_text, wall_s, resumed_at = outcome
    run = inputs.run
    multihead = job.replay is not None or job.replay_dataset is not None
    heads = None  # a model trained from scratch has mace's one default head; fine-tuned ones are checked
    if multihead:
        heads = check_multihead(run.model_path(out_dir), log_text)
    if job.strategy == "pseudolabel":
        check_pseudolabels(log_text)
    elif job.init_from is not None:
        heads = model_heads(run.model_path(out_dir))
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        shutil.copyfile(run.model_path(out_dir), tmp)
    if job.serve_caps:
        for path in checkpoints_to_drop(run.checkpoint_dir(out_dir), list(job.serve_caps)):
            path.unlink()
    e0s = {"fit": e0s_to_json(reference_fit.e0s), "model": e0s_to_json(inputs.held), **reference_fit.as_json()}
    write_text_atomic(out_dir / E0S_FILE, json.dumps(e0s, indent=2) + "\n")
    init_from = job.path("init_from")
    info = {
        "fidelity": job.fidelity,
        "base_fidelity": job.base_fidelity,
        "size": job.size,
        "seed": job.seed,
        "max_epochs": job.max_epochs,
        "steps_per_epoch": inputs.steps_per_epoch,
        "patience": inputs.run.hyperparameters.get("patience"),
        "scheduler_patience": inputs.run.hyperparameters.get("scheduler_patience"),
        "epochs_run": epochs_run(log_text),
        "stopped_early": stopped_early,
        "device": run.device,
        "wall_s": wall_s,
        "command": run.command(),
        "init_cap": job.init_cap,
        "n_without_base_labels": data.n_without_base_labels,
        "n_trained": len(data.chosen),
        "resumed": resumed_at is not None,
        "resumed_at_epoch": resumed_at,
        "pretraining": pretraining(init_from),
        "default_dtype": job.hyperparameters.get("default_dtype", "float64"),
        "foundation": str(init_from) if init_from is not None and not init_from.is_dir() else None,
        "heads": heads,
        "multihead": multihead,
        "replay_dataset": job.replay_dataset,
        "n_replay": inputs.n_replay if multihead else None,
        "multihead_lr_forced": "To use a different learning rate, set --force_mh_ft_lr" in log_text,
        "strategy": job.strategy,
        "trainable_parameters": trainable_parameters(run.foundation_model, out_dir / MODEL_FILE, log_text),
    }
    write_text_atomic(out_dir / INFO_FILE, json.dumps(info, indent=2) + "\n")


def pretraining(init_from: Path | None) -> dict | None:
    """What the runs a training starts from trained, from their ``training.json``: ``n_trained`` of the first
    of them (the pre-training; a chain's first stage: what curves.csv's ``pretrain_size`` plans) and whether
    any of them was ``resumed``; None when it starts from no run folder (from scratch, a model file)."""
    if init_from is None or not init_from.is_dir():
        return None
    info = json.loads((init_from / INFO_FILE).read_text())
    earlier = info.get("pretraining")
    return {
        "n_trained": earlier["n_trained"] if earlier else info.get("n_trained"),
        "resumed": bool(info.get("resumed") or (earlier or {}).get("resumed")),
    }


def labelling_failures(pool: Path | None) -> int:
    """Configurations of a labelled pool that failed to label (its collect report beside it), 0 without one."""
    report = None if pool is None else Path(pool).with_name(Path(pool).name.removesuffix(".extxyz") + ".report.json")
    return int(json.loads(report.read_text()).get("n_failed", 0)) if report and report.is_file() else 0


def draw(eligible: list[int], size: int, seed: int, pool: Path, base_pool: Path | None = None) -> list[int]:
    """The ids of a training set: ``size`` of ``eligible`` drawn with ``seed`` (:func:`mftl.data.splits.subset`).

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


def refuse_undetermined(fit, job: TrainingJob) -> None:
    """Raise ValueError (the planning check's message) when the E0 fit ``fit`` leaves test (``e0_span_test``)
    or validation configurations of ``job`` outside the span of the training compositions."""
    found = {}
    for part, path in (("test", job.e0_span_test), ("validation", job.valid)):
        frames = read_structures(path) if path is not None and Path(path).stat().st_size else []
        found[part] = [
            int(frames[i].info.get("config_id", i)) for i in outside_span(frames, fit.elements, fit.row_space)
        ]
        found[f"n_{part}"] = len(frames)
    if found["test"] or found["validation"]:
        elements = sorted({chemical_symbols[z] for z in fit.elements})
        fidelities = [job.fidelity] if job.base_fidelity is None else [job.fidelity, job.base_fidelity]
        problem = {"size": job.size, "seed": job.seed, **found}
        raise ValueError(undetermined_message(job.dataset or "?", fidelities, [problem], [], elements))


def run_flags(model_dir: Path) -> dict:
    """``reached_max_epochs`` of a trained model from its ``training.json`` ({} without one)."""
    info_file = Path(model_dir) / INFO_FILE
    if not info_file.is_file():
        return {}
    info = json.loads(info_file.read_text())
    if info.get("max_epochs") is None or info.get("epochs_run") is None:
        return {}
    return {"reached_max_epochs": bool(not info.get("stopped_early") and info["epochs_run"] >= info["max_epochs"])}


def trained_as(model_dir: Path, served_cap: bool = False) -> dict:
    """How a model was trained where it may differ from the plan, for its evaluation record (curves.csv):
    ``train_size_trained`` (its ``n_trained``), ``pretrain_size_trained`` (its pre-training's; with
    ``served_cap`` the model is a pre-training's, served at an epoch cap, and this is its own ``n_trained``)
    and ``resumed`` (it or a run it started from continued from a checkpoint of an interrupted run). {}
    without ``training.json``; a key is left out where an older ``training.json`` lacks what it needs."""
    info_file = Path(model_dir) / INFO_FILE
    if not info_file.is_file():
        return {}
    info = json.loads(info_file.read_text())
    earlier = info.get("pretraining") or {}
    if served_cap:
        sizes = {"pretrain_size_trained": info.get("n_trained")}
    else:
        sizes = {"train_size_trained": info.get("n_trained"), "pretrain_size_trained": earlier.get("n_trained")}
    found = {key: value for key, value in sizes.items() if value is not None}
    if "resumed" in info:
        found["resumed"] = bool(info["resumed"] or earlier.get("resumed"))
    return found
