"""Foundation fine-tuning (naive and multi-head) and fidelity chains, on the tiny campaign's real runs."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from mftl.data.structures import read_structures
from mftl.methods import METHODS as ALL_METHODS
from mftl.methods import STRATEGY_METHODS
from mftl.training.foundations import FoundationUnavailable, check_multihead, fetch_named, mace_cache_path, model_heads
from mftl.training.mace_commands import MaceRun

#: the curve methods of the tiny campaign: every method but the fine-tuning strategies (their own campaign:
#: tests/test_strategies.py), method chain as its two named chains
METHODS = {*ALL_METHODS} - {"chain", *STRATEGY_METHODS} | {"chain_triple", "chain_double"}


def _info(results: Path, method: str, tag: str) -> dict:
    return json.loads((results / f"models/{method}/{tag}/training.json").read_text())


@pytest.mark.slow
def test_every_method_has_a_row_per_size_and_seed_in_the_campaign_table(tiny_campaign):
    curves = pd.read_csv(tiny_campaign / "results/curves.csv")
    tiny = curves[curves.dataset == "tiny"]
    assert set(tiny.method) == METHODS
    for method in METHODS - {"mftl", "foundation_zeroshot"}:
        assert sorted(tiny[tiny.method == method].train_size) == [5, 10], method
    assert list(tiny[tiny.method == "foundation_zeroshot"].train_size) == [0]  # no training set
    assert set(tiny[tiny.method == "chain_triple"].fidelities) == {"gfn1->ref->ref"}
    assert set(tiny[tiny.method == "chain_double"].fidelities) == {"ref->ref"}
    assert set(tiny[tiny.method == "foundation"].fidelities) == {"analog->ref"}
    # the foundation analog's own dataset is in the campaign table too
    assert list(curves[curves.dataset == "tiny_foundation"].method) == ["scratch"]


@pytest.mark.slow
def test_foundation_methods_start_from_the_analog_trained_on_another_molecule(tiny_campaign):
    results = tiny_campaign / "results/tiny"
    analog = tiny_campaign / "results/tiny_foundation/models/scratch/n10_s0"
    split = json.loads((tiny_campaign / "results/tiny_foundation/splits/split.json").read_text())
    target = json.loads((tiny_campaign / "results/tiny/splits/split.json").read_text())
    analog_ids = set(split["train_pool"]) | set(split["validation"]) | set(split["test"])
    target_ids = {i for part in ("train_pool", "validation", "test", "pretrain_pool") for i in target[part]}
    assert analog_ids and not analog_ids & target_ids, "the foundation's configurations are outside the target space"
    for method in ("foundation", "foundation_multihead"):
        info = _info(results, method, "analog_n10_s0")
        assert info["foundation"] == str(analog.relative_to(tiny_campaign) / "model.model")
        assert f"--foundation_model={(analog / 'model.model').resolve()}" in info["command"]


@pytest.mark.slow
def test_multihead_fine_tuning_really_trained_two_heads_with_the_replay_data(tiny_campaign):
    results = tiny_campaign / "results/tiny"
    run = results / "models/foundation_multihead/analog_n10_s0"
    info = _info(results, "foundation_multihead", "analog_n10_s0")
    assert info["multihead"] and info["heads"] == ["pt_head", "Default"]
    assert "--multiheads_finetuning=True" in info["command"]
    assert "--pt_train_file=replay.extxyz" in info["command"]
    assert not info["multihead_lr_forced"], "the tiny config sets force_mh_ft_lr"
    model = torch.load(run / "model.model", map_location="cpu", weights_only=False)
    assert list(model.heads) == ["pt_head", "Default"]

    # the replay data are replay_size (6) of the analog's own 10 training configurations, energies unchanged
    def by_geometry(frames):
        return {a.positions.round(6).tobytes(): a.info["REF_energy"] for a in frames}

    replay = by_geometry(read_structures(run / "replay.extxyz"))
    analog = by_geometry(read_structures(tiny_campaign / "results/tiny_foundation/models/scratch/n10_s0/train.extxyz"))
    assert len(analog) == 10 and len(replay) == info["n_replay"] == 6 and set(replay) < set(analog)
    for geometry, energy in replay.items():
        assert energy == pytest.approx(analog[geometry])
    log = (tiny_campaign / "results/tiny/logs/foundation_multihead/analog_n10_s0.log").read_text()
    assert "Using heads: ['Default', 'pt_head']" in log or "pt_head" in log
    # naive fine-tuning of the same foundation has one head
    assert _info(results, "foundation", "analog_n10_s0")["heads"] == ["Default"]
    assert "--multiheads_finetuning=False" in _info(results, "foundation", "analog_n10_s0")["command"]


@pytest.mark.slow
def test_a_single_head_result_is_refused_as_multihead(tiny_campaign):
    naive = tiny_campaign / "results/tiny/models/foundation/analog_n10_s0"
    assert model_heads(naive / "model.model") == ["Default"]
    log = "".join(p.read_text() for p in (naive / "logs").glob("*.log"))
    with pytest.raises(RuntimeError, match="falls back to naive fine-tuning"):
        check_multihead(naive / "model.model", log)


@pytest.mark.slow
def test_chain_stages_each_fine_tune_the_previous_model(tiny_campaign):
    results = tiny_campaign / "results/tiny"
    stage1 = json.loads((results / "chain_triple/stage1_s0/training.json").read_text())
    assert stage1["init_cap"] == 3 and stage1["fidelity"] == "ref" and stage1["size"] == 10
    assert any(
        arg.startswith("--foundation_model=") and arg.endswith("chain_triple/stage1_s0/pretrained_cap3.model")
        for arg in stage1["command"]
    )
    # stage 1 trains on the other molecule's data
    stage1_train = (results / "chain_triple/stage1_s0/train.extxyz").read_text()
    foundation_pool = (tiny_campaign / "results/tiny_foundation/labels/train_pool.ref.extxyz").read_text()
    assert stage1_train.count("config_id") == 10 and "CH3CONH2" in foundation_pool
    for size in (5, 10):
        final = _info(results, "chain_triple", f"n{size}_s0")
        assert f"--foundation_model={(results / 'chain_triple/stage1_s0/model.model').resolve()}" in final["command"]


def test_named_foundation_offline_fails_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "small_off.model"
    with pytest.raises(FoundationUnavailable, match="Without network, copy the file to .*MACE-OFF23_small.model"):
        fetch_named("small_off", out, timeout_s=10)
    assert not out.exists()
    with pytest.raises(ValueError, match="unknown foundation model 'tiny_off'"):
        fetch_named("tiny_off", out)


@pytest.mark.slow
def test_named_foundation_comes_from_mace_cache_when_present(tiny_campaign, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = mace_cache_path("medium_off")
    cached.parent.mkdir(parents=True)
    analog = tiny_campaign / "results/tiny_foundation/models/scratch/n10_s0/model.model"
    cached.write_bytes(analog.read_bytes())
    out = fetch_named("medium_off", tmp_path / "medium_off.model")
    assert out.read_bytes() == analog.read_bytes()


def test_replay_data_without_a_foundation_is_refused():
    run = MaceRun(
        name="x", train_file=Path("t.xyz"), seed=0, max_epochs=1, e0s={1: 0.0}, replay_file=Path("replay.extxyz")
    )
    with pytest.raises(ValueError, match="needs a foundation model"):
        run.command()


@pytest.mark.slow
def test_costs_have_a_row_for_every_curve_point_and_the_cost_figure_exists(tiny_campaign):
    for dataset in ("tiny", "tiny_foundation"):
        curves = pd.read_csv(tiny_campaign / f"results/{dataset}/curves.csv")
        costs = pd.read_csv(tiny_campaign / f"results/{dataset}/costs.csv")
        keys = ["method", "train_size", "seed"]
        assert len(costs) == len(curves)
        assert sorted(map(tuple, costs[keys].to_numpy())) == sorted(map(tuple, curves[keys].to_numpy()))
        assert costs["total_s"].notna().all() and (costs["unknown"].isna() | (costs["unknown"] == "")).all()
        assert (costs["total_s"] > costs["training_s"]).all()
    costs = pd.read_csv(tiny_campaign / "results/tiny/costs.csv")
    by_method = costs.groupby("method")
    assert (by_method.get_group("foundation")["foundation_s"] > 0).all()
    zeroshot = by_method.get_group("foundation_zeroshot")  # its evaluation plus the analog the campaign trained
    assert (zeroshot["foundation_s"] == by_method.get_group("foundation")["foundation_s"].iloc[0]).all()
    assert (zeroshot["training_s"] == 0).all() and (zeroshot["evaluation_s"] > 0).all()
    for chain in ("chain_triple", "chain_double"):
        assert (by_method.get_group(chain)["chain_stages_s"] > 0).all()
    assert (by_method.get_group("scratch")[["pretrain_s", "lf_labels_s"]] == 0).all().all()
    for ext in ("png", "pdf"):
        assert (tiny_campaign / f"results/tiny/figures/cost.{ext}").stat().st_size > 5000


def test_flags_are_checked_against_maces_own_parser_without_importing_torch():
    import subprocess
    import sys

    from mace.tools import build_default_arg_parser

    from mftl.training.mace_options import mace_arg_parser as _mace_arg_parser
    from mftl.training.mace_options import mace_flags

    ours = {(a.dest, type(a).__name__, repr(a.default)) for a in _mace_arg_parser()._actions}
    assert ours == {(a.dest, type(a).__name__, repr(a.default)) for a in build_default_arg_parser()._actions}
    assert mace_flags({"ema": True, "swa": False, "lr": 0.01}) == ["--ema", "--lr=0.01"]
    with pytest.raises(ValueError, match="mace_run_train has no option '--learning_rate'"):
        mace_flags({"learning_rate": 0.01})
    # a training job's wrapper checks its flags without the ~4 s torch/e3nn import
    probe = "import sys; from mftl.training.mace_commands import MaceRun; from mftl.training.mace_options import mace_flags; mace_flags({'lr': 1}); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[1] / "workflow")},
    )
    assert out.stdout.strip() == "False"
