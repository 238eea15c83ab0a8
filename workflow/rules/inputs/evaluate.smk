# Input and argument functions of the rules in evaluate.smk (test and validation errors, curves).


def training_record(wildcards):
    """The training.json of the model an evaluation tests (its folder holds model.model)."""
    return paths.training_json(wildcards.dataset, wildcards.method, wildcards.tag)


def eval_inputs(wildcards):
    inputs = {"model": training_record(wildcards), "test": high_fidelity_labels(wildcards, "test")}
    if wildcards.method == "delta":
        inputs["base"] = low_fidelity_labels(wildcards, "test")
    return inputs


def validation_inputs(wildcards):
    return {"model": training_record(wildcards), "test": high_fidelity_labels(wildcards, "validation")}


def evaluation_args(wildcards, part):
    """The high fidelity, device and curves.csv metadata of a model; a Delta model's low-fidelity labels."""
    meta = campaign.run_metadata(wildcards.dataset, wildcards.method, wildcards.tag)
    metadata = quoted_option("--metadata", json.dumps(meta, sort_keys=True))
    args = f"--fidelity {high_fidelity(wildcards)} --device {config['device']} {metadata}"
    if wildcards.method == "delta":
        args += f" --base {low_fidelity_labels(wildcards, part)} --base-fidelity {low_fidelity(wildcards)}"
    return args


def eval_args(wildcards):
    return evaluation_args(wildcards, "test")


def validation_args(wildcards):
    return evaluation_args(wildcards, "validation")


def auto_cap_inputs(wildcards):
    """Validation and test results of the mftl models of every cap of one (pre-train size, train size, seed)."""
    tags = campaign.auto_cap_candidates(wildcards.dataset, wildcards.pretrain, wildcards.size, wildcards.seed)
    return {
        "valid": [paths.evaluation(wildcards.dataset, "mftl", tag, kind="valid") for tag in tags],
        "test": [paths.evaluation(wildcards.dataset, "mftl", tag) for tag in tags],
    }


def auto_cap_metadata(wildcards):
    tag = paths.auto_tag(wildcards.pretrain, wildcards.size, wildcards.seed)
    return json.dumps(dict(campaign.auto_cap_runs(wildcards.dataset))[tag], sort_keys=True)


def evaluation_results(wildcards):
    return campaign.evaluation_results(wildcards.dataset)


def validation_results(wildcards):
    return campaign.validation_results(wildcards.dataset)


def dataset_curves(wildcards):
    return campaign.dataset_curves()


def pretrained_cap_inputs(wildcards):
    """The pre-training run and the low-fidelity labels of the test set."""
    return {
        "model": campaign.pretraining_run(wildcards.dataset, wildcards.pretrain, wildcards.seed),
        "test": low_fidelity_labels(wildcards, "test"),
    }


def pretrained_cap_args(wildcards):
    meta = campaign.pretrained_metadata(wildcards.dataset, wildcards.pretrain, wildcards.cap, wildcards.seed)
    metadata = quoted_option("--metadata", json.dumps(meta, sort_keys=True))
    return f"--cap {wildcards.cap} --fidelity {low_fidelity(wildcards)} --device {config['device']} {metadata}"


def comparison_high(wildcards):
    """The configurations a foundation is evaluated on zero-shot, with the high fidelity's labels."""
    return campaign.comparison_labels(wildcards.dataset)["high"]


def foundation_model(wildcards):
    return campaign.foundation_model(wildcards.dataset, wildcards.foundation)


def zeroshot_args(wildcards):
    meta = dict(campaign.zeroshot_runs(wildcards.dataset))[wildcards.foundation]
    metadata = quoted_option("--metadata", json.dumps(meta, sort_keys=True))
    return (
        f"--fidelity {high_fidelity(wildcards)} --label {wildcards.foundation} --device {config['device']} {metadata}"
    )


def stability_inputs(wildcards):
    """The model's training.json (its folder holds model.model; a fine-tuning's names the model it started from),
    the high fidelity's test labels and the starting model's own test labels where the campaign has them."""
    inputs = {"model": training_record(wildcards), "test": high_fidelity_labels(wildcards, "test")}
    start = campaign.stability_start_data(wildcards.dataset, wildcards.method, wildcards.tag)
    if start:
        inputs["start"] = start[0]
    return inputs


def stability_args(wildcards):
    """--settings (the dataset's stability mapping), --metadata, the start data and its fidelity (forgetting),
    the low fidelity's labeller (--delta for a Delta model), --device; each quoted for the shell."""
    dataset, method, tag = wildcards.dataset, wildcards.method, wildcards.tag
    settings = json.dumps(campaign.stability_settings(dataset), sort_keys=True)
    meta = json.dumps(campaign.run_metadata(dataset, method, tag), sort_keys=True)
    args = [quoted_option("--settings", settings), quoted_option("--metadata", meta)]
    start = campaign.stability_start_data(dataset, method, tag)
    if start:
        args += [quoted_option("--start-data", start[0]), quoted_option("--start-fidelity", start[1])]
    low = campaign.stability_base_labeller(dataset)  # the repulsion scans' reference, a Delta model's base
    if low:
        args += [quoted_option("--low-labeller", low[0]), quoted_option("--low-options", json.dumps(low[1]))]
    if method == "delta":
        args.append("--delta")
    return " ".join([*args, quoted_option("--device", config["device"])])
