# Input and job functions of the rules in train.smk (every MACE training).
# A training's job (params.job) is the campaign's TrainingJob of the rule's wildcards (mftl.planning.campaign: one
# method per kind of training), as JSON: Snakemake retrains when it changes. It takes the wildcards only,
# never the job's input: Snakemake leaves params derived from input out of its params rerun trigger. The
# input functions name the files the job reads (tests/test_campaign checks that each is an input).


def training_job(rule):
    """params.job of a training rule: the campaign's training job for the rule's wildcards, as JSON."""
    return lambda wildcards: campaign.training_job(rule, wildcards).to_json()


def prior_files(dataset, fidelity):
    """The E0 prior a training of ``fidelity`` starts its E0 fit from, as an input list (empty without one)."""
    path = campaign.e0_prior(dataset, fidelity)
    return [path] if path else []


def hf_train_inputs(wildcards):
    """The high fidelity's training pool, validation set and E0 prior, and the test split its E0 fit must span."""
    hf = high_fidelity(wildcards)
    return {
        "pool": high_fidelity_labels(wildcards, "train_pool"),
        "valid": high_fidelity_labels(wildcards, "validation"),
        "prior": prior_files(wildcards.dataset, hf),
        "span_test": campaign.e0_span_test(wildcards.dataset),
    }


def pretrain_inputs(wildcards):
    """The low fidelity's pre-training pool and E0 prior."""
    return {
        "pool": low_fidelity_labels(wildcards, "pretrain_pool"),
        "prior": prior_files(wildcards.dataset, low_fidelity(wildcards)),
    }


def pretraining_run(wildcards):
    return campaign.pretraining_run(wildcards.dataset, wildcards.pretrain, wildcards.seed)


def delta_base_inputs(wildcards):
    """Low-fidelity labels the Delta model adds to (training pool, validation), and both fidelities' atoms."""
    return {
        "base_pool": low_fidelity_labels(wildcards, "train_pool"),
        "base_valid": low_fidelity_labels(wildcards, "validation"),
        "base_prior": [p for p in (campaign.atom_energies_file(wildcards.dataset, low_fidelity(wildcards)),) if p],
        "delta_prior": [p for p in (campaign.atom_energies_file(wildcards.dataset, high_fidelity(wildcards)),) if p],
    }


# ---- foundation models: one run per listed foundation, tagged <foundation>_n<size>_s<seed> ----


def foundation_download_name(wildcards):
    return config["foundations"][wildcards.foundation]["name"]


def replay_inputs(wildcards):
    """Multi-head fine-tuning's replay file when the config names one (a trained_by foundation replays its own
    training data, which comes with its run: input foundation; mace downloads its own data sets itself)."""
    spec = campaign.foundation_spec(wildcards.dataset, wildcards.foundation)
    replay = spec.get("replay")
    return {"replay": replay["file"]} if isinstance(replay, dict) and "trained_by" not in spec else {}


# ---- fidelity chains: stage k fine-tunes stage k-1's model (mftl/training/chains.py) ----


def chain_stage_inputs(wildcards):
    stage = campaign.chain_stages(wildcards.dataset, wildcards.chain)[int(wildcards.stage)]
    start = campaign.chain_start(wildcards.dataset, wildcards.chain, int(wildcards.stage), wildcards.seed)
    return {
        "pool": paths.labelled(stage["dataset"], "train_pool", stage["fidelity"]),
        "valid": paths.labelled(stage["dataset"], "validation", stage["fidelity"]),
        "previous": start[0],
        "prior": prior_files(stage["dataset"], stage["fidelity"]),
    }


def chain_previous(wildcards):
    """The training.json of the last stage, which the dataset's own fine-tuning starts from."""
    stages = campaign.chain_stages(wildcards.dataset, wildcards.chain)
    return campaign.chain_start(wildcards.dataset, wildcards.chain, len(stages), wildcards.seed)[0]
