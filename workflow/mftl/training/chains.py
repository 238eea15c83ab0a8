"""Where each stage of a fidelity chain is trained, shared by the rules and the cost accounting.

A dataset's ``chains`` maps chain names to stage lists, the stages before the
dataset's own fine-tuning; method ``chain`` runs every named chain, each as its
own method ``chain_<name>`` (``results/<dataset>/models/chain_<name>/...``).

Stage 0 is either a low-fidelity pre-training run (it has an ``epoch_cap``: the
run ``mftl`` uses, served at that cap; the paper's triple fidelity) or, without
``epoch_cap``, a model trained from scratch on a dataset's high fidelity: the
campaign's own ``scratch`` run ``results/<dataset>/models/scratch/n<size>_s<seed>``
(the paper's double fidelity). Stage k >= 1 fine-tunes stage k-1 on a dataset's
training pool. When stage 1 after a pre-training is exactly a model the campaign
trains anyway -- the ``mftl`` model of stage 0's dataset at that pre-training
size, epoch cap and training size, on its high fidelity -- the chain uses that
model instead of training an identical copy (the paper's DFTB -> PBE0+MBD stage
on QM7-X serves every chain and dataset that names it).
"""

from __future__ import annotations

from collections.abc import Mapping

from mftl import paths
from mftl.methods import CHAIN_PREFIX


def chain_method(name: str) -> str:
    """The method (curve and run folder) name of chain ``name``."""
    return f"{CHAIN_PREFIX}{name}"


def is_chain_method(method: str) -> bool:
    return method.startswith(CHAIN_PREFIX)


def chain_name(method: str) -> str:
    """The chain name of a ``chain_<name>`` method."""
    if not is_chain_method(method):
        raise ValueError(f"{method!r} is not a chain method (chain_<name>)")
    return method[len(CHAIN_PREFIX) :]


def stages(config: Mapping, dataset: str, name: str) -> list:
    """The stages of ``dataset``'s chain ``name``."""
    try:
        return config["datasets"][dataset]["chains"][name]
    except KeyError:
        raise ValueError(f"no chain {name!r} in datasets.{dataset}.chains") from None


def starts_from_scratch(stage: Mapping) -> bool:
    """Whether a first stage is a model trained from scratch (no ``epoch_cap``) rather than a pre-training run."""
    return "epoch_cap" not in stage


def stage_run(config: Mapping, dataset: str, name: str, k: int, seed: int | str) -> tuple[str, str, str]:
    """(run folder, benchmark path, how to start from it) of stage ``k`` of ``dataset``'s chain ``name``.

    The last element is ``folder`` for a pre-training run (served at the stage's
    epoch cap) or ``model`` for a trained model file ``<folder>/model.model``.
    """
    chain = stages(config, dataset, name)
    first = chain[0]
    if k == 0:
        if starts_from_scratch(first):
            tag = paths.run_tag(first["size"], seed)
            return (
                paths.model_dir(first["dataset"], "scratch", tag),
                paths.benchmark(first["dataset"], "scratch", tag),
                "model",
            )
        tag = paths.pretrain_tag(first["size"], seed)
        return paths.pretrain_dir(first["dataset"], tag), paths.benchmark(first["dataset"], "pretrain", tag), "folder"
    stage = chain[k]
    if k == 1 and reuses_mftl_model(config, dataset, name):
        tag = paths.mftl_tag(first["size"], first["epoch_cap"], stage["size"], seed)
        return paths.model_dir(stage["dataset"], "mftl", tag), paths.benchmark(stage["dataset"], "mftl", tag), "model"
    method, tag = chain_method(name), paths.stage_tag(k, seed)
    return paths.stage_dir(dataset, method, tag), paths.benchmark(dataset, method, tag), "model"


def reuses_mftl_model(config: Mapping, dataset: str, name: str) -> bool:
    """Whether stage 1 of the chain is the same training as an ``mftl`` model of stage 0's dataset
    (same pre-training run and cap, same training pool, size, seed, validation set and settings)."""
    chain = stages(config, dataset, name)
    if len(chain) < 2 or starts_from_scratch(chain[0]):
        return False
    first, second = chain[0], chain[1]
    source = config["datasets"][first["dataset"]]
    return second["dataset"] == first["dataset"] and second["fidelity"] == source["high_fidelity"]


def fidelities(config: Mapping, dataset: str, name: str) -> str:
    """The chain's fidelities in order, ending with the dataset's own high fidelity: ``dftb->pbe0mbd->ccsdt``."""
    chain = stages(config, dataset, name)
    return "->".join([stage["fidelity"] for stage in chain] + [config["datasets"][dataset]["high_fidelity"]])
