"""Fine-tuning strategies mace ships (layer freezing, LoRA, pseudolabelled replay), on a real campaign of their own:
each does what it says, checked against the model files, and each fine-tuned model carries the right E0s.

The campaign: a pre-trained (GFN1-xTB) model and a foundation analog (a scratch model of another molecule), both
of H, C and O like the target, so the fine-tuned models hold the same elements as the models they start from and
their parameters compare tensor by tensor.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

from conftest import REPO, _tiny_dataset, run_campaign, run_snakemake, tiny_config
from mftl.data.structures import read_structures
from mftl.methods import STRATEGY_METHODS
from mftl.training.checkpoints import checkpoints_by_epoch

STRATEGIES = tuple(STRATEGY_METHODS)
#: mace's layers a --freeze=5 run keeps (embedding, interactions) and trains (products, readouts)
FROZEN, TRAINED = ("node_embedding.", "interactions."), ("products.", "readouts.")


def strategy_config(source: Path) -> dict:
    config = tiny_config(source)
    tiny = config["datasets"]["tiny"]
    tiny.update(
        select={"key": "molecule", "include": ["CH3OH"]},
        split={"seed": 0, "test": 4, "validation": 3, "pretrain_pool": 10},
        train_sizes=[5],
        pretrain_sizes=[10],
        epoch_caps=[2],
        methods=["scratch", *STRATEGIES],
        foundation="analog",
    )
    config["datasets"]["tiny_foundation"] = _tiny_dataset(source, {"include": ["CH3CHO"]}, (3, 2, 0), [10], ["scratch"])
    config["foundations"] = {
        "analog": {
            "trained_by": {"dataset": "tiny_foundation", "method": "scratch", "train_size": 10, "seed": 0},
            "replay_size": 6,
        }
    }
    config["training"]["pretrain"]["batch_size"] = 5  # 9 of the 10 pre-training configurations train
    config["training"]["finetune"]["max_epochs"] = 3
    config["training"]["multihead"]["max_epochs"] = 3
    return config


@pytest.fixture(scope="module")
def strategy_campaign(tiny_source, tmp_path_factory) -> Path:
    what = "the strategies campaign (fixture strategy_campaign, tests/test_strategies.py)"
    return run_campaign(strategy_config(tiny_source), tmp_path_factory.mktemp("strategies"), what)


def _run(campaign: Path, method: str) -> Path:
    tag = "p10_e2_n5_s0" if method.startswith("mftl") else "analog_n5_s0"
    return campaign / f"results/tiny/models/{method}/{tag}"


def _start(campaign: Path, method: str) -> Path:
    """The model file a strategy's run started from: the pre-trained model at its cap, or the foundation."""
    if method.startswith("mftl"):
        return _run(campaign, method) / "pretrained_cap2.model"
    return campaign / "results/tiny_foundation/models/scratch/n10_s0/model.model"


def _parameters(path: Path) -> dict[str, torch.Tensor]:
    return dict(torch.load(path, map_location="cpu", weights_only=False).named_parameters())


def _state(path: Path) -> dict[str, torch.Tensor]:
    """Parameters and buffers: a fine-tuned model may train what its start held as a buffer (mace's bessel weights)."""
    return torch.load(path, map_location="cpu", weights_only=False).state_dict()


def test_the_dry_run_of_the_demo_with_every_strategy_shows_their_flags():
    """The demo with the five strategy methods (the shipped overlay config/demo_strategies.yaml) plans, and the
    training commands carry mace's flags."""
    overlay = ["--configfile", "config/config.yaml", "config/demo_strategies.yaml"]
    result = run_snakemake(["-n", "-p", "--forceall", *overlay], REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    flags = {
        "mftl_freeze": "--freeze=5",
        "mftl_lora": "--lora=True",
        "foundation_freeze": "--freeze=5",
        "foundation_lora": "--lora=True",
        "foundation_pseudolabel": "--pseudolabel_replay=True",
    }
    jobs = result.stdout.split("\nrule ")
    for method, flag in flags.items():
        commands = [job for job in jobs if job.startswith(f"{method}:")]
        assert commands, f"no {method} job planned"
        assert all(flag in job for job in commands), method
    naive = [job for job in jobs if job.startswith(("mftl:", "foundation:"))]
    assert naive and not any("--freeze" in job or "--lora" in job for job in naive)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mftl_freeze", "foundation_freeze"])
def test_freezing_keeps_the_frozen_layers_bit_for_bit_and_trains_the_others(strategy_campaign, method):
    before = _state(_start(strategy_campaign, method))
    after = _parameters(_run(strategy_campaign, method) / "model.model")
    assert set(after) <= set(before)
    frozen = [name for name in after if name.startswith(FROZEN)]
    trained = [name for name in after if name.startswith(TRAINED)]
    assert frozen and trained
    for name in frozen:
        assert torch.equal(before[name], after[name]), f"{method}: frozen {name} changed"
    assert any(not torch.equal(before[name], after[name]) for name in trained), f"{method}: nothing trained"
    info = json.loads((_run(strategy_campaign, method) / "training.json").read_text())
    assert info["strategy"] == "freeze" and "--freeze=5" in info["command"]
    changed = sum(after[name].numel() for name in after if not torch.equal(before[name], after[name]))
    assert info["trainable_parameters"] == changed < sum(p.numel() for p in after.values())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mftl_lora", "foundation_lora"])
def test_lora_keeps_the_base_weights_and_the_evaluated_model_is_base_plus_the_low_rank_update(
    strategy_campaign, method
):
    """The best checkpoint holds the base weights (unchanged) and the adapters; the model file mftl evaluates is
    mace's merge of both: it predicts what the unmerged model (the starting model with mace's adapters injected
    and the checkpoint loaded) predicts, and holds no adapters."""
    from mace.calculators import MACECalculator
    from mace.modules.lora import inject_LoRAs

    run = _run(strategy_campaign, method)
    info = json.loads((run / "training.json").read_text())
    assert info["strategy"] == "lora" and "--lora=True" in info["command"]
    start = torch.load(_start(strategy_campaign, method), map_location="cpu", weights_only=False)
    base = dict(start.named_parameters())
    checkpoint = torch.load(max(checkpoints_by_epoch(run / "checkpoints").items())[1], map_location="cpu")["model"]
    unmerged = inject_LoRAs(start, rank=4, alpha=1.0)
    unmerged.load_state_dict(checkpoint)
    adapters = [param for name, param in unmerged.named_parameters() if "lora" in name]
    assert adapters and info["trainable_parameters"] == sum(param.numel() for param in adapters)
    for name, param in unmerged.named_parameters():  # the wrapped base weights are the starting model's
        plain = name.replace(".base.", ".").replace(".base_linear.", ".").replace(".base_layer.", ".")
        if "lora" not in name and plain in base:
            assert torch.equal(param.detach(), base[plain].detach()), f"{method}: base weight {name} changed"
    merged_file = run / "model.model"
    assert not [n for n, _ in torch.load(merged_file, weights_only=False).named_parameters() if "lora" in n]
    unmerged_file = run.parent / f"{run.name}_unmerged.model"
    torch.save(unmerged, unmerged_file)
    test = read_structures(strategy_campaign / "results/tiny/labels/test.ref.extxyz")
    for path_a, path_b in ((merged_file, unmerged_file),):
        calc_a = MACECalculator(model_paths=str(path_a), device="cpu", default_dtype="float64")
        calc_b = MACECalculator(model_paths=str(path_b), device="cpu", default_dtype="float64")
        for atoms in test:
            a, b = atoms.copy(), atoms.copy()
            a.calc, b.calc = calc_a, calc_b
            assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-4)
            np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-4)
    unmerged_file.unlink()


@pytest.mark.slow
def test_pseudolabelled_replay_trains_on_the_foundations_own_predictions(strategy_campaign):
    """The replay labels mace trained the pt_head on equal the foundation's predictions (mace's calculator,
    here), and differ from the replay file's original labels."""
    from mace.calculators import MACECalculator

    run = _run(strategy_campaign, "foundation_pseudolabel")
    info = json.loads((run / "training.json").read_text())
    assert info["strategy"] == "pseudolabel" and info["multihead"] and "--pseudolabel_replay=True" in info["command"]
    pseudo = read_structures(run / "pseudolabels.extxyz")
    replay = read_structures(run / "replay.extxyz")
    assert len(pseudo) == len(replay) == 6
    calc = MACECalculator(model_paths=str(_start(strategy_campaign, "foundation_pseudolabel")), device="cpu")
    original = {tuple(np.round(a.positions, 6).ravel()): a.info["REF_energy"] for a in replay}
    moved = []
    for frame in pseudo:
        atoms = Atoms(numbers=frame.numbers, positions=frame.positions)
        atoms.calc = calc
        assert frame.info["pseudo_energy"] == pytest.approx(atoms.get_potential_energy(), abs=1e-4)
        np.testing.assert_allclose(frame.arrays["pseudo_forces"], atoms.get_forces(), atol=1e-4)
        moved.append(abs(frame.info["pseudo_energy"] - original[tuple(np.round(frame.positions, 6).ravel())]))
    assert max(moved) > 1e-3, "the pseudolabels are the replay file's own labels"


@pytest.mark.slow
@pytest.mark.parametrize("method", STRATEGIES)
def test_every_strategy_keeps_the_e0s_of_the_model_it_starts_from(strategy_campaign, method):
    """mace is given the E0s the starting model holds (mftl re-references the data to them); the fine-tuned
    model's energy of an isolated atom is that E0, whatever the strategy, and the evaluation puts the
    fidelity's fitted E0 (from the ref fidelity's isolated-atom prior) in its place."""
    from mace.calculators import MACECalculator

    run = _run(strategy_campaign, method)
    start = torch.load(_start(strategy_campaign, method), map_location="cpu", weights_only=False)
    held = dict(
        zip(start.atomic_numbers.tolist(), start.atomic_energies_fn.atomic_energies.flatten().tolist(), strict=True)
    )
    e0s = json.loads((run / "e0s.json").read_text())
    model = torch.load(run / "model.model", map_location="cpu", weights_only=False)
    heads = len(getattr(model, "heads", ["Default"]))
    calc = MACECalculator(
        model_paths=str(run / "model.model"), device="cpu", head=getattr(model, "heads", ["Default"])[-1]
    )
    for z in model.atomic_numbers.tolist():
        assert float(e0s["model"][str(z)]) == pytest.approx(held[z], abs=1e-6)
        atom = Atoms(numbers=[z], positions=[[0.0, 0.0, 0.0]])
        atom.calc = calc
        assert atom.get_potential_energy() == pytest.approx(held[z], abs=1e-5), f"{method}: Z={z}"
    assert heads == (2 if method == "foundation_pseudolabel" else 1)
    prior = {int(k): v for k, v in e0s["prior"].items()}
    assert set(prior) >= {1, 6, 8}


@pytest.mark.slow
def test_every_strategy_has_its_learning_curve_costs_and_advice(strategy_campaign):
    import pandas as pd

    curves = pd.read_csv(strategy_campaign / "results/tiny/curves.csv")
    assert set(STRATEGIES) <= set(curves.method)
    costs = pd.read_csv(strategy_campaign / "results/tiny/costs.csv")
    assert set(STRATEGIES) <= set(costs.method)
    assert (costs[costs.method.str.startswith("mftl")]["pretrain_s"] > 0).all()
    advice = (strategy_campaign / "results/tiny/advice.txt").read_text()
    assert all(method in advice for method in STRATEGIES)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lora": {"lora": False}}, "training.strategies.lora.lora': the lora strategy needs it true"),
        ({"pseudolabel": {"pseudolabel_replay": False}}, "training.strategies.pseudolabel.pseudolabel_replay'"),
        ({"freeze": {"freeze": 0}}, "training.strategies.freeze.freeze': freezes nothing"),
        ({"lora": {"lora_rnk": 8}}, "training.strategies.lora.lora_rnk': mace_run_train has no option"),
        ({"lora": {"lora_rank": "many"}}, "training.strategies.lora.lora_rank': '--lora_rank' expects int"),
    ],
)
def test_a_strategy_setting_that_undoes_the_strategy_or_mace_does_not_know_is_refused(tiny_source, settings, message):
    from mftl.planning.config import ConfigError, check_config

    config = strategy_config(tiny_source)
    config["training"]["strategies"] = settings
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(config, REPO / "workflow/schemas/config.schema.yaml")


def test_a_strategys_settings_override_the_defaults_and_the_stage(tiny_source):
    from mftl.planning.campaign import Campaign
    from mftl.planning.config import check_config

    config = strategy_config(tiny_source)
    config["training"]["strategies"] = {"lora": {"lora_rank": 8}}
    campaign = Campaign(check_config(config, REPO / "workflow/schemas/config.schema.yaml"))
    job = campaign.mftl_job("tiny", 10, 2, 5, 0, method="mftl_lora")
    assert job.strategy == "lora"
    assert job.strategy_flags == ("--lora=True", "--lora_alpha=1.0", "--lora_rank=8", "--lr=0.01")
    command = " ".join(json.loads(job.to_json())["strategy_flags"])
    assert (
        "--lora_rank=8" in command and job.hyperparameters.get("lr") != 0.01
    )  # the stage's lr, overridden by mace's argparse
    assert campaign.mftl_job("tiny", 10, 2, 5, 0).strategy_flags == ()
