"""The campaign a validated config asks for: every dataset's runs and what each needs.

Planning asks one :class:`Campaign` (built once from the config, in ``workflow/rules/common.smk``)
instead of re-deriving: which models a dataset trains and tests (method, sizes, seeds, epoch caps,
foundations, chains, zero-shot, automatic caps), the run folders they live in (through
:mod:`mftl.paths`), the files each needs (labels, E0 priors, the model it starts from), the
training job of each training run (:class:`mftl.training.training_job.TrainingJob`) and the files the campaign ends with. The rule files only
turn Snakemake's wildcards into these calls; tests call them without Snakemake.

Plain config reading only: no pandas, no analysis code (the paper-results file is checked through
:mod:`mftl.analysis.paper_comparison` only when the config names one).

The pre-training epoch cap, for example: ``datasets.<d>.epoch_caps`` -> :meth:`Campaign.stage_options`
(a pre-training runs to the largest cap and keeps a checkpoint at each: the job's ``max_epochs`` and
``serve_caps``) -> :meth:`Campaign.pretrain_job`; a fine-tuning (:meth:`Campaign.mftl_job`) starts from
:meth:`Campaign.pretraining_run` at its cap (``init_from``, ``init_cap``) -> the ``pretrain`` / ``mftl`` rules of
``train.smk`` (``params.job``) -> ``mftl train --job`` (:mod:`mftl.cli`) -> ``mace_run_train``.
"""

from __future__ import annotations

import functools
import math
import os
import shlex
from collections.abc import Mapping
from typing import NamedTuple

from mftl import paths
from mftl.data.sampling import SamplingSettings
from mftl.methods import (
    FOUNDATION_FINETUNINGS,
    PRETRAINED_FINETUNINGS,
    PRETRAINED_METHODS,
    STRATEGY_FLAGS,
    ZEROSHOT,
    strategy,
)
from mftl.planning import stability_plan
from mftl.planning.config import given_geometries_count, pretrain_pool_size
from mftl.planning.figure_catalogue import (
    CHOOSING_FIGURES,
    available_figures,
    pretraining_fidelity_groups,
    skipped_figures,
)
from mftl.planning.source_checks import checks_e0_span
from mftl.training import chains
from mftl.training.mace_options import mace_flags
from mftl.training.training_job import TrainingJob, job_fields


def quoted_option(flag: str, value) -> str:
    """``--flag=value`` with the value quoted for the shell: config strings (paths, keys, JSON)
    may hold spaces, quotes, ``$(...)`` or ``;``, and a value may start with a dash."""
    return f"{flag}={shlex.quote(str(value))}"


#: the method of a pre-trained model's own evaluation records (fig. S1: at each cap, on low-fidelity labels)
PRETRAINED = "pretrain"


class Run(NamedTuple):
    """One model a dataset's campaign trains and tests: its method, run-folder tag and curves.csv metadata."""

    method: str
    tag: str
    meta: dict


class Campaign:
    """Questions planning asks of a validated config; each answer is derived here, once."""

    def __init__(self, config: Mapping, checkout: str | os.PathLike = "."):
        self.config = config
        self.datasets = config["datasets"]
        self.checkout = checkout
        self._runs: dict[str, tuple[Run, ...]] = {}
        self._run_index: dict[str, dict[tuple[str, str], dict]] = {}
        self._options: dict[tuple, dict] = {}
        self._paper_results: str | None = None

    # ---- datasets, splits and labels -------------------------------------------------

    def dataset(self, dataset: str) -> Mapping:
        return self.datasets[dataset]

    def fidelity(self, dataset: str, fidelity: str) -> Mapping:
        return self.datasets[dataset]["fidelities"][fidelity]

    def part_size(self, dataset: str, part: str) -> int:
        """Configurations in a split part, known from the config alone."""
        ds = self.datasets[dataset]
        if part == "train_pool":
            return max(ds["train_sizes"])
        if part == "pretrain_pool":  # drawn from the source, then the pretrain_geometries file
            return ds["split"][part] + given_geometries_count(ds)
        return ds["split"][part]

    def n_chunks(self, dataset: str, part: str) -> int:
        """Labelling jobs of a part (``labelling.chunk_size`` configurations each)."""
        return math.ceil(self.part_size(dataset, part) / self.config["labelling"]["chunk_size"])

    def sampling(self, dataset: str) -> SamplingSettings | None:
        """The dataset's ``pretrain_sampling`` (defaults filled by the schema), or None."""
        spec = self.datasets[dataset].get("pretrain_sampling")
        return SamplingSettings.from_config(spec) if spec else None

    def sample_chunks(self, dataset: str, suffix: str = "extxyz") -> list[str]:
        """The sampled chunks (rule sample) of the dataset's pre-training pool, none without sampling."""
        settings, lf = self.sampling(dataset), self.datasets[dataset]["low_fidelity"]
        return [paths.sample_chunk(dataset, lf, c, suffix) for c in range(settings.chunks if settings else 0)]

    def downloaded_files(self, name: str) -> list[str]:
        return [paths.download_file(name, item["name"]) for item in self.config["downloads"][name]["files"]]

    # ---- E0 priors --------------------------------------------------------------------

    def atom_energies_file(self, dataset: str, fidelity: str) -> str | None:
        """A fidelity's isolated-atom energies, its 'e0s' or its labeller's atoms (rule atom_energies), or None."""
        spec = self.fidelity(dataset, fidelity)
        if "e0s" in spec or "labeller" in spec:
            return paths.atom_energies(dataset, fidelity)
        return None

    def transfers_binding(self, dataset: str, fidelity: str) -> bool:
        """The high fidelity's prior adds the low fidelity's binding, fitted on the pre-training pool, to its atoms."""
        ds = self.datasets[dataset]
        return (
            fidelity == ds["high_fidelity"]
            and pretrain_pool_size(ds) > 0
            and self.atom_energies_file(dataset, fidelity) is not None
            and self.atom_energies_file(dataset, ds["low_fidelity"]) is not None
        )

    def e0_prior(self, dataset: str, fidelity: str) -> str | None:
        """The E0 prior file a training of ``fidelity`` starts its E0 fit from (rule e0_prior or atom_energies), or None."""
        if self.transfers_binding(dataset, fidelity):
            return paths.e0_prior(dataset, fidelity)
        return self.atom_energies_file(dataset, fidelity)

    def e0_span_test(self, dataset: str, delta: bool | None = None) -> list[str]:
        """The test split a training checks its E0 fit against (no prior and no opt-in), as an input list.
        ``delta`` None: whether any training of the dataset (Delta or not) checks it."""
        ds = self.datasets[dataset]
        needed = checks_e0_span(ds, delta) if delta is not None else checks_e0_span(ds) or checks_e0_span(ds, True)
        return [paths.split_file(dataset, "test")] if needed else []

    # ---- training jobs ------------------------------------------------------------------
    # One method per kind of training builds its TrainingJob (mftl.training.training_job): the run's data, the model it
    # starts from and the options of its stage. The rules of train.smk pass it to `mftl train --job`; its
    # files are those the rules' input functions name (tests/test_campaign checks both against a dry run).

    def stage_settings(self, stage: str) -> Mapping:
        """The ``training`` entry of a stage; multi-head fine-tuning falls back to ``finetune``'s."""
        if stage == "multihead" and "multihead" not in self.config["training"]:
            stage = "finetune"
        return self.config["training"][stage]

    def max_epochs(self, dataset: str, stage: str) -> int:
        """Epochs a training of ``stage`` may run: a pre-training runs to the dataset's largest epoch cap."""
        if stage == "pretrain":
            return max(self.datasets[dataset]["epoch_caps"])
        return self.stage_settings(stage)["max_epochs"]

    def stage_options(self, dataset: str, stage: str) -> dict:
        """The TrainingJob fields of a dataset's trainings of ``stage`` (pretrain, finetune, multihead, scratch)
        that come from the config: a stage's keys that name a job field (max_epochs, any option the schema's
        ``stage`` declares), its other keys as mace_run_train flags over the architecture (campaign ``model``,
        overridden by the dataset's own ``model``; fine-tuning takes the architecture from the pre-trained
        model, the flags still matter for the dtype), the device. A pre-training runs to the largest epoch cap
        and keeps a checkpoint at every cap (``serve_caps``), which fine-tunings start from."""
        key = (dataset, stage)
        if key not in self._options:
            settings = dict(self.stage_settings(stage))
            own = {name: settings.pop(name) for name in list(settings) if name in job_fields()}
            flags = {**self.config["model"], **self.datasets[dataset].get("model", {}), **settings}
            options = {**own, "max_epochs": self.max_epochs(dataset, stage), "hyperparameters": flags}
            if stage == "pretrain":
                options["serve_caps"] = tuple(sorted(self.datasets[dataset]["epoch_caps"]))
            self._options[key] = {**options, "device": self.config["device"]}
        return self._options[key]

    def _job(self, dataset: str, stage: str, data: Mapping, **fields) -> TrainingJob:
        return TrainingJob(**self.stage_options(dataset, stage), **data, **fields)

    def strategy_fields(self, method: str) -> dict:
        """The TrainingJob fields of a fine-tuning strategy's method (``mftl_lora``): the strategy and its
        mace_run_train flags (``training.strategies.<strategy>`` over :data:`mftl.methods.STRATEGY_FLAGS`)."""
        name = strategy(method)
        if name is None:
            return {}
        settings = {**STRATEGY_FLAGS[name], **self.config["training"].get("strategies", {}).get(name, {})}
        return {"strategy": name, "strategy_flags": tuple(mace_flags(settings))}

    def _hf_data(self, dataset: str, size, seed, delta: bool = False) -> dict:
        """A high-fidelity training's data: ``size`` of the training pool drawn with ``seed``, the validation set,
        the E0 prior (``delta``: the high fidelity's isolated atoms alone) and the test split its E0 fit must span."""
        hf = self.datasets[dataset]["high_fidelity"]
        span_test = self.e0_span_test(dataset, delta)
        return {
            "train_pool": paths.labelled(dataset, "train_pool", hf),
            "valid": paths.labelled(dataset, "validation", hf),
            "fidelity": hf,
            "size": int(size),
            "seed": int(seed),
            "prior": self.atom_energies_file(dataset, hf) if delta else self.e0_prior(dataset, hf),
            "e0_span_test": span_test[0] if span_test else None,
            "dataset": dataset,
        }

    def scratch_job(self, dataset: str, size, seed) -> TrainingJob:
        return self._job(dataset, "scratch", self._hf_data(dataset, size, seed))

    def pretrain_job(self, dataset: str, pretrain, seed) -> TrainingJob:
        """Pre-training on the low fidelity's pre-training pool (mace holds out its own validation share)."""
        lf = self.datasets[dataset]["low_fidelity"]
        data = {"train_pool": paths.labelled(dataset, "pretrain_pool", lf), "fidelity": lf, "dataset": dataset}
        data |= {"size": int(pretrain), "seed": int(seed), "prior": self.e0_prior(dataset, lf)}
        return self._job(dataset, "pretrain", data)

    def mftl_job(self, dataset: str, pretrain, cap, size, seed, method: str = "mftl") -> TrainingJob:
        """Fine-tuning of the pre-training run's model at epoch ``cap`` (with ``method``'s strategy)."""
        init = os.path.dirname(self.pretraining_run(dataset, pretrain, seed))
        start = {"init_from": init, "init_cap": int(cap), **self.strategy_fields(method)}
        return self._job(dataset, "finetune", self._hf_data(dataset, size, seed), **start)

    def delta_job(self, dataset: str, size, seed) -> TrainingJob:
        """A Delta model: the high fidelity minus the low fidelity's labels of the same configurations."""
        lf = self.datasets[dataset]["low_fidelity"]
        return self._job(
            dataset,
            "scratch",
            self._hf_data(dataset, size, seed, delta=True),
            base_fidelity=lf,
            base_pool=paths.labelled(dataset, "train_pool", lf),
            base_valid=paths.labelled(dataset, "validation", lf),
            base_prior=self.atom_energies_file(dataset, lf),
        )

    def foundation_job(self, dataset: str, foundation, size, seed, method: str = "foundation") -> TrainingJob:
        """Naive fine-tuning of foundation ``foundation`` (with ``method``'s strategy)."""
        start = {"init_from": self.foundation_model(dataset, foundation), **self.strategy_fields(method)}
        return self._job(dataset, "finetune", self._hf_data(dataset, size, seed), **start)

    def multihead_job(self, dataset: str, foundation, size, seed, method: str = "foundation_multihead") -> TrainingJob:
        """Multi-head fine-tuning: replaying the foundation's own training data (trained_by), a replay file, or
        mace's own replay data set (``replay: mp``, downloaded by mace on the training node)."""
        spec = self.foundation_spec(dataset, foundation)
        replay = {"replay_size": spec.get("replay_size")}
        trained = self.trained_by_run(foundation)
        if trained:
            replay["replay"] = f"{trained[0]}/train.extxyz"
        elif isinstance(spec["replay"], str):
            replay["replay_dataset"] = spec["replay"]
        else:
            keys = (spec["replay"]["energy_key"], spec["replay"]["forces_key"])
            replay |= {"replay": spec["replay"]["file"], "replay_keys": keys}
        replay |= {"init_from": self.foundation_model(dataset, foundation), **self.strategy_fields(method)}
        return self._job(dataset, "multihead", self._hf_data(dataset, size, seed), **replay)

    def chain_stage_job(self, dataset: str, chain, stage, seed) -> TrainingJob:
        """Stage ``stage`` (>= 1) of chain ``chain``: fine-tuning the previous stage's model on the stage's data."""
        spec = self.chain_stages(dataset, chain)[int(stage)]
        source, fidelity = spec["dataset"], spec["fidelity"]
        data = {
            "train_pool": paths.labelled(source, "train_pool", fidelity),
            "valid": paths.labelled(source, "validation", fidelity),
            "fidelity": fidelity,
            "size": int(spec["size"]),
            "seed": int(seed),
            "prior": self.e0_prior(source, fidelity),
            "dataset": source,
        }
        return self._job(source, "finetune", data, **self.chain_start(dataset, chain, int(stage), seed)[1])

    def chain_job(self, dataset: str, chain, size, seed) -> TrainingJob:
        """The dataset's own fine-tuning at the end of chain ``chain``, from its last stage's model."""
        start = self.chain_start(dataset, chain, len(self.chain_stages(dataset, chain)), seed)[1]
        return self._job(dataset, "finetune", self._hf_data(dataset, size, seed), **start)

    def training_job(self, rule: str, wildcards: Mapping) -> TrainingJob:
        """The job of a training rule of train.smk, from the rule's wildcards (each a parameter of its method)."""
        kinds = {"scratch": self.scratch_job, "pretrain": self.pretrain_job, "mftl": self.mftl_job}
        kinds |= {
            "delta": self.delta_job,
            "foundation": self.foundation_job,
            "foundation_multihead": self.multihead_job,
        }
        kinds |= {"chain_stage": self.chain_stage_job, "chain": self.chain_job}
        kinds |= {
            "mftl_freeze": functools.partial(self.mftl_job, method="mftl_freeze"),
            "mftl_lora": functools.partial(self.mftl_job, method="mftl_lora"),
            "foundation_freeze": functools.partial(self.foundation_job, method="foundation_freeze"),
            "foundation_lora": functools.partial(self.foundation_job, method="foundation_lora"),
            "foundation_pseudolabel": functools.partial(self.multihead_job, method="foundation_pseudolabel"),
        }
        return kinds[rule](**dict(wildcards.items()))

    def pretraining_run(self, dataset: str, pretrain, seed) -> str:
        """The training.json of the pre-training run an ``mftl`` fine-tuning (and fig. S1) starts from."""
        return paths.run_json(paths.pretrain_dir(dataset, paths.pretrain_tag(pretrain, seed)))

    # ---- foundation models ---------------------------------------------------------------
    # A dataset's ``foundation`` names one entry of ``foundations`` or a list of them; every foundation
    # method runs once per listed foundation, in run folders tagged <foundation>_n<size>_s<seed>.

    def foundations(self, dataset: str) -> list[str]:
        """Names of the foundations a dataset's foundation methods start from, in config order."""
        names = self.datasets[dataset].get("foundation", [])
        return [names] if isinstance(names, str) else list(names)

    def foundation_spec(self, dataset: str, name: str) -> Mapping:
        """The ``foundations`` entry ``name``, refused unless the dataset lists it."""
        if name not in self.foundations(dataset):
            raise ValueError(f"datasets.{dataset}.foundation does not list '{name}' ({self.foundations(dataset)})")
        return self.config["foundations"][name]

    def trained_by_run(self, name: str) -> tuple[str, str] | None:
        """(run folder, benchmark) of the training of foundation ``name`` when the campaign trains it (trained_by)."""
        spec = self.config["foundations"][name]
        if "trained_by" not in spec:
            return None
        by = spec["trained_by"]
        tag = paths.run_tag(by["train_size"], by["seed"])
        return paths.model_dir(by["dataset"], by["method"], tag), paths.benchmark(by["dataset"], by["method"], tag)

    def foundation_model(self, dataset: str, name: str) -> str:
        """The model file foundation ``name`` is (fine-tuned, or evaluated zero-shot)."""
        spec = self.foundation_spec(dataset, name)
        if "file" in spec:
            return spec["file"]
        if "name" in spec:
            return paths.foundation_file(name)
        return f"{self.trained_by_run(name)[0]}/model.model"

    def foundation_needs(self, dataset: str, name: str) -> str:
        """What a job using foundation ``name`` waits for: the model file, or the run that trains it."""
        self.foundation_spec(dataset, name)  # refused unless the dataset lists it
        trained = self.trained_by_run(name)
        return paths.run_json(trained[0]) if trained else self.foundation_model(dataset, name)

    def foundation_runs(self, dataset: str, size, seed) -> list[Run]:
        """Every foundation fine-tuning of a dataset at one size and seed."""
        ds = self.datasets[dataset]
        return [
            Run(
                method,
                paths.foundation_tag(name, size, seed),
                {
                    "dataset": dataset,
                    "train_size": size,
                    "seed": seed,
                    "method": method,
                    "foundation": name,
                    "fidelities": f"{name}->{ds['high_fidelity']}",
                },
            )
            for method in FOUNDATION_FINETUNINGS
            if method in ds["methods"] and seed in self.seeds(dataset, method)
            for name in self.foundations(dataset)
        ]

    def zeroshot_runs(self, dataset: str) -> list[tuple[str, dict]]:
        """(foundation, metadata) of every zero-shot evaluation of a dataset: no training set, no seed
        (train_size 0, seed 0)."""
        if ZEROSHOT not in self.datasets[dataset]["methods"]:
            return []
        return [
            (
                name,
                {
                    "dataset": dataset,
                    "method": ZEROSHOT,
                    "foundation": name,
                    "fidelities": name,
                    "train_size": 0,
                    "seed": 0,
                },
            )
            for name in self.foundations(dataset)
        ]

    def zeroshot_predictions(self, dataset: str) -> dict[str, str]:
        """The zero-shot predictions of the comparison's configurations, per foundation."""
        return {name: paths.zeroshot_predictions(dataset, name) for name, _ in self.zeroshot_runs(dataset)}

    # ---- fidelity chains ---------------------------------------------------------------------
    # chains = {name: [stage 0: a low-fidelity pre-training run (served at its epoch cap) or, without
    # epoch_cap, a scratch model of a dataset's high fidelity, stage 1.., ]}, then the dataset's own
    # high-fidelity fine-tuning; stage k fine-tunes stage k-1's model (mftl/training/chains.py).

    def chain_stages(self, dataset: str, name: str) -> list:
        return chains.stages(self.config, dataset, name)

    def chain_start(self, dataset: str, name: str, k: int, seed) -> tuple[str, dict]:
        """(training.json to wait for, the job's ``init_from``/``init_cap``) of the model that stage ``k`` of chain
        ``name`` starts from; k = len(stages): the dataset's own last fine-tuning."""
        folder, _, kind = chains.stage_run(self.config, dataset, name, k - 1, seed)
        if kind == "folder":
            return paths.run_json(folder), {
                "init_from": folder,
                "init_cap": self.chain_stages(dataset, name)[0]["epoch_cap"],
            }
        return paths.run_json(folder), {"init_from": f"{folder}/model.model"}

    def chain_runs(self, dataset: str, size, seed) -> list[Run]:
        """Every named chain's final model at one training size and seed."""
        runs = []
        for name, stages in self.datasets[dataset].get("chains", {}).items():
            method = chains.chain_method(name)
            meta = {
                "dataset": dataset,
                "train_size": size,
                "seed": seed,
                "method": method,
                "fidelities": chains.fidelities(self.config, dataset, name),
            }
            if not chains.starts_from_scratch(stages[0]):
                meta.update(pretrain_size=stages[0]["size"], epoch_cap=stages[0]["epoch_cap"])
            runs.append(Run(method, paths.run_tag(size, seed), meta))
        return runs

    # ---- every model and evaluation ------------------------------------------------------------

    def model_runs(self, dataset: str) -> tuple[Run, ...]:
        """Every model a dataset's campaign trains and tests, in a fixed order (seed, size, method)."""
        if dataset not in self._runs:
            self._runs[dataset] = tuple(self._model_runs(dataset))
        return self._runs[dataset]

    def seeds(self, dataset: str, method: str) -> list[int]:
        """The seeds ``method`` runs with: ``method_seeds.<method>`` (a subset), else all the dataset's ``seeds``.
        The mftl runs serve mftl and mftl_auto, so they run with the seeds of either."""
        ds = self.datasets[dataset]
        chosen = ds.get("method_seeds", {})
        if method == "mftl":
            listed = [m for m in PRETRAINED_METHODS if m in ds["methods"]]
            if not listed or any(m not in chosen for m in listed):
                return list(ds["seeds"])
            return [s for s in ds["seeds"] if any(s in chosen[m] for m in listed)]
        return [s for s in ds["seeds"] if s in chosen.get(method, ds["seeds"])]

    def _model_runs(self, dataset: str):
        ds = self.datasets[dataset]
        hf, lf = ds["high_fidelity"], ds["low_fidelity"]
        methods = set(ds["methods"])
        for seed in ds["seeds"]:
            for size in ds["train_sizes"]:
                base = {"dataset": dataset, "train_size": size, "seed": seed}
                if "scratch" in methods and seed in self.seeds(dataset, "scratch"):
                    yield Run("scratch", paths.run_tag(size, seed), {**base, "method": "scratch", "fidelities": hf})
                if "delta" in methods and seed in self.seeds(dataset, "delta"):
                    yield Run(
                        "delta", paths.run_tag(size, seed), {**base, "method": "delta", "fidelities": f"{hf}-{lf}"}
                    )
                yield from self.foundation_runs(dataset, size, seed)
                if "chain" in methods and seed in self.seeds(dataset, "chain"):
                    yield from self.chain_runs(dataset, size, seed)
                for method in self.pretrained_finetunings(dataset):
                    if seed not in self.seeds(dataset, method):
                        continue
                    for pre in ds["pretrain_sizes"]:
                        for cap in ds["epoch_caps"]:
                            meta = {
                                **base,
                                "method": method,
                                "fidelities": f"{lf}->{hf}",
                                "pretrain_size": pre,
                                "epoch_cap": cap,
                            }
                            yield Run(method, paths.mftl_tag(pre, cap, size, seed), meta)

    def run_metadata(self, dataset: str, method: str, tag: str) -> dict:
        """The curves.csv metadata of one trained model; an unknown one is refused."""
        if dataset not in self._run_index:
            self._run_index[dataset] = {(run.method, run.tag): run.meta for run in self.model_runs(dataset)}
        try:
            return self._run_index[dataset][(method, tag)]
        except KeyError:
            raise ValueError(f"no model {method}/{tag} in dataset {dataset}") from None

    def auto_cap_runs(self, dataset: str) -> list[tuple[str, dict]]:
        """(tag, metadata) of every mftl_auto point: the cap is chosen per (pre-train size, train size, seed)."""
        ds = self.datasets[dataset]
        if "mftl_auto" not in ds["methods"]:
            return []
        hf, lf = ds["high_fidelity"], ds["low_fidelity"]
        return [
            (
                paths.auto_tag(pre, size, seed),
                {
                    "dataset": dataset,
                    "method": "mftl_auto",
                    "fidelities": f"{lf}->{hf}",
                    "pretrain_size": pre,
                    "train_size": size,
                    "seed": seed,
                },
            )
            for seed in self.seeds(dataset, "mftl_auto")
            for size in ds["train_sizes"]
            for pre in ds["pretrain_sizes"]
        ]

    def auto_cap_candidates(self, dataset: str, pretrain, size, seed) -> list[str]:
        """The mftl tags of every cap an mftl_auto point chooses among (by validation error)."""
        return [paths.mftl_tag(pretrain, cap, size, seed) for cap in self.datasets[dataset]["epoch_caps"]]

    def pretrained_finetunings(self, dataset: str) -> list[str]:
        """The methods whose runs fine-tune a dataset's pre-trained models (mftl's runs serve mftl_auto too)."""
        methods = set(self.datasets[dataset]["methods"]) | (
            {"mftl"} if "mftl_auto" in self.datasets[dataset]["methods"] else set()
        )
        return [m for m in PRETRAINED_FINETUNINGS if m in methods]

    def pretrains(self, dataset: str) -> bool:
        """Whether a dataset pre-trains on its low fidelity (runs mftl or mftl_auto)."""
        return bool(set(PRETRAINED_METHODS) & set(self.datasets[dataset]["methods"]))

    def pretrained_points(self, dataset: str) -> list[tuple[int, int, int]]:
        """(pre-training size, epoch cap, seed) of every model a dataset's mftl models are fine-tuned from;
        none unless the dataset pre-trains."""
        spec = self.datasets[dataset]
        if not self.pretrains(dataset):
            return []
        seeds = sorted({s for method in self.pretrained_finetunings(dataset) for s in self.seeds(dataset, method)})
        return [(p, c, s) for p in spec["pretrain_sizes"] for c in spec["epoch_caps"] for s in seeds]

    def pretrained_metadata(self, dataset: str, pretrain, cap, seed) -> dict:
        """What an evaluation record of the pre-trained model at ``cap`` says about itself (fig. S1)."""
        return {
            "dataset": dataset,
            "method": PRETRAINED,
            "fidelities": self.datasets[dataset]["low_fidelity"],
            "pretrain_size": int(pretrain),
            "epoch_cap": int(cap),
            "train_size": 0,
            "seed": int(seed),
        }

    def evaluation_results(self, dataset: str) -> list[str]:
        """The test results curves.csv is made of: every model, every mftl_auto choice, every zero-shot foundation."""
        methods = self.datasets[dataset]["methods"]
        results = [
            paths.evaluation(dataset, run.method, run.tag)
            for run in self.model_runs(dataset)
            if run.method in methods or chains.is_chain_method(run.method)
        ]
        results += [paths.evaluation(dataset, "mftl_auto", tag) for tag, _ in self.auto_cap_runs(dataset)]
        results += [paths.evaluation(dataset, ZEROSHOT, name) for name, _ in self.zeroshot_runs(dataset)]
        return results

    def validation_results(self, dataset: str) -> list[str]:
        """Validation errors of a dataset's mftl models: the points that differ only in pre-training size and
        epoch cap, among which the validation set chooses where a paper row leaves them open."""
        return [
            paths.evaluation(dataset, run.method, run.tag, kind="valid")
            for run in self.model_runs(dataset)
            if run.method == "mftl"
        ]

    def pretrained_evaluations(self, dataset: str) -> list[str]:
        """The low-fidelity test errors of every pre-training run at every cap of the dataset (fig. S1)."""
        return [
            paths.evaluation(dataset, PRETRAINED, paths.pretrain_cap_tag(pre, cap, seed), kind="eval_lf")
            for pre, cap, seed in self.pretrained_points(dataset)
        ]

    def comparison_labels(self, dataset: str) -> dict[str, str]:
        """The configurations of the zero-shot evaluation and the fidelity comparison with the high and with the
        low fidelity's labels: the test set, or the dataset's comparison_sample (rule comparison_sample)."""
        ds = self.datasets[dataset]
        if "comparison_sample" in ds:
            return {role: paths.comparison_sample(dataset, role) for role in ("high", "low")}
        return {role: paths.labelled(dataset, "test", ds[f"{role}_fidelity"]) for role in ("high", "low")}

    # ---- stability checks (mftl.planning.stability_plan) -------------------------------------------

    def stability_runs(self, dataset: str) -> list[Run]:
        """The trained models a dataset's stability checks cover (``stability.sizes``; none when disabled)."""
        return stability_plan.stability_runs(self, dataset)

    def stability_results(self, dataset: str) -> list[str]:
        """The stability records tables/stability.csv is made of, one per checked model."""
        return [paths.stability(dataset, run.method, run.tag) for run in self.stability_runs(dataset)]

    def stability_settings(self, dataset: str) -> dict:
        """The dataset's ``stability`` mapping, as the stability job reads it."""
        return stability_plan.settings(self.datasets[dataset])

    def stability_start_data(self, dataset: str, method: str, tag: str) -> tuple[str, str] | None:
        """(test labels, fidelity) of the starting model's own data (forgetting), or None."""
        return stability_plan.start_data(self, dataset, method, tag)

    def stability_base_labeller(self, dataset: str) -> tuple[str, dict] | None:
        """(labeller, options) of the low fidelity under a Delta model, or None (labels read from keys)."""
        return stability_plan.base_labeller(self, dataset)

    def stability_targets(self, dataset: str) -> list[str]:
        """tables/stability.csv and figures/stability.{png,pdf} where the dataset checks any model, else []."""
        if not self.stability_runs(dataset):
            return []
        return [paths.table(dataset, "stability"), *paths.figure_files(dataset, "stability")]

    # ---- costs ---------------------------------------------------------------------------------

    def costed_labels(self, dataset: str) -> list[tuple[str, str]]:
        """(part, fidelity) of every labelled part the campaign's runs of ``dataset`` are charged for."""
        ds = self.datasets[dataset]
        hf, lf, methods = ds["high_fidelity"], ds["low_fidelity"], set(ds["methods"])
        parts = {("train_pool", hf), ("validation", hf), ("test", hf)}
        if self.pretrains(dataset):
            parts.add(("pretrain_pool", lf))
        if "delta" in methods:
            parts |= {("train_pool", lf), ("validation", lf), ("test", lf)}
        if "fidelity_comparison" in available_figures(ds):
            parts.add(("test", lf))
        return sorted(parts)

    def cost_records(self, dataset: str) -> dict[str, list[str]]:
        """What `mftl costs` reads besides curves.csv, so that Snakemake knows when costs.csv is stale: each
        point's run (training.json) and the benchmarks of its training, pre-training, chain stages, foundation
        (trained by the campaign), evaluation and validation jobs, and of the labelling chunks of the parts it
        was charged for."""
        runs, benchmarks = set(), set()

        def foundation(name):
            trained = self.trained_by_run(name)
            if trained:
                runs.add(paths.run_json(trained[0]))
                benchmarks.add(trained[1])

        for method, tag, meta in self.model_runs(dataset):
            runs.add(paths.training_json(dataset, method, tag))
            benchmarks |= {paths.benchmark(dataset, method, tag), paths.benchmark(dataset, "eval", method, tag)}
            if method in PRETRAINED_FINETUNINGS:
                pre = paths.pretrain_tag(meta["pretrain_size"], meta["seed"])
                runs.add(paths.run_json(paths.pretrain_dir(dataset, pre)))
                benchmarks.add(paths.benchmark(dataset, "pretrain", pre))
            elif chains.is_chain_method(method):  # every stage: a pre-training or scratch run, later stages
                name = chains.chain_name(method)
                for k in range(len(self.chain_stages(dataset, name))):
                    folder, bench, _ = chains.stage_run(self.config, dataset, name, k, meta["seed"])
                    runs.add(paths.run_json(folder))
                    benchmarks.add(bench)
            elif "foundation" in meta:
                foundation(meta["foundation"])
        for name, _ in self.zeroshot_runs(dataset):  # its evaluation and the foundation it evaluates
            benchmarks.add(paths.benchmark(dataset, "eval", ZEROSHOT, name))
            foundation(name)
        for _, meta in self.auto_cap_runs(dataset):
            for tag in self.auto_cap_candidates(dataset, meta["pretrain_size"], meta["train_size"], meta["seed"]):
                benchmarks.add(paths.benchmark(dataset, "valid", "mftl", tag))
        fidelities = self.datasets[dataset]["fidelities"]
        for part, fidelity in self.costed_labels(dataset):
            if "labeller" in fidelities[fidelity]:
                benchmarks |= {
                    paths.benchmark(dataset, "label", fidelity, f"{part}.{i}")
                    for i in range(self.n_chunks(dataset, part))
                }
        if self.pretrains(dataset):
            lf = self.datasets[dataset]["low_fidelity"]
            benchmarks |= {
                paths.benchmark(dataset, "sample", lf, str(c)) for c in range(len(self.sample_chunks(dataset)))
            }
        return {"runs": sorted(runs), "benchmarks": sorted(benchmarks)}

    # ---- the files a campaign ends with ----------------------------------------------------------

    def figure_targets(self) -> list[str]:
        """Every figure the config allows (which depends on methods, epoch caps), summary.csv, costs.csv, the
        decision tables, figure and advice.txt and the stability table and figure (where checked), per dataset."""
        targets = []
        for dataset, spec in self.datasets.items():
            targets += [paths.dataset_file(dataset, "summary.csv"), paths.dataset_file(dataset, "costs.csv")]
            targets += paths.decision_files(dataset)
            targets += self.stability_targets(dataset)
            for figure in available_figures(spec):
                targets += paths.figure_files(dataset, figure)
        for dataset in pretraining_fidelity_groups(self.datasets):
            targets += paths.figure_files(dataset, "pretraining_fidelity")
        return targets

    def skipped_figures(self) -> list[str]:
        """'<dataset>/<figure>: <reason>' for the figures the config does not allow."""
        return skipped_figures(self.datasets)

    def compared_datasets(self) -> list[str]:
        """The datasets with a fidelity comparison (their low fidelity against their high fidelity)."""
        return [d for d, spec in self.datasets.items() if "fidelity_comparison" in available_figures(spec)]

    def mftl_series(self, dataset: str) -> int:
        """How many mftl series (pre-training size, epoch cap) a dataset trains along its training sizes."""
        ds = self.datasets[dataset]
        return len(ds["pretrain_sizes"]) * len(ds["epoch_caps"]) if self.pretrains(dataset) else 0

    def choosing_validation(self, dataset: str, figure: str) -> list[str]:
        """[valid_curves.csv] when ``figure`` shows one of the dataset's several mftl series (validation chooses
        which; the test set never does), else []."""
        if figure in CHOOSING_FIGURES and self.mftl_series(dataset) > 1:
            return [paths.dataset_file(dataset, "valid_curves.csv")]
        return []

    def pretraining_fidelity_group(self, dataset: str) -> list[str]:
        """The datasets that pre-train on another low fidelity of ``dataset``'s configurations (one figure)."""
        return pretraining_fidelity_groups(self.datasets)[dataset]

    def dataset_curves(self) -> list[str]:
        return [paths.dataset_file(dataset, "curves.csv") for dataset in self.datasets]

    def paper_results(self) -> str | None:
        """The config's ``paper_results`` file (from the working directory, else from the checkout), checked
        once; None without one."""
        if "paper_results" not in self.config:
            return None
        if self._paper_results is None:
            from mftl.planning.paper_results import planned_paper_results  # pandas: only for a paper campaign

            self._paper_results = planned_paper_results(self.config["paper_results"], self.checkout)
        return self._paper_results

    def paper_comparison_targets(self) -> list[str]:
        """The campaign beside the paper's reported errors, when the config names a paper_results file
        (a bad file is refused when planning)."""
        if self.paper_results() is None:
            return []
        names = ("paper_comparison.csv", "figures/paper_comparison.png", "figures/paper_comparison.pdf")
        return [paths.campaign_file(name) for name in names]

    def final_targets(self) -> list[str]:
        """curves.csv, summary.csv and every figure the config allows, per dataset; all curves in one table;
        the comparison with the paper's numbers when configured; the report's first page."""
        return [
            paths.campaign_file("curves.csv"),
            *self.dataset_curves(),
            *self.figure_targets(),
            *self.paper_comparison_targets(),
            paths.campaign_file("report.rst"),
        ]
