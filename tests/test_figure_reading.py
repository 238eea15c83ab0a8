"""Figures a chemist reads: the cost figure's unit and point labels, the learning curves' band note,
the clipped force histogram, and the fidelity statistics table; checked on the data, not on pixels."""

from __future__ import annotations

import itertools

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


# ---- one campaign's figures: colours, scales, tick labels, missing energies (issue 34) ----------------------------

#: a small campaign's routes: (method, fidelities, pre-training size, epoch cap, error scale); mftl at two caps
ROUTES = (
    ("scratch", "hi", None, None, 1.0),
    ("delta", "hi-lo", None, None, 0.5),
    ("mftl", "lo->hi", 20, 2, 0.7),
    ("mftl", "lo->hi", 20, 8, 0.6),
    ("chain_triple", "lo->mid->hi", 20, 2, 0.65),
)
SIZES = (10, 30, 90)


def campaign_tables(tmp_path, energies: bool = True, caps=(2, 8)) -> dict[str, pd.DataFrame]:
    """curves.csv, valid_curves.csv, costs.csv, tables/negative_transfer.csv and tables/cost_to_target.csv of a small
    campaign, each written as the campaign writes it (mftl.analysis) and read back; without ``energies`` the energy
    columns are empty, as with allow_undetermined_e0s."""
    from mftl.analysis.cost_to_target import cost_to_target_table
    from mftl.analysis.costs import COLUMNS as COST_COLUMNS
    from mftl.analysis.curves import TABLE_COLUMNS, curves_table
    from mftl.analysis.negative_transfer import negative_transfer_table

    records, pretrained = [], []
    for (method, fidelities, pre, cap, scale), size, seed in itertools.product(ROUTES, SIZES, (0, 1, 2)):
        if cap is not None and cap not in caps:
            continue
        energy = scale * 300.0 * size**-0.5 * (1 + 0.05 * seed) if energies else None
        record = {"dataset": "d", "method": method, "fidelities": fidelities, "train_size": size, "seed": seed}
        record.update(pretrain_size=pre, epoch_cap=cap, n_test=20, n_test_undetermined=0 if energies else 20)
        record.update(energy_rmse_meV_atom=energy, energy_mae_meV_atom=energy and 0.8 * energy)
        record.update(forces_rmse_meV_A=scale * 900.0 * size**-0.5, forces_mae_meV_A=scale * 700.0 * size**-0.5)
        records.append(record)
    for cap, seed in itertools.product(caps, (0, 1, 2)):
        pretrained.append({**records[0], "method": "pretrain", "fidelities": "lo", "pretrain_size": 20})
        pretrained[-1].update(epoch_cap=cap, train_size=0, seed=seed, forces_rmse_meV_A=400.0 / cap)
        pretrained[-1].update(energy_rmse_meV_atom=336.0 / cap if energies else None)
    curves = curves_table(records)[TABLE_COLUMNS]
    costs = curves.assign(**dict.fromkeys(COMPONENTS, 0.0)).assign(training_s=curves["train_size"] * 3.0)
    costs = costs.assign(labels_s=0.0, compute_s=0.0, total_s=0.0, device="cpu", pretrain_shared_by=1, unknown="")
    tables = {
        "curves": curves,
        "validation": curves,
        "costs": costs[COST_COLUMNS],
        "negative_transfer": negative_transfer_table(pretrained, curves),
    }
    if energies:
        spec = {"split": {"validation": 5, "test": 20}}
        tables["cost_to_target"] = cost_to_target_table(curves, tables["costs"], spec)
    for name, table in tables.items():
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    return {name: pd.read_csv(tmp_path / f"{name}.csv") for name in tables}


#: the figures of a campaign and the table each is drawn from (plots.FIGURE_FUNCTIONS)
CAMPAIGN_FIGURES = {
    "learning_curves": "curves",
    "delta_vs_single_fidelity": "curves",
    "fidelity_chain": "curves",
    "error_vs_epoch_cap": "curves",
    "cost": "costs",
    "negative_transfer": "negative_transfer",
    "cost_to_target": "cost_to_target",
}


def drawn(kind: str, tables: dict[str, pd.DataFrame]):
    options = {"validation": tables["validation"]} if kind in plots.CHOOSING_FIGURES else {}
    return plots.FIGURE_FUNCTIONS[kind](tables[CAMPAIGN_FIGURES[kind]], **options)


def route_of(label: str) -> str | None:
    """The route a legend entry or bar of any figure names (series_label), None for other entries: the figures
    name routes as curves.csv's series, the chosen mftl series 'best cap', scratch and delta with their
    fidelities in the delta figure, chains with theirs in the chain figure, cost_to_target bars ': n=<size>'."""
    import re

    label = label.split(": n=")[0].replace("best cap", "cap")
    label = re.sub(r"^(chain_[a-z]+): \S+", r"\1", label)
    label = re.sub(r"^(scratch|delta) \(.*\)$", r"\1", label)
    return label if label.split(" ")[0] in {r[0] for r in ROUTES} else None


def drawn_colours(fig, bars: bool) -> list[tuple[str, str]]:
    """(label, colour) of every labelled line of a figure, as drawn; with ``bars`` also of every horizontal bar,
    named by its y tick (cost_to_target)."""
    from matplotlib.colors import to_hex

    pairs = []
    for ax in fig.axes:
        pairs += [(line.get_label(), to_hex(line.get_color())) for line in ax.get_lines()]
        if bars:
            ticks = [t.get_text() for t in ax.get_yticklabels()]
            pairs += [(label, to_hex(bar.get_facecolor())) for label, bar in zip(ticks, ax.patches, strict=True)]
    return pairs


def test_every_figure_of_a_campaign_draws_each_route_and_each_training_size_in_one_colour(tmp_path):
    """The colours the figures actually drew, read from their lines and bars: one colour per route across all
    figures of the campaign, different routes in different colours; the training sizes of error_vs_epoch_cap and
    negative_transfer in one colour each."""
    import re

    tables = campaign_tables(tmp_path)
    by_route, by_size, figures_of = {}, {}, {}
    for kind in CAMPAIGN_FIGURES:
        for label, colour in drawn_colours(drawn(kind, tables), bars=kind == "cost_to_target"):
            route = route_of(label)
            if route is not None:
                by_route.setdefault(route, set()).add(colour)
                figures_of.setdefault(route, set()).add(kind)
            size = re.search(r"train (\d+)$", label)
            if size and kind in ("error_vs_epoch_cap", "negative_transfer"):
                by_size.setdefault(int(size[1]), set()).add(colour)
    routes = {"scratch", "delta", "mftl (pre 20, cap 2)", "mftl (pre 20, cap 8)", "chain_triple (pre 20, cap 2)"}
    assert set(by_route) == routes
    assert {kind for kinds in figures_of.values() for kind in kinds} == set(CAMPAIGN_FIGURES) - {
        "error_vs_epoch_cap",
        "negative_transfer",
    }
    assert len(figures_of["scratch"]) >= 4 and len(figures_of["mftl (pre 20, cap 8)"]) >= 3
    for route, colours in by_route.items():
        assert len(colours) == 1, f"{route}: drawn in {sorted(colours)} ({sorted(figures_of[route])})"
    assert len({c for (c,) in by_route.values()}) == len(by_route), f"two routes share a colour: {by_route}"
    assert set(by_size) == set(SIZES) and all(len(c) == 1 for c in by_size.values()), by_size


def paper_comparison_rows() -> pd.DataFrame:
    """Two rows of the paper comparison (mftl.analysis.paper_comparison's columns the figure reads)."""
    rows = [["4", "d", "scratch", 90, None, None, "energy_rmse", "meV/atom", None, None, 60.0, 30.0, 2.0]]
    rows.append(["7", "d", "delta", 90, None, None, "forces_rmse", "meV/A", None, None, 50.0, 100.0, 0.5])
    columns = ["figure", "dataset", "method", "train_size", "pretrain_size", "epoch_cap", "metric", "campaign_unit"]
    columns += ["qualifier", "relative_to", "reproduced", "paper_value", "ratio"]
    return pd.DataFrame(rows, columns=columns)


def log_tick_labels(fig) -> list[tuple[str, float]]:
    """(text, rotation) of every tick label shown on a log axis of the drawn figure."""
    fig.canvas.draw()
    labels = []
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                ticks = [*axis.get_ticklabels(), *axis.get_ticklabels(minor=True)]
                labels += [(t.get_text(), t.get_rotation()) for t in ticks if t.get_text() and t.get_visible()]
    return labels


@pytest.mark.parametrize("kind", [*(k for k in CAMPAIGN_FIGURES if k != "cost_to_target"), "paper_comparison"])
def test_log_axes_label_their_ticks_with_plain_numbers_unrotated(tmp_path, kind):
    """A chemist reads 60 and 0.5, not 6x10^1 or 10^0: every tick label of a log axis is a plain number."""
    from mftl.report.paper_figure import comparison_figure

    tables = campaign_tables(tmp_path)
    fig = comparison_figure(paper_comparison_rows()) if kind == "paper_comparison" else drawn(kind, tables)
    labels = log_tick_labels(fig)
    assert labels, f"{kind}: no labelled tick on a log axis"
    for text, rotation in labels:
        assert "$" not in text and "10^" not in text and "e+" not in text, f"{kind}: tick label {text!r}"
        float(text.replace("\N{MINUS SIGN}", "-").replace(",", ""))
        assert rotation == 0, f"{kind}: tick label {text!r} rotated {rotation}"


def test_the_cost_axis_has_at_least_three_labelled_ticks(tmp_path):
    fig = drawn("cost", campaign_tables(tmp_path))
    fig.canvas.draw()
    low, high = fig.axes[0].get_xlim()
    inside = [t for t in fig.axes[0].get_xticklabels() if t.get_text() and low <= t.get_position()[0] <= high]
    assert len(inside) >= 3, [t.get_text() for t in inside]


@pytest.mark.parametrize("caps", [(2, 8), (8,)])
def test_negative_transfer_draws_pre_trained_and_fine_tuned_errors_on_one_scale(tmp_path, caps):
    """fig. S1: the pre-trained model's low-fidelity error (336/cap meV/atom here) and the fine-tuned models' lie on
    one y axis per panel (no twin axis with its own range); with one cap the values are written beside the points;
    the title says in words what it shows and the caption cites the paper's figure."""
    tables = campaign_tables(tmp_path, caps=caps)
    table = tables["negative_transfer"]
    fig = plots.negative_transfer(table)
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert len(panels) == 2, "one axes per panel: no twin axes"
    for ax, metric in zip(panels, ("energy_rmse_meV_atom", "forces_rmse_meV_A"), strict=True):
        pretrained = [line for line in ax.get_lines() if line.get_label().startswith("pre-trained")]
        fine_tuned = [line for line in ax.get_lines() if line.get_label().startswith("fine-tuned")]
        assert len(pretrained) == 1 and len(fine_tuned) == len(SIZES)
        low, high = ax.get_ylim()
        values = [*pretrained[0].get_ydata(), *(y for line in fine_tuned for y in line.get_ydata())]
        assert all(low <= v <= high for v in values)
        np.testing.assert_allclose(sorted(pretrained[0].get_ydata()), sorted(table[f"lf_{metric}"].unique()))
        if len(caps) == 1:
            written = {t.get_text() for t in ax.texts}
            assert all(f"{v:.3g}" in written for v in values), (written, values)
    assert "S1" not in fig.get_suptitle() and "pre-trained" in fig.get_suptitle()
    assert "fig. S1 of Cui, Reuter, Margraf 2025" in fig.description


MISSING_ENERGIES = "energies not determined: allow_undetermined_e0s"


@pytest.mark.parametrize(
    "kind",
    [
        "learning_curves",
        "error_vs_epoch_cap",
        "negative_transfer",
        "cost",
        "delta_vs_single_fidelity",
        "fidelity_chain",
    ],
)
def test_figures_without_energies_draw_the_forces_and_say_the_energies_are_missing(tmp_path, kind):
    """With allow_undetermined_e0s every energy column is empty: the figure is written, its force panel drawn, its
    energy panel says why it is empty. The delta and chain figures show the mftl series the validation errors
    choose among two caps: the force errors alone choose, as for mftl_auto."""
    tables = campaign_tables(tmp_path, energies=False)
    assert tables["curves"]["energy_rmse_meV_atom"].isna().all()
    fig = drawn(kind, tables)
    plots.save(fig, [str(tmp_path / f"{kind}.png")])
    assert (tmp_path / f"{kind}.png").stat().st_size > 5000
    energy, forces = fig.axes[:2]
    assert MISSING_ENERGIES in " ".join(" ".join(t.get_text() for t in energy.texts).split())
    assert not any(MISSING_ENERGIES in t.get_text() for t in forces.texts)
    assert [line for line in forces.get_lines() if not line.get_label().startswith("_")]


def test_every_method_has_a_colour_family_and_an_unknown_method_is_named():
    from mftl.methods import METHODS
    from mftl.report.colours import METHOD_COLOURMAPS, method_family

    assert set(METHOD_COLOURMAPS) == set(METHODS)
    assert method_family("chain_triple") == "chain"
    with pytest.raises(ValueError, match="method 'scratchy': no colour"):
        method_family("scratchy")
