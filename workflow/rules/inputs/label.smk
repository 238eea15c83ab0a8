# Input and argument functions of the rules in label.smk (labels, isolated atoms, E0 priors).
import functools


def label_inputs(wildcards):
    """The split part to label, plus any downloaded parameter files the labeller needs."""
    inputs = {"frames": paths.split_file(wildcards.dataset, wildcards.part)}
    parameters = fidelity_config(wildcards).get("parameters")
    if parameters:
        inputs["parameters"] = campaign.downloaded_files(parameters)
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


def labelled_chunks(wildcards):
    """Inputs of a labelled part: the split file (labels read from keys) or labelled chunks."""
    if "labeller" not in fidelity_config(wildcards):
        return {"frames": [paths.split_file(wildcards.dataset, wildcards.part)], "reports": []}
    chunks = range(campaign.n_chunks(wildcards.dataset, wildcards.part))
    chunk = functools.partial(paths.label_chunk, wildcards.dataset, wildcards.fidelity, wildcards.part)
    return {
        "frames": [chunk(i) for i in chunks] + sampled_chunks(wildcards),
        "reports": [chunk(i, suffix="report.json") for i in chunks],
        "sample_reports": sampled_chunks(wildcards, "report.json"),
    }


def sampled_chunks(wildcards, suffix="extxyz"):
    """The low fidelity's sampled chunks (rule sample) that join its pre-training pool, if the dataset samples."""
    if wildcards.part != "pretrain_pool" or wildcards.fidelity != low_fidelity(wildcards):
        return []
    return campaign.sample_chunks(wildcards.dataset, suffix)


def collect_args(wildcards):
    spec = fidelity_config(wildcards)
    args = f"--max-failure-fraction {config['labelling']['max_failure_fraction']}"
    sampled = sampled_chunks(wildcards, "report.json")
    if sampled:
        args += " --sample-reports " + " ".join(shlex.quote(report) for report in sampled)
    if "energy_key" in spec:
        args += (
            f" {quoted_option('--energy-key', spec['energy_key'])}"
            f" {quoted_option('--forces-key', spec['forces_key'])}"
        )
    return args


def atom_energies_inputs(wildcards):
    """Every split part (the elements the prior must cover) and the labeller's parameter files."""
    inputs = {"frames": [paths.split_file(wildcards.dataset, part) for part in paths.PARTS]}
    spec = fidelity_config(wildcards)
    if "e0s" not in spec and spec.get("parameters"):
        inputs["parameters"] = campaign.downloaded_files(spec["parameters"])
    return inputs


def atom_energies_args(wildcards):
    """The config's E0s (checked and written) or the labeller that computes isolated atoms."""
    spec = fidelity_config(wildcards)
    if "e0s" in spec:
        where = f"datasets.{wildcards.dataset}.fidelities.{wildcards.fidelity}.e0s"
        return f"{quoted_option('--given', json.dumps(spec['e0s'], sort_keys=True))} {quoted_option('--where', where)}"
    options = json.dumps(spec.get("options", {}), sort_keys=True)
    return f"--labeller {spec['labeller']} {quoted_option('--options', options)}"


def e0_prior_inputs(wildcards):
    """Rule e0_prior: both fidelities' isolated atoms and the low fidelity's pre-training pool."""
    return {
        "atoms": campaign.atom_energies_file(wildcards.dataset, wildcards.fidelity),
        "low_atoms": campaign.atom_energies_file(wildcards.dataset, low_fidelity(wildcards)),
        "low_pool": low_fidelity_labels(wildcards, "pretrain_pool"),
    }


def comparison_sample_inputs(wildcards):
    """Every split part with the high and with the low fidelity's labels (the sample is drawn from their union)."""
    parts = [part for part in paths.PARTS if campaign.part_size(wildcards.dataset, part) > 0]
    return {
        "high": [high_fidelity_labels(wildcards, part) for part in parts],
        "low": [low_fidelity_labels(wildcards, part) for part in parts],
    }


def comparison_sample_args(wildcards):
    ds = dataset_config(wildcards)
    return f"--size {ds['comparison_sample']} --seed {ds['split']['seed']}"
