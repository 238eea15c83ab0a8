"""Figures a chemist reads: the cost figure's unit and point labels, the learning curves' band note,
the clipped force histogram, and the fidelity statistics table; checked on the data, not on pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mftl.analysis.costs import COMPONENTS, KEYS
from mftl.analysis.fidelity_statistics import fidelity_statistics
from mftl.evaluation.fidelity_comparison import FORCE, RELATIVE_ENERGY
from mftl.report import plots


@pytest.mark.parametrize("seconds, unit", [([5, 30, np.nan], "s"), ([30, 600], "min"), ([600, 20_000], "h"), ([], "s")])
def test_cost_unit_follows_the_largest_cost(seconds, unit):
    assert plots.cost_unit(seconds)[0] == unit


def costs(training_s: float) -> pd.DataFrame:
    rows = []
    for method, factor in (("scratch", 1.0), ("delta", 1.5)):
        for size in (20, 60):
            for seed in (0, 1):
                row = dict.fromkeys(COMPONENTS, 0.0)
                row.update(training_s=training_s * factor * size / 20, evaluation_s=1.0)
                fidelities = "pbe0" if method == "scratch" else "pbe0-gfn1"
                row.update(dict(zip(KEYS, ["d", method, fidelities, None, None, size, seed], strict=True)))
                row.update(energy_rmse_meV_atom=100.0 / size + seed, forces_rmse_meV_A=500.0 / size + seed)
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("training_s, unit, scale", [(10.0, "s", 1.0), (1000.0, "min", 60.0), (2e4, "h", 3600.0)])
def test_cost_figure_uses_the_unit_of_its_data_labels_points_with_n_and_ticks_apart(training_s, unit, scale):
    table = costs(training_s)
    fig = plots.cost(table)
    energy = fig.axes[0]
    assert energy.get_xlabel() == f"total cost per point ({unit} of the jobs' resources)"
    assert fig.axes[2].get_xlabel() == f"{unit} per point at 60 training configurations"
    lines = {line.get_label(): line.get_xydata() for line in energy.get_lines()}
    for method, factor in (("scratch", 1.0), ("delta", 1.5)):
        expected = [(training_s * factor * size / 20 + 1.0) / scale for size in (20, 60)]
        np.testing.assert_allclose(lines[method][:, 0], expected)
    labels = sorted(text.get_text() for text in energy.texts)
    assert labels == ["n=20", "n=20", "n=60", "n=60"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    shown = [label for label in energy.get_xticklabels() if label.get_text() and label.get_visible()]
    boxes = [label.get_window_extent(renderer) for label in shown]
    inside = [
        b for b in boxes if energy.get_window_extent(renderer).x0 - 20 <= b.x0 <= energy.get_window_extent(renderer).x1
    ]
    assert inside, "a labelled tick on the cost axis"
    assert not any(a.overlaps(b) for i, a in enumerate(inside) for b in inside[i + 1 :]), "tick labels apart"
    assert all(label.get_text() == "" for label in energy.get_xminorticklabels())


def curves(seeds) -> pd.DataFrame:
    rows = [
        ["d", method, "f", None, None, size, seed, 10.0 + seed, 100.0, 8.0, 80.0, 10]
        for method in ("scratch", "delta")
        for size in (10, 30)
        for seed in seeds
    ]
    columns = ["dataset", "method", "fidelities", "pretrain_size", "epoch_cap", "train_size", "seed"]
    columns += ["energy_rmse_meV_atom", "forces_rmse_meV_A", "energy_mae_meV_atom", "forces_mae_meV_A", "n_test"]
    return pd.DataFrame(rows, columns=columns)


def test_learning_curves_say_the_band_is_min_max_over_the_seeds():
    fig = plots.learning_curves(curves([0, 1, 2]))
    assert fig.axes[0].get_legend().get_title().get_text() == "line: mean over 3 seeds; band: min-max"
    one = plots.learning_curves(curves([0]))
    assert one.axes[0].get_legend().get_title().get_text() == "one seed per point (no band)"


def fidelity_table(high_e, low_e, high_f, low_f, compared="gfn1") -> pd.DataFrame:
    rows = [[i, RELATIVE_ENERGY, -1, "", h, lo] for i, (h, lo) in enumerate(zip(high_e, low_e, strict=True))]
    rows += [[i % len(high_e), FORCE, 0, "x", h, lo] for i, (h, lo) in enumerate(zip(high_f, low_f, strict=True))]
    table = pd.DataFrame(rows, columns=["config_id", "quantity", "atom", "axis", "high", "low"])
    return table.assign(high_fidelity="pbe0", low_fidelity=compared)


def test_fidelity_statistics_per_source_and_molecule_agree_with_numpy():
    rng = np.random.default_rng(1)
    high_e, high_f = rng.normal(0, 0.02, 12), rng.normal(0, 1.0, 48)
    low_e, low_f = high_e + rng.normal(0, 0.005, 12), 1.1 * high_f + rng.normal(0, 0.1, 48)
    zero_e, zero_f = high_e + 0.001, high_f - 0.05
    table = pd.concat(
        [fidelity_table(high_e, low_e, high_f, low_f), fidelity_table(high_e, zero_e, high_f, zero_f, "mp0 zero-shot")]
    )
    molecules = {i: ("water" if i < 4 else "ethanol") for i in range(12)}
    stats = fidelity_statistics(table, molecules).set_index(["compared", "molecule"])
    assert list(stats.index) == [
        ("gfn1", "all"),
        ("gfn1", "ethanol"),
        ("gfn1", "water"),
        ("mp0 zero-shot", "all"),
        ("mp0 zero-shot", "ethanol"),
        ("mp0 zero-shot", "water"),
    ]
    row = stats.loc[("gfn1", "all")]
    diff_e, diff_f = 1000 * (low_e - high_e), 1000 * (low_f - high_f)
    assert row["n_configs"] == 12
    assert row["energy_rmsd_meV_atom"] == pytest.approx(np.sqrt(np.mean(diff_e**2)))
    assert row["energy_mad_meV_atom"] == pytest.approx(np.mean(np.abs(diff_e)))
    assert row["energy_correlation"] == pytest.approx(np.corrcoef(high_e, low_e)[0, 1])
    assert row["forces_rmsd_meV_A"] == pytest.approx(np.sqrt(np.mean(diff_f**2)))
    assert row["forces_correlation"] == pytest.approx(np.corrcoef(high_f, low_f)[0, 1])
    water = stats.loc[("gfn1", "water")]
    assert water["n_configs"] == 4
    assert water["energy_rmsd_meV_atom"] == pytest.approx(np.sqrt(np.mean(diff_e[:4] ** 2)))
    forces_of_water = np.arange(48) % 12 < 4
    assert water["forces_mad_meV_A"] == pytest.approx(np.mean(np.abs(diff_f[forces_of_water])))
    assert stats.loc[("mp0 zero-shot", "all"), "energy_rmsd_meV_atom"] == pytest.approx(1.0)
    assert stats.loc[("mp0 zero-shot", "all"), "forces_mad_meV_A"] == pytest.approx(50.0)
    assert list(fidelity_statistics(table).molecule) == ["all", "all"]  # no molecule key: overall rows only


def test_force_histogram_is_clipped_to_the_central_quantiles_only_when_tails_stretch_it():
    rng = np.random.default_rng(2)
    narrow = rng.normal(0, 50, 5000)
    assert plots.clipped_range(narrow) == (None, "")
    tails = np.concatenate([narrow, [6000.0, -6000.0, 4000.0]])
    shown, note = plots.clipped_range(tails)
    low, high = np.quantile(tails, [0.005, 0.995])
    assert shown == pytest.approx((low, high))
    outside = int(np.sum((tails < low) | (tails > high)))
    assert note == f"x clipped to the 0.5-99.5% quantiles: {outside} of {tails.size} components outside"
    high_e = np.linspace(-0.05, 0.05, 10)
    table = fidelity_table(high_e, high_e, np.zeros(tails.size), tails / 1000)
    histogram = plots.fidelity_comparison(table).axes[1]
    assert histogram.get_xlim()[1] < 1000 and note in histogram.get_legend().get_texts()[0].get_text()


def test_outlier_ids_next_to_each_other_do_not_overlap():
    """Three worst configurations at almost the same place: their config ids are drawn apart."""
    high_e = np.linspace(-0.05, 0.05, 20)
    low_e = high_e.copy()
    low_e[[3, 4, 5]] += [0.2, 0.2001, 0.2002]  # the three outliers, on top of each other
    table = fidelity_table(high_e, low_e, np.zeros(60), np.zeros(60))
    fig = plots.fidelity_comparison(table, n_outliers=3)
    parity = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [text for text in parity.texts if text.get_text() in {"3", "4", "5"}]
    assert sorted(text.get_text() for text in labels) == ["3", "4", "5"]
    boxes = [text.get_window_extent(renderer) for text in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_learning_curves_ring_the_points_whose_runs_ended_at_max_epochs():
    """curves.csv's reached_max_epochs (mftl.analysis.quality): one seed of delta at n=30 used all its epochs; the
    figure rings delta's mean there, in both panels, and nothing else; unknown flags (NA) ring nothing."""
    table = curves([0, 1])
    flags = [
        pd.NA if method == "scratch" else (method == "delta" and size == 30 and seed == 1)
        for method, size, seed in zip(table["method"], table["train_size"], table["seed"], strict=True)
    ]
    table["reached_max_epochs"] = pd.array(flags, dtype="boolean")
    fig = plots.learning_curves(table)
    for ax, metric in zip(fig.axes, ("energy_rmse_meV_atom", "forces_rmse_meV_A"), strict=True):
        rings = [line for line in ax.get_lines() if line.get_marker() == "o" and line.get_markerfacecolor() == "none"]
        assert len(rings) == 1
        delta = table[(table["method"] == "delta") & (table["train_size"] == 30)]
        assert list(rings[0].get_xdata()) == [30]
        assert list(rings[0].get_ydata()) == pytest.approx([delta[metric].mean()])
    assert plots.UNDERTRAINED_LABEL in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plain = plots.learning_curves(curves([0, 1]))
    assert plots.UNDERTRAINED_LABEL not in [t.get_text() for t in plain.axes[0].get_legend().get_texts()]
