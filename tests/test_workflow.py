"""A real tiny run of the whole Snakefile, and what its outputs must satisfy."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import BIN, REPO, TINY_MODEL, env_with_venv, job_counts, run_snakemake
from mftl.cli.training import train_command
from mftl.data.reference_energies import e0s_from_json, reference_energy
from mftl.data.structures import by_config_id, labels, read_structures
from mftl.planning.campaign import Campaign
from mftl.planning.figure_catalogue import available_figures
from mftl.training.checkpoints import checkpoint_for_cap, export_checkpoint
from mftl.training.training_job import TrainingJob


def test_curves_have_a_row_for_every_model_and_the_figure_exists(tiny_campaign):
    curves = pd.read_csv(tiny_campaign / "results/tiny/curves.csv")
    scratch = curves[curves.method == "scratch"]
    mftl = curves[curves.method == "mftl"]
    assert sorted(scratch.train_size) == [5, 10]
    assert sorted(zip(mftl.epoch_cap, mftl.train_size, strict=True)) == [(1, 5), (1, 10), (3, 5), (3, 10)]
    assert set(mftl.fidelities) == {"gfn1->ref"} and set(scratch.fidelities) == {"ref"}
    assert sorted(curves[curves.method == "delta"].train_size) == [5, 10]
    assert sorted(curves[curves.method == "mftl_auto"].train_size) == [5, 10]
    assert (curves.n_test == 10).all()
    assert np.isfinite(curves[["energy_rmse_meV_atom", "forces_rmse_meV_A"]].to_numpy()).all()
    assert (curves.energy_rmse_meV_atom >= curves.energy_mae_meV_atom).all()
    for ext in ("png", "pdf"):
        figure = tiny_campaign / f"results/tiny/figures/learning_curves.{ext}"
        assert figure.stat().st_size > 5000


def _mace_eval_configs(model, test_file, out):
    """mace-torch's own mace_eval_configs predictions of ``test_file`` by ``model`` (float32, CPU)."""
    subprocess.run(
        [
            str(BIN / "mace_eval_configs"),
            f"--configs={test_file}",
            f"--model={model}",
            f"--output={out}",
            "--device=cpu",
            "--default_dtype=float32",
        ],
        check=True,
        env=env_with_venv(),
        capture_output=True,
    )
    return read_structures(out)


@pytest.mark.parametrize(
    "method, tag",
    [
        ("mftl", "p40_e3_n10_s0"),
        ("delta", "n10_s0"),
        ("foundation_multihead", "analog_n10_s0"),
        ("chain_triple", "n10_s0"),
    ],
)
def test_reported_rmse_equals_what_mace_eval_configs_predicts(tiny_campaign, tmp_path, method, tag):
    results = tiny_campaign / "results/tiny"
    model_dir = results / f"models/{method}/{tag}"
    test_file = results / "labels/test.ref.extxyz"
    predicted = _mace_eval_configs(model_dir / "model.model", test_file, tmp_path / "pred.xyz")
    e0s = json.loads((model_dir / "e0s.json").read_text())
    fit, held = e0s_from_json(e0s["fit"]), e0s_from_json(e0s["model"])
    assert set(held.values()) == {0.0}, "models trained by mftl hold no reference energies"
    reference = read_structures(test_file)
    base = by_config_id(read_structures(results / "labels/test.gfn1.extxyz"))
    de, df = [], []
    for ref, pred in zip(reference, predicted, strict=True):
        energy, forces = labels(ref, "ref")
        pred_energy = pred.info["MACE_energy"] + reference_energy(ref, fit)
        pred_forces = pred.arrays["MACE_forces"]
        if method == "delta":  # Delta-learning: low fidelity plus the learned correction
            base_energy, base_forces = labels(base[ref.info["config_id"]], "gfn1")
            pred_energy, pred_forces = pred_energy + base_energy, pred_forces + base_forces
        de.append((pred_energy - energy) / len(ref))
        df.append((pred_forces - forces).ravel())
    curves = pd.read_csv(results / "curves.csv")
    row = curves[(curves.method == method) & (curves.train_size == 10)]
    row = row[row.epoch_cap == 3].iloc[0] if method == "mftl" else row.iloc[0]
    assert row.energy_rmse_meV_atom == pytest.approx(1000 * np.sqrt(np.mean(np.square(de))), rel=1e-4)
    assert row.forces_rmse_meV_A == pytest.approx(1000 * np.sqrt(np.mean(np.square(np.concatenate(df)))), rel=1e-4)


def test_negative_transfer_holds_the_pretrained_model_at_each_cap_on_the_low_fidelity_test_labels(
    tiny_campaign, tmp_path
):
    """Fig. S1's table: the model the pre-training serves at each cap, predicted by mace_eval_configs on the
    GFN1 test labels, beside the fine-tuned models' test errors of curves.csv."""
    results = tiny_campaign / "results/tiny"
    table = pd.read_csv(results / "tables/negative_transfer.csv")
    assert sorted(zip(table.epoch_cap, table.train_size, strict=True)) == [(1, 5), (1, 10), (3, 5), (3, 10)]
    assert set(table.low_fidelity) == {"gfn1"} and set(table.high_fidelity) == {"ref"}
    pretrain = results / "pretrain/p40_s0"
    fit = e0s_from_json(json.loads((pretrain / "e0s.json").read_text())["fit"])
    test = read_structures(results / "labels/test.gfn1.extxyz")
    curves = pd.read_csv(results / "curves.csv")
    lf_forces = {}
    for cap in (1, 3):
        served = tmp_path / f"cap{cap}.model"
        export_checkpoint(pretrain / "model.model", checkpoint_for_cap(pretrain / "checkpoints", cap)[1], served)
        predicted = _mace_eval_configs(served, results / "labels/test.gfn1.extxyz", tmp_path / f"cap{cap}.xyz")
        de = [
            (p.info["MACE_energy"] + reference_energy(a, fit) - labels(a, "gfn1")[0]) / len(a)
            for a, p in zip(test, predicted, strict=True)
        ]
        df = np.concatenate(
            [(p.arrays["MACE_forces"] - labels(a, "gfn1")[1]).ravel() for a, p in zip(test, predicted, strict=True)]
        )
        rows = table[table.epoch_cap == cap]
        assert rows.lf_energy_rmse_meV_atom.to_numpy() == pytest.approx(
            1000 * np.sqrt(np.mean(np.square(de))), rel=1e-4
        )
        assert rows.lf_forces_rmse_meV_A.to_numpy() == pytest.approx(1000 * np.sqrt(np.mean(np.square(df))), rel=1e-4)
        lf_forces[cap] = rows.lf_forces_rmse_meV_A.iloc[0]
        for row in rows.itertuples():
            hf = curves[(curves.method == "mftl") & (curves.epoch_cap == cap) & (curves.train_size == row.train_size)]
            assert (row.hf_energy_rmse_meV_atom, row.hf_forces_rmse_meV_A, row.hf_n_seeds) == pytest.approx(
                (hf.energy_rmse_meV_atom.mean(), hf.forces_rmse_meV_A.mean(), len(hf))
            )
    assert lf_forces[1] != lf_forces[3], "caps 1 and 3 are served from different checkpoints"
    for ext in ("png", "pdf"):
        assert (results / f"figures/negative_transfer.{ext}").stat().st_size > 5000


def test_automatic_cap_is_chosen_on_validation_not_test(tiny_campaign):
    results = tiny_campaign / "results/tiny"
    curves = pd.read_csv(results / "curves.csv")
    for size in (5, 10):
        valid = [json.loads((results / f"valid/mftl/p40_e{cap}_n{size}_s0.json").read_text()) for cap in (1, 3)]
        e_best = min(v["energy_rmse_meV_atom"] for v in valid)
        f_best = min(v["forces_rmse_meV_A"] for v in valid)
        score = {v["epoch_cap"]: v["energy_rmse_meV_atom"] / e_best + v["forces_rmse_meV_A"] / f_best for v in valid}
        chosen = min(score, key=score.get)
        auto = curves[(curves.method == "mftl_auto") & (curves.train_size == size)].iloc[0]
        assert auto.epoch_cap == chosen
        same = curves[(curves.method == "mftl") & (curves.train_size == size) & (curves.epoch_cap == chosen)].iloc[0]
        assert auto.forces_rmse_meV_A == same.forces_rmse_meV_A


def test_fine_tuned_energies_carry_the_high_fidelity_reference(tiny_campaign):
    """Pre-training and fine-tuning fidelities have E0s tens of eV apart; the errors must not show it."""
    results = tiny_campaign / "results/tiny"
    lf = e0s_from_json(json.loads((results / "pretrain/p40_s0/e0s.json").read_text())["fit"])
    hf = e0s_from_json(json.loads((results / "models/mftl/p40_e3_n10_s0/e0s.json").read_text())["fit"])
    test = read_structures(results / "labels/test.ref.extxyz")
    shift_meV_atom = 1000 * np.mean([abs(reference_energy(a, lf) - reference_energy(a, hf)) / len(a) for a in test])
    assert shift_meV_atom > 1000  # GFN1 vs GFN2 totals: over 1 eV/atom apart
    curves = pd.read_csv(results / "curves.csv")
    # a model that kept the pre-training reference would be off by about the shift
    assert (curves[curves.method == "mftl"].energy_mae_meV_atom < 0.5 * shift_meV_atom).all()


def test_epoch_cap_served_from_checkpoints_equals_a_capped_run(tiny_campaign, tmp_path):
    """One pre-training to the largest cap serves every smaller cap: same weights as a run stopped there."""
    pool = tiny_campaign / "results/tiny/labels/pretrain_pool.gfn1.extxyz"
    hyper = {**TINY_MODEL, "default_dtype": "float64", "batch_size": 10}
    for name, epochs in (("capped", 2), ("long", 4)):
        subprocess.run(
            train_command(
                TrainingJob(pool, "gfn1", 20, 0, epochs, hyperparameters=hyper, keep_checkpoints=True, device="cpu"),
                tmp_path / name,
            ),
            check=True,
            env=env_with_venv(),
            capture_output=True,
        )
    epoch, checkpoint = checkpoint_for_cap(tmp_path / "long/checkpoints", 2)
    assert epoch <= 1
    export_checkpoint(tmp_path / "long/model.model", checkpoint, tmp_path / "served.model")
    served = torch.load(tmp_path / "served.model", weights_only=False).state_dict()
    capped = torch.load(tmp_path / "capped/model.model", weights_only=False).state_dict()
    assert served.keys() == capped.keys()
    for key in served:
        torch.testing.assert_close(served[key], capped[key], rtol=1e-10, atol=1e-12)
    # the campaign's pre-training keeps exactly the checkpoints its caps (1, 3) are served from
    pretrain = tiny_campaign / "results/tiny/pretrain/p40_s0/checkpoints"
    served_from = {checkpoint_for_cap(pretrain, cap)[1] for cap in (1, 3)}
    assert set(pretrain.glob("*.pt")) == served_from
    long_final = torch.load(tmp_path / "long/model.model", weights_only=False).state_dict()
    assert any(not torch.equal(long_final[k], capped[k]) for k in capped), "4 epochs must differ from 2"


@pytest.mark.slow
def test_a_rerun_of_the_finished_campaign_does_nothing(tiny_campaign):
    again = run_snakemake(["--configfile", str(tiny_campaign / "config.yaml"), "--cores", "1", "-n"], tiny_campaign)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_dry_run_of_the_demo_plans_one_job_per_model_its_config_implies():
    """The plan of the whole demo (--forceall: also where `make demo` has already run here), per rule."""
    import yaml

    demo = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--forceall", "--cores", "1"],
        cwd=REPO,
        env=env_with_venv(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    counts = job_counts(demo.stdout)
    datasets = yaml.safe_load((REPO / "config/config.yaml").read_text())["datasets"].values()

    def seeds(d, methods):
        """The seeds the methods run with: method_seeds where given (a method without one runs every seed)."""
        listed = [d.get("method_seeds", {}).get(m, d["seeds"]) for m in methods if m in d["methods"]]
        return {s for chosen in listed for s in chosen}

    def grid(*keys, methods):
        return sum(
            len(seeds(d, methods)) * np.prod([len(d[key]) for key in keys])
            for d in datasets
            if set(methods) & set(d["methods"])
        )

    for rule in ("scratch", "delta", "foundation", "foundation_multihead"):
        assert counts.get(rule, 0) == grid("train_sizes", methods=[rule]), rule
    pretrained = ["mftl", "mftl_auto"]
    assert counts["pretrain"] == grid("pretrain_sizes", methods=pretrained) > 0
    assert counts["mftl"] == grid("train_sizes", "pretrain_sizes", "epoch_caps", methods=pretrained)
    assert counts["select_cap"] == grid("train_sizes", "pretrain_sizes", methods=["mftl_auto"])
    # every trained model is evaluated on the test set once; mftl_auto picks one of the fine-tuned models
    trained = ("scratch", "mftl", "delta", "foundation", "foundation_multihead", "chain")
    assert counts["evaluate"] == sum(counts.get(rule, 0) for rule in trained)
    for rule in ("split", "curves", "summary", "costs", "decision_tables", "cost_to_target_figure", "advice"):
        assert counts[rule] == len(datasets), rule
    # one figure job per figure a dataset's config allows: learning curves and cost figure for every dataset
    assert counts["figure"] == sum(len(available_figures(d)) for d in datasets) >= 2 * len(datasets)
    assert counts["all"] == counts["campaign_curves"] == counts["report_page"] == 1


def test_paper_campaign_plans_offline_with_the_jobs_its_config_implies(tmp_path):
    """A real dry run of config/paper.yaml: no network, one job per model the study needs."""
    import yaml

    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-n",
            "-p",
            "--configfile",
            str(REPO / "config/paper.yaml"),
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env_with_venv(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = {}
    stats = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    for line in stats.splitlines()[3:]:
        rule, count = line.split()
        counts[rule] = int(count)
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    datasets = paper["datasets"].values()
    finetunes = sum(
        len(d["seeds"]) * len(d["train_sizes"]) * len(d.get("pretrain_sizes", [])) * len(d.get("epoch_caps", []))
        for d in datasets
        if "mftl" in d["methods"]
    )
    assert counts["mftl"] == finetunes
    assert counts["pretrain"] == sum(
        len(d["seeds"]) * len(d.get("pretrain_sizes", []))
        for d in datasets
        if {"mftl", "mftl_auto"} & set(d["methods"])
    )
    assert counts["scratch"] == sum(len(d["seeds"]) * len(d["train_sizes"]) for d in datasets)
    assert counts["convert"] == len(paper["datasets"]) and counts["split"] == len(paper["datasets"])
    chained = [d for d in datasets if "chain" in d["methods"]]
    assert counts["chain"] == sum(len(d["seeds"]) * len(d["train_sizes"]) * len(d["chains"]) for d in chained) > 0
    # the triple chain's DFTB -> PBE0+MBD stage on QM7-X is QM7-X's own mftl model and the double
    # chain's PBE0+MBD stage QM7-X's own scratch model, neither trained again
    assert "chain_stage" not in counts
    assert counts["foundation"] == sum(
        len(d["seeds"]) * len(d["train_sizes"]) for d in datasets if "foundation" in d["methods"]
    )
    used = {d["foundation"] for d in datasets if {"foundation", "foundation_multihead"} & set(d["methods"])}
    assert counts["fetch_foundation"] == len(used)  # fetched only when a dataset fine-tunes it
    assert counts["costs"] == len(paper["datasets"])
    assert counts["figure"] == sum(len(available_figures(d)) for d in datasets) >= 2 * len(datasets)
    assert paper["paper_results"] == "config/paper_results.csv" and counts["paper_comparison"] == 1
    assert counts["fetch"] == sum(len(d["files"]) for d in paper["downloads"].values())
    # the paper runs what it shows: mftl_auto lives in paper_extras.yaml, nothing selects a cap per point
    assert not any("mftl_auto" in d["methods"] for d in datasets) and "select_cap" not in counts
    # the candidates of an open paper row are chosen on validation: every mftl model is validated
    assert counts["evaluate_validation"] == finetunes and counts["validation_curves"] == 2
    # fig. S1: every pre-training run at every cap on the low-fidelity test labels, one table per dataset
    s1 = sum(len(Campaign(paper).pretrained_points(name)) for name in paper["datasets"])
    assert counts["evaluate_pretrained"] == s1 == 2 * 8 * 3 + 1 * 7 * 3
    assert counts["negative_transfer_table"] == 2
    assert "results/tungsten/eval_lf/pretrain/p7600_e6_s2.json" in result.stdout
    assert "--cap 6 --fidelity dftb" in result.stdout
    # fig. 2: MACE-OFF23 zero-shot and DFTB(PTBP) on 150k configurations drawn from QM7-X's split
    assert paper["datasets"]["qm7x"]["comparison_sample"] == 150000 and counts["comparison_sample"] == 1
    assert "comparison-sample --high" in result.stdout and "--size 150000 --seed 0" in result.stdout
    zeroshot = [line for line in result.stdout.splitlines() if " zeroshot --model" in line]
    assert len(zeroshot) == 2
    assert sum("--test results/qm7x/labels/comparison_sample.high.extxyz" in line for line in zeroshot) == 1
    assert sum("--test results/tungsten/labels/test.pbe.extxyz" in line for line in zeroshot) == 1
