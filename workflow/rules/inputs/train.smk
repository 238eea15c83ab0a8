# Input and argument functions of the rules in train.smk (every MACE training).
# The *_args functions take the wildcards only, never the job's input: Snakemake leaves params derived
# from input out of its params rerun trigger, so a changed setting would not retrain. They read the
# paths from the rule's own input function instead.


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


def train_data(inputs, size, seed):
    """A run's data: ``size`` configurations of its training pool drawn with ``seed``, and its validation set."""
    valid = f" --valid {shlex.quote(inputs['valid'])}" if "valid" in inputs else ""
    return f"--train-pool {shlex.quote(inputs['pool'])}{valid} --size {size} --seed {seed}"


def hf_train_data(wildcards):
    return train_data(hf_train_inputs(wildcards), wildcards.size, wildcards.seed)


def scratch_args(wildcards):
    return f"{hf_train_data(wildcards)} {campaign.training_options(wildcards.dataset, 'scratch')}"


def pretrain_inputs(wildcards):
    """The low fidelity's pre-training pool and E0 prior."""
    return {
        "pool": low_fidelity_labels(wildcards, "pretrain_pool"),
        "prior": prior_files(wildcards.dataset, low_fidelity(wildcards)),
    }


def pretrain_args(wildcards):
    """Pre-training runs to the largest cap; smaller caps are served from its checkpoints."""
    data = train_data(pretrain_inputs(wildcards), wildcards.pretrain, wildcards.seed)
    return f"{data} {campaign.training_options(wildcards.dataset, 'pretrain')}"


def pretraining_run(wildcards):
    return campaign.pretraining_run(wildcards.dataset, wildcards.pretrain, wildcards.seed)


def mftl_args(wildcards):
    """Fine-tuning of the pre-training run's model at epoch ``cap``."""
    init = f"--init-from {shlex.quote(os.path.dirname(pretraining_run(wildcards)))} --init-cap {wildcards.cap}"
    return f"{hf_train_data(wildcards)} {campaign.training_options(wildcards.dataset, 'finetune')} {init}"


def delta_base_inputs(wildcards):
    """Low-fidelity labels the Delta model adds to (training pool, validation), and both fidelities' atoms."""
    return {
        "base_pool": low_fidelity_labels(wildcards, "train_pool"),
        "base_valid": low_fidelity_labels(wildcards, "validation"),
        "base_prior": [p for p in (campaign.atom_energies_file(wildcards.dataset, low_fidelity(wildcards)),) if p],
        "delta_prior": [p for p in (campaign.atom_energies_file(wildcards.dataset, high_fidelity(wildcards)),) if p],
    }


def delta_args(wildcards):
    lf = low_fidelity(wildcards)
    base_inputs = delta_base_inputs(wildcards)
    base_prior = "".join(f" --base-prior {p}" for p in base_inputs["base_prior"])
    base = f"--base-pool {shlex.quote(base_inputs['base_pool'])} --base-valid {shlex.quote(base_inputs['base_valid'])}"
    options = campaign.training_options(wildcards.dataset, "scratch", delta=True)
    return f"{hf_train_data(wildcards)} {options} --base-fidelity {lf}{base_prior} {base}"


# ---- foundation models: one run per listed foundation, tagged <foundation>_n<size>_s<seed> ----


def foundation_download_name(wildcards):
    return config["foundations"][wildcards.foundation]["name"]


def foundation_init(wildcards):
    return quoted_option("--init-from", campaign.foundation_model(wildcards.dataset, wildcards.foundation))


def foundation_args(wildcards):
    options = campaign.training_options(wildcards.dataset, "finetune")
    return f"{hf_train_data(wildcards)} {options} {foundation_init(wildcards)}"


def multihead_args(wildcards):
    """Multi-head fine-tuning: the foundation's own training data (trained_by), a replay file, or
    mace's own replay data set (``replay: mp``, downloaded by mace on the training node)."""
    spec = campaign.foundation_spec(wildcards.dataset, wildcards.foundation)
    options = campaign.training_options(wildcards.dataset, "multihead")
    args = f"{hf_train_data(wildcards)} {options} {foundation_init(wildcards)}"
    if "replay_size" in spec:
        args += f" --replay-size {spec['replay_size']}"
    trained = campaign.trained_by_run(wildcards.foundation)
    if trained:
        return f"{args} --replay {trained[0]}/train.extxyz"
    replay = spec["replay"]
    if isinstance(replay, str):
        return f"{args} --replay-dataset {replay}"
    keys = " ".join(shlex.quote(replay[key]) for key in ("energy_key", "forces_key"))
    return f"{args} {quoted_option('--replay', replay['file'])} --replay-keys {keys}"


# ---- fidelity chains: stage k fine-tunes stage k-1's model (mftl/chains.py) ----


def chain_stage(wildcards):
    return campaign.chain_stages(wildcards.dataset, wildcards.chain)[int(wildcards.stage)]


def chain_stage_inputs(wildcards):
    stage = chain_stage(wildcards)
    start = campaign.chain_start(wildcards.dataset, wildcards.chain, int(wildcards.stage), wildcards.seed)
    return {
        "pool": paths.labelled(stage["dataset"], "train_pool", stage["fidelity"]),
        "valid": paths.labelled(stage["dataset"], "validation", stage["fidelity"]),
        "previous": start[0],
        "prior": prior_files(stage["dataset"], stage["fidelity"]),
    }


def chain_stage_args(wildcards):
    stage = chain_stage(wildcards)
    flags = quoted_option("--hyperparameters", campaign.hyperparameters("finetune", stage["dataset"]))
    start = campaign.chain_start(wildcards.dataset, wildcards.chain, int(wildcards.stage), wildcards.seed)[1]
    prior = "".join(f" --prior {p}" for p in prior_files(stage["dataset"], stage["fidelity"]))
    return (
        f"{train_data(chain_stage_inputs(wildcards), stage['size'], wildcards.seed)}"
        f" --fidelity {stage['fidelity']} --max-epochs {campaign.max_epochs(stage['dataset'], 'finetune')}"
        f" {flags} --device {config['device']} {start}{prior}"
    )


def chain_last(wildcards):
    """(training.json, --init-from options) of the last stage, which the dataset's own fine-tuning starts from."""
    stages = campaign.chain_stages(wildcards.dataset, wildcards.chain)
    return campaign.chain_start(wildcards.dataset, wildcards.chain, len(stages), wildcards.seed)


def chain_previous(wildcards):
    return chain_last(wildcards)[0]


def chain_args(wildcards):
    options = campaign.training_options(wildcards.dataset, "finetune")
    return f"{hf_train_data(wildcards)} {options} {chain_last(wildcards)[1]}"
