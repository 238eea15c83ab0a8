# Config -> targets and input functions. Rules call these; they hold no logic themselves.
import functools
import json
import math
import os
import shlex
import sys

from mftl import chains, negative_transfer
from mftl.config import conversion_downloads
from mftl.paper_comparison import planned_paper_results
from mftl.source_checks import checks_e0_span
from mftl.tables import FIGURES, available_figures, pretraining_fidelity_groups, skipped_figures

# Rules run the library as `{params.mftl} <subcommand>`, that is with the interpreter that runs
# Snakemake (mftl installed in it), or, with --sdm conda, the job environment's python
# with this checkout's workflow/ on its path (the environments hold only dependencies).
_conda = "conda" in str(getattr(workflow.deployment_settings, "deployment_method", ""))
_job_pythonpath = shlex.quote(f"{workflow.basedir}/workflow")
MFTL = f"PYTHONPATH={_job_pythonpath} python -m mftl" if _conda else f"{shlex.quote(sys.executable)} -m mftl"


def quoted_option(flag, value):
    """``--flag=value`` with the value quoted for the shell: config strings (paths, keys, JSON)
    may hold spaces, quotes, ``$(...)`` or ``;``, and a value may start with a dash."""
    return f"{flag}={shlex.quote(str(value))}"


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def fidelity_config(wildcards):
    return dataset_config(wildcards)["fidelities"][wildcards.fidelity]


def high_fidelity(wildcards):
    return dataset_config(wildcards)["high_fidelity"]


def low_fidelity(wildcards):
    return dataset_config(wildcards)["low_fidelity"]


def part_size(dataset, part):
    """Configurations in a split part, known from the config alone."""
    ds = config["datasets"][dataset]
    sizes = {
        "test": ds["split"]["test"],
        "validation": ds["split"]["validation"],
        "train_pool": max(ds["train_sizes"]),
        "pretrain_pool": ds["split"]["pretrain_pool"],
    }
    return sizes[part]


# ---- data and labels -------------------------------------------------------


def split_args(wildcards):
    ds = dataset_config(wildcards)
    hf = ds["fidelities"][ds["high_fidelity"]]
    args = [
        f"--test {ds['split']['test']}",
        f"--validation {ds['split']['validation']}",
        f"--train-pool {max(ds['train_sizes'])}",
        f"--pretrain-pool {ds['split']['pretrain_pool']}",
        f"--seed {ds['split']['seed']}",
    ]
    if "energy_key" in hf:
        args += [
            quoted_option("--high-energy-key", hf["energy_key"]),
            quoted_option("--high-forces-key", hf["forces_key"]),
        ]
    if "select" in ds:
        args.append(quoted_option("--select", json.dumps(ds["select"])))
    return " ".join(args)


def dataset_source(wildcards):
    return dataset_config(wildcards)["source"]


def download_entry(wildcards):
    return config["downloads"][wildcards.download]


def download_file(wildcards):
    for item in download_entry(wildcards)["files"]:
        if item["name"] == wildcards.filename:
            return item
    raise ValueError(f"downloads.{wildcards.download} has no file '{wildcards.filename}'")


def fetch_args(wildcards):
    item = download_file(wildcards)
    args = [quoted_option("--url", item["url"])]
    args += [f"--{algo} {item[algo]}" for algo in ("md5", "sha256") if algo in item]
    if download_entry(wildcards).get("unpack"):
        args.append(quoted_option("--unpack-to", paths.download_dir(wildcards.download)))
    return " ".join(args)


def downloaded_files(name):
    return [paths.download_file(name, item["name"]) for item in config["downloads"][name]["files"]]


def conversion_inputs(wildcards):
    """The files of every download the dataset's convert pools, in the config's order."""
    names = conversion_downloads(dataset_config(wildcards)["convert"])
    return [path for name in names for path in downloaded_files(name)]


def conversion_args(wildcards):
    spec = dataset_config(wildcards)["convert"]
    fidelity = f" {quoted_option('--fidelity', spec['fidelity'])}" if "fidelity" in spec else ""
    return f"--converter {spec['converter']}{fidelity}"


def n_chunks(dataset, part):
    return math.ceil(part_size(dataset, part) / config["labelling"]["chunk_size"])


def labelled_chunks(wildcards):
    """Inputs of a labelled part: the split file (labels read from keys) or labelled chunks."""
    spec = fidelity_config(wildcards)
    if "labeller" not in spec:
        return {"frames": [paths.split_file(wildcards.dataset, wildcards.part)], "reports": []}
    chunks = range(n_chunks(wildcards.dataset, wildcards.part))
    chunk = functools.partial(paths.label_chunk, wildcards.dataset, wildcards.fidelity, wildcards.part)
    return {
        "frames": [chunk(i) for i in chunks],
        "reports": [chunk(i, suffix="report.json") for i in chunks],
    }


def collect_args(wildcards):
    spec = fidelity_config(wildcards)
    args = f"--max-failure-fraction {config['labelling']['max_failure_fraction']}"
    if "energy_key" in spec:
        args += (
            f" {quoted_option('--energy-key', spec['energy_key'])}"
            f" {quoted_option('--forces-key', spec['forces_key'])}"
        )
    return args


def label_chunk_inputs(wildcards):
    """The split part to label, plus any downloaded parameter files the labeller needs."""
    inputs = {"frames": paths.split_file(wildcards.dataset, wildcards.part)}
    parameters = fidelity_config(wildcards).get("parameters")
    if parameters:
        inputs["parameters"] = downloaded_files(parameters)
    return inputs


#: labeller -> its conda environment file (envs/), for labellers that need more than envs/labelling.yaml
LABELLER_ENVS = {"dftbplus": "dftbplus.yaml"}


def labeller_env(wildcards):
    """The conda environment of a job that runs a fidelity's labeller (envs/dftbplus.yaml for DFTB+)."""
    labeller = fidelity_config(wildcards).get("labeller")
    return f"../../envs/{LABELLER_ENVS.get(labeller, 'labelling.yaml')}"


def label_args(wildcards):
    spec = fidelity_config(wildcards)
    return (
        f"--labeller {spec['labeller']} {quoted_option('--options', json.dumps(spec.get('options', {})))}"
        f" --chunk-size {config['labelling']['chunk_size']}"
    )


def atom_energies_file(dataset, fidelity):
    """A fidelity's isolated-atom energies, its 'e0s' or its labeller's atoms (the atom_energies rule), or None."""
    spec = config["datasets"][dataset]["fidelities"][fidelity]
    if "e0s" in spec or "labeller" in spec:
        return paths.atom_energies(dataset, fidelity)
    return None


def transfers_binding(dataset, fidelity):
    """The high fidelity's prior adds the low fidelity's binding, fitted on the pre-training pool, to its atoms."""
    ds = config["datasets"][dataset]
    return (
        fidelity == ds["high_fidelity"]
        and ds["split"]["pretrain_pool"] > 0
        and atom_energies_file(dataset, fidelity) is not None
        and atom_energies_file(dataset, ds["low_fidelity"]) is not None
    )


def e0_prior_file(dataset, fidelity):
    """The E0 prior file a training of ``fidelity`` starts its E0 fit from, or None without one."""
    if transfers_binding(dataset, fidelity):
        return paths.e0_prior(dataset, fidelity)
    return atom_energies_file(dataset, fidelity)


def e0_prior_inputs(wildcards):
    """Rule e0_prior: both fidelities' isolated atoms and the low fidelity's pre-training pool."""
    lf = low_fidelity(wildcards)
    return {
        "atoms": atom_energies_file(wildcards.dataset, wildcards.fidelity),
        "low_atoms": atom_energies_file(wildcards.dataset, lf),
        "low_pool": labelled(wildcards.dataset, "pretrain_pool", lf),
    }


def e0_prior_input(dataset, fidelity):
    path = e0_prior_file(dataset, fidelity)
    return [path] if path else []


def e0_prior_args(dataset, fidelity):
    path = e0_prior_file(dataset, fidelity)
    return f" --prior {path}" if path else ""


def atom_energies_inputs(wildcards):
    """Every split part (the elements the prior must cover) and the labeller's parameter files."""
    inputs = {"frames": [paths.split_file(wildcards.dataset, part) for part in paths.PARTS]}
    spec = fidelity_config(wildcards)
    if "e0s" not in spec and spec.get("parameters"):
        inputs["parameters"] = downloaded_files(spec["parameters"])
    return inputs


def atom_energies_args(wildcards):
    """The config's E0s (checked and written) or the labeller that computes isolated atoms."""
    spec = fidelity_config(wildcards)
    if "e0s" in spec:
        where = f"datasets.{wildcards.dataset}.fidelities.{wildcards.fidelity}.e0s"
        return f"{quoted_option('--given', json.dumps(spec['e0s'], sort_keys=True))} {quoted_option('--where', where)}"
    options = json.dumps(spec.get("options", {}), sort_keys=True)
    return f"--labeller {spec['labeller']} {quoted_option('--options', options)}"


# ---- resources (SLURM partition, account and GPUs come from the profile) -------


def labelling_runtime(wildcards, attempt):
    """Minutes for one labelling chunk; doubles on each retry."""
    return 60 * 2 ** (attempt - 1)


def training_memory_mb(wildcards, attempt):
    """A job killed for memory is retried with more."""
    return 8000 * attempt


def job_memory_mb(wildcards, attempt):
    return 4000 * attempt


# Evaluations are short and numerous (1,137 in the paper campaign): fixed values cost
# Snakemake nothing per job when planning, where a function is inspected for every job.
EVALUATION_MEMORY_MB = 4000
EVALUATION_RUNTIME_MIN = 60


def training_runtime(wildcards, attempt):
    """Minutes for one MACE training; a retry resumes from the last checkpoint with more time."""
    return 240 * attempt


# ---- training ----------------------------------------------------------------


def labelled(dataset, part, fidelity):
    return paths.labelled(dataset, part, fidelity)


def hf_train_inputs(wildcards):
    hf = high_fidelity(wildcards)
    return {
        "pool": labelled(wildcards.dataset, "train_pool", hf),
        "valid": labelled(wildcards.dataset, "validation", hf),
        "prior": e0_prior_input(wildcards.dataset, hf),
        "span_test": e0_span_test(wildcards.dataset),
    }


def e0_span_test(dataset, delta=None):
    """The test split a training checks its E0 fit against (no prior and no opt-in), as a list (input)."""
    ds = config["datasets"][dataset]
    needed = checks_e0_span(ds, delta) if delta is not None else checks_e0_span(ds) or checks_e0_span(ds, True)
    return [paths.split_file(dataset, "test")] if needed else []


def lf_pretrain_pool(wildcards):
    return labelled(wildcards.dataset, "pretrain_pool", low_fidelity(wildcards))


def lf_prior(wildcards):
    return e0_prior_input(wildcards.dataset, low_fidelity(wildcards))


def pretrained_run(wildcards):
    tag = paths.pretrain_tag(wildcards.pretrain, wildcards.seed)
    return f"{paths.pretrain_dir(wildcards.dataset, tag)}/training.json"


def hyperparameters(stage, dataset):
    """mace_run_train flags of a stage as JSON: architecture (campaign ``model``,
    overridden by the dataset's own ``model``) plus the stage's flags; max_epochs is mftl's.

    Fine-tuning takes the architecture from the pre-trained model; the flags still
    matter for the dtype.
    """
    flags = {**config["model"], **config["datasets"][dataset].get("model", {}), **stage_settings(stage)}
    flags.pop("max_epochs", None)
    return json.dumps(flags, sort_keys=True)


def stage_settings(stage):
    """The ``training`` entry of a stage; multi-head fine-tuning falls back to ``finetune``'s."""
    if stage == "multihead" and "multihead" not in config["training"]:
        stage = "finetune"
    return config["training"][stage]


def max_epochs(stage):
    return stage_settings(stage)["max_epochs"]


# One params function per rule (each callable costs Snakemake a signature
# inspection per job when planning; the paper campaign plans ~2k jobs).


@functools.cache
def _training_args(dataset, stage, delta=False):
    ds = config["datasets"][dataset]
    fidelity = ds["low_fidelity"] if stage == "pretrain" else ds["high_fidelity"]
    epochs = max(ds["epoch_caps"]) if stage == "pretrain" else max_epochs(stage)
    flags = quoted_option("--hyperparameters", hyperparameters(stage, dataset))
    args = f"--fidelity {fidelity} --max-epochs {epochs} {flags}"
    if stage == "pretrain":
        args += " --serve-caps " + " ".join(str(cap) for cap in sorted(ds["epoch_caps"]))
    prior = atom_energies_file(dataset, fidelity) if delta else e0_prior_file(dataset, fidelity)
    if stage != "pretrain" and e0_span_test(dataset, delta):
        args += f" --e0-span-test {e0_span_test(dataset, delta)[0]} --dataset {dataset}"
    return f"{args} --device {config['device']}{f' --prior {prior}' if prior else ''}"


# The *_args functions take the wildcards only, never the job's input: Snakemake leaves params derived
# from input out of its params rerun trigger, so a changed setting would not retrain. They read the
# paths from the rule's own input function instead.


def _train_data(inputs, size, seed):
    """A run's data: ``size`` configurations of its training pool drawn with ``seed``, and its validation set."""
    valid = f" --valid {shlex.quote(inputs['valid'])}" if "valid" in inputs else ""
    return f"--train-pool {shlex.quote(inputs['pool'])}{valid} --size {size} --seed {seed}"


def _run_folder(path):
    """The run folder of a training's training.json (its --init-from)."""
    return shlex.quote(os.path.dirname(path))


def pretrain_args(wildcards):
    """Pre-training runs to the largest cap; smaller caps are served from its checkpoints."""
    data = _train_data({"pool": lf_pretrain_pool(wildcards)}, wildcards.pretrain, wildcards.seed)
    return f"{data} {_training_args(wildcards.dataset, 'pretrain')}"


def finetune_args(wildcards):
    """Fine-tuning of the pre-training run's model at epoch ``cap``."""
    data = _train_data(hf_train_inputs(wildcards), wildcards.size, wildcards.seed)
    init = f"--init-from {_run_folder(pretrained_run(wildcards))} --init-cap {wildcards.cap}"
    return f"{data} {_training_args(wildcards.dataset, 'finetune')} {init}"


def scratch_args(wildcards):
    return f"{_train_data(hf_train_inputs(wildcards), wildcards.size, wildcards.seed)} {_training_args(wildcards.dataset, 'scratch')}"


def delta_args(wildcards):
    lf = low_fidelity(wildcards)
    base_inputs = delta_base_inputs(wildcards)
    base_prior = atom_energies_file(wildcards.dataset, lf)
    base_prior = f" --base-prior {base_prior}" if base_prior else ""
    base = f"--base-pool {shlex.quote(base_inputs['base_pool'])} --base-valid {shlex.quote(base_inputs['base_valid'])}"
    return (
        f"{_train_data(hf_train_inputs(wildcards), wildcards.size, wildcards.seed)}"
        f" {_training_args(wildcards.dataset, 'scratch', delta=True)} --base-fidelity {lf}{base_prior} {base}"
    )


# ---- foundation models -------------------------------------------------------------
# A dataset's ``foundation`` names one entry of ``foundations`` or a list of them; every foundation
# method runs once per listed foundation, in run folders tagged <foundation>_n<size>_s<seed>.


def dataset_foundations(dataset):
    """Names of the foundations a dataset's foundation methods start from, in config order."""
    names = config["datasets"][dataset].get("foundation", [])
    return [names] if isinstance(names, str) else list(names)


def foundation_spec(dataset, name):
    """The ``foundations`` entry ``name``, refused unless the dataset lists it."""
    if name not in dataset_foundations(dataset):
        raise ValueError(f"datasets.{dataset}.foundation does not list '{name}' ({dataset_foundations(dataset)})")
    return config["foundations"][name]


def _trained_by_dir(spec):
    by = spec["trained_by"]
    return paths.model_dir(by["dataset"], by["method"], paths.run_tag(by["train_size"], by["seed"]))


def foundation_model_path(dataset, name):
    """The model file foundation ``name`` is (fine-tuned, or evaluated zero-shot)."""
    spec = foundation_spec(dataset, name)
    if "file" in spec:
        return spec["file"]
    if "name" in spec:
        return paths.foundation_file(name)
    return f"{_trained_by_dir(spec)}/model.model"


def foundation_input(wildcards):
    """What a foundation job waits for: the model file, or the run that trains it."""
    spec = foundation_spec(wildcards.dataset, wildcards.foundation)
    if "trained_by" in spec:
        return paths.run_json(_trained_by_dir(spec))
    return foundation_model_path(wildcards.dataset, wildcards.foundation)


def foundation_model(wildcards):
    return foundation_model_path(wildcards.dataset, wildcards.foundation)


def _foundation_init(wildcards):
    return quoted_option("--init-from", foundation_model(wildcards))


def foundation_args(wildcards):
    data = _train_data(hf_train_inputs(wildcards), wildcards.size, wildcards.seed)
    return f"{data} {_training_args(wildcards.dataset, 'finetune')} {_foundation_init(wildcards)}"


def multihead_args(wildcards):
    """Multi-head fine-tuning: the foundation's own training data (trained_by), a replay file, or
    mace's own replay data set (``replay: mp``, downloaded by mace on the training node)."""
    spec = foundation_spec(wildcards.dataset, wildcards.foundation)
    data = _train_data(hf_train_inputs(wildcards), wildcards.size, wildcards.seed)
    args = f"{data} {_training_args(wildcards.dataset, 'multihead')} {_foundation_init(wildcards)}"
    if "replay_size" in spec:
        args += f" --replay-size {spec['replay_size']}"
    if "trained_by" in spec:
        return f"{args} --replay {_trained_by_dir(spec)}/train.extxyz"
    replay = spec["replay"]
    if isinstance(replay, str):
        return f"{args} --replay-dataset {replay}"
    keys = " ".join(shlex.quote(replay[key]) for key in ("energy_key", "forces_key"))
    return f"{args} {quoted_option('--replay', replay['file'])} --replay-keys {keys}"


def foundation_runs(dataset, size, seed):
    """(method, tag, metadata) of every foundation fine-tuning of a dataset at one size and seed."""
    ds = config["datasets"][dataset]
    return [
        (
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
        for method in ("foundation", "foundation_multihead")
        if method in ds["methods"]
        for name in dataset_foundations(dataset)
    ]


#: zero-shot results have no training set and no seed: train_size 0, seed 0
def zeroshot_runs(dataset):
    """(foundation, metadata) of every zero-shot evaluation of a dataset (method foundation_zeroshot)."""
    if "foundation_zeroshot" not in config["datasets"][dataset]["methods"]:
        return []
    return [
        (
            name,
            {
                "dataset": dataset,
                "method": "foundation_zeroshot",
                "foundation": name,
                "fidelities": name,
                "train_size": 0,
                "seed": 0,
            },
        )
        for name in dataset_foundations(dataset)
    ]


def zeroshot_args(wildcards):
    metadata = quoted_option(
        "--metadata", json.dumps(dict(zeroshot_runs(wildcards.dataset))[wildcards.foundation], sort_keys=True)
    )
    return (
        f"--fidelity {high_fidelity(wildcards)} --label {wildcards.foundation} --device {config['device']} {metadata}"
    )


def zeroshot_predictions(dataset):
    """The zero-shot predictions of the test set, per foundation (they join the fidelity comparison)."""
    return {name: paths.zeroshot_predictions(dataset, name) for name, _ in zeroshot_runs(dataset)}


def foundation_download_name(wildcards):
    return config["foundations"][wildcards.foundation]["name"]


# ---- fidelity chains -----------------------------------------------------------------
# chains = {name: [stage 0: a low-fidelity pre-training run (served at its epoch cap) or, without
# epoch_cap, a scratch model of a dataset's high fidelity, stage 1.., ]}, then the dataset's own
# high-fidelity fine-tuning; stage k fine-tunes stage k-1's model (mftl/chains.py).


def _chain_start(dataset, name, k, seed):
    """(input, --init-from args) of the model that stage ``k`` (len(chain): the last) of chain ``name`` starts from."""
    folder, _, kind = chains.stage_run(config, dataset, name, k - 1, seed)
    if kind == "folder":
        cap = chains.stages(config, dataset, name)[0]["epoch_cap"]
        return paths.run_json(folder), f"--init-from {folder} --init-cap {cap}"
    return paths.run_json(folder), f"--init-from {folder}/model.model"


def chain_stage_inputs(wildcards):
    stage = chains.stages(config, wildcards.dataset, wildcards.chain)[int(wildcards.stage)]
    return {
        "pool": labelled(stage["dataset"], "train_pool", stage["fidelity"]),
        "valid": labelled(stage["dataset"], "validation", stage["fidelity"]),
        "previous": _chain_start(wildcards.dataset, wildcards.chain, int(wildcards.stage), wildcards.seed)[0],
        "prior": e0_prior_input(stage["dataset"], stage["fidelity"]),
    }


def chain_stage_args(wildcards):
    stage = chains.stages(config, wildcards.dataset, wildcards.chain)[int(wildcards.stage)]
    flags = quoted_option("--hyperparameters", hyperparameters("finetune", stage["dataset"]))
    start = _chain_start(wildcards.dataset, wildcards.chain, int(wildcards.stage), wildcards.seed)[1]
    return (
        f"{_train_data(chain_stage_inputs(wildcards), stage['size'], wildcards.seed)}"
        f" --fidelity {stage['fidelity']} --max-epochs {max_epochs('finetune')}"
        f" {flags} --device {config['device']} {start}"
        f"{e0_prior_args(stage['dataset'], stage['fidelity'])}"
    )


def _chain_last(wildcards):
    return _chain_start(
        wildcards.dataset,
        wildcards.chain,
        len(chains.stages(config, wildcards.dataset, wildcards.chain)),
        wildcards.seed,
    )


def chain_previous(wildcards):
    return _chain_last(wildcards)[0]


def chain_args(wildcards):
    data = _train_data(hf_train_inputs(wildcards), wildcards.size, wildcards.seed)
    return f"{data} {_training_args(wildcards.dataset, 'finetune')} {_chain_last(wildcards)[1]}"


def chain_runs(dataset, size, seed):
    """(method, tag, metadata) of every named chain's final model at one training size and seed."""
    ds = config["datasets"][dataset]
    runs = []
    for name, stages in ds.get("chains", {}).items():
        method = chains.chain_method(name)
        meta = {
            "dataset": dataset,
            "train_size": size,
            "seed": seed,
            "method": method,
            "fidelities": chains.fidelities(config, dataset, name),
        }
        if not chains.starts_from_scratch(stages[0]):
            meta.update(pretrain_size=stages[0]["size"], epoch_cap=stages[0]["epoch_cap"])
        runs.append((method, paths.run_tag(size, seed), meta))
    return runs


# ---- evaluation and targets ----------------------------------------------------


@functools.cache
def model_runs(dataset):
    """(method, run folder tag, metadata) of every model a dataset's campaign trains and tests."""
    ds = config["datasets"][dataset]
    hf, lf = ds["high_fidelity"], ds["low_fidelity"]
    methods = set(ds["methods"])
    runs = []
    for seed in ds["seeds"]:
        for size in ds["train_sizes"]:
            base = {"dataset": dataset, "train_size": size, "seed": seed}
            if "scratch" in methods:
                runs.append(("scratch", paths.run_tag(size, seed), {**base, "method": "scratch", "fidelities": hf}))
            if "delta" in methods:
                runs.append(
                    ("delta", paths.run_tag(size, seed), {**base, "method": "delta", "fidelities": f"{hf}-{lf}"})
                )
            runs.extend(foundation_runs(dataset, size, seed))
            if "chain" in methods:
                runs.extend(chain_runs(dataset, size, seed))
            if methods & {"mftl", "mftl_auto"}:
                for pre in ds["pretrain_sizes"]:
                    for cap in ds["epoch_caps"]:
                        meta = {
                            **base,
                            "method": "mftl",
                            "fidelities": f"{lf}->{hf}",
                            "pretrain_size": pre,
                            "epoch_cap": cap,
                        }
                        runs.append(("mftl", paths.mftl_tag(pre, cap, size, seed), meta))
    return tuple(runs)


@functools.cache
def _run_index(dataset):
    return {(method, tag): meta for method, tag, meta in model_runs(dataset)}


def auto_cap_runs(dataset):
    """(tag, metadata) of every mftl_auto point: the cap is chosen per (pre-train size, train size, seed)."""
    ds = config["datasets"][dataset]
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
        for seed in ds["seeds"]
        for size in ds["train_sizes"]
        for pre in ds["pretrain_sizes"]
    ]


def evaluation_results(wildcards):
    dataset = wildcards.dataset
    methods = config["datasets"][dataset]["methods"]
    results = [
        paths.evaluation(dataset, m, tag)
        for m, tag, _ in model_runs(dataset)
        if m in methods or chains.is_chain_method(m)
    ]
    results += [paths.evaluation(dataset, "mftl_auto", tag) for tag, _ in auto_cap_runs(dataset)]
    results += [paths.evaluation(dataset, "foundation_zeroshot", name) for name, _ in zeroshot_runs(dataset)]
    return results


def eval_metadata(wildcards):
    try:
        return json.dumps(_run_index(wildcards.dataset)[(wildcards.method, wildcards.tag)], sort_keys=True)
    except KeyError:
        raise ValueError(f"no model {wildcards.method}/{wildcards.tag} in dataset {wildcards.dataset}") from None


def auto_cap_inputs(wildcards):
    """Validation and test results of the mftl models of every cap of one (pre-train size, train size, seed)."""
    caps = dataset_config(wildcards)["epoch_caps"]
    tags = [paths.mftl_tag(wildcards.pretrain, cap, wildcards.size, wildcards.seed) for cap in caps]
    return {
        "valid": [paths.evaluation(wildcards.dataset, "mftl", tag, kind="valid") for tag in tags],
        "test": [paths.evaluation(wildcards.dataset, "mftl", tag) for tag in tags],
    }


def auto_cap_metadata(wildcards):
    tag = paths.auto_tag(wildcards.pretrain, wildcards.size, wildcards.seed)
    return json.dumps(dict(auto_cap_runs(wildcards.dataset))[tag], sort_keys=True)


def validation_results(wildcards):
    """Validation errors of a dataset's mftl models: the points that differ only in pre-training size and
    epoch cap, among which the validation set chooses where a paper row leaves them open."""
    return [
        paths.evaluation(wildcards.dataset, method, tag, kind="valid")
        for method, tag, _ in model_runs(wildcards.dataset)
        if method == "mftl"
    ]


def pretrained_cap_inputs(wildcards):
    """The pre-training run and the low-fidelity labels of the test set."""
    return {
        "model": pretrained_run(wildcards),
        "test": labelled(wildcards.dataset, "test", low_fidelity(wildcards)),
    }


def pretrained_cap_args(wildcards):
    meta = negative_transfer.pretrained_metadata(
        wildcards.dataset, dataset_config(wildcards), wildcards.pretrain, wildcards.cap, wildcards.seed
    )
    metadata = quoted_option("--metadata", json.dumps(meta, sort_keys=True))
    return f"--cap {wildcards.cap} --fidelity {low_fidelity(wildcards)} --device {config['device']} {metadata}"


def validate_inputs(wildcards):
    return {
        "model": trained_model(wildcards),
        "test": labelled(wildcards.dataset, "validation", high_fidelity(wildcards)),
    }


def delta_base_inputs(wildcards):
    """Low-fidelity labels the Delta model adds to (training pool, validation) or is evaluated on (test)."""
    lf = low_fidelity(wildcards)
    return {
        "base_pool": labelled(wildcards.dataset, "train_pool", lf),
        "base_valid": labelled(wildcards.dataset, "validation", lf),
        "base_prior": [p for p in (atom_energies_file(wildcards.dataset, lf),) if p],
        "delta_prior": [p for p in (atom_energies_file(wildcards.dataset, high_fidelity(wildcards)),) if p],
    }


def eval_inputs(wildcards):
    inputs = {"model": trained_model(wildcards), "test": hf_test(wildcards)}
    if wildcards.method == "delta":
        inputs["base"] = labelled(wildcards.dataset, "test", low_fidelity(wildcards))
    return inputs


def _eval_args(wildcards, part):
    metadata = quoted_option("--metadata", eval_metadata(wildcards))
    args = f"--fidelity {high_fidelity(wildcards)} --device {config['device']} {metadata}"
    if wildcards.method == "delta":
        lf = low_fidelity(wildcards)
        args += f" --base {labelled(wildcards.dataset, part, lf)} --base-fidelity {lf}"
    return args


def eval_args(wildcards):
    return _eval_args(wildcards, "test")


def validate_args(wildcards):
    return _eval_args(wildcards, "validation")


def trained_model(wildcards):
    return paths.training_json(wildcards.dataset, wildcards.method, wildcards.tag)


def hf_test(wildcards):
    return labelled(wildcards.dataset, "test", high_fidelity(wildcards))


# ---- figures ---------------------------------------------------------------------

#: the per-dataset figures (rule figure) drawn from another table than the dataset's curves.csv
FIGURE_TABLES = {
    "fidelity_comparison": "tables/fidelity_comparison.csv",
    "cost": "costs.csv",
    "negative_transfer": "tables/negative_transfer.csv",
}


def figure_table(wildcards):
    """The table a dataset's figure is drawn from: its curves.csv unless FIGURE_TABLES names another."""
    return paths.dataset_file(wildcards.dataset, FIGURE_TABLES.get(wildcards.figure, "curves.csv"))


def figure_category(wildcards):
    """The report's section of a figure: its name in words ("Error vs epoch cap")."""
    return wildcards.figure.replace("_", " ").capitalize()


def figure_targets():
    """Every figure the config allows (which depends on methods, epoch caps), summary.csv, costs.csv and the
    decision tables, figure and advice.txt, per dataset."""
    targets = []
    for dataset, spec in config["datasets"].items():
        targets += [paths.dataset_file(dataset, "summary.csv"), paths.dataset_file(dataset, "costs.csv")]
        targets += paths.decision_files(dataset)
        for figure in available_figures(spec):
            targets += paths.figure_files(dataset, figure)
    for dataset in pretraining_fidelity_groups(config["datasets"]):
        targets += paths.figure_files(dataset, "pretraining_fidelity")
    return targets


def report_page_inputs(wildcards):
    """The tables the report's first page shows: summary.csv, costs.csv and advice.txt of every dataset, and
    its fidelity statistics where it has a fidelity comparison."""
    names = ("summary.csv", "costs.csv", "curves.csv", "advice.txt")
    tables = [paths.dataset_file(d, name) for d in config["datasets"] for name in names]
    compared = [d for d, spec in config["datasets"].items() if "fidelity_comparison" in available_figures(spec)]
    return tables + [paths.table(d, "fidelity_statistics") for d in compared]


def pretraining_fidelity_curves(wildcards):
    """curves.csv of every dataset that pre-trains on another low fidelity of the same configurations."""
    group = pretraining_fidelity_groups(config["datasets"])[wildcards.dataset]
    return [paths.dataset_file(dataset, "curves.csv") for dataset in group]


def skipped_figure_notes(wildcards):
    """JSON list of '<dataset>/<figure>: <reason>' for the figures the config does not allow."""
    return json.dumps(skipped_figures(config["datasets"]))


def costs_config(wildcards):
    """The parts of the config the cost accounting reads, as JSON quoted for the shell."""
    keys = ("datasets", "foundations", "labelling")
    return shlex.quote(json.dumps({key: config[key] for key in keys}, sort_keys=True))


def decision_config(wildcards):
    """The parts of a dataset's config the decision tables read (split sizes, targets), JSON for the shell."""
    spec = dataset_config(wildcards)
    return shlex.quote(json.dumps({"split": spec["split"], "targets": spec.get("targets", {})}, sort_keys=True))


def advice_folder(wildcards, output):
    """results/<dataset>, the folder `mftl advise` reads, from the advice file's path."""
    return os.path.dirname(output[0])


def _costed_labels(dataset):
    """(part, fidelity) of every labelled part the campaign's runs of ``dataset`` are charged for."""
    ds = config["datasets"][dataset]
    hf, lf, methods = ds["high_fidelity"], ds["low_fidelity"], set(ds["methods"])
    parts = {("train_pool", hf), ("validation", hf), ("test", hf)}
    if methods & {"mftl", "mftl_auto"}:
        parts.add(("pretrain_pool", lf))
    if "delta" in methods:
        parts |= {("train_pool", lf), ("validation", lf), ("test", lf)}
    if "fidelity_comparison" in available_figures(ds):
        parts.add(("test", lf))
    return sorted(parts)


def _add_foundation_training(name, runs, benchmarks):
    """The run and benchmark of foundation ``name`` when the campaign trains it (trained_by)."""
    if "trained_by" in config["foundations"][name]:
        by = config["foundations"][name]["trained_by"]
        tag = paths.run_tag(by["train_size"], by["seed"])
        runs.add(paths.training_json(by["dataset"], by["method"], tag))
        benchmarks.add(paths.benchmark(by["dataset"], by["method"], tag))


def costs_inputs(wildcards):
    """What `mftl costs` reads besides curves.csv, so that Snakemake knows when costs.csv is stale: each
    point's run (training.json) and the benchmarks of its training, pre-training, chain stages, foundation
    (trained by the campaign), evaluation and validation jobs, and of the labelling chunks of the parts it
    was charged for."""
    dataset = wildcards.dataset
    runs, benchmarks = set(), set()
    for method, tag, meta in model_runs(dataset):
        runs.add(paths.training_json(dataset, method, tag))
        benchmarks |= {paths.benchmark(dataset, method, tag), paths.benchmark(dataset, "eval", method, tag)}
        if method == "mftl":
            pre = paths.pretrain_tag(meta["pretrain_size"], meta["seed"])
            runs.add(paths.run_json(paths.pretrain_dir(dataset, pre)))
            benchmarks.add(paths.benchmark(dataset, "pretrain", pre))
        elif chains.is_chain_method(method):  # every stage: a pre-training or scratch run, later stages
            name = chains.chain_name(method)
            for k in range(len(chains.stages(config, dataset, name))):
                folder, bench, _ = chains.stage_run(config, dataset, name, k, meta["seed"])
                runs.add(paths.run_json(folder))
                benchmarks.add(bench)
        elif "foundation" in meta:
            _add_foundation_training(meta["foundation"], runs, benchmarks)
    for name, _ in zeroshot_runs(dataset):  # its evaluation and the foundation it evaluates
        benchmarks.add(paths.benchmark(dataset, "eval", "foundation_zeroshot", name))
        _add_foundation_training(name, runs, benchmarks)
    for _, meta in auto_cap_runs(dataset):
        for cap in config["datasets"][dataset]["epoch_caps"]:
            tag = paths.mftl_tag(meta["pretrain_size"], cap, meta["train_size"], meta["seed"])
            benchmarks.add(paths.benchmark(dataset, "valid", "mftl", tag))
    fidelities = config["datasets"][dataset]["fidelities"]
    for part, fidelity in _costed_labels(dataset):
        if "labeller" in fidelities[fidelity]:
            benchmarks |= {
                paths.benchmark(dataset, "label", fidelity, f"{part}.{i}") for i in range(n_chunks(dataset, part))
            }
    return {"runs": sorted(runs), "benchmarks": sorted(benchmarks)}


def comparison_labels(dataset):
    """The configurations of the zero-shot evaluation and the fidelity comparison with the high and with the
    low fidelity's labels: the test set, or the dataset's comparison_sample (rule comparison_sample)."""
    ds = config["datasets"][dataset]
    if "comparison_sample" in ds:
        return {role: paths.comparison_sample(dataset, role) for role in ("high", "low")}
    return {role: labelled(dataset, "test", ds[f"{role}_fidelity"]) for role in ("high", "low")}


def comparison_high(wildcards):
    return comparison_labels(wildcards.dataset)["high"]


def fidelity_test_labels(wildcards):
    """The comparison's configurations labelled with the high and with the low fidelity, and each foundation's
    zero-shot predictions of them."""
    return {
        **comparison_labels(wildcards.dataset),
        "zeroshot": list(zeroshot_predictions(wildcards.dataset).values()),
    }


def fidelity_table_args(wildcards):
    """--compare <foundation>=<predictions> for each zero-shot foundation."""
    return " ".join(
        quoted_option("--compare", f"{name}={path}") for name, path in zeroshot_predictions(wildcards.dataset).items()
    )


def pretrained_evaluations(wildcards):
    """The low-fidelity test errors of every pre-training run at every cap of the dataset (fig. S1)."""
    points = negative_transfer.pretrained_points(dataset_config(wildcards))
    return [
        paths.evaluation(wildcards.dataset, "pretrain", paths.pretrain_cap_tag(pre, cap, seed), kind="eval_lf")
        for pre, cap, seed in points
    ]


def comparison_sample_inputs(wildcards):
    """Every split part with the high and with the low fidelity's labels (the sample is drawn from their union)."""
    ds = dataset_config(wildcards)
    parts = [part for part in paths.PARTS if part_size(wildcards.dataset, part) > 0]
    return {
        role: [labelled(wildcards.dataset, part, ds[f"{role}_fidelity"]) for part in parts] for role in ("high", "low")
    }


def comparison_sample_args(wildcards):
    ds = dataset_config(wildcards)
    return f"--size {ds['comparison_sample']} --seed {ds['split']['seed']}"


def dataset_curves(wildcards=None):
    return [paths.dataset_file(dataset, "curves.csv") for dataset in config["datasets"]]


@functools.cache
def checked_paper_results():
    """config['paper_results'] from the working directory, else from this checkout; checked once."""
    return planned_paper_results(config["paper_results"], workflow.basedir)


def paper_results_file(wildcards):
    return checked_paper_results()


def paper_validation_curves(wildcards):
    """valid_curves.csv of every dataset that runs mftl (its candidates are chosen on validation)."""
    return [
        paths.dataset_file(d, "valid_curves.csv")
        for d, spec in config["datasets"].items()
        if {"mftl", "mftl_auto"} & set(spec["methods"])
    ]


def paper_fidelity_tables(wildcards):
    """Every dataset's tables/fidelity_comparison.csv (its low fidelity against its high fidelity)."""
    return [paths.table(d, "fidelity_comparison") for d in config["datasets"]]


def paper_comparison_args(wildcards):
    """--fidelity-table <dataset>=<table>: each dataset's low-fidelity errors (rows of method low_fidelity)."""
    tables = zip(config["datasets"], paper_fidelity_tables(wildcards), strict=True)
    return " ".join(quoted_option("--fidelity-table", f"{d}={path}") for d, path in tables)


def paper_comparison_targets():
    """The campaign beside the paper's reported errors, when the config names a paper_results file."""
    if "paper_results" not in config:
        return []
    checked_paper_results()  # a bad file is refused when planning
    return [
        paths.campaign_file(name)
        for name in ("paper_comparison.csv", "figures/paper_comparison.png", "figures/paper_comparison.pdf")
    ]


def final_targets():
    """curves.csv, summary.csv and every figure the config allows, per dataset; all curves in one table;
    the comparison with the paper's numbers when configured; the report's first page."""
    return [
        paths.campaign_file("curves.csv"),
        *dataset_curves(),
        *figure_targets(),
        *paper_comparison_targets(),
        paths.campaign_file("report.rst"),
    ]
