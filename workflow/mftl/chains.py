"""Where each stage of a fidelity chain is trained, shared by the rules and the cost accounting.

A dataset's ``chain`` lists stages before its own fine-tuning. Stage 0 is a
low-fidelity pre-training run (the one ``mftl`` uses). Stage k >= 1 fine-tunes
stage k-1 on a dataset's training pool. When stage 1 is exactly a model the
campaign trains anyway -- the ``mftl`` model of stage 0's dataset at that
pre-training size, epoch cap and training size, on its high fidelity -- the
chain uses that model instead of training an identical copy (the paper's
DFTB -> PBE0+MBD stage on QM7-X serves all three CCSD(T) molecules).
"""

from __future__ import annotations

from collections.abc import Mapping


def stage_run(config: Mapping, dataset: str, k: int, seed: int | str) -> tuple[str, str, str]:
    """(run folder, benchmark path, how to start from it) of stage ``k`` of ``dataset``'s chain.

    The last element is ``folder`` for a pre-training run (served at the stage's
    epoch cap) or ``model`` for a trained model file ``<folder>/model.model``.
    """
    chain = config["datasets"][dataset]["chain"]
    first = chain[0]
    if k == 0:
        run = f"pretrain/p{first['size']}_s{seed}"
        return f"results/{first['dataset']}/{run}", f"results/{first['dataset']}/benchmarks/{run}.tsv", "folder"
    stage = chain[k]
    if k == 1 and reuses_mftl_model(config, dataset):
        tag = f"p{first['size']}_e{first['epoch_cap']}_n{stage['size']}_s{seed}"
        return (f"results/{stage['dataset']}/models/mftl/{tag}",
                f"results/{stage['dataset']}/benchmarks/mftl/{tag}.tsv", "model")
    run = f"stage{k}_s{seed}"
    return f"results/{dataset}/chain/{run}", f"results/{dataset}/benchmarks/chain/{run}.tsv", "model"


def reuses_mftl_model(config: Mapping, dataset: str) -> bool:
    """Whether stage 1 of the chain is the same training as an ``mftl`` model of stage 0's dataset
    (same pre-training run and cap, same training pool, size, seed, validation set and settings)."""
    chain = config["datasets"][dataset]["chain"]
    if len(chain) < 2:
        return False
    first, second = chain[0], chain[1]
    source = config["datasets"][first["dataset"]]
    return second["dataset"] == first["dataset"] and second["fidelity"] == source["high_fidelity"]
