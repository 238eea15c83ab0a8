"""Named fidelity chains: double fidelity (a scratch model, then the target) beside triple fidelity
(a pre-training run, a fine-tuning, then the target), on the tiny campaign's real runs and dry runs."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, full_tiny_config, run_snakemake, tiny_config
from mftl.planning.config import ConfigError, check_config

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.mark.slow
def test_double_chain_fine_tunes_the_other_datasets_scratch_model(tiny_campaign):
    """chain_double = [tiny_foundation's scratch model n10] -> tiny: each final run starts from that
    very model file, which the campaign trained once (for the foundation analog too), not again."""
    scratch = tiny_campaign / "results/tiny_foundation/models/scratch/n10_s0"
    for size in (5, 10):
        run = tiny_campaign / f"results/tiny/models/chain_double/n{size}_s0"
        info = json.loads((run / "training.json").read_text())
        assert f"--foundation_model={(scratch / 'model.model').resolve()}" in info["command"]
        assert info["foundation"] == "results/tiny_foundation/models/scratch/n10_s0/model.model"
        assert info["init_cap"] is None and info["size"] == size and info["fidelity"] == "ref"
        # trained on tiny's own pool, not the other molecule's
        assert "CH3CONH2" not in (run / "train.extxyz").read_text()
    assert not (tiny_campaign / "results/tiny/chain_double").exists()  # no stage of its own was trained
    assert [p.name for p in (tiny_campaign / "results/tiny_foundation/models/scratch").iterdir()] == ["n10_s0"]

    curves = pd.read_csv(tiny_campaign / "results/tiny/curves.csv")
    double = curves[curves.method == "chain_double"]
    assert sorted(double.train_size) == [5, 10] and set(double.fidelities) == {"ref->ref"}
    assert double[["pretrain_size", "epoch_cap"]].isna().all().all()  # no pre-training in this chain

    # its cost: the scratch stage's job (its benchmark) and labels (ref costs 0.05 s a label, config)
    costs = pd.read_csv(tiny_campaign / "results/tiny/costs.csv").set_index(["method", "train_size"])
    bench = pd.read_csv(tiny_campaign / "results/tiny_foundation/benchmarks/scratch/n10_s0.tsv", sep="\t")
    labels = 0.05 * (10 + 2)  # its 10 training and 2 validation configurations
    for size in (5, 10):
        row = costs.loc[("chain_double", size)]
        assert row["chain_stages_s"] == pytest.approx(float(bench["s"].iloc[-1]) + labels, rel=1e-9)
        assert row["pretrain_s"] == 0 and row["lf_labels_s"] == 0
        assert math.isclose(row["hf_labels_s"], 0.05 * (size + 5), rel_tol=1e-9)  # tiny: size + 5 validation
    for ext in ("png", "pdf"):
        assert (tiny_campaign / f"results/tiny/figures/fidelity_chain.{ext}").stat().st_size > 5000


def _job_counts(result) -> dict[str, int]:
    stats = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    return {rule: int(count) for rule, count in (line.split() for line in stats.splitlines()[3:])}


def _dry_run(config: dict, workdir: Path):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(["--configfile", "config.yaml", "-n"], workdir, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_dry_run_plans_both_named_chains(tiny_source, tmp_path):
    """Per rule: a final fine-tuning per chain, size and seed; the triple chain's middle stage (on another
    dataset, so not an mftl model) once; the double chain's first stage is a scratch job of the grid,
    or one scratch job more where its size is not a training size of that dataset."""
    config = full_tiny_config(tiny_source)
    result = _dry_run(config, tmp_path / "both")
    counts = _job_counts(result)
    assert counts["chain"] == 2 * 2  # chains double and triple, sizes 5 and 10, seed 0
    assert counts["chain_stage"] == 1  # triple's stage 1 (tiny_foundation's ref)
    assert counts["scratch"] == 2 + 1  # tiny's grid and tiny_foundation's grid only
    assert counts["pretrain"] == 1
    for name in ("double", "triple"):
        for size in (5, 10):
            assert f"results/tiny/eval/chain_{name}/n{size}_s0.json" in result.stdout
    assert "results/tiny/chain_triple/stage1_s0/training.json" in result.stdout

    config["datasets"]["tiny"]["chains"]["double"][0]["size"] = 5  # not a training size of tiny_foundation
    counts = _job_counts(_dry_run(config, tmp_path / "other_size"))
    assert counts["scratch"] == 2 + 2 and counts["chain"] == 4


def _chains_config() -> dict:
    config = tiny_config(Path("x.extxyz"), methods=["scratch", "mftl", "chain"])
    config["datasets"]["other"] = copy.deepcopy(config["datasets"]["tiny"])
    config["datasets"]["other"].update(methods=["scratch"], train_sizes=[10])
    config["datasets"]["tiny"]["chains"] = {
        "double": [{"dataset": "other", "fidelity": "ref", "size": 10}],
        "triple": [
            {"dataset": "tiny", "fidelity": "gfn1", "size": 40, "epoch_cap": 3},
            {"dataset": "other", "fidelity": "ref", "size": 10},
        ],
    }
    return config


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["chains"]["double"][0].update(size=11),
            r"config key 'datasets.tiny.chains.double\[0\].size': 11 is larger than the training pool of datasets.other",
        ),
        (
            lambda d: d["chains"]["double"][0].update(fidelity="gfn1"),
            r"config key 'datasets.tiny.chains.double\[0\].fidelity': a first stage without epoch_cap is a model trained "
            r"from scratch on the high fidelity of datasets.other \('ref'\); a pre-training on 'gfn1' needs an epoch_cap",
        ),
        (
            lambda d: d["chains"]["triple"][1].update(epoch_cap=3),
            r"config key 'datasets.tiny.chains.triple\[1\].epoch_cap': only the first stage",
        ),
        (
            lambda d: d.update(chain=d.pop("chains")["triple"]),
            r"config key 'datasets.tiny.chain': replaced by named chains, 'datasets.tiny.chains: \{<name>: \[<stages>\]\}'",
        ),
        (
            lambda d: d["chains"].update(with_underscore=d["chains"]["double"]),
            r"config key 'datasets.tiny.chains': 'with_underscore' does not match",
        ),
        (lambda d: d.update(chains={}), r"config key 'datasets.tiny.chains'"),
    ],
)
def test_bad_chain_names_the_key(mutate, message):
    config = _chains_config()
    check_config(copy.deepcopy(config), SCHEMA)  # valid before the mutation
    mutate(config["datasets"]["tiny"])
    with pytest.raises(ConfigError, match=message):
        check_config(config, SCHEMA)
