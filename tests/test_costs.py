"""Cost accounting (costs.csv) on a small synthetic results folder with hand-made benchmark files."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from PIL import Image

from mftl.analysis.costs import costs_table
from mftl.cli import main as mftl_main
from mftl.data.structures import write_structures

CONFIG = {
    "labelling": {"chunk_size": 2},
    "foundations": {"ext": {"file": "x.model"}},
    "datasets": {
        "d": {
            "fidelities": {
                "hf": {"energy_key": "e", "forces_key": "f", "cost": {"info_key": "hf_cpu_s"}},
                "lf": {"labeller": "tblite"},
            },
            "high_fidelity": "hf",
            "low_fidelity": "lf",
            "epoch_caps": [1, 2],
            "foundation": "ext",
        },
    },
}
# config_id -> high-fidelity label cost (s): config i costs 10 * i
PARTS = {"test": [0, 1], "validation": [2], "train_pool": [3, 4, 5], "pretrain_pool": [6, 7, 8, 9]}


def _frames(ids):
    frames = []
    for i in ids:
        atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
        atoms.info = {"config_id": i, "hf_cpu_s": 10.0 * i}
        frames.append(atoms)
    return frames


def _bench(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{seconds}\t0:00:00\t1.0\t{seconds / 2}\n")


def _run(folder: Path, train_ids) -> None:
    write_structures(folder / "train.extxyz", _frames(train_ids))
    (folder / "training.json").write_text(json.dumps({"device": "cpu"}))


@pytest.fixture
def results(tmp_path):
    r = tmp_path / "results" / "d"
    for part, ids in PARTS.items():
        write_structures(r / "splits" / f"{part}.extxyz", _frames(ids))
    for part in ("test", "validation"):
        write_structures(r / "labels" / f"{part}.hf.extxyz", _frames(PARTS[part]))
    # low-fidelity labelling jobs, chunks of 2: pretrain pool 2 chunks, test 1, validation 1, train pool 2
    for name, seconds in {
        "pretrain_pool.0": 4,
        "pretrain_pool.1": 6,
        "test.0": 2,
        "validation.0": 1,
        "train_pool.0": 8,
        "train_pool.1": 3,
    }.items():
        _bench(r / "benchmarks/label/lf" / f"{name}.tsv", seconds)
    _run(r / "pretrain/p3_s0", [6, 7, 8])
    _bench(r / "benchmarks/pretrain/p3_s0.tsv", 100)
    for cap, seconds in ((1, 20), (2, 30)):
        tag = f"p3_e{cap}_n2_s0"
        _run(r / "models/mftl" / tag, [3, 4])
        _bench(r / "benchmarks/mftl" / f"{tag}.tsv", seconds)
        _bench(r / "benchmarks/eval/mftl" / f"{tag}.tsv", 5)
        _bench(r / "benchmarks/valid/mftl" / f"{tag}.tsv", 7)
    for method, tag, seconds in (("scratch", "n2_s0", 50), ("delta", "n2_s0", 60), ("foundation", "ext_n2_s0", 70)):
        _run(r / "models" / method / tag, [3, 4])
        _bench(r / "benchmarks" / method / f"{tag}.tsv", seconds)
        _bench(r / "benchmarks/eval" / method / f"{tag}.tsv", 5)
    return tmp_path / "results"


def _row(method, cap=None, pre=None):
    fidelities = "ext->hf" if method.startswith("foundation") else "x"  # a foundation's row names it
    return {
        "dataset": "d",
        "method": method,
        "fidelities": fidelities,
        "pretrain_size": pre,
        "epoch_cap": cap,
        "train_size": 2,
        "seed": 0,
        "energy_rmse_meV_atom": 1.0,
        "forces_rmse_meV_A": 2.0,
    }


def test_costs_sum_what_each_point_depended_on(results):
    curves = pd.DataFrame(
        [
            _row("scratch"),
            _row("mftl", 1, 3),
            _row("mftl", 2, 3),
            _row("mftl_auto", 1, 3),
            _row("delta"),
            _row("foundation"),
        ]
    )
    table = costs_table(curves, CONFIG, results).set_index(["method", "epoch_cap"], drop=False)
    hf_used = 10 * (3 + 4 + 2)  # training configs 3, 4 and validation config 2
    scratch = table.loc[("scratch", pd.NA)]
    assert scratch.hf_labels_s == hf_used and scratch.lf_labels_s == 0
    assert scratch.training_s == 50 and scratch.evaluation_s == 5 and scratch.total_s == hf_used + 55
    # pre-training used configs 6, 7 (chunk pretrain_pool.0: 4 s / 2) and 8 (chunk .1: 6 s / 2)
    lf_pretrain = 4 / 2 + 4 / 2 + 6 / 2
    cap1 = table.loc[("mftl", 1)]
    assert cap1.lf_labels_s == pytest.approx(lf_pretrain) and cap1.pretrain_s == 100
    assert cap1.total_s == pytest.approx(hf_used + lf_pretrain + 100 + 20 + 5)
    # mftl_auto: both caps' fine-tunings and validations, the chosen cap's test evaluation
    auto = table[table.method == "mftl_auto"].iloc[0]
    assert auto.training_s == 20 + 30 and auto.evaluation_s == 7 + 7 + 5
    assert (table[table.method.str.startswith("mftl")].pretrain_shared_by == 3).all()
    # Delta: low fidelity of training (train_pool chunks: 8/2 each for 3 and 4? ids 3,4 in chunk 0), validation, test
    delta = table[table.method == "delta"].iloc[0]
    assert delta.lf_labels_s == pytest.approx(8 / 2 + 8 / 2 + 1 + 2 / 2 + 2 / 2)
    # an external foundation's cost is unknown: NaN, named, never invented
    foundation = table[table.method == "foundation"].iloc[0]
    assert math.isnan(foundation.foundation_s) and math.isnan(foundation.total_s)
    assert foundation.unknown == "foundation_s"
    assert (table[table.method != "foundation"].unknown == "").all()
    assert np.isfinite(table[table.method != "foundation"].total_s).all()


def test_a_zero_shot_point_costs_its_evaluation_and_the_foundation(results):
    """Every curve point has a cost row: a foundation evaluated as it is costs its evaluation, plus the
    foundation's training and labels when the campaign trained it; a downloaded one's is unknown, named."""
    config = json.loads(json.dumps(CONFIG))
    config["foundations"]["own"] = {"trained_by": {"dataset": "d", "method": "scratch", "train_size": 2, "seed": 0}}
    for name, seconds in (("ext", 9), ("own", 4)):
        _bench(results / "d/benchmarks/eval/foundation_zeroshot" / f"{name}.tsv", seconds)
        (results / "d/eval/foundation_zeroshot").mkdir(parents=True, exist_ok=True)
        (results / "d/eval/foundation_zeroshot" / f"{name}.json").write_text(json.dumps({"device": "cpu"}))
    rows = [{**_row("foundation_zeroshot"), "fidelities": name, "train_size": 0} for name in ("ext", "own")]
    curves = pd.DataFrame([_row("scratch"), *rows])
    table = costs_table(curves, config, results).set_index("fidelities")
    assert len(table) == len(curves)
    downloaded, own = table.loc["ext"], table.loc["own"]
    assert downloaded.evaluation_s == 9 and downloaded.training_s == 0 and downloaded.hf_labels_s == 0
    assert math.isnan(downloaded.foundation_s) and downloaded.unknown == "foundation_s"
    scratch_total = 10 * (3 + 4 + 2) + 50  # the foundation 'own' is the scratch run: labels 3, 4, 2 and training
    assert own.foundation_s == scratch_total and own.total_s == scratch_total + 4 and own.unknown == ""
    assert own.device == "cpu" and own.energy_rmse_meV_atom == 1.0


def test_a_missing_benchmark_file_is_an_error_naming_it(results):
    (results / "d/benchmarks/scratch/n2_s0.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="benchmarks/scratch/n2_s0.tsv: benchmark file missing"):
        costs_table(pd.DataFrame([_row("scratch")]), CONFIG, results)


def test_labels_without_a_known_cost_are_unknown(results):
    config = json.loads(json.dumps(CONFIG))
    del config["datasets"]["d"]["fidelities"]["hf"]["cost"]
    row = costs_table(pd.DataFrame([_row("scratch")]), config, results).iloc[0]
    assert math.isnan(row.hf_labels_s) and row.unknown == "hf_labels_s"


def test_unknown_costs_are_plotted_as_known_parts_and_named(results, tmp_path):
    """High-fidelity labels without a cost (a user's own data) and an external foundation: costs.csv
    and the cost figure are written, the known part of each point is plotted, the unknown parts named."""
    config = json.loads(json.dumps(CONFIG))
    del config["datasets"]["d"]["fidelities"]["hf"]["cost"]
    curves, costs = tmp_path / "curves.csv", tmp_path / "costs.csv"
    pd.DataFrame([_row("scratch"), _row("mftl", 1, 3), _row("foundation")]).to_csv(curves, index=False)
    assert (
        mftl_main(
            [
                "costs",
                "--curves",
                str(curves),
                "--config",
                json.dumps(config),
                "--results",
                str(results),
                "--out",
                str(costs),
            ]
        )
        == 0
    )
    table = pd.read_csv(costs)
    assert table.total_s.isna().all()
    assert list(table.unknown) == ["hf_labels_s", "hf_labels_s", "hf_labels_s foundation_s"]

    figures = [tmp_path / "cost.png", tmp_path / "cost.pdf"]
    assert mftl_main(["figure", "--kind", "cost", "--table", str(costs), "--out", *map(str, figures)]) == 0
    assert all(path.stat().st_size > 5000 for path in figures)
    caption = Image.open(figures[0]).text["Description"]
    assert caption == (
        "cost unknown: foundation (ext): high-fidelity labels, foundation model; "
        "mftl (pre 3, cap 1): high-fidelity labels; scratch: high-fidelity labels"
    )
    pdf_string = caption.replace("(", "\\(").replace(")", "\\)")  # a PDF literal string escapes parentheses
    assert f"/Subject ({pdf_string})".encode() in figures[1].read_bytes()

    # each point sits at the sum of its known parts: scratch 50 s training + 5 s evaluation; in minutes,
    # the largest point (127 s) being over 2 min
    from mftl.report.plots import cost

    figure = cost(table)
    energy_axis = figure.axes[0]
    assert energy_axis.get_xlabel() == "total cost per point (min of the jobs' resources)"
    points = {line.get_label(): line.get_xydata().ravel().tolist() for line in energy_axis.get_lines()}
    assert points["scratch"] == pytest.approx([55 / 60, 1.0])
    lf_pretrain = 4 / 2 + 4 / 2 + 6 / 2
    assert points["mftl (pre 3, cap 1)"] == pytest.approx([(lf_pretrain + 100 + 20 + 5) / 60, 1.0])
    assert points["foundation (ext)"] == pytest.approx([75 / 60, 1.0])
    markers = [line for line in energy_axis.get_lines() if line.get_marker() == "o" and len(line.get_xdata())]
    assert len(markers) == 3 and all(line.get_markerfacecolor() == "white" for line in markers), "open: lower bounds"

    # with the high-fidelity cost known, only the external foundation stays a lower bound
    known = cost(costs_table(pd.read_csv(curves), CONFIG, results))
    markers = [line for line in known.axes[0].get_lines() if line.get_marker() == "o" and len(line.get_xdata())]
    assert sorted(line.get_markerfacecolor() == "white" for line in markers) == [False, False, True]
    assert known.description == "cost unknown: foundation (ext): foundation model"


def test_a_given_geometry_of_the_pretraining_pool_costs_its_low_fidelity_label_not_sampling(results):
    """A ``pretrain_geometries`` configuration (ids from GEOMETRY_ID_OFFSET) was labelled like the drawn pool,
    not sampled: its cost is its labelling chunk's share."""
    from mftl.data.sampling import GEOMETRY_ID_OFFSET

    given = GEOMETRY_ID_OFFSET + 3
    r = results / "d"
    write_structures(r / "splits" / "pretrain_pool.extxyz", _frames([6, 7, 8, given]))
    _run(r / "pretrain/p3_s0", [6, 7, given])
    table = costs_table(pd.DataFrame([_row("mftl", 1, 3)]), CONFIG, results)
    # configs 6, 7 in chunk pretrain_pool.0 (4 s / 2 each), the given one in chunk .1 with 8 (6 s / 2)
    assert table.iloc[0].lf_labels_s == pytest.approx(4 / 2 + 4 / 2 + 6 / 2)
    assert table.iloc[0].sampling_s == 0
