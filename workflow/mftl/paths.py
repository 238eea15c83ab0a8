"""Every results path and run tag of a campaign, spelled once.

Rules, input functions and the cost accounting build paths only through these
functions. Each argument defaults to the Snakemake wildcard of the same name, so
one function gives both a rule's pattern and a concrete path::

    training_json(method="mftl", tag=mftl_tag())
        -> "results/{dataset}/models/mftl/p{pretrain}_e{cap}_n{size}_s{seed}/training.json"
    training_json("qm7x", "scratch", run_tag(500, 0))
        -> "results/qm7x/models/scratch/n500_s0/training.json"

Layout under ``results/<dataset>/``:

* ``splits/<part>.extxyz``, ``splits/split.json`` -- the seeded split;
* ``labels/<part>.<fidelity>.extxyz`` (and ``.report.json``), ``labels/chunks/<fidelity>/<part>.<i>.extxyz``,
  ``labels/sampled/<fidelity>.<i>.extxyz`` (trajectories of ``pretrain_sampling``),
  ``labels/atoms.<fidelity>.json``, ``labels/prior.<fidelity>.json`` -- labels and E0 priors;
* ``pretrain/<pretrain tag>/``, ``models/<method>/<tag>/``, ``chain_<name>/<stage tag>/`` -- training runs
  (``training.json``, ``model.model``, ``train.extxyz``);
* ``zeroshot/<foundation>/test.extxyz`` -- a foundation model's predictions on the test set;
* ``eval/<method>/<tag>.json``, ``valid/<method>/<tag>.json`` -- test and validation errors;
  ``stability/<method>/<tag>.json`` -- a model's stability checks (MD, repulsion, forgetting);
  ``eval_lf/pretrain/<pretrain cap tag>.json`` -- a pre-trained model at one cap on the low-fidelity test labels;
* ``logs/...log``, ``benchmarks/...tsv`` -- one per job, named like the job's output;
* ``curves.csv``, ``valid_curves.csv``, ``summary.csv``, ``costs.csv``, ``tables/``, ``figures/<figure>.{png,pdf}``.
"""

from __future__ import annotations

RESULTS = "results"
PARTS = ("test", "validation", "train_pool", "pretrain_pool")
FIGURE_FORMATS = ("png", "pdf")


# ---- run tags ------------------------------------------------------------------


def run_tag(size="{size}", seed="{seed}") -> str:
    """A model trained on ``size`` high-fidelity configurations with ``seed`` (scratch, delta, chains)."""
    return f"n{size}_s{seed}"


def mftl_tag(pretrain="{pretrain}", cap="{cap}", size="{size}", seed="{seed}") -> str:
    """An mftl model: pre-trained on ``pretrain`` configurations, served at epoch ``cap``, fine-tuned."""
    return f"p{pretrain}_e{cap}_{run_tag(size, seed)}"


def auto_tag(pretrain="{pretrain}", size="{size}", seed="{seed}") -> str:
    """An mftl_auto point: the cap is chosen on validation among every cap of one pre-training size."""
    return f"p{pretrain}_{run_tag(size, seed)}"


def pretrain_tag(pretrain="{pretrain}", seed="{seed}") -> str:
    """A low-fidelity pre-training run of ``pretrain`` configurations."""
    return f"p{pretrain}_s{seed}"


def pretrain_cap_tag(pretrain="{pretrain}", cap="{cap}", seed="{seed}") -> str:
    """A pre-training run's model as served at epoch ``cap`` (evaluated on the low fidelity, fig. S1)."""
    return f"p{pretrain}_e{cap}_s{seed}"


def foundation_tag(foundation="{foundation}", size="{size}", seed="{seed}") -> str:
    """A fine-tuning of foundation model ``foundation`` (one run per foundation a dataset lists)."""
    return f"{foundation}_{run_tag(size, seed)}"


def stage_tag(stage="{stage}", seed="{seed}") -> str:
    """Stage ``stage`` of a fidelity chain, trained in ``results/<dataset>/<chain method>/``."""
    return f"stage{stage}_s{seed}"


# ---- folders and files of a dataset ----------------------------------------------


def dataset_dir(dataset="{dataset}", results=RESULTS) -> str:
    return f"{results}/{dataset}"


def split_dir(dataset="{dataset}", results=RESULTS) -> str:
    return f"{dataset_dir(dataset, results)}/splits"


def split_file(dataset="{dataset}", part="{part}", results=RESULTS) -> str:
    return f"{split_dir(dataset, results)}/{part}.extxyz"


def split_ids(dataset="{dataset}") -> str:
    """The split's record: the config ids of every part."""
    return f"{split_dir(dataset)}/split.json"


def labelled(dataset="{dataset}", part="{part}", fidelity="{fidelity}", results=RESULTS, suffix="extxyz") -> str:
    """A split part with one fidelity's labels (``extxyz``), or its labelling report (``report.json``)."""
    return f"{dataset_dir(dataset, results)}/labels/{part}.{fidelity}.{suffix}"


def label_chunk(dataset="{dataset}", fidelity="{fidelity}", part="{part}", chunk="{chunk}", suffix="extxyz") -> str:
    """One labelling chunk's frames (``extxyz``) or report (``report.json``)."""
    return f"{dataset_dir(dataset)}/labels/chunks/{fidelity}/{part}.{chunk}.{suffix}"


def sample_chunk(dataset="{dataset}", fidelity="{fidelity}", chunk="{chunk}", suffix="extxyz") -> str:
    """One chunk of trajectories sampled by the low fidelity (rule ``sample``): its frames (``extxyz``) or
    report (``report.json``); the chunks join the pre-training pool."""
    return f"{dataset_dir(dataset)}/labels/sampled/{fidelity}.{chunk}.{suffix}"


def comparison_sample(dataset="{dataset}", role="{role}") -> str:
    """The configurations the zero-shot evaluation and the fidelity comparison use when the dataset sets
    ``comparison_sample``, with the labels of its high or low fidelity (``role``: ``high`` or ``low``)."""
    return f"{dataset_dir(dataset)}/labels/comparison_sample.{role}.extxyz"


def atom_energies(dataset="{dataset}", fidelity="{fidelity}") -> str:
    return f"{dataset_dir(dataset)}/labels/atoms.{fidelity}.json"


def e0_prior(dataset="{dataset}", fidelity="{fidelity}") -> str:
    return f"{dataset_dir(dataset)}/labels/prior.{fidelity}.json"


def pretrain_dir(dataset="{dataset}", tag=None, results=RESULTS) -> str:
    return f"{dataset_dir(dataset, results)}/pretrain/{tag or pretrain_tag()}"


def stage_dir(dataset="{dataset}", method="{method}", tag=None, results=RESULTS) -> str:
    """The run folder of a fidelity chain's stage (``method``: the chain's, chain_<name>)."""
    return f"{dataset_dir(dataset, results)}/{method}/{tag or stage_tag()}"


def run_json(folder: str) -> str:
    """The file that marks a finished training run in ``folder`` (its rule's output)."""
    return f"{folder}/training.json"


def model_dir(dataset="{dataset}", method="{method}", tag="{tag}", results=RESULTS) -> str:
    """The run folder of one trained model."""
    return f"{dataset_dir(dataset, results)}/models/{method}/{tag}"


def training_json(dataset="{dataset}", method="{method}", tag="{tag}") -> str:
    """The file that marks a finished model's training run (its rule's output)."""
    return run_json(model_dir(dataset, method, tag))


def evaluation(dataset="{dataset}", method="{method}", tag="{tag}", kind="eval", results=RESULTS) -> str:
    """Errors of one model on the test set (``eval``) or the validation set (``valid``)."""
    return f"{dataset_dir(dataset, results)}/{kind}/{method}/{tag}.json"


def stability(dataset="{dataset}", method="{method}", tag="{tag}") -> str:
    """The stability checks of one model (MD, short-range repulsion, forgetting; rule stability); its log and
    benchmark are ``log(dataset, "stability", method, tag)`` and ``benchmark(...)`` alike."""
    return f"{dataset_dir(dataset)}/stability/{method}/{tag}.json"


def zeroshot_predictions(dataset="{dataset}", foundation="{foundation}") -> str:
    """A foundation model's predictions on the test set, as it is (method foundation_zeroshot)."""
    return f"{dataset_dir(dataset)}/zeroshot/{foundation}/test.extxyz"


def log(dataset="{dataset}", *parts: str) -> str:
    """``results/<dataset>/logs/<parts...>.log``: the log of the job named by ``parts``."""
    return f"{dataset_dir(dataset)}/logs/{'/'.join(parts)}.log"


def benchmark(dataset="{dataset}", *parts: str, results=RESULTS) -> str:
    """``results/<dataset>/benchmarks/<parts...>.tsv``: Snakemake's timing of the job named by ``parts``."""
    return f"{dataset_dir(dataset, results)}/benchmarks/{'/'.join(parts)}.tsv"


def dataset_file(dataset="{dataset}", name="{name}") -> str:
    """A per-dataset table: ``curves.csv``, ``summary.csv``, ``costs.csv``."""
    return f"{dataset_dir(dataset)}/{name}"


def table(dataset="{dataset}", name="{name}") -> str:
    return f"{dataset_dir(dataset)}/tables/{name}.csv"


def figure(dataset="{dataset}", name="{figure}", ext="{ext}") -> str:
    return f"{dataset_dir(dataset)}/figures/{name}.{ext}"


def figure_files(dataset="{dataset}", name="{figure}") -> list[str]:
    """The PNG and PDF of one figure."""
    return [figure(dataset, name, ext) for ext in FIGURE_FORMATS]


#: the tables of `mftl decision-tables`, results/<dataset>/tables/<name>.csv
DECISION_TABLES = ("learning_curve_fits", "data_efficiency", "cost_to_target")


def decision_files(dataset="{dataset}") -> list[str]:
    """A dataset's decision tables, its cost_to_target figure and advice.txt."""
    tables = [table(dataset, name) for name in DECISION_TABLES]
    return [*tables, *figure_files(dataset, "cost_to_target"), dataset_file(dataset, "advice.txt")]


# ---- resources: downloads, converted sources and foundation models, shared by campaigns -----


def converted_source(dataset="{dataset}") -> str:
    """A dataset's source built by its ``convert`` job from downloads (its ``source`` by default)."""
    return f"resources/datasets/{dataset}.extxyz"


def conversion_summary(dataset="{dataset}") -> str:
    """What the ``convert`` job read and wrote (counts, fidelity), beside the converted source."""
    return f"resources/datasets/{dataset}.summary.json"


def download_dir(download="{download}") -> str:
    return f"resources/downloads/{download}"


def download_file(download="{download}", filename="{filename}") -> str:
    return f"{download_dir(download)}/{filename}"


def foundation_file(foundation="{foundation}") -> str:
    """A named foundation model, fetched once (rule fetch_foundation)."""
    return f"resources/foundations/{foundation}.model"


# ---- campaign-wide ---------------------------------------------------------------


def campaign_file(name: str) -> str:
    """A table or figure over every dataset: ``curves.csv``, ``paper_comparison.csv``, ``figures/...``."""
    return f"{RESULTS}/{name}"


def campaign_log(name: str) -> str:
    return f"{RESULTS}/logs/{name}.log"
