"""The paper's figures and summary table, drawn from small synthetic tables built here."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from ase import Atoms

from mftl.analysis.curves import COLUMNS, METRICS
from mftl.analysis.tables import summary_table
from mftl.cli import main as mftl_main
from mftl.evaluation.fidelity_comparison import fidelity_comparison_table
from mftl.planning.figure_catalogue import available_figures, figure_availability, skipped_figures
from mftl.report import plots

TRAIN_SIZES = (10, 100, 1000)
PRETRAIN_SIZES = (500, 2000)
CAPS = (1, 5, 20)
SEEDS = (0, 1, 2)
BEST_CAP = 5


def _row(method: str, fidelities: str, size: int, seed: int, scale: float, pre=pd.NA, cap=pd.NA) -> dict:
    """One curves.csv row whose errors fall as size**-0.5, times ``scale``, with seed noise."""
    noise = 1.0 + 0.05 * (seed - 1)
    energy = scale * 100.0 * size**-0.5 * noise
    forces = scale * 300.0 * size**-0.5 * noise
    return {
        "dataset": "synth",
        "method": method,
        "fidelities": fidelities,
        "pretrain_size": pre,
        "epoch_cap": cap,
        "train_size": size,
        "seed": seed,
        "energy_rmse_meV_atom": energy,
        "forces_rmse_meV_A": forces,
        "energy_mae_meV_atom": 0.8 * energy,
        "forces_mae_meV_A": 0.8 * forces,
        "n_test": 50,
        "n_test_undetermined": 0,
    }


def synthetic_curves(chain: bool = False) -> pd.DataFrame:
    """scratch, delta, mftl (2 pre-training sizes x 3 caps; cap 5 best), mftl_auto (cap varies by seed)."""
    rows = []
    for size, seed in itertools.product(TRAIN_SIZES, SEEDS):
        rows.append(_row("scratch", "hi", size, seed, 1.0))
        rows.append(_row("delta", "hi-lo", size, seed, 0.3))
        for pre, cap in itertools.product(PRETRAIN_SIZES, CAPS):
            scale = (0.5 if cap == BEST_CAP else 0.7) * (0.9 if pre == 2000 else 1.0)
            rows.append(_row("mftl", "lo->hi", size, seed, scale, pre, cap))
        for pre in PRETRAIN_SIZES:
            rows.append(_row("mftl_auto", "lo->hi", size, seed, 0.6, pre, CAPS[seed]))
        if chain:
            rows.append(_row("chain_triple", "lo->mid->hi", size, seed, 0.4, 2000, 5))
            rows.append(_row("chain_double", "mid->hi", size, seed, 0.45))
    return pd.DataFrame(rows)[COLUMNS]


#: the series the synthetic validation errors favour: not the test set's best (pre 2000, cap BEST_CAP)
VALID_BEST = (500, 1)


def synthetic_validation() -> pd.DataFrame:
    """valid_curves.csv rows of the mftl series: (pre VALID_BEST[0], cap VALID_BEST[1]) lowest in energy and forces."""
    rows = [
        _row("mftl", "lo->hi", size, seed, 0.5 if (pre, cap) == VALID_BEST else 0.8, pre, cap)
        for size, seed, pre, cap in itertools.product(TRAIN_SIZES, SEEDS, PRETRAIN_SIZES, CAPS)
    ]
    return pd.DataFrame(rows)[COLUMNS]


def labelled_lines(ax: plt.Axes) -> list:
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def legend_texts(ax: plt.Axes) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def assert_no_empty_axes(fig: plt.Figure) -> None:
    for ax in fig.axes:
        assert ax.get_lines() or ax.collections or ax.patches, f"empty axes {ax.get_title()!r}"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---- learning-curve figures --------------------------------------------------------


def test_error_vs_epoch_cap_has_a_line_per_train_and_pretrain_size():
    fig = plots.error_vs_epoch_cap(synthetic_curves())
    energy, forces = fig.axes
    assert_no_empty_axes(fig)
    assert energy.get_xlabel() == forces.get_xlabel() == "pre-training epoch cap"
    assert "energy RMSE" in energy.get_ylabel() and "force RMSE" in forces.get_ylabel()
    for ax in (energy, forces):
        lines = labelled_lines(ax)
        assert len(lines) == len(TRAIN_SIZES) * len(PRETRAIN_SIZES)
        assert all(list(line.get_xdata()) == list(CAPS) for line in lines)
        assert len(ax.collections) == len(lines), "one seed band per line"
    assert len(legend_texts(forces)) == len(TRAIN_SIZES) * len(PRETRAIN_SIZES)
    assert "train 100, pre-train 2000" in legend_texts(forces)
    line = next(ln for ln in labelled_lines(energy) if ln.get_label() == "train 100, pre-train 2000")
    expected = [
        np.mean(
            [_row("mftl", "", 100, s, (0.5 if c == BEST_CAP else 0.7) * 0.9)["energy_rmse_meV_atom"] for s in SEEDS]
        )
        for c in CAPS
    ]
    np.testing.assert_allclose(line.get_ydata(), expected)


def test_learning_curves_draw_one_series_per_method_setting_and_mftl_auto_once():
    fig = plots.learning_curves(synthetic_curves(), title="synth")
    assert_no_empty_axes(fig)
    n_series = 2 + len(PRETRAIN_SIZES) * len(CAPS) + len(PRETRAIN_SIZES)  # scratch, delta, mftl, mftl_auto
    for ax in fig.axes:
        assert len(labelled_lines(ax)) == n_series
        assert ax.get_xlabel() == "high-fidelity training configurations"
        assert all(list(line.get_xdata()) == list(TRAIN_SIZES) for line in labelled_lines(ax))
    labels = legend_texts(fig.axes[0])
    assert len(labels) == n_series
    assert "mftl_auto (pre 500)" in labels and "mftl (pre 2000, cap 5)" in labels


def test_delta_vs_single_fidelity_shows_delta_scratch_and_mftl_at_the_cap_validation_chooses():
    """The test errors favour (pre 2000, cap 5), the validation errors (pre 500, cap 1): the figure shows the
    validation's choice, and without validation errors it refuses to choose among the six series."""
    fig = plots.delta_vs_single_fidelity(synthetic_curves(), validation=synthetic_validation())
    assert_no_empty_axes(fig)
    for ax in fig.axes:
        assert len(labelled_lines(ax)) == 3
    pre, cap = VALID_BEST
    assert legend_texts(fig.axes[0]) == ["scratch (hi)", "delta (hi-lo)", f"mftl (pre {pre}, best cap {cap})"]
    shown = next(line for line in labelled_lines(fig.axes[0]) if line.get_label().startswith("mftl"))
    curves = synthetic_curves()
    chosen = curves[(curves.method == "mftl") & (curves.pretrain_size == pre) & (curves.epoch_cap == cap)]
    np.testing.assert_allclose(shown.get_ydata(), chosen.groupby("train_size")["energy_rmse_meV_atom"].mean())
    with pytest.raises(ValueError, match="chosen on validation errors"):
        plots.delta_vs_single_fidelity(synthetic_curves())
    # one series: nothing to choose, no validation needed
    single = curves[(curves.method != "mftl") | ((curves.pretrain_size == 500) & (curves.epoch_cap == 20))]
    assert legend_texts(plots.delta_vs_single_fidelity(single).axes[0])[-1] == "mftl (pre 500, best cap 20)"


def test_delta_vs_single_fidelity_without_mftl_draws_two_lines():
    curves = synthetic_curves()
    fig = plots.delta_vs_single_fidelity(curves[~curves.method.str.startswith("mftl")])
    assert [len(labelled_lines(ax)) for ax in fig.axes] == [2, 2]


def test_fidelity_chain_draws_each_chain_with_references():
    fig = plots.fidelity_chain(synthetic_curves(chain=True), validation=synthetic_validation())
    assert_no_empty_axes(fig)
    labels = legend_texts(fig.axes[0])
    assert len(labelled_lines(fig.axes[1])) == 4
    assert "chain_triple: lo->mid->hi (pre 2000, cap 5)" in labels and "chain_double: mid->hi" in labels
    assert "scratch" in labels and "mftl (pre 500, best cap 1)" in labels


@pytest.mark.parametrize(
    "figure, curves, reason",
    [
        (plots.fidelity_chain, synthetic_curves(), r"no rows of a chain method \(chain_<name>\)"),
        (plots.delta_vs_single_fidelity, synthetic_curves().query("method != 'delta'"), "delta"),
        (plots.error_vs_epoch_cap, synthetic_curves().query("method != 'mftl'"), "no rows of method mftl"),
        (plots.error_vs_epoch_cap, synthetic_curves().query("method != 'mftl' or epoch_cap == 5"), "single epoch cap"),
    ],
)
def test_a_figure_whose_data_is_absent_is_skipped_with_the_reason(figure, curves, reason):
    with pytest.raises(plots.FigureSkipped, match=reason):
        figure(curves)


def test_the_cli_reports_a_skipped_figure_and_writes_png_and_pdf(tmp_path, capsys):
    curves = tmp_path / "curves.csv"
    synthetic_curves().to_csv(curves, index=False)
    out = [tmp_path / "fig.png", tmp_path / "fig.pdf"]
    assert mftl_main(["figure", "--kind", "error_vs_epoch_cap", "--curves", str(curves), "--out", *map(str, out)]) == 0
    assert all(path.stat().st_size > 5000 for path in out)
    assert (
        mftl_main(["figure", "--kind", "fidelity_chain", "--curves", str(curves), "--out", str(tmp_path / "chain.png")])
        == 1
    )
    assert "no rows of a chain method" in capsys.readouterr().err
    assert not (tmp_path / "chain.png").exists()


def test_the_cli_draws_learning_curves_and_refuses_a_figure_it_does_not_have(tmp_path, capsys):
    """What the learning_curves rule runs; a misspelt kind names the figures there are (mftl.planning.figure_catalogue.FIGURE_KINDS)."""
    curves = tmp_path / "curves.csv"
    synthetic_curves().to_csv(curves, index=False)
    out = tmp_path / "lc.png"
    assert (
        mftl_main(
            ["figure", "--kind", "learning_curves", "--curves", str(curves), "--title", "synth", "--out", str(out)]
        )
        == 0
    )
    assert out.stat().st_size > 5000
    assert (
        mftl_main(["figure", "--kind", "learning_curve", "--curves", str(curves), "--out", str(tmp_path / "x.png")])
        == 1
    )
    err = capsys.readouterr().err
    assert "--kind learning_curve: no such figure" in err and "learning_curves, error_vs_epoch_cap" in err
    assert not (tmp_path / "x.png").exists()


# ---- which figures a config makes ----------------------------------------------------


def test_figure_availability_follows_the_config():
    full = {"methods": ["scratch", "mftl", "mftl_auto", "delta"], "epoch_caps": [1, 5]}
    assert available_figures(full) == [
        "fidelity_comparison",
        "learning_curves",
        "error_vs_epoch_cap",
        "delta_vs_single_fidelity",
        "cost",
        "negative_transfer",
    ]
    demo = {"methods": ["scratch", "mftl"], "epoch_caps": [3]}
    reasons = figure_availability(demo)
    # fig. S1 is made with a single cap too: one point per curve
    assert available_figures(demo) == ["fidelity_comparison", "learning_curves", "cost", "negative_transfer"]
    assert figure_availability({"methods": ["scratch"]})["negative_transfer"] == "method mftl is not run"
    assert "single epoch cap" in reasons["error_vs_epoch_cap"]
    assert "delta" in reasons["delta_vs_single_fidelity"]
    assert skipped_figures({"demo": demo}) == [
        "demo/error_vs_epoch_cap: a single epoch cap ([3])",
        "demo/delta_vs_single_fidelity: method(s) delta not run",
        "demo/fidelity_chain: method chain is not run",
    ]


# ---- summary.csv ----------------------------------------------------------------------


def test_summary_means_stds_and_ratios_match_an_independent_computation(tmp_path):
    curves = synthetic_curves()
    lone = _row("mftl", "lo->hi", 5000, 0, 0.5, 2000, 5)  # a size scratch never ran: ratio NaN
    curves = pd.concat([curves, pd.DataFrame([lone])], ignore_index=True)
    path = tmp_path / "curves.csv"
    curves.to_csv(path, index=False)
    assert mftl_main(["summary", "--curves", str(path), "--out", str(tmp_path / "summary.csv")]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")

    n_series = 2 + len(PRETRAIN_SIZES) * len(CAPS) + len(PRETRAIN_SIZES)
    assert len(summary) == n_series * len(TRAIN_SIZES) + 1
    assert (summary.loc[summary.train_size != 5000, "n_seeds"] == len(SEEDS)).all()
    assert summary.loc[summary.method == "mftl_auto", "epoch_cap"].isna().all()

    for metric in METRICS:
        for size in TRAIN_SIZES:
            scratch_values = [_row("scratch", "", size, s, 1.0)[metric] for s in SEEDS]
            values = [_row("mftl", "", size, s, 0.5 * 0.9)[metric] for s in SEEDS]
            row = summary[
                (summary.method == "mftl")
                & (summary.pretrain_size == 2000)
                & (summary.epoch_cap == BEST_CAP)
                & (summary.train_size == size)
            ].squeeze()
            assert row[f"{metric}_mean"] == pytest.approx(sum(values) / 3)
            mean = sum(values) / 3
            std = (sum((v - mean) ** 2 for v in values) / 2) ** 0.5
            assert row[f"{metric}_std"] == pytest.approx(std)
            assert row[f"{metric}_ratio_to_scratch"] == pytest.approx(mean / (sum(scratch_values) / 3))
        scratch_ratio = summary.loc[summary.method == "scratch", f"{metric}_ratio_to_scratch"]
        assert scratch_ratio.to_numpy() == pytest.approx(1.0)
        lone_row = summary[summary.train_size == 5000].squeeze()
        assert lone_row["n_seeds"] == 1 and np.isnan(lone_row[f"{metric}_std"])
        assert np.isnan(lone_row[f"{metric}_ratio_to_scratch"])


def test_summary_of_a_campaign_without_scratch_has_nan_ratios():
    curves = synthetic_curves().query("method != 'scratch'")
    summary = summary_table(curves)
    assert summary.filter(like="ratio_to_scratch").isna().all().all()


# ---- low vs high fidelity -------------------------------------------------------------


def labelled_molecules(fidelity: str, energies: list[float], forces_scale: float, ids: list[int]) -> list[Atoms]:
    frames = []
    for config_id, energy in zip(ids, energies, strict=True):
        atoms = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
        atoms.info["config_id"] = config_id
        atoms.info[f"{fidelity}_energy"] = energy
        atoms.arrays[f"{fidelity}_forces"] = forces_scale * (np.arange(9.0).reshape(3, 3) + config_id)
        frames.append(atoms)
    return frames


def test_fidelity_table_joins_on_config_id_and_removes_each_fidelitys_mean():
    high = labelled_molecules("hi", [-30.0, -30.3, -30.6, -31.0], 1.0, [0, 1, 2, 3])
    low = labelled_molecules("lo", [-10.3, -10.0, -10.6], 1.1, [2, 1, 0])  # config 3 has no low label
    table = fidelity_comparison_table(high, low, "hi", "lo")
    energies = table[table.quantity == "relative_energy_eV_atom"].set_index("config_id")
    assert sorted(energies.index) == [0, 1, 2]
    np.testing.assert_allclose(energies.loc[[0, 1, 2], "high"], np.array([0.1, 0.0, -0.1]), atol=1e-12)
    np.testing.assert_allclose(energies.loc[[0, 1, 2], "low"], np.array([-0.1, 0.1, 0.0]), atol=1e-12)
    forces = table[table.quantity == "force_eV_A"]
    assert len(forces) == 3 * 3 * 3
    np.testing.assert_allclose(forces["low"], 1.1 * forces["high"])
    assert set(table.high_fidelity) == {"hi"} and set(table.low_fidelity) == {"lo"}


def test_fidelity_comparison_shows_parity_and_force_error_histogram_with_rmses():
    high = labelled_molecules("hi", [-30.0, -30.3, -30.6], 1.0, [0, 1, 2])
    low = labelled_molecules("lo", [-10.3, -10.0, -10.6], 1.1, [0, 1, 2])
    table = fidelity_comparison_table(high, low, "hi", "lo")
    fig = plots.fidelity_comparison(table, title="synth")
    parity, histogram = fig.axes
    assert_no_empty_axes(fig)
    assert parity.get_xlabel() == "hi relative energy (eV/atom)"
    assert parity.get_ylabel() == "lo relative energy (eV/atom)"
    assert len(parity.collections[0].get_offsets()) == 3
    energy_errors = 1000 * (np.array([0.0, 0.1, -0.1]) - np.array([0.1, 0.0, -0.1]))  # low - high, per atom
    energy_rmse = np.sqrt(np.mean(energy_errors**2))
    assert f"RMSE {energy_rmse:.1f} meV/atom" in legend_texts(parity)[0]
    high_forces = np.concatenate([np.arange(9.0) + i for i in range(3)])
    force_rmse = np.sqrt(np.mean((1000 * 0.1 * high_forces) ** 2))
    assert f"RMSE {force_rmse:.0f}" in legend_texts(histogram)[0]
    assert sum(patch.get_height() for patch in histogram.patches) == 27
    assert "force component error" in histogram.get_xlabel()


# ---- the low fidelity alone as the baseline; zero-shot energies -----------------------------------


def statistics_table(tmp_path) -> tuple[str, float, float]:
    """tables/fidelity_statistics.csv of a synthetic low (lo) vs high (hi) fidelity comparison, as the rule
    fidelity_comparison_table writes it; returns its path and the row (lo, all)'s energy and force RMSDs."""
    from mftl.analysis.fidelity_statistics import fidelity_statistics

    high = labelled_molecules("hi", [-30.0, -30.3, -30.6, -30.2], 1.0, [0, 1, 2, 3])
    low = labelled_molecules("lo", [-10.3, -10.0, -10.6, -10.1], 1.1, [0, 1, 2, 3])
    statistics = fidelity_statistics(fidelity_comparison_table(high, low, "hi", "lo"))
    path = tmp_path / "fidelity_statistics.csv"
    statistics.to_csv(path, index=False)
    row = statistics[(statistics.compared == "lo") & (statistics.molecule == "all")].squeeze()
    return str(path), row["energy_rmsd_meV_atom"], row["forces_rmsd_meV_A"]


def drawn_by_cli(monkeypatch, args: list[str]) -> plt.Figure:
    """The figure `mftl figure` draws (plots.save is caught, nothing is written)."""
    drawn = []
    monkeypatch.setattr(plots, "save", lambda fig, paths: drawn.append(fig))
    assert mftl_main(["figure", *args, "--out", "x.png"]) == 0
    (fig,) = drawn
    return fig


def baseline_lines(ax: plt.Axes, name: str) -> list:
    return [line for line in ax.get_lines() if name in line.get_label()]


@pytest.mark.parametrize("kind", ["learning_curves", "delta_vs_single_fidelity", "fidelity_chain"])
def test_every_learning_curve_figure_draws_the_low_fidelity_alone_from_the_statistics_table(
    tmp_path, monkeypatch, kind
):
    """The rule passes --baseline lo=tables/fidelity_statistics.csv --baseline-name lo=<method>: a black level
    per panel at the table's energy (relative energies) and force RMSD, labelled '<method> alone'."""
    statistics, energy, forces = statistics_table(tmp_path)
    curves = tmp_path / "curves.csv"
    synthetic_curves(chain=True).to_csv(curves, index=False)
    validation = tmp_path / "valid.csv"
    synthetic_validation().to_csv(validation, index=False)
    args = ["--kind", kind, "--table", str(curves), "--baseline", f"lo={statistics}", "--baseline-name", "lo=GFN1-xTB"]
    if kind != "learning_curves":
        args += ["--validation", str(validation)]
    fig = drawn_by_cli(monkeypatch, args)
    for ax, value in zip(fig.axes, (energy, forces), strict=True):
        (line,) = baseline_lines(ax, "GFN1-xTB alone")
        np.testing.assert_allclose(line.get_ydata(), [value, value])
        assert line.get_color() == "black"
    assert baseline_lines(fig.axes[0], "GFN1-xTB")[0].get_label() == "GFN1-xTB alone (relative energies)"
    assert "GFN1-xTB alone (relative energies)" in legend_texts(fig.axes[0])
    # without a low fidelity (no --baseline), no level
    plain = drawn_by_cli(monkeypatch, [a for a in args if a not in args[4:8]])
    assert not any(baseline_lines(ax, "alone") for ax in plain.axes)


def test_the_pretraining_fidelity_figure_draws_each_low_fidelity_alone(tmp_path):
    from mftl.analysis.fidelity_statistics import low_fidelity_level

    statistics, energy, forces = statistics_table(tmp_path)
    assert low_fidelity_level(pd.read_csv(statistics), "lo") == pytest.approx((energy, forces))
    assert low_fidelity_level(pd.read_csv(statistics), "other") is None
    curves = synthetic_curves().query("method != 'mftl' or (pretrain_size == 500 and epoch_cap == 5)")
    other = curves.assign(dataset="synth2", fidelities=curves.fidelities.str.replace("lo", "mid"))
    baselines = [plots.Baseline("GFN1-xTB", energy, forces), plots.Baseline("DFTB", 2 * energy, 2 * forces)]
    fig = plots.pretraining_fidelity(pd.concat([curves, other]), baselines=baselines)
    for ax, value in zip(fig.axes, (energy, forces), strict=True):
        np.testing.assert_allclose(baseline_lines(ax, "GFN1-xTB alone")[0].get_ydata(), [value, value])
        np.testing.assert_allclose(baseline_lines(ax, "DFTB alone")[0].get_ydata(), [2 * value, 2 * value])


def test_method_name_is_the_labellers_method_else_the_fidelity_key():
    from mftl.analysis.fidelity_names import method_name

    assert method_name({"labeller": "tblite", "options": {"method": "GFN1-xTB"}}, "gfn1") == "GFN1-xTB"
    assert method_name({"labeller": "dftbplus", "options": {"skf_dir": "x"}}, "dftb") == "dftb"
    assert method_name({"energy_key": "E"}, "ref") == "ref"


def test_zero_shot_energies_stay_out_of_the_energy_panel_with_a_note_and_their_forces_are_a_level():
    """A zero-shot foundation's energies are relative energies on per-element energies fitted on the test set:
    not on the trained models' energy axis (a note below the figure says why, with the value); forces are."""
    curves = synthetic_curves()
    zeroshot = pd.DataFrame([{**_row("foundation_zeroshot", "mp0", 1, 1, 0.001), "train_size": 0}])[COLUMNS]
    fig = plots.learning_curves(pd.concat([curves, zeroshot], ignore_index=True))
    energy, forces = fig.axes
    assert not baseline_lines(energy, "foundation_zeroshot")
    (level,) = baseline_lines(forces, "foundation_zeroshot (mp0)")
    np.testing.assert_allclose(level.get_ydata(), [zeroshot.forces_rmse_meV_A.iloc[0]] * 2)
    assert legend_texts(forces) == ["foundation_zeroshot (mp0)"]
    note = fig.get_supxlabel()
    assert "zero-shot foundation_zeroshot (mp0): energies not drawn" in note
    assert f"{zeroshot.energy_rmse_meV_atom.iloc[0]:.1f} meV/atom" in note
    assert min(energy.get_ylim()) > zeroshot.energy_rmse_meV_atom.iloc[0]  # nothing below every route
    assert plots.learning_curves(curves).get_supxlabel() == ""  # no zero-shot, no note


# ---- fig. S1: where the pre-training validation loss flattens ----------------------------------------------


def test_negative_transfer_draws_the_largest_caps_pretraining_validation_curve_and_marks_the_caps(
    tmp_path, monkeypatch
):
    """Two seeds of one pre-training run to cap 12 (mace's results files); caps 4 and 12: the table holds every
    epoch 0..12, the third panel draws the seeds' mean loss per epoch, cap 4 red (still falling), cap 12 green;
    the RMSE panels draw the validation RMSE per epoch on their one axis."""
    from mftl import paths
    from test_quality_flags import STEEP_LOSSES, mace_results

    monkeypatch.chdir(tmp_path)
    losses = {0: STEEP_LOSSES, 1: [1.1 * v for v in STEEP_LOSSES]}
    for seed, loss in losses.items():
        folder = tmp_path / paths.pretrain_dir("synth", paths.pretrain_tag(500, seed))
        mace_results(folder, [v / 100 for v in loss], [v / 10 for v in loss], loss, 12.0)
    pretrained, curves = [], []
    for seed, cap in itertools.product(losses, (4, 12)):
        record = {**_row("pretrain", "lo", 1, seed, 1.0, 500, cap), "train_size": 0}
        pretrained.append(tmp_path / f"pre_{seed}_{cap}.json")
        pretrained[-1].write_text(pd.Series(record).to_json())
        curves += [_row("mftl", "lo->hi", n, seed, 0.5, 500, cap) for n in TRAIN_SIZES]
    pd.DataFrame(curves)[COLUMNS].to_csv("curves.csv", index=False)
    args = ["--curves", "curves.csv", "--out", "nt.csv", "--pretrain-curve", "pv.csv"]
    assert mftl_main(["negative-transfer-table", "--pretrained", *map(str, pretrained), *args]) == 0
    table = pd.read_csv("pv.csv")
    assert sorted(table.epoch.unique()) == list(range(13)) and set(table.seed) == {0, 1}
    mean_loss = [np.mean([losses[s][k] for s in losses]) for k in range(12)]  # after epochs 1..12

    fig = drawn_by_cli(monkeypatch, ["--kind", "negative_transfer", "--table", "nt.csv", "--pretrain-curve", "pv.csv"])
    energy, forces, loss_ax = fig.axes[:3]
    (line,) = labelled_lines(loss_ax)
    assert list(line.get_xdata()) == list(range(1, 13))
    np.testing.assert_allclose(line.get_ydata(), mean_loss)
    caps = [ln for ln in loss_ax.get_lines() if ln.get_label() == "_cap" and ln.get_marker() == "o"]
    assert [(list(c.get_xdata()), c.get_color()) for c in caps] == [([4], "red"), ([12], "green")]
    assert sorted(ln.get_xdata()[0] for ln in loss_ax.get_lines() if ln.get_linestyle() == ":") == [4, 12]
    (per_epoch,) = [ln for ln in energy.get_lines() if "validation per epoch" in ln.get_label()]  # on the panel's axis
    np.testing.assert_allclose(per_epoch.get_ydata(), [1000 * v / 100 for v in mean_loss])
    # without the curve: the two panels
    assert len(plots.negative_transfer(pd.read_csv("nt.csv")).axes) == 2


def test_the_rules_hand_the_figures_the_statistics_table_and_the_pretraining_curve(tmp_path):
    """The demo config's dry run: every learning-curve figure gets its dataset's fidelity_statistics.csv and the
    low fidelity's method name (gfn1: GFN1-xTB, its tblite options), fig. S1 the pre-training curve table; the
    other figures neither."""
    from conftest import REPO, run_snakemake

    for entry in ("resources", "config"):
        (tmp_path / entry).symlink_to(REPO / entry)
    result = run_snakemake(["all_figures", "-n", "-p", "--configfile", "config/config.yaml"], tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    by_kind = {}
    for line in result.stdout.splitlines():
        if "figure --kind" in line and "--title" in line:  # the rule figure (pretraining_fidelity: no group here)
            by_kind[(line.split("--kind ")[1].split()[0], line.split("--title ")[1].split()[0])] = line
    assert ("learning_curves", "demo") in by_kind and ("fidelity_chain", "demo_ccsdt") in by_kind
    for (kind, dataset), line in by_kind.items():
        has_baseline = f"--baseline=gfn1=results/{dataset}/tables/fidelity_statistics.csv" in line
        assert has_baseline == (kind in plots.LEARNING_CURVE_FIGURES), line
        assert ("--baseline-name=gfn1=GFN1-xTB" in line) == has_baseline
        curve = f"--pretrain-curve=results/{dataset}/tables/pretrain_validation.csv"
        assert (curve in line) == (kind == "negative_transfer"), line
    tables = [line for line in result.stdout.splitlines() if "negative-transfer-table" in line]
    assert tables and all("--pretrain-curve results/" in line for line in tables)
