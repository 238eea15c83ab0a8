# Input and argument functions of the rules in figures.smk (figures, tables, costs, report).
from mftl.analysis.fidelity_names import method_name
from mftl.planning.figure_catalogue import FIGURES, LEARNING_CURVE_FIGURES

#: the per-dataset figures (rule figure) drawn from another table than the dataset's curves.csv
FIGURE_TABLES = {
    "fidelity_comparison": "tables/fidelity_comparison.csv",
    "cost": "costs.csv",
    "negative_transfer": "tables/negative_transfer.csv",
}


def figure_table(wildcards):
    """The table a dataset's figure is drawn from: its curves.csv unless FIGURE_TABLES names another."""
    return paths.dataset_file(wildcards.dataset, FIGURE_TABLES.get(wildcards.figure, "curves.csv"))


def figure_validation(wildcards):
    """valid_curves.csv where the figure shows mftl at one of several (pre-training size, epoch cap): validation
    chooses which (mftl.report.plots.best_mftl_series), never the test set."""
    return campaign.choosing_validation(wildcards.dataset, wildcards.figure)


def validation_option(files):
    return f"--validation {' '.join(shlex.quote(f) for f in files)}" if files else ""


def figure_validation_option(wildcards):
    return validation_option(figure_validation(wildcards))


def low_fidelity_baselines(datasets, figure):
    """{low fidelity: its tables/fidelity_statistics.csv} of each of ``datasets`` with a fidelity comparison, where
    ``figure`` draws learning curves (the low fidelity alone as a level); {} otherwise."""
    if figure not in LEARNING_CURVE_FIGURES:
        return {}
    compared = campaign.compared_datasets()
    return {
        config["datasets"][d]["low_fidelity"]: paths.table(d, "fidelity_statistics") for d in datasets if d in compared
    }


def baseline_options(baselines, datasets):
    """--baseline FIDELITY=FILE and --baseline-name FIDELITY=NAME (its labeller's method) of each baseline."""
    specs = {config["datasets"][d]["low_fidelity"]: config["datasets"][d] for d in datasets}
    options = []
    for fidelity, path in baselines.items():
        name = method_name(specs[fidelity]["fidelities"][fidelity], fidelity)
        options += [
            quoted_option("--baseline", f"{fidelity}={path}"),
            quoted_option("--baseline-name", f"{fidelity}={name}"),
        ]
    return " ".join(options)


def figure_baseline(wildcards):
    return list(low_fidelity_baselines([wildcards.dataset], wildcards.figure).values())


def figure_baseline_option(wildcards):
    return baseline_options(low_fidelity_baselines([wildcards.dataset], wildcards.figure), [wildcards.dataset])


def figure_pretrain_curve(wildcards):
    """tables/pretrain_validation.csv for fig. S1 (negative_transfer): the pre-training validation curve per epoch."""
    return [paths.table(wildcards.dataset, "pretrain_validation")] if wildcards.figure == "negative_transfer" else []


def figure_pretrain_curve_option(wildcards):
    return " ".join(quoted_option("--pretrain-curve", path) for path in figure_pretrain_curve(wildcards))


def figure_category(wildcards):
    """The report's section of a figure: its name in words ("Error vs epoch cap")."""
    return wildcards.figure.replace("_", " ").capitalize()


def skipped_figure_notes(wildcards):
    """JSON list of '<dataset>/<figure>: <reason>' for the figures the config does not allow."""
    return json.dumps(campaign.skipped_figures())


def pretrained_evaluations(wildcards):
    """The low-fidelity test errors of every pre-training run at every cap of the dataset (fig. S1)."""
    return campaign.pretrained_evaluations(wildcards.dataset)


def fidelity_comparison_inputs(wildcards):
    """The comparison's configurations labelled with the high and with the low fidelity, and each foundation's
    zero-shot predictions of them."""
    return {
        **campaign.comparison_labels(wildcards.dataset),
        "zeroshot": list(campaign.zeroshot_predictions(wildcards.dataset).values()),
    }


def fidelity_comparison_args(wildcards):
    """--compare <foundation>=<predictions> for each zero-shot foundation."""
    predictions = campaign.zeroshot_predictions(wildcards.dataset).items()
    return " ".join(quoted_option("--compare", f"{name}={path}") for name, path in predictions)


def costs_config(wildcards):
    """The parts of the config the cost accounting reads, as JSON quoted for the shell."""
    keys = ("datasets", "foundations", "labelling")
    return shlex.quote(json.dumps({key: config[key] for key in keys}, sort_keys=True))


def cost_records(wildcards):
    """The runs and benchmarks `mftl costs` reads (so that a rerun job makes costs.csv stale)."""
    return campaign.cost_records(wildcards.dataset)


def pretraining_fidelity_curves(wildcards):
    """curves.csv of every dataset that pre-trains on another low fidelity of the same configurations."""
    return [
        paths.dataset_file(dataset, "curves.csv") for dataset in campaign.pretraining_fidelity_group(wildcards.dataset)
    ]


def pretraining_fidelity_validation(wildcards):
    """valid_curves.csv of each dataset of the group whose mftl series validation chooses among."""
    group = campaign.pretraining_fidelity_group(wildcards.dataset)
    return [path for dataset in group for path in campaign.choosing_validation(dataset, "pretraining_fidelity")]


def pretraining_fidelity_validation_option(wildcards):
    return validation_option(pretraining_fidelity_validation(wildcards))


def pretraining_fidelity_baseline(wildcards):
    """tables/fidelity_statistics.csv of each dataset of the group: each low fidelity alone, a level."""
    group = campaign.pretraining_fidelity_group(wildcards.dataset)
    return list(low_fidelity_baselines(group, "pretraining_fidelity").values())


def pretraining_fidelity_baseline_option(wildcards):
    group = campaign.pretraining_fidelity_group(wildcards.dataset)
    return baseline_options(low_fidelity_baselines(group, "pretraining_fidelity"), group)


def paper_results_file(wildcards):
    return campaign.paper_results()


def paper_validation_curves(wildcards):
    """valid_curves.csv of every dataset that runs mftl (its candidates are chosen on validation)."""
    return [paths.dataset_file(d, "valid_curves.csv") for d in config["datasets"] if campaign.pretrains(d)]


def paper_fidelity_tables(wildcards):
    """Every dataset's tables/fidelity_comparison.csv (its low fidelity against its high fidelity)."""
    return [paths.table(d, "fidelity_comparison") for d in config["datasets"]]


def paper_comparison_args(wildcards):
    """--fidelity-table <dataset>=<table>: each dataset's low-fidelity errors (rows of method low_fidelity)."""
    tables = zip(config["datasets"], paper_fidelity_tables(wildcards), strict=True)
    return " ".join(quoted_option("--fidelity-table", f"{d}={path}") for d, path in tables)


def report_page_inputs(wildcards):
    """The tables the report's first page shows: summary.csv, costs.csv and advice.txt of every dataset, its
    fidelity statistics where it has a fidelity comparison and its stability table where it checks stability."""
    names = ("summary.csv", "costs.csv", "curves.csv", "advice.txt")
    tables = [paths.dataset_file(d, name) for d in config["datasets"] for name in names]
    tables += [path for d in config["datasets"] for path in stability_tables(d)]
    return tables + [paths.table(d, "fidelity_statistics") for d in campaign.compared_datasets()]


def decision_config(wildcards):
    """The parts of a dataset's config the decision tables read (split sizes, targets, the high and low
    fidelity and their methods' names, options.method), JSON for the shell."""
    spec = dataset_config(wildcards)
    roles = {role: spec[role] for role in ("high_fidelity", "low_fidelity")}
    named = {key: spec["fidelities"][key].get("options", {}).get("method") for key in roles.values()}
    fidelities = {key: {"options": {"method": name}} for key, name in named.items() if name}
    parts = {"split": spec["split"], "targets": spec.get("targets", {}), **roles, "fidelities": fidelities}
    return shlex.quote(json.dumps(parts, sort_keys=True))


def decision_statistics(wildcards):
    """The dataset's tables/fidelity_statistics.csv (the low fidelity alone, the baseline), where it has one."""
    if wildcards.dataset in campaign.compared_datasets():
        return {"statistics": paths.table(wildcards.dataset, "fidelity_statistics")}
    return {}


def decision_statistics_option(wildcards):
    files = decision_statistics(wildcards)
    return quoted_option("--fidelity-statistics", files["statistics"]) if files else ""


def advice_folder(wildcards, output):
    """results/<dataset>, the folder `mftl advice` reads, from the advice file's path."""
    return os.path.dirname(output[0])


def stability_results(wildcards):
    """The stability records of every model the dataset checks (rule stability)."""
    return campaign.stability_results(wildcards.dataset)


def stability_tables(dataset):
    """[tables/stability.csv] where ``dataset`` checks any model's stability, else []."""
    return [paths.table(dataset, "stability")] if campaign.stability_runs(dataset) else []


def advice_stability(wildcards):
    """The advice reads tables/stability.csv from the dataset's folder where the dataset checks stability."""
    return stability_tables(wildcards.dataset)
