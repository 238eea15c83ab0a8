"""What each learning-curve point cost to make: labels, training and evaluation, summed.

Units. A job's cost is its wall time in seconds from Snakemake's ``benchmark:``
file, i.e. seconds of the resources the job held (one core for labelling and,
here, training; one GPU per training job on a cluster, see ``device``). A
high-fidelity label read from the source costs what the config says
(``fidelities.<f>.cost``: an info key holding each configuration's CPU seconds,
as the demo's PySCF labels do, or a per-configuration estimate with its
source); without either it is unknown, shown as NaN and named in the
``unknown`` column, never invented. A label computed by the workflow costs its
labelling chunk's wall time divided evenly among the chunk's configurations; a
configuration sampled by the low fidelity (``pretrain_sampling``) costs its sampling
chunk's wall time divided evenly among the chunk's snapshots (``sampling_s``: the
MD that made and labelled it, dropped trajectories included).

Attribution. A point is charged everything it depended on: the labels of the
configurations it trained and validated on (high and low fidelity, the test set's
low-fidelity labels for Delta-learning, whose predictions need them), the
pre-training run it was fine-tuned from, the foundation model it started from
(training plus labels, when the campaign trained it), every earlier chain stage,
its own training and its evaluation. A ``foundation_zeroshot`` point (no training) is
charged its evaluation and the foundation (unknown, NaN, for one the campaign did not
train). ``mftl_auto`` is charged the fine-tuning and
validation of every cap it chose among. Shared costs (a pre-training run, the
foundation) are charged in full to every point that depends on them, so a point's
total is what making that point alone would cost; ``pretrain_shared_by`` counts
the points sharing its pre-training, so campaign totals count it once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pandas as pd

from mftl import paths
from mftl.data.sampling import GEOMETRY_ID_OFFSET, SAMPLED_ID_OFFSET
from mftl.data.structures import read_structures
from mftl.methods import FOUNDATION_FINETUNINGS, PRETRAINED_FINETUNINGS, PRETRAINED_METHODS, ZEROSHOT
from mftl.planning.campaign import Campaign
from mftl.training import chains

COMPONENTS = [
    "hf_labels_s",
    "lf_labels_s",
    "sampling_s",
    "pretrain_s",
    "foundation_s",
    "chain_stages_s",
    "training_s",
    "evaluation_s",
]
KEYS = ["dataset", "method", "fidelities", "pretrain_size", "epoch_cap", "train_size", "seed"]
ERRORS = ["energy_rmse_meV_atom", "forces_rmse_meV_A"]
COLUMNS = [*KEYS, *COMPONENTS, "labels_s", "compute_s", "total_s", "device", "pretrain_shared_by", "unknown", *ERRORS]


def job_seconds(benchmark: Path) -> float:
    """Wall seconds of one job from its Snakemake benchmark file."""
    if not Path(benchmark).is_file():
        raise FileNotFoundError(f"{benchmark}: benchmark file missing (the job that writes it has not run)")
    table = pd.read_csv(benchmark, sep="\t")
    return float(table["s"].iloc[-1])


class CostBook:
    """Per-configuration label costs and job costs of a campaign's results folder."""

    def __init__(self, config: Mapping, results: str | Path = "results"):
        self.config = config
        self.campaign = Campaign(config)  # which runs a point depends on, as planning derived them
        self.results = Path(results)
        self._ids = cache(self._ids_uncached)
        self._label_costs = cache(self._label_costs_uncached)
        self._sample_costs = cache(self._sample_costs_uncached)

    # ---- files -------------------------------------------------------------------

    def bench(self, dataset: str, *parts: str) -> Path:
        return Path(paths.benchmark(dataset, *parts, results=self.results))

    def planned(self, path: str) -> Path:
        """A path the campaign names under ``results/``, under this book's results folder."""
        return self.results / Path(path).relative_to(paths.RESULTS)

    def _ids_uncached(self, path: Path) -> tuple[int, ...]:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (needed to know which configurations a run used)")
        return tuple(int(a.info["config_id"]) for a in read_structures(path))

    def ids(self, path: str | Path) -> tuple[int, ...]:
        return self._ids(Path(path))

    # ---- labels ------------------------------------------------------------------

    def _label_costs_uncached(self, dataset: str, fidelity: str) -> dict[int, float] | None:
        """config_id -> seconds of this fidelity's label, or None when the cost is unknown."""
        spec = self.config["datasets"][dataset]["fidelities"][fidelity]
        if "labeller" in spec:
            chunk_size = self.config["labelling"]["chunk_size"]
            costs: dict[int, float] = {}
            for part in ("test", "validation", "train_pool", "pretrain_pool"):
                split = Path(paths.split_file(dataset, part, results=self.results))
                first_chunk = self.bench(dataset, "label", fidelity, f"{part}.0")
                if not first_chunk.is_file():
                    continue  # this part was never labelled with this fidelity
                ids = self.ids(split)
                for start in range(0, len(ids), chunk_size):
                    chunk = ids[start : start + chunk_size]
                    seconds = job_seconds(self.bench(dataset, "label", fidelity, f"{part}.{start // chunk_size}"))
                    costs.update(dict.fromkeys(chunk, seconds / len(chunk)))
            return costs
        cost = spec.get("cost", {})
        if "per_config_s" in cost:
            return _Constant(float(cost["per_config_s"]))
        if "info_key" in cost:
            costs = {}
            for part in ("test", "validation", "train_pool"):
                for atoms in read_structures(paths.split_file(dataset, part, results=self.results)):
                    if cost["info_key"] in atoms.info:
                        costs[int(atoms.info["config_id"])] = float(atoms.info[cost["info_key"]])
            return costs
        return None

    def _sample_costs_uncached(self, dataset: str) -> dict[int, float]:
        """config_id -> seconds of each configuration the low fidelity sampled (rule sample)."""
        costs: dict[int, float] = {}
        for chunk, path in enumerate(self.campaign.sample_chunks(dataset)):
            ids = self.ids(self.planned(path))
            lf = self.config["datasets"][dataset]["low_fidelity"]
            seconds = job_seconds(self.bench(dataset, "sample", lf, str(chunk)))
            costs.update(dict.fromkeys(ids, seconds / len(ids)))
        return costs

    def labels(self, dataset: str, fidelity: str, ids: Iterable[int]) -> float:
        """Seconds of the ``fidelity`` labels of ``ids``; NaN if unknown."""
        costs = self._label_costs(dataset, fidelity)
        if costs is None:
            return math.nan
        ids = list(ids)
        missing = [i for i in ids if i not in costs]
        if missing:
            raise ValueError(f"datasets.{dataset}: no {fidelity} label cost for configurations {missing[:5]}")
        return float(sum(costs[i] for i in ids))

    # ---- one run -------------------------------------------------------------------

    def run_labels(self, dataset: str, run_dir: Path, fidelity: str, with_validation: bool = True) -> float:
        """Labels a training run used: its training set and (fine-tuning, scratch) the validation set."""
        ids = set(self.ids(run_dir / "train.extxyz"))
        if with_validation:
            ids |= set(self.ids(paths.labelled(dataset, "validation", fidelity, results=self.results)))
        return self.labels(dataset, fidelity, ids)

    def pretraining(self, dataset: str, size: int, seed: int) -> tuple[float, float, float]:
        """(low-fidelity labels, sampling, job) seconds of one pre-training run: its configurations drawn from
        the source or given in ``pretrain_geometries`` (ids from GEOMETRY_ID_OFFSET) were labelled, those sampled
        by the low fidelity (ids from SAMPLED_ID_OFFSET) sampled."""
        tag = paths.pretrain_tag(size, seed)
        run = self.planned(self.campaign.pretraining_run(dataset, size, seed)).parent
        lf = self.config["datasets"][dataset]["low_fidelity"]
        ids = set(self.ids(run / "train.extxyz"))
        sampled = {i for i in ids if SAMPLED_ID_OFFSET <= i < GEOMETRY_ID_OFFSET}
        sample_costs = self._sample_costs(dataset) if sampled else {}
        missing = sorted(sampled - set(sample_costs))
        if missing:
            raise ValueError(f"datasets.{dataset}: no sampling cost for configurations {missing[:5]}")
        return (
            self.labels(dataset, lf, ids - sampled),
            float(sum(sample_costs[i] for i in sampled)),
            job_seconds(self.bench(dataset, "pretrain", tag)),
        )


class _Constant(dict):
    """A per-configuration cost that is the same for every configuration."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def __contains__(self, key) -> bool:
        return True

    def __getitem__(self, key) -> float:
        return self.seconds


def _foundation(row: Mapping) -> str:
    """The foundation a foundation method's row started from: fidelities are ``<foundation>-><high>``."""
    return str(row["fidelities"]).split("->")[0]


def row_run_tag(row: Mapping, method: str | None = None) -> str:
    method = method or row["method"]
    size, seed = int(row["train_size"]), int(row["seed"])
    if method in PRETRAINED_FINETUNINGS:
        return paths.mftl_tag(int(row["pretrain_size"]), int(row["epoch_cap"]), size, seed)
    if method in FOUNDATION_FINETUNINGS:
        return paths.foundation_tag(_foundation(row), size, seed)
    return paths.run_tag(size, seed)


def foundation_cost(book: CostBook, name: str) -> float:
    """Seconds of foundation ``name`` when the campaign trained it (training plus labels), else NaN."""
    trained = book.campaign.trained_by_run(name)
    if trained is None:
        return math.nan  # trained elsewhere: its cost is not ours to know
    folder, bench = (book.planned(path) for path in trained)
    by = book.config["foundations"][name]["trained_by"]["dataset"]
    return job_seconds(bench) + book.run_labels(by, folder, book.config["datasets"][by]["high_fidelity"])


def point_costs(book: CostBook, row: Mapping) -> dict:
    """Cost components (seconds) of one curves.csv row."""
    cfg = book.config
    dataset, method, seed = row["dataset"], row["method"], int(row["seed"])
    ds = cfg["datasets"][dataset]
    hf, lf = ds["high_fidelity"], ds["low_fidelity"]
    out = dict.fromkeys(COMPONENTS, 0.0)
    if method == ZEROSHOT:  # fidelities names the foundation
        out["evaluation_s"] = job_seconds(book.bench(dataset, "eval", ZEROSHOT, str(row["fidelities"])))
        out["foundation_s"] = foundation_cost(book, str(row["fidelities"]))
        return out
    tag = row_run_tag(row)

    if method == "mftl_auto":
        pre, size = int(row["pretrain_size"]), int(row["train_size"])
        tags = book.campaign.auto_cap_candidates(dataset, pre, size, seed)
        runs = [(Path(paths.model_dir(dataset, "mftl", t, results=book.results)), t) for t in tags]
        out["training_s"] = sum(job_seconds(book.bench(dataset, "mftl", t)) for _, t in runs)
        out["evaluation_s"] = sum(job_seconds(book.bench(dataset, "valid", "mftl", t)) for _, t in runs)
        out["evaluation_s"] += job_seconds(book.bench(dataset, "eval", "mftl", row_run_tag(row, "mftl")))
        run_dir = runs[0][0]
    else:
        run_dir = Path(paths.model_dir(dataset, method, tag, results=book.results))
        out["training_s"] = job_seconds(book.bench(dataset, method, tag))
        out["evaluation_s"] = job_seconds(book.bench(dataset, "eval", method, tag))

    if method == "delta":
        # learned on (high - low): both fidelities of training and validation, and low for the test set
        used = set(book.ids(run_dir / "train.extxyz"))
        valid = set(book.ids(paths.labelled(dataset, "validation", hf, results=book.results)))
        test = set(book.ids(paths.labelled(dataset, "test", hf, results=book.results)))
        out["hf_labels_s"] = book.labels(dataset, hf, used | valid)
        out["lf_labels_s"] = book.labels(dataset, lf, used | valid | test)
    else:
        out["hf_labels_s"] = book.run_labels(dataset, run_dir, hf)

    if method in PRETRAINED_METHODS:
        out["lf_labels_s"], out["sampling_s"], out["pretrain_s"] = book.pretraining(
            dataset, int(row["pretrain_size"]), seed
        )
    elif method in FOUNDATION_FINETUNINGS:
        out["foundation_s"] = foundation_cost(book, _foundation(row))
    elif chains.is_chain_method(method):
        name = chains.chain_name(method)
        stages = chains.stages(cfg, dataset, name)
        first = stages[0]
        if chains.starts_from_scratch(first):
            later = list(enumerate(stages))  # the scratch model is an earlier stage, with its labels
        else:
            out["lf_labels_s"], out["sampling_s"], out["pretrain_s"] = book.pretraining(
                first["dataset"], first["size"], seed
            )
            later = list(enumerate(stages))[1:]
        for k, stage in later:
            folder, bench, _ = chains.stage_run(cfg, dataset, name, k, seed)
            stage_dir = book.planned(folder)
            out["chain_stages_s"] += job_seconds(book.planned(bench))
            out["chain_stages_s"] += book.run_labels(stage["dataset"], stage_dir, stage["fidelity"])
    return out


def costs_table(curves: pd.DataFrame, config: Mapping, results: str | Path = "results") -> pd.DataFrame:
    """One row per curves row: cost components, totals, device, sharing and unknown components."""
    book = CostBook(config, results)
    rows = []
    for _, row in curves.iterrows():
        parts = point_costs(book, row)
        method, tag = (
            ("mftl", row_run_tag(row, "mftl")) if row["method"] == "mftl_auto" else (row["method"], row_run_tag(row))
        )
        if method == ZEROSHOT:  # the device of its evaluation
            record = paths.evaluation(row["dataset"], ZEROSHOT, str(row["fidelities"]), results=book.results)
        else:
            record = paths.run_json(paths.model_dir(row["dataset"], method, tag, results=book.results))
        info = pd.read_json(record, typ="series")
        rows.append({**{k: row[k] for k in KEYS}, **parts, "device": info["device"], **{k: row[k] for k in ERRORS}})
    table = pd.DataFrame(rows, columns=[*KEYS, *COMPONENTS, "device", *ERRORS])
    table["labels_s"] = table["hf_labels_s"] + table["lf_labels_s"] + table["sampling_s"]  # sampling labels too
    table["compute_s"] = table[["pretrain_s", "foundation_s", "chain_stages_s", "training_s", "evaluation_s"]].sum(
        axis=1, skipna=False
    )
    table["total_s"] = table["labels_s"] + table["compute_s"]
    pretrained = table["pretrain_size"].notna()
    shared = table[pretrained].groupby(["dataset", "pretrain_size", "seed"])["method"].transform("size")
    table["pretrain_shared_by"] = shared.reindex(table.index).astype("Int64")
    table["unknown"] = table[COMPONENTS].apply(lambda r: " ".join(c for c in COMPONENTS if pd.isna(r[c])), axis=1)
    return table[COLUMNS].astype({"pretrain_size": "Int64", "epoch_cap": "Int64"})
